"""The SPDM signature algorithms (BaseAsymAlgo and ReqBaseAsymAlg): sign and verify on the wire's terms.

What is signed comes as a `SignatureInput` (made by `spdm.signing`): RSA and ECDSA sign its
digest with `Prehashed` (Hash(transcript) in 1.0/1.1, Hash(M') from 1.2); Ed25519 (1.2 on) signs
its message M' itself. Wire formats (DSP0274 1.1, BaseAsymAlgo in NEGOTIATE_ALGORITHMS, and the
Signature fields of CHALLENGE_AUTH, MEASUREMENTS, KEY_EXCHANGE_RSP and FINISH): ECDSA is raw r||s, each half
big-endian and left-zero-padded to the coordinate size, not DER; RSA signatures are big-endian and
modulus-sized; RSASSA is PKCS#1 v1.5; RSAPSS uses MGF1 with the same hash and a salt as long as
the hash (libspdm's `RSA_PSS_SALTLEN_DIGEST`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
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
    "SignatureInput",
    "SignatureScheme",
    "SigningKey",
    "asym_suite",
]

SigningKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
"""The private key types an SPDM signer holds."""


class SignatureInput(NamedTuple):
    """What one signature covers, in the forms the algorithms take: `digest` for RSA and ECDSA
    (Hash(transcript) before 1.2, Hash(M') from 1.2) and `message` M' for EdDSA (None before 1.2)."""

    digest: bytes
    message: bytes | None


class SignatureScheme(enum.Enum):
    """How an algorithm signs: PKCS#1 v1.5, PSS, ECDSA or EdDSA."""

    RSASSA = "RSASSA"
    RSAPSS = "RSAPSS"
    ECDSA = "ECDSA"
    EDDSA = "EDDSA"


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
        if self.scheme is SignatureScheme.EDDSA:
            return isinstance(public_key, ed25519.Ed25519PublicKey)
        return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == self.key_bits

    def generate_private_key(self) -> SigningKey:
        """A fresh key for this algorithm (tests, demo identities). RSA keys take a moment."""
        if self.scheme is SignatureScheme.ECDSA:
            return ec.generate_private_key(_CURVES[self.bit]())
        if self.scheme is SignatureScheme.EDDSA:
            return ed25519.Ed25519PrivateKey.generate()
        return rsa.generate_private_key(public_exponent=65537, key_size=self.key_bits)

    # --- signatures -------------------------------------------------------------------------

    def signed_bytes(self, signed: SignatureInput) -> bytes:
        """What this algorithm signs of `signed`: the digest (RSA, ECDSA) or the message M' (EdDSA).

        EdDSA before 1.2 (no M') is a `NegotiationError`: those versions do not define it.
        """
        if self.scheme is not SignatureScheme.EDDSA:
            return signed.digest
        if signed.message is None:
            raise NegotiationError(f"{self.name} signs SPDM 1.2 and later messages only")
        return signed.message

    def sign(self, private_key: PrivateKeyTypes, signed: SignatureInput | bytes, hash_suite: HashSuite) -> bytes:
        """Sign `signed` (from `spdm.signing.signature_input`, or a bare Hash(transcript) as 1.0 and
        1.1 sign it) and return the wire-format signature.

        A key or digest that does not fit the negotiated algorithms is a `NegotiationError`:
        the signer selected something it cannot do.
        """
        data = self._checked(signed, hash_suite, NegotiationError)
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and self.accepts(private_key.public_key()):
            der = private_key.sign(data, ec.ECDSA(Prehashed(hash_suite.algorithm)))
            r, s = decode_dss_signature(der)
            half = self.signature_size // 2
            return r.to_bytes(half, "big") + s.to_bytes(half, "big")
        if isinstance(private_key, rsa.RSAPrivateKey) and self.accepts(private_key.public_key()):
            return private_key.sign(data, self._padding(hash_suite), Prehashed(hash_suite.algorithm))
        if isinstance(private_key, ed25519.Ed25519PrivateKey) and self.accepts(private_key.public_key()):
            return private_key.sign(data)
        raise NegotiationError(f"{self.name} cannot sign with {_describe(private_key)}")

    def verify(
        self, public_key: PublicKeyTypes, signed: SignatureInput | bytes, signature: bytes, hash_suite: HashSuite
    ) -> None:
        """Check a wire-format `signature` over `signed`; raise `VerificationError` (and nothing else) if it fails."""
        if not self.accepts(public_key):
            raise VerificationError(f"{self.name} signature cannot be checked with {_describe(public_key)}")
        data = self._checked(signed, hash_suite, VerificationError)
        if len(signature) != self.signature_size:
            raise VerificationError(f"{self.name} signature must be {self.signature_size} bytes, got {len(signature)}")
        try:
            if isinstance(public_key, ec.EllipticCurvePublicKey):
                half = self.signature_size // 2
                r = int.from_bytes(signature[:half], "big")
                s = int.from_bytes(signature[half:], "big")
                public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(Prehashed(hash_suite.algorithm)))
            elif isinstance(public_key, rsa.RSAPublicKey):
                public_key.verify(signature, data, self._padding(hash_suite), Prehashed(hash_suite.algorithm))
            elif isinstance(public_key, ed25519.Ed25519PublicKey):
                public_key.verify(signature, data)
        except InvalidSignature:
            raise VerificationError(
                f"{self.name} signature over the {hash_suite.name} digest does not verify"
            ) from None
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise VerificationError(f"{self.name} signature cannot be checked: {exc}") from None

    def _checked(
        self,
        signed: SignatureInput | bytes,
        hash_suite: HashSuite,
        error: type[NegotiationError] | type[VerificationError],
    ) -> bytes:
        """`signed_bytes`, with a digest of the negotiated hash's size; else `error`."""
        if isinstance(signed, bytes):
            signed = SignatureInput(signed, None)
        if len(signed.digest) != hash_suite.size:
            raise error(f"{self.name}: a {hash_suite.name} digest is {hash_suite.size} bytes, got {len(signed.digest)}")
        try:
            return self.signed_bytes(signed)
        except NegotiationError as exc:
            raise error(str(exc)) from None

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
    AsymSuite(
        bit=BaseAsymAlgo.EDDSA_ED25519,
        name="EDDSA_ED25519",
        signature_size=64,
        key_bits=256,
        scheme=SignatureScheme.EDDSA,
    ),
)
"""Every signature algorithm with a backend, in BaseAsymAlgo bit order (SM2 and Ed448 are named only)."""

_BY_BIT: Mapping[int, AsymSuite] = {suite.bit: suite for suite in ASYM_SUITES}


def asym_suite(base_asym_algo: int) -> AsymSuite:
    """The suite of one BaseAsymAlgo bit; `NegotiationError` for anything else (0, several bits, unknown)."""
    suite = _BY_BIT.get(base_asym_algo)
    if suite is None:
        raise NegotiationError(f"BaseAsymAlgo 0x{base_asym_algo:x} is not exactly one known signature algorithm")
    return suite
