"""What the requester brings of its own to a session: its certificate chain and signing key for
mutual authentication (`RequesterIdentity`), and, when it is not drawn here, its side of the
DHE agreement (`DheKeyShare`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spdm.certs import CertChain
from spdm.crypto import ASYM_SUITES, AsymSuite, HashSuite, SignatureInput, SigningKey
from spdm.errors import EncodeError, NegotiationError
from spdm.messages.codes import KeyUsage
from spdm.messages.key_pairs import MAX_KEY_PAIRS

__all__ = ["DheKeyShare", "RequesterIdentity"]


class DheKeyShare(Protocol):
    """One side of a DHE agreement: the ExchangeData sent and the secret agreed with the peer's."""

    @property
    def exchange_data(self) -> bytes:
        """The requester's ExchangeData for KEY_EXCHANGE (SPDM wire form)."""
        ...

    def shared_secret(self, peer_exchange_data: bytes) -> bytes:
        """The DHE shared secret with the responder's ExchangeData; `VerificationError` if it is invalid."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RequesterIdentity:
    """A certificate chain of the requester (DER, root first, leaf last) and what signs with its leaf key.

    Give `private_key`, or `sign` (what is signed -> SPDM wire signature) for a key held elsewhere
    (an HSM, a capture replay); the algorithm is the negotiated ReqBaseAsymAlg, and `sign` signs the
    `SignatureInput`'s digest (RSA, ECDSA: Hash(transcript) in 1.0/1.1, Hash(M') from 1.2) or its
    message M' (EdDSA), as `AsymSuite.signed_bytes` picks.

    On a 1.3 connection where the responder made the requester multi-key (MULTI_KEY_CONN), the
    encapsulated DIGESTS states for its slot `key_pair_id` (1..255; give each key its own), the
    device certificate model and `key_usage` (`KeyUsage` bits, by default the four SPDM usages, as
    spdm-emu's requester states them).
    """

    certificates: tuple[bytes, ...]
    private_key: SigningKey | None = None
    sign: Callable[[SignatureInput], bytes] | None = None
    key_pair_id: int = 1
    key_usage: int = KeyUsage.ALL_SPDM

    def __post_init__(self) -> None:
        if not self.certificates:
            raise ValueError("a requester identity needs its certificate chain (root first, leaf last)")
        if not 1 <= self.key_pair_id <= MAX_KEY_PAIRS:
            raise ValueError(f"key_pair_id {self.key_pair_id}: a KeyPairID is 1..{MAX_KEY_PAIRS}")
        if not self.key_usage & KeyUsage.ALL_SPDM or self.key_usage & ~KeyUsage.DEFINED:
            raise ValueError(f"key_usage 0x{self.key_usage:x}: give KeyUsage bits, one SPDM usage at least")
        if self.private_key is None and self.sign is None:
            raise ValueError("a requester identity needs a private_key or a sign callable")
        if self.private_key is not None:
            mine = self.private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            leaf = self.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            if mine != leaf:
                raise ValueError("the private key does not belong to the leaf (last) certificate")

    def public_key(self) -> CertificatePublicKeyTypes:
        """The leaf certificate's public key."""
        return x509.load_der_x509_certificate(self.certificates[-1]).public_key()

    def signature_algorithms(self) -> int:
        """The BaseAsymAlgo bits the leaf key can sign with (what to offer as ReqBaseAsymAlg)."""
        key = self.public_key()
        return sum(suite.bit for suite in ASYM_SUITES if suite.accepts(key))

    def chain_bytes(self, hash_suite: HashSuite) -> bytes:
        """The chain in SPDM slot format (Length, Reserved, RootHash, certificates): CM."""
        return CertChain.build(self.certificates, hash_suite).to_bytes()

    def signature(self, suite: AsymSuite, signed: SignatureInput, hash_suite: HashSuite) -> bytes:
        """The wire signature of `signed` with `suite` (the negotiated ReqBaseAsymAlg)."""
        if self.sign is not None:
            signature = bytes(self.sign(signed))
        elif self.private_key is not None:
            signature = suite.sign(self.private_key, signed, hash_suite)
        else:  # __post_init__ makes this unreachable
            raise NegotiationError("the requester identity cannot sign")
        if len(signature) != suite.signature_size:
            raise EncodeError(suite.name, "signature", f"{len(signature)} bytes, expected {suite.signature_size}")
        return signature
