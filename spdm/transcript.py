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
* M (L1/L2 = M alone in 1.0/1.1, A || M from 1.2) collects GET_MEASUREMENTS/MEASUREMENTS pairs;
  any other request, an ERROR answer and every signed MEASUREMENTS restart it. A session keeps its
  own M (`for_session`), after the same A from 1.2 (libspdm `libspdm_calculate_l1l2`).

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

__all__ = ["DROPS_UNFINISHED_AUTHENTICATION", "ConnectionTranscript", "HashObject", "Transcript", "multi_key_digests"]

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


def multi_key_digests(first_digests: bytes, multi_key: bool) -> bytes:
    """What a 1.3 session transcript takes of a side's DIGESTS on that side's multi-key connection:
    the first one (the responder's first of the connection, libspdm's message D, before Hash(Ct);
    the requester's first of the session's encapsulated flow, message EncapD, before Hash(CM));
    nothing otherwise (libspdm_append_message_d, libspdm_append_message_encap_d and the TH
    computations in libspdm_com_crypto_service_session.c)."""
    return first_digests if multi_key else b""


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
        self._first_digests = b""

    def restart(self) -> None:
        """GET_VERSION: everything starts again."""
        self.vca.clear()
        self.vca_labels.clear()
        self._first_digests = b""
        self._suite = None
        self._vca_hash = None
        self._m1m2 = self._l1l2 = None
        self.authenticated = False

    def add_vca(self, *messages: bytes, labels: tuple[object, ...] = ()) -> None:
        self.vca.extend(b"".join(messages))
        self.vca_labels.extend(labels)
        self._vca_hash = None

    def set_hash(self, suite: HashSuite, version: int) -> None:
        """ALGORITHMS chose the hash (and VERSION the version): B, C and M can be hashed from now on."""
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
        if error_code == ErrorCode.ResponseNotReady:
            return
        self._l1l2 = None

    def _m1m2_transcript(self) -> Transcript:
        if self._m1m2 is None:
            self._m1m2 = Transcript(self._factory(), bytes(self.vca), tuple(self.vca_labels))
        return self._m1m2

    def add_certificate_exchange(self, request: bytes, response: bytes, *, labels: tuple[object, ...] = ()) -> None:
        """B: a GET_DIGESTS/DIGESTS or GET_CERTIFICATE/CERTIFICATE pair. The connection's first
        DIGESTS is also kept whole: see `message_d`."""
        self._m1m2_transcript().append(request, response, labels=labels)
        if not self._first_digests and len(response) > 1 and response[1] == Code.DIGESTS:
            self._first_digests = bytes(response)

    def message_d(self, responder_multi_key: bool) -> bytes:
        """What a session transcript holds between A and Hash(Ct): see `multi_key_digests`."""
        return multi_key_digests(self._first_digests, responder_multi_key)

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
