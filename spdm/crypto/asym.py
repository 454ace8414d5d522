"""The SPDM signature algorithms (BaseAsymAlgo and ReqBaseAsymAlg): sign and verify on the wire's terms.

SPDM 1.0/1.1 sign Hash(transcript) directly, so callers pass the digest and the suites sign it
with `Prehashed`. Wire formats (DSP0274 1.1, BaseAsymAlgo in NEGOTIATE_ALGORITHMS, and the
Signature fields of CHALLENGE_AUTH, MEASUREMENTS, KEY_EXCHANGE_RSP and FINISH): ECDSA is raw r||s, each half
big-endian and left-zero-padded to the coordinate size, not DER; RSA signatures are big-endian and
modulus-sized; RSASSA is PKCS#1 v1.5; RSAPSS uses MGF1 with the same hash and a salt as long as
the hash (libspdm's `RSA_PSS_SALTLEN_DIGEST`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from spdm.crypto.hashes import HashSuite
from spdm.errors import NegotiationError, VerificationError
from spdm.messages.codes import BaseAsymAlgo

__all__ = [
    "ASYM_SUITES",
    "AsymSuite",
    "SignatureScheme",
    "SigningKey",
    "asym_suite",
]

SigningKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""The private key types an SPDM 1.1 signer holds."""


class SignatureScheme(enum.Enum):
    """How an algorithm signs: PKCS#1 v1.5, PSS or ECDSA."""

    RSASSA = "RSASSA"
    RSAPSS = "RSAPSS"
    ECDSA = "ECDSA"


_CURVES: Mapping[int, type[ec.EllipticCurve]] = {
    BaseAsymAlgo.ECDSA_P256: ec.SECP256R1,
    BaseAsymAlgo.ECDSA_P384: ec.SECP384R1,
    BaseAsymAlgo.ECDSA_P521: ec.SECP521R1,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AsymSuite:
    """One BaseAsymAlgo bit: its name, signature size S, and how to sign and verify a digest with it.

    `key_bits` is the RSA modulus size or the curve's field size.
    """

    bit: int
    name: str
    signature_size: int
    key_bits: int
    scheme: SignatureScheme

    # --- keys -------------------------------------------------------------------------------

    def accepts(self, public_key: PublicKeyTypes) -> bool:
        """Whether `public_key` can verify this algorithm's signatures: key type, curve, modulus size."""
        if self.scheme is SignatureScheme.ECDSA:
            return isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, _CURVES[self.bit])
        return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == self.key_bits

    def generate_private_key(self) -> SigningKey:
        """A fresh key for this algorithm (tests, demo identities). RSA keys take a moment."""
        if self.scheme is SignatureScheme.ECDSA:
            return ec.generate_private_key(_CURVES[self.bit]())
        return rsa.generate_private_key(public_exponent=65537, key_size=self.key_bits)

    # --- signatures -------------------------------------------------------------------------

    def sign(self, private_key: PrivateKeyTypes, digest: bytes, hash_suite: HashSuite) -> bytes:
        """Sign `digest` (= Hash(transcript), SPDM 1.0/1.1) and return the wire-format signature.

        A key or digest that does not fit the negotiated algorithms is a `NegotiationError`:
        the signer selected something it cannot do.
        """
        if len(digest) != hash_suite.size:
            raise NegotiationError(
                f"{self.name}: a {hash_suite.name} digest is {hash_suite.size} bytes, got {len(digest)}"
            )
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and self.accepts(private_key.public_key()):
            der = private_key.sign(digest, ec.ECDSA(Prehashed(hash_suite.algorithm)))
            r, s = decode_dss_signature(der)
            half = self.signature_size // 2
            return r.to_bytes(half, "big") + s.to_bytes(half, "big")
        if isinstance(private_key, rsa.RSAPrivateKey) and self.accepts(private_key.public_key()):
            return private_key.sign(digest, self._padding(hash_suite), Prehashed(hash_suite.algorithm))
        raise NegotiationError(f"{self.name} cannot sign with {_describe(private_key)}")

    def verify(self, public_key: PublicKeyTypes, digest: bytes, signature: bytes, hash_suite: HashSuite) -> None:
        """Check a wire-format `signature` over `digest`; raise `VerificationError` (and nothing else) if it fails."""
        if not self.accepts(public_key):
            raise VerificationError(f"{self.name} signature cannot be checked with {_describe(public_key)}")
        if len(digest) != hash_suite.size:
            raise VerificationError(
                f"{self.name}: a {hash_suite.name} digest is {hash_suite.size} bytes, got {len(digest)}"
            )
        if len(signature) != self.signature_size:
            raise VerificationError(f"{self.name} signature must be {self.signature_size} bytes, got {len(signature)}")
        try:
            if isinstance(public_key, ec.EllipticCurvePublicKey):
                half = self.signature_size // 2
                r = int.from_bytes(signature[:half], "big")
                s = int.from_bytes(signature[half:], "big")
                public_key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hash_suite.algorithm)))
            elif isinstance(public_key, rsa.RSAPublicKey):
                public_key.verify(signature, digest, self._padding(hash_suite), Prehashed(hash_suite.algorithm))
        except InvalidSignature:
            raise VerificationError(
                f"{self.name} signature over the {hash_suite.name} digest does not verify"
            ) from None
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise VerificationError(f"{self.name} signature cannot be checked: {exc}") from None

    def _padding(self, hash_suite: HashSuite) -> padding.AsymmetricPadding:
        if self.scheme is SignatureScheme.RSAPSS:
            return padding.PSS(mgf=padding.MGF1(hash_suite.algorithm), salt_length=hash_suite.size)
        return padding.PKCS1v15()


def _describe(key: object) -> str:
    """A short description of a key for error messages."""
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return f"an EC key on {key.curve.name}"
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return f"an RSA-{key.key_size} key"
    return f"a {type(key).__name__}"


def _rsa(bit: int, scheme: SignatureScheme, bits: int) -> AsymSuite:
    return AsymSuite(bit=bit, name=f"{scheme.value}_{bits}", signature_size=bits // 8, key_bits=bits, scheme=scheme)


def _ecdsa(bit: int, name: str, bits: int) -> AsymSuite:
    return AsymSuite(
        bit=bit, name=name, signature_size=2 * ((bits + 7) // 8), key_bits=bits, scheme=SignatureScheme.ECDSA
    )


ASYM_SUITES: tuple[AsymSuite, ...] = (
    _rsa(BaseAsymAlgo.RSASSA_2048, SignatureScheme.RSASSA, 2048),
    _rsa(BaseAsymAlgo.RSAPSS_2048, SignatureScheme.RSAPSS, 2048),
    _rsa(BaseAsymAlgo.RSASSA_3072, SignatureScheme.RSASSA, 3072),
    _rsa(BaseAsymAlgo.RSAPSS_3072, SignatureScheme.RSAPSS, 3072),
    _ecdsa(BaseAsymAlgo.ECDSA_P256, "ECDSA_P256", 256),
    _rsa(BaseAsymAlgo.RSASSA_4096, SignatureScheme.RSASSA, 4096),
    _rsa(BaseAsymAlgo.RSAPSS_4096, SignatureScheme.RSAPSS, 4096),
    _ecdsa(BaseAsymAlgo.ECDSA_P384, "ECDSA_P384", 384),
    _ecdsa(BaseAsymAlgo.ECDSA_P521, "ECDSA_P521", 521),
)
"""Every SPDM 1.1 signature algorithm, in BaseAsymAlgo bit order."""

_BY_BIT: Mapping[int, AsymSuite] = {suite.bit: suite for suite in ASYM_SUITES}


def asym_suite(base_asym_algo: int) -> AsymSuite:
    """The suite of one BaseAsymAlgo bit; `NegotiationError` for anything else (0, several bits, unknown)."""
    suite = _BY_BIT.get(base_asym_algo)
    if suite is None:
        raise NegotiationError(f"BaseAsymAlgo 0x{base_asym_algo:x} is not exactly one known signature algorithm")
    return suite
