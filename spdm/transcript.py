"""What SPDM signs: the message transcripts A, B, C (M1/M2) and M (L1/L2).

Both roles keep the same transcripts over the exact bytes that crossed the wire (never
re-encoded objects, never transport padding) and reset them at the same points, as libspdm
does (`libspdm_reset_message_buffer_via_request_code`):

* A (VCA) is restarted by GET_VERSION. It is kept as bytes: it is a prefix of M1/M2 and of the
  session transcripts, and it is complete before the hash algorithm is known.
* B and C (certificates and challenge, "M1/M2" = A || B || C in 1.0/1.1) are hashed
  incrementally from A; GET_DIGESTS restarts B, a signed CHALLENGE_AUTH ends them, and the
  session and measurement requests of `DROPS_UNFINISHED_AUTHENTICATION` drop them while
  authentication is unfinished, inside a session or outside one (`before_request`,
  `before_session_request`).
* D (1.3, multi-key connections: the responder's MULTI_KEY_CONN) is the first DIGESTS response
  after VCA in the clear; a certificate-based session's transcript holds it between A and
  Hash(Ct) (`message_d`, `key_exchange_hash`; libspdm `libspdm_append_message_d`).
* M (L1/L2 = M alone in 1.0/1.1, A || M from 1.2) collects GET_MEASUREMENTS/MEASUREMENTS pairs;
  any other request, an ERROR answer and every signed MEASUREMENTS restart it. A session keeps its
  own M (`for_session`), after the same A from 1.2 (libspdm `libspdm_calculate_l1l2`).
* IL (1.3 ENDPOINT_INFO) = A || E, E being the one signed GET_ENDPOINT_INFO and its ENDPOINT_INFO
  without the signature: libspdm restarts E at every GET_ENDPOINT_INFO and records only signed
  exchanges, so IL holds nothing else, inside a session (no session transcript, the same A) and
  in the encapsulated direction alike (`endpoint_info_digest`).

The digests a signature is made over come out through `spdm.signing`: from 1.2 the transcript hash
is preceded by the combined SPDM prefix of the operation.

An ERROR response and the request it answers are never recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from spdm.crypto.hashes import HashObject, HashSuite
from spdm.errors import NegotiationError
from spdm.messages.codes import Code, ErrorCode
from spdm.signing import SignatureInput, SigningContext, signature_input

__all__ = [
    "DROPS_UNFINISHED_AUTHENTICATION",
    "ConnectionTranscript",
    "HashObject",
    "Transcript",
    "endpoint_info_digest",
    "message_d",
]

HashFactory = Callable[[], HashObject]

DROPS_UNFINISHED_AUTHENTICATION: frozenset[Code] = frozenset(
    {
        Code.GET_MEASUREMENTS,
        Code.KEY_EXCHANGE,
        Code.FINISH,
        Code.PSK_EXCHANGE,
        Code.PSK_FINISH,
        Code.KEY_UPDATE,
        Code.HEARTBEAT,
        Code.GET_ENCAPSULATED_REQUEST,
        Code.DELIVER_ENCAPSULATED_RESPONSE,
        Code.END_SESSION,
        Code.GET_MEASUREMENT_EXTENSION_LOG,  # 1.3 (libspdm_reset_message_buffer_via_request_code)
    }
)
"""The requests that drop B and C (M1/M2) unless CHALLENGE_AUTH completed them, whether they travel
in the clear or inside a session. This is libspdm's `libspdm_reset_message_buffer_via_request_code`
(at 1e16c60f, the version DMTF spdm-emu 85436d5 pins and the reference captures come from, and since), which its
responder applies to each of these requests as it serves it, in a session or not; its requester
applies it to each it sends but DELIVER_ENCAPSULATED_RESPONSE, which always follows a
GET_ENCAPSULATED_REQUEST (or a completed CHALLENGE) with nothing added to B in between, so the
outcome is the same. Both roles must agree: after a request that drops B on one side only, the next
CHALLENGE_AUTH is signed over one transcript and checked over another."""


def message_d(held: bytes, digests_response: bytes, *, multi_key: bool) -> bytes:
    """Message D after a DIGESTS response in the clear: the first one after VCA, on a connection whose
    responder uses multi-key (DSP0274 1.3 TH; libspdm_com_context_data.c `libspdm_append_message_d`,
    appended by libspdm_rsp_digests.c and libspdm_req_get_digests.c outside sessions only). The same
    rule makes EncapD of a session, from the requester's encapsulated DIGESTS on the requester's
    multi-key connection, which goes before Hash(CM) (`libspdm_append_message_encap_d`)."""
    return digests_response if multi_key and not held else held


def endpoint_info_digest(
    hash_suite: HashSuite,
    spdm_version: int,
    vca: bytes,
    request: bytes,
    response_without_signature: bytes,
    *,
    requester_signs: bool = False,
) -> SignatureInput:
    """What a signed ENDPOINT_INFO signs (1.3): Hash(IL) with IL = A || GET_ENDPOINT_INFO || ENDPOINT_INFO
    without its signature, under the responder's context string, or the requester's when it answers
    an encapsulated GET_ENDPOINT_INFO (`requester_signs`).

    libspdm `libspdm_calculate_il1il2` (libspdm_com_crypto_service.c): message A, then message E
    (or encap E), which `libspdm_rsp_endpoint_info.c` / `libspdm_req_get_endpoint_info.c` reset at
    every GET_ENDPOINT_INFO and fill with the request and the unsigned response; a session's own E
    follows the same A. Checked against the IL hashes of capture y2_.
    """
    context = SigningContext.MUT_ENDPOINT_INFO if requester_signs else SigningContext.ENDPOINT_INFO
    digest = hash_suite.digest(vca + request + response_without_signature)
    return signature_input(hash_suite, spdm_version, context, digest)


class Transcript:
    """An incremental hash over a sequence of messages, started from an optional prefix.

    `labels` collects whatever the caller tags appended messages with (a capture verifier uses
    record numbers, to know which records a signature covered).
    """

    __slots__ = ("_hash", "labels")

    def __init__(self, new_hash: HashFactory, prefix: bytes = b"", labels: tuple[object, ...] = ()) -> None:
        self._hash = new_hash()
        self.labels = list(labels)
        if prefix:
            self._hash.update(prefix)

    def append(self, *messages: bytes, labels: tuple[object, ...] = ()) -> None:
        for data in messages:
            self._hash.update(data)
        self.labels.extend(labels)

    def digest(self, *tail: bytes) -> bytes:
        """The hash of everything appended, then `tail`, without consuming the transcript."""
        state = self._hash.copy()
        for data in tail:
            state.update(data)
        return state.digest()


def mutual_challenge_transcript(
    new_hash: HashFactory, version: int, vca: bytes, labels: tuple[object, ...] = ()
) -> Transcript:
    """M1/M2 of basic mutual authentication's encapsulated CHALLENGE, as the requester signs it: A (the
    VCA, with its `labels`) from 1.2 and nothing before, then mut B (the encapsulated DIGESTS and
    CERTIFICATE exchanges) and mut C (libspdm_rsp_encap_challenge.c, libspdm_req_encap_challenge_auth.c)."""
    return Transcript(new_hash, vca, labels) if version >= 0x12 else Transcript(new_hash)


class ConnectionTranscript:
    """A, B, C and M of one connection, for either role."""

    def __init__(self) -> None:
        self.vca = bytearray()
        self.vca_labels: list[object] = []
        self.signed_labels: tuple[object, ...] = ()
        """The labels of everything the last computed signature digest covered."""
        self._suite: HashSuite | None = None
        self.version = 0x10
        self._vca_hash: HashObject | None = None
        self._m1m2: Transcript | None = None
        self._l1l2: Transcript | None = None
        self.authenticated = False
        self.message_d = b""

    def restart(self) -> None:
        """GET_VERSION: everything starts again."""
        self.vca.clear()
        self.vca_labels.clear()
        self._suite = None
        self._vca_hash = None
        self._m1m2 = self._l1l2 = None
        self.authenticated = False
        self.message_d = b""

    def add_vca(self, *messages: bytes, labels: tuple[object, ...] = ()) -> None:
        self.vca.extend(b"".join(messages))
        self.vca_labels.extend(labels)
        self._vca_hash = None

    def set_hash(self, suite: HashSuite | None, version: int) -> None:
        """ALGORITHMS chose the hash (and VERSION the version): B, C and M can be hashed from now on.
        None: ALGORITHMS selected no hash, which only a responder that neither signs nor holds sessions
        may do (`spdm.negotiated.required_selections`); nothing is signed over B, C or M then, so
        they are not kept."""
        self._suite = suite
        self.version = version
        self._vca_hash = None
        self._m1m2 = None
        self._l1l2 = None

    def for_session(self) -> ConnectionTranscript:
        """A session's own M (L1/L2 of in-session measurements): the same A, hash and version, nothing else."""
        twin = ConnectionTranscript()
        twin.add_vca(bytes(self.vca), labels=tuple(self.vca_labels))
        twin._suite = self._suite
        twin.version = self.version
        return twin

    def vca_hash(self) -> HashObject:
        """A running hash of A, to continue: every session transcript starts with A, which is complete
        once ALGORITHMS is exchanged, so A is hashed once per connection and each session gets a copy."""
        if self._vca_hash is None:
            state = self._factory()()
            state.update(bytes(self.vca))
            self._vca_hash = state
        return self._vca_hash.copy()

    def key_exchange_hash(self) -> HashObject:
        """A running hash of A || D, to continue with Hash(Ct): where a certificate-based session's
        transcript starts (D is empty unless the connection is multi-key)."""
        state = self.vca_hash()
        state.update(self.message_d)
        return state

    def add_digests(
        self, request: bytes, response: bytes, *, multi_key: bool, labels: tuple[object, ...] = ()
    ) -> None:
        """B (and, the first time on a multi-key connection, D): a GET_DIGESTS/DIGESTS pair in the clear."""
        self.add_certificate_exchange(request, response, labels=labels)
        self.message_d = message_d(self.message_d, response, multi_key=multi_key)

    def _factory(self) -> HashFactory:
        return self._hash_suite().new

    def _hash_suite(self) -> HashSuite:
        if self._suite is None:
            raise NegotiationError("no hash algorithm has been negotiated yet")
        return self._suite

    def before_request(self, code: int) -> None:
        """Apply the reset rules for a request about to be sent (or just received) outside a session."""
        if code == Code.GET_VERSION:
            self.restart()
            return
        if code not in (Code.GET_MEASUREMENTS, Code.RESPOND_IF_READY):
            self._l1l2 = None
        if code == Code.GET_DIGESTS:
            self._m1m2 = None
        elif code in DROPS_UNFINISHED_AUTHENTICATION:
            self._drop_unfinished_authentication()

    def before_session_request(self, code: int) -> None:
        """The connection's reset rule for a request sent (or received) inside a session: B and C go
        for the requests of `DROPS_UNFINISHED_AUTHENTICATION` unless authentication completed. The
        connection's M stays (a session keeps its own), and nothing else changes."""
        if code in DROPS_UNFINISHED_AUTHENTICATION:
            self._drop_unfinished_authentication()

    def _drop_unfinished_authentication(self) -> None:
        """B and C go unless CHALLENGE_AUTH completed them."""
        if not self.authenticated:
            self._m1m2 = None

    def after_error(self, error_code: int) -> None:
        """An ERROR answer: the pair is not recorded, and the measurement transcript restarts.

        Except for ResponseNotReady: the request is still being served
        and its real answer, fetched with RESPOND_IF_READY, continues M as if it came at once.
        libspdm keeps M on both sides then (`libspdm_rsp_measurements.c` resets M for every
        other ERROR, never for the NOT_READY response state).
        """
        if error_code != ErrorCode.ResponseNotReady:
            self.restart_measurements()

    def restart_measurements(self) -> None:
        """M starts again: after an ERROR, after a signed MEASUREMENTS, and when the requester
        refuses an answer (libspdm_req_get_measurements.c resets M on every failure)."""
        self._l1l2 = None

    def _m1m2_transcript(self) -> Transcript:
        if self._m1m2 is None:
            self._m1m2 = Transcript(self._factory(), bytes(self.vca), tuple(self.vca_labels))
        return self._m1m2

    def add_certificate_exchange(self, request: bytes, response: bytes, *, labels: tuple[object, ...] = ()) -> None:
        """B: a GET_DIGESTS/DIGESTS or GET_CERTIFICATE/CERTIFICATE pair."""
        if self._suite is not None:
            self._m1m2_transcript().append(request, response, labels=labels)

    def challenge_digest(
        self, challenge: bytes, auth_without_signature: bytes, *, labels: tuple[object, ...] = ()
    ) -> SignatureInput:
        """What CHALLENGE_AUTH signs, from Hash(A || B || C); B and C end with it."""
        transcript = self._m1m2_transcript()
        digest = transcript.digest(challenge, auth_without_signature)
        self.signed_labels = (*transcript.labels, *labels)
        self._m1m2 = None
        return signature_input(self._hash_suite(), self.version, SigningContext.CHALLENGE_AUTH, digest)

    def challenge_done(self) -> None:
        """CHALLENGE_AUTH completed authentication: from now on the requests of
        `DROPS_UNFINISHED_AUTHENTICATION` leave B and C alone (until GET_VERSION restarts everything)."""
        self.authenticated = True

    def _l1l2_transcript(self) -> Transcript:
        if self._l1l2 is None:
            if self.version >= 0x12:
                self._l1l2 = Transcript(self._factory(), bytes(self.vca), tuple(self.vca_labels))
            else:
                self._l1l2 = Transcript(self._factory())
        return self._l1l2

    def add_measurements(self, request: bytes, response: bytes, *, labels: tuple[object, ...] = ()) -> None:
        """M: an unsigned GET_MEASUREMENTS/MEASUREMENTS pair."""
        if self._suite is not None:
            self._l1l2_transcript().append(request, response, labels=labels)

    def measurements_digest(
        self, request: bytes, response_without_signature: bytes, *, labels: tuple[object, ...] = ()
    ) -> SignatureInput:
        """What a signed MEASUREMENTS signs, from Hash(L1/L2) (M, after A from 1.2); M restarts after it."""
        transcript = self._l1l2_transcript()
        digest = transcript.digest(request, response_without_signature)
        self.signed_labels = (*transcript.labels, *labels)
        self._l1l2 = None
        return signature_input(self._hash_suite(), self.version, SigningContext.MEASUREMENTS, digest)

    def endpoint_info_digest(
        self, request: bytes, response_without_signature: bytes, *, labels: tuple[object, ...] = ()
    ) -> SignatureInput:
        """What the responder's signed ENDPOINT_INFO signs, in the clear or in a session: see `endpoint_info_digest`."""
        self.signed_labels = (*self.vca_labels, *labels)
        suite, vca = self._hash_suite(), bytes(self.vca)
        return endpoint_info_digest(suite, self.version, vca, request, response_without_signature)
