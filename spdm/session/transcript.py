"""The session transcripts TH1 and TH2 (DSP0274 1.1 sections "KEY_EXCHANGE request and
KEY_EXCHANGE_RSP response", "FINISH request and FINISH_RSP response", their PSK counterparts and
"Key schedule"): the one place that says which bytes of each handshake message are hashed, signed
and MACed, for a side that receives a message and for a side that builds it.

DHE (certificate-based)::

    responder signature  over A || Hash(Ct) || KEY_EXCHANGE || KEY_EXCHANGE_RSP up to OpaqueData
    TH1                  = A || Hash(Ct) || KEY_EXCHANGE || KEY_EXCHANGE_RSP without ResponderVerifyData
    requester signature  over TH1 || ResponderVerifyData || Hash(CM) || FINISH header     (mutual auth)
    RequesterVerifyData  over ... || FINISH header [|| Signature]
    TH2                  = ... || FINISH || FINISH_RSP

PSK: no Hash(Ct) and no Hash(CM); TH1 = A || PSK_EXCHANGE || PSK_EXCHANGE_RSP without its verify
data; TH2 = TH1 || ResponderVerifyData || PSK_FINISH || PSK_FINISH_RSP, or just TH1 || verify data
when the responder has no PSK context (no PSK_FINISH, `psk_finish_follows`: every side calls
`mark_th2_after_psk_exchange` right after PSK_EXCHANGE_RSP).

`SessionTranscript` hashes incrementally over the exact message bytes (never transport padding,
never re-encoded objects). Each handshake message has two methods, used by every side:

=================  ======================================  =======================================
message            the side that receives it (and replay)  the side that builds it
=================  ======================================  =======================================
KEY_EXCHANGE_RSP   `add_key_exchange_rsp` (requester)      `build_key_exchange_rsp` (responder)
PSK_EXCHANGE_RSP   `add_psk_exchange_rsp` (requester)      `build_psk_exchange_rsp` (responder)
FINISH             `add_finish` (responder)                `build_finish` (requester)
PSK_FINISH         `add_psk_finish` (responder)            `build_psk_finish` (requester)
*FINISH_RSP        `add_finish_rsp` (requester)            `build_finish_rsp` (responder)
=================  ======================================  =======================================

The exchange request goes in first with `add_exchange_request` (both sides), and Hash(CM) before
FINISH with `add_requester_chain_hash`. An `add_*` method takes the exact message and its decoded
form and returns the digests to check it with; a `build_*` method takes the message up to the part
that depends on the transcript and the means to make that part (a `sign` callable, a finished key,
the `KeySchedule`), and returns the whole message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from spdm.crypto.hashes import HashObject, HashSuite
from spdm.messages.codes import CapabilityFlags
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchangeRsp
from spdm.messages.psk import PskExchangeRsp, PskFinish
from spdm.session.keys import HandshakeSecrets, KeySchedule, verify_data
from spdm.signing import SignatureInput, SigningContext, signature_input

__all__ = ["ExchangeDigests", "FinishDigests", "SessionTranscript", "Signer", "psk_finish_follows"]

_HEADER_SIZE = 4
_RAW = (bytes, bytearray, memoryview)  # A itself, not a running hash of it

Signer = Callable[[SignatureInput], bytes]
"""Signs what a transcript's signature covers with the negotiated algorithm: -> the SPDM wire signature."""


def psk_finish_follows(responder_flags: int) -> bool:
    """Whether PSK_FINISH follows PSK_EXCHANGE_RSP: only when the responder has PSK context (PSK_CAP 10b,
    which also makes it send a ResponderContext); with PSK_CAP 01b the handshake ends with PSK_EXCHANGE_RSP
    (DSP0274 1.1 "PSK_EXCHANGE request and PSK_EXCHANGE_RSP response")."""
    return responder_flags & CapabilityFlags.PSK_CAP_WITH_CONTEXT != 0


class ExchangeDigests(NamedTuple):
    """What KEY_EXCHANGE_RSP (or PSK_EXCHANGE_RSP) is checked with.

    `signed` is what the signature covers, from Hash(A || Hash(Ct) || K up to OpaqueData) (None for
    PSK), `th1` is
    Hash(TH1): it derives the handshake secrets and ResponderVerifyData = HMAC(rsp finished key, th1).
    """

    signed: SignatureInput | None
    th1: bytes


class FinishDigests(NamedTuple):
    """What FINISH (or PSK_FINISH) is checked with: what the requester's signature covers (mutual
    authentication only) and the hash RequesterVerifyData is the HMAC of."""

    signed: SignatureInput | None
    verify_digest: bytes


class SessionTranscript:
    """The running hash of one session's transcript: A, [Hash(Ct)], K, [Hash(CM)], F."""

    __slots__ = ("_hash", "_requester_chain_hashed", "hash_suite", "psk", "spdm_version", "th1", "th2")

    def __init__(
        self,
        hash_suite: HashSuite,
        vca: bytes | HashObject,
        *,
        responder_chain_hash: bytes | None = None,
        spdm_version: int | None = None,
    ) -> None:
        """`vca` is A, or a running hash of A that this transcript continues (`ConnectionTranscript.vca_hash`);
        `responder_chain_hash` is Hash(Ct) of the slot KEY_EXCHANGE named, None for a PSK session;
        `spdm_version` says what its signatures cover (`spdm.signing`), and is needed unless PSK."""
        if responder_chain_hash is not None and spdm_version is None:
            raise ValueError("a certificate-based session transcript needs its SPDM version (for its signatures)")
        self.hash_suite = hash_suite
        self.spdm_version = spdm_version
        self.psk = responder_chain_hash is None
        if isinstance(vca, _RAW):
            self._hash: HashObject = hash_suite.new()
            self._hash.update(vca)
        elif vca.digest_size != hash_suite.size:
            raise ValueError(f"a running hash of A with {vca.digest_size}-byte digests, not {hash_suite.name}'s")
        else:
            self._hash = vca
        if responder_chain_hash is not None:
            self._check_size(responder_chain_hash, "Hash(Ct)")
            self._hash.update(bytes(responder_chain_hash))
        self._requester_chain_hashed = False
        self.th1: bytes | None = None
        self.th2: bytes | None = None

    @classmethod
    def for_psk(cls, hash_suite: HashSuite, vca: bytes | HashObject) -> SessionTranscript:
        return cls(hash_suite, vca)

    def copy(self) -> SessionTranscript:
        """An independent copy: a side that checks a message before it accepts it (a responder's FINISH)
        adds it to a copy and keeps the copy only when the checks pass."""
        twin = SessionTranscript.__new__(SessionTranscript)
        twin.hash_suite, twin.psk, twin.th1, twin.th2 = self.hash_suite, self.psk, self.th1, self.th2
        twin.spdm_version = self.spdm_version
        twin._hash = self._hash.copy()
        twin._requester_chain_hashed = self._requester_chain_hashed
        return twin

    # --- low level ----------------------------------------------------------------------------

    def _digest(self, *tail: bytes) -> bytes:
        """Hash of everything so far, then `tail`, without adding `tail`."""
        state = self._hash.copy()
        for part in tail:
            state.update(part)
        return state.digest()

    def _signed(self, context: SigningContext, *tail: bytes) -> SignatureInput:
        """What a signature over everything so far, then `tail`, covers (`spdm.signing`)."""
        if self.spdm_version is None:
            raise ValueError("a PSK session transcript has no signatures")
        return signature_input(self.hash_suite, self.spdm_version, context, self._digest(*tail))

    def mark_th1(self) -> bytes:
        """Record Hash(TH1) = the digest now (after the exchange response up to its verify data)."""
        self.th1 = self._hash.copy().digest()
        return self.th1

    def mark_th2(self) -> bytes:
        """Record Hash(TH2) = the digest now: after the last handshake message."""
        self.th2 = self._hash.copy().digest()
        return self.th2

    def mark_th2_after_psk_exchange(self, responder_flags: int) -> bytes | None:
        """Right after PSK_EXCHANGE_RSP: Hash(TH2) = TH1 || ResponderVerifyData, marked and returned, when
        no PSK_FINISH follows (`psk_finish_follows` the negotiated responder flags); else None, and
        PSK_FINISH_RSP marks it."""
        if not self.psk:
            raise ValueError("PSK_EXCHANGE_RSP in a certificate-based session transcript")
        return None if psk_finish_follows(responder_flags) else self.mark_th2()

    # --- what both sides add --------------------------------------------------------------------

    def add_exchange_request(self, request: bytes) -> None:
        """KEY_EXCHANGE or PSK_EXCHANGE, exact bytes (sent or received)."""
        self._hash.update(request)

    def add_requester_chain_hash(self, requester_chain_hash: bytes, *, requester_digests: bytes = b"") -> None:
        """Hash(CM): under mutual authentication, after KEY_EXCHANGE_RSP and before FINISH. On the
        requester's 1.3 multi-key connection EncapD, the requester's first DIGESTS of the session's
        encapsulated flow (`requester_digests`, `spdm.transcript.message_d`), goes just before it
        (libspdm_append_message_encap_d, libspdm_calculate_th_for_finish)."""
        if self.psk:
            raise ValueError("a PSK session transcript has no requester certificate chain")
        if self._requester_chain_hashed:
            raise ValueError("Hash(CM) is already in the transcript")
        self._check_size(requester_chain_hash, "Hash(CM)")
        self._hash.update(bytes(requester_digests))
        self._hash.update(bytes(requester_chain_hash))
        self._requester_chain_hashed = True

    # --- KEY_EXCHANGE_RSP and PSK_EXCHANGE_RSP ----------------------------------------------------

    def add_key_exchange_rsp(self, response: bytes, message: KeyExchangeRsp) -> ExchangeDigests:
        """KEY_EXCHANGE_RSP received (exact bytes and decoded): the signature digest and Hash(TH1).

        ResponderVerifyData, when present, goes into the transcript after TH1 is taken.
        """
        if self.psk:
            raise ValueError("KEY_EXCHANGE_RSP in a PSK session transcript")
        received = message.responder_verify_data or b""
        signed_end = len(response) - len(received)
        body_end = signed_end - len(message.signature)
        self._check_tail(response, body_end, message.signature, "Signature")
        self._check_tail(response, signed_end, received, "ResponderVerifyData")
        signed = self._signed(SigningContext.KEY_EXCHANGE_RSP, response[:body_end])
        self._hash.update(response[:signed_end])
        th1 = self.mark_th1()
        self._hash.update(received)
        return ExchangeDigests(signed, th1)

    def build_key_exchange_rsp(
        self, unsigned: bytes, *, sign: Signer, schedule: KeySchedule, verify_data: bool = True
    ) -> tuple[bytes, HandshakeSecrets]:
        """KEY_EXCHANGE_RSP built: the whole response and the handshake secrets of Hash(TH1).

        `unsigned` is the response up to OpaqueData (encoded with an empty Signature and no
        ResponderVerifyData); `sign` signs its digest. TH1 follows the signature and derives the
        handshake secrets; ResponderVerifyData = HMAC(response finished key, TH1) ends the response,
        unless the handshake is in the clear (`verify_data` False: it moves to FINISH_RSP).
        """
        if self.psk:
            raise ValueError("KEY_EXCHANGE_RSP in a PSK session transcript")
        signature = sign(self._signed(SigningContext.KEY_EXCHANGE_RSP, unsigned))
        self._hash.update(unsigned)
        self._hash.update(signature)
        th1 = self.mark_th1()
        handshake = schedule.handshake(th1)
        tail = schedule.verify_data(handshake.response_finished_key, th1) if verify_data else b""
        self._hash.update(tail)
        return unsigned + signature + tail, handshake

    def add_psk_exchange_rsp(self, response: bytes, message: PskExchangeRsp) -> ExchangeDigests:
        """PSK_EXCHANGE_RSP received: Hash(TH1) is over it without ResponderVerifyData, which is then added."""
        if not self.psk:
            raise ValueError("PSK_EXCHANGE_RSP in a certificate-based session transcript")
        verify_end = len(response) - len(message.responder_verify_data)
        self._check_tail(response, verify_end, message.responder_verify_data, "ResponderVerifyData")
        self._hash.update(response[:verify_end])
        th1 = self.mark_th1()
        self._hash.update(message.responder_verify_data)
        return ExchangeDigests(None, th1)

    def build_psk_exchange_rsp(self, unsigned: bytes, *, schedule: KeySchedule) -> tuple[bytes, HandshakeSecrets]:
        """PSK_EXCHANGE_RSP built from `unsigned` (encoded with empty ResponderVerifyData): the whole
        response (ResponderVerifyData = HMAC(response finished key, TH1) appended) and the handshake secrets."""
        if not self.psk:
            raise ValueError("PSK_EXCHANGE_RSP in a certificate-based session transcript")
        self._hash.update(unsigned)
        th1 = self.mark_th1()
        handshake = schedule.handshake(th1)
        tail = schedule.verify_data(handshake.response_finished_key, th1)
        self._hash.update(tail)
        return unsigned + tail, handshake

    # --- FINISH and PSK_FINISH ----------------------------------------------------------------

    def add_finish(self, request: bytes, message: Finish) -> FinishDigests:
        """FINISH received: the digests its Signature (mutual authentication) and its RequesterVerifyData
        are checked with; then all of it goes in."""
        signature = message.signature or b""
        if signature and not self._requester_chain_hashed:
            raise ValueError("a signed FINISH needs Hash(CM) in the transcript first (add_requester_chain_hash)")
        self._check_length(request, _HEADER_SIZE + len(signature) + len(message.requester_verify_data), "FINISH")
        self._check_tail(request, _HEADER_SIZE, signature, "Signature")
        self._check_tail(request, _HEADER_SIZE + len(signature), message.requester_verify_data, "RequesterVerifyData")
        self._hash.update(request[:_HEADER_SIZE])
        signed = self._signed(SigningContext.FINISH) if signature else None
        self._hash.update(signature)
        verify_digest = self._hash.copy().digest()
        self._hash.update(message.requester_verify_data)
        return FinishDigests(signed, verify_digest)

    def build_finish(self, header: bytes, *, finished_key: bytes, sign: Signer | None = None) -> bytes:
        """FINISH built from its 4-byte `header`: [Signature =] `sign`(digest up to the header) under
        mutual authentication (Hash(CM) first), then RequesterVerifyData = HMAC(request finished key,
        digest up to the signature). Returns the whole request."""
        self._check_length(header, _HEADER_SIZE, "the FINISH header")
        if sign is not None and not self._requester_chain_hashed:
            raise ValueError("a signed FINISH needs Hash(CM) in the transcript first (add_requester_chain_hash)")
        self._hash.update(header)
        signature = b"" if sign is None else sign(self._signed(SigningContext.FINISH))
        self._hash.update(signature)
        mac = verify_data(self.hash_suite, finished_key, self._digest())
        self._hash.update(mac)
        return header + signature + mac

    def add_psk_finish(self, request: bytes, message: PskFinish) -> FinishDigests:
        """PSK_FINISH received: the digest RequesterVerifyData is the HMAC of; then all of it."""
        self._check_length(request, _HEADER_SIZE + len(message.requester_verify_data), "PSK_FINISH")
        self._check_tail(request, _HEADER_SIZE, message.requester_verify_data, "RequesterVerifyData")
        self._hash.update(request[:_HEADER_SIZE])
        verify_digest = self._hash.copy().digest()
        self._hash.update(message.requester_verify_data)
        return FinishDigests(None, verify_digest)

    def build_psk_finish(self, header: bytes, *, finished_key: bytes) -> bytes:
        """PSK_FINISH built from its 4-byte `header`: RequesterVerifyData = HMAC(request finished key,
        digest up to the header). Returns the whole request."""
        return self.build_finish(header, finished_key=finished_key)

    # --- FINISH_RSP and PSK_FINISH_RSP: TH2 -------------------------------------------------------

    def add_finish_rsp(self, response: bytes, message: FinishRsp | None = None) -> bytes | None:
        """FINISH_RSP or PSK_FINISH_RSP received, then Hash(TH2) is marked.

        Returns the digest the in-the-clear ResponderVerifyData is the HMAC of (None when it is absent).
        """
        received = message.responder_verify_data if message is not None else None
        self._check_length(response, _HEADER_SIZE + len(received or b""), "FINISH_RSP")
        if received is None:
            self._hash.update(response)
            self.mark_th2()
            return None
        self._check_tail(response, _HEADER_SIZE, received, "ResponderVerifyData")
        self._hash.update(response[:_HEADER_SIZE])
        verify_digest = self._hash.copy().digest()
        self._hash.update(received)
        self.mark_th2()
        return verify_digest

    def build_finish_rsp(self, header: bytes, *, finished_key: bytes | None = None) -> bytes:
        """FINISH_RSP or PSK_FINISH_RSP built from its 4-byte `header`, then Hash(TH2) is marked. With
        `finished_key` (a handshake in the clear) ResponderVerifyData = HMAC(response finished key,
        digest up to the header) follows the header. Returns the whole response."""
        self._check_length(header, _HEADER_SIZE, "the FINISH_RSP header")
        self._hash.update(header)
        mac = b"" if finished_key is None else verify_data(self.hash_suite, finished_key, self._digest())
        self._hash.update(mac)
        self.mark_th2()
        return header + mac

    # --- helpers --------------------------------------------------------------------------------

    def _check_size(self, digest: bytes, what: str) -> None:
        if len(digest) != self.hash_suite.size:
            raise ValueError(f"{what} must be a {self.hash_suite.size}-byte {self.hash_suite.name} digest")

    @staticmethod
    def _check_length(data: bytes, size: int, what: str) -> None:
        if len(data) != size:
            raise ValueError(f"{what} is {size} bytes, got {len(data)}: pass the exact message")

    @staticmethod
    def _check_tail(data: bytes, offset: int, expected: bytes, what: str) -> None:
        """The decoded field must be where the exact bytes put it (padding passed in would shift it)."""
        if offset < _HEADER_SIZE or data[offset : offset + len(expected)] != expected:
            raise ValueError(f"{what} is not at offset {offset} of the message bytes: pass the exact message")
