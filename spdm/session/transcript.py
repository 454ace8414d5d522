"""The session transcripts TH1 and TH2 (SPDM 1.1; SPDM_NOTES section 4).

DHE (certificate-based)::

    responder signature  over A || Hash(Ct) || KEY_EXCHANGE || KEY_EXCHANGE_RSP up to OpaqueData
    TH1                  = A || Hash(Ct) || KEY_EXCHANGE || KEY_EXCHANGE_RSP without ResponderVerifyData
    requester signature  over TH1 || ResponderVerifyData || Hash(CM) || FINISH header     (mutual auth)
    RequesterVerifyData  over ... || FINISH header [|| Signature]
    TH2                  = ... || FINISH || FINISH_RSP

PSK: no Hash(Ct) and no Hash(CM); TH1 = A || PSK_EXCHANGE || PSK_EXCHANGE_RSP without its verify
data; TH2 = TH1 || ResponderVerifyData || PSK_FINISH || PSK_FINISH_RSP, or just TH1 || verify data
when the responder has no PSK context (no PSK_FINISH).

`SessionTranscript` hashes incrementally over the exact message bytes (never transport padding,
never re-encoded objects). The low-level `append` / `digest` serve a side that builds messages
(a responder hashes before it signs); the `add_*` methods take a whole received message with its
decoded form and return what must be checked against it.
"""

from __future__ import annotations

from typing import NamedTuple

from spdm.crypto.hashes import HashObject, HashSuite
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchangeRsp
from spdm.messages.psk import PskExchangeRsp, PskFinish

__all__ = ["ExchangeDigests", "FinishDigests", "SessionTranscript"]

_HEADER_SIZE = 4
_RAW = (bytes, bytearray, memoryview)  # A itself, not a running hash of it
_tuple_new = tuple.__new__
"""Builds the digests' named tuples without their generated `__new__`, a Python call (as `spdm.session.keys` does)."""


class ExchangeDigests(NamedTuple):
    """What KEY_EXCHANGE_RSP (or PSK_EXCHANGE_RSP) is checked with.

    `signature_digest` is Hash(A || Hash(Ct) || K up to OpaqueData) (None for PSK), `th1` is
    Hash(TH1): it derives the handshake secrets and ResponderVerifyData = HMAC(rsp finished key, th1).
    """

    signature_digest: bytes | None
    th1: bytes


class FinishDigests(NamedTuple):
    """What FINISH (or PSK_FINISH) is checked with: the requester's signature digest (mutual auth
    only) and the hash RequesterVerifyData is the HMAC of."""

    signature_digest: bytes | None
    verify_digest: bytes


class SessionTranscript:
    """The running hash of one session's transcript: A, [Hash(Ct)], K, [Hash(CM)], F."""

    __slots__ = ("_hash", "_requester_chain_hashed", "hash_suite", "psk", "th1", "th2")

    def __init__(
        self, hash_suite: HashSuite, vca: bytes | HashObject, *, responder_chain_hash: bytes | None = None
    ) -> None:
        """`vca` is A, or a running hash of A that this transcript continues (`ConnectionTranscript.vca_hash`);
        `responder_chain_hash` is Hash(Ct) of the slot KEY_EXCHANGE named, None for a PSK session."""
        self.hash_suite = hash_suite
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

    # --- low level ----------------------------------------------------------------------------

    def append(self, *parts: bytes) -> None:
        """Add message bytes (or parts of messages) in wire order."""
        update = self._hash.update
        for part in parts:
            update(part)

    def digest(self, *tail: bytes) -> bytes:
        """Hash of everything so far, then `tail`, without adding `tail`."""
        state = self._hash.copy()
        for part in tail:
            state.update(part)
        return state.digest()

    def add_requester_chain_hash(self, requester_chain_hash: bytes) -> None:
        """Hash(CM): under mutual authentication, after KEY_EXCHANGE_RSP and before FINISH."""
        if self.psk:
            raise ValueError("a PSK session transcript has no requester certificate chain")
        if self._requester_chain_hashed:
            raise ValueError("Hash(CM) is already in the transcript")
        self._check_size(requester_chain_hash, "Hash(CM)")
        self._hash.update(bytes(requester_chain_hash))
        self._requester_chain_hashed = True

    def mark_th1(self) -> bytes:
        """Record Hash(TH1) = the digest now (after the response up to its signature)."""
        self.th1 = self._hash.copy().digest()
        return self.th1

    def mark_th2(self) -> bytes:
        """Record Hash(TH2) = the digest now (after the last handshake message)."""
        self.th2 = self._hash.copy().digest()
        return self.th2

    # --- whole received messages (fed to the running hash directly) ----------------------------

    def add_exchange_request(self, request: bytes) -> None:
        """KEY_EXCHANGE or PSK_EXCHANGE, exact bytes."""
        self._hash.update(request)

    def add_key_exchange_rsp(self, response: bytes, message: KeyExchangeRsp) -> ExchangeDigests:
        """KEY_EXCHANGE_RSP (exact bytes and decoded): the signature digest and Hash(TH1).

        ResponderVerifyData, when present, goes into the transcript after TH1 is taken.
        """
        if self.psk:
            raise ValueError("KEY_EXCHANGE_RSP in a PSK session transcript")
        verify_data = message.responder_verify_data or b""
        signed_end = len(response) - len(verify_data)
        body_end = signed_end - len(message.signature)
        self._check_tail(response, body_end, message.signature, "Signature")
        self._check_tail(response, signed_end, verify_data, "ResponderVerifyData")
        signature_digest = self.digest(response[:body_end])
        self._hash.update(response[:signed_end])
        th1 = self.mark_th1()
        self._hash.update(verify_data)
        return _tuple_new(ExchangeDigests, (signature_digest, th1))

    def add_psk_exchange_rsp(self, response: bytes, message: PskExchangeRsp) -> ExchangeDigests:
        """PSK_EXCHANGE_RSP: Hash(TH1) is over it without ResponderVerifyData, which is then added."""
        if not self.psk:
            raise ValueError("PSK_EXCHANGE_RSP in a certificate-based session transcript")
        verify_end = len(response) - len(message.responder_verify_data)
        self._check_tail(response, verify_end, message.responder_verify_data, "ResponderVerifyData")
        self._hash.update(response[:verify_end])
        self.th1 = th1 = self._hash.copy().digest()  # `mark_th1` inline
        self._hash.update(message.responder_verify_data)
        return _tuple_new(ExchangeDigests, (None, th1))

    def add_finish(self, request: bytes, message: Finish) -> FinishDigests:
        """FINISH: the requester-signature digest (mutual auth) and the RequesterVerifyData digest; then all of it."""
        signature = message.signature or b""
        if signature and not self._requester_chain_hashed:
            raise ValueError("a signed FINISH needs Hash(CM) in the transcript first (add_requester_chain_hash)")
        self._check_length(request, _HEADER_SIZE + len(signature) + len(message.requester_verify_data), "FINISH")
        self._check_tail(request, _HEADER_SIZE, signature, "Signature")
        self._check_tail(request, _HEADER_SIZE + len(signature), message.requester_verify_data, "RequesterVerifyData")
        self._hash.update(request[:_HEADER_SIZE])
        signature_digest = self._hash.copy().digest() if signature else None
        self._hash.update(signature)
        verify_digest = self._hash.copy().digest()
        self._hash.update(message.requester_verify_data)
        return _tuple_new(FinishDigests, (signature_digest, verify_digest))

    def add_psk_finish(self, request: bytes, message: PskFinish) -> FinishDigests:
        """PSK_FINISH: the digest RequesterVerifyData is the HMAC of; then all of it."""
        self._check_length(request, _HEADER_SIZE + len(message.requester_verify_data), "PSK_FINISH")
        self._check_tail(request, _HEADER_SIZE, message.requester_verify_data, "RequesterVerifyData")
        self._hash.update(request[:_HEADER_SIZE])
        verify_digest = self._hash.copy().digest()
        self._hash.update(message.requester_verify_data)
        return _tuple_new(FinishDigests, (None, verify_digest))

    def add_finish_rsp(self, response: bytes, message: FinishRsp | None = None) -> bytes | None:
        """FINISH_RSP or PSK_FINISH_RSP, then Hash(TH2) is marked.

        Returns the digest the in-the-clear ResponderVerifyData is the HMAC of (None when it is absent).
        """
        verify_data = message.responder_verify_data if message is not None else None
        self._check_length(response, _HEADER_SIZE + len(verify_data or b""), "FINISH_RSP")
        if verify_data is None:
            self._hash.update(response)
            self.th2 = self._hash.copy().digest()  # `mark_th2` inline
            return None
        self._check_tail(response, _HEADER_SIZE, verify_data, "ResponderVerifyData")
        self._hash.update(response[:_HEADER_SIZE])
        verify_digest = self._hash.copy().digest()
        self._hash.update(verify_data)
        self.mark_th2()
        return verify_digest

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
