"""The signature table: every BaseAsymAlgo x BaseHashAlgo signs and verifies in the SPDM 1.1 wire format,
and every malformed or mismatched signature is a VerificationError (never another exception)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from spdm.crypto import (
    ASYM_SUITES,
    HASH_SUITES,
    AsymSuite,
    HashSuite,
    SignatureScheme,
    SigningKey,
    asym_suite,
    hash_suite,
)
from spdm.errors import NegotiationError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, asym_signature_size
from spdm.signing import SigningContext, signature_input
from spdm.testing.pki import cached_key

ASYM_IDS = [suite.name for suite in ASYM_SUITES]
HASH_IDS = [suite.name for suite in HASH_SUITES]
SHA_384 = hash_suite(BaseHashAlgo.SHA_384)
ECDSA_P384 = asym_suite(BaseAsymAlgo.ECDSA_P384)
RSAPSS_2048 = asym_suite(BaseAsymAlgo.RSAPSS_2048)
RSASSA_2048 = asym_suite(BaseAsymAlgo.RSASSA_2048)

# libspdm sample folder -> the BaseAsymAlgo bits its end_responder key can serve
SAMPLE_FOLDERS = {
    "ecp256": {BaseAsymAlgo.ECDSA_P256},
    "ecp384": {BaseAsymAlgo.ECDSA_P384},
    "ecp521": {BaseAsymAlgo.ECDSA_P521},
    "rsa2048": {BaseAsymAlgo.RSASSA_2048, BaseAsymAlgo.RSAPSS_2048},
    "rsa3072": {BaseAsymAlgo.RSASSA_3072, BaseAsymAlgo.RSAPSS_3072},
    "rsa4096": {BaseAsymAlgo.RSASSA_4096, BaseAsymAlgo.RSAPSS_4096},
}


def key_for(suite: AsymSuite, index: int = 0) -> SigningKey:
    """Keys are generated once per process (RSA is slow) and shared with the certificate tests."""
    return cached_key(suite.bit, index)


def test_one_suite_per_asym_bit_with_a_backend() -> None:
    named_only = {BaseAsymAlgo.SM2_P256, BaseAsymAlgo.EDDSA_ED448}
    assert [suite.bit for suite in ASYM_SUITES] == [int(bit) for bit in BaseAsymAlgo if bit not in named_only]
    for suite in ASYM_SUITES:
        assert suite.name == BaseAsymAlgo(suite.bit).name
        assert suite.signature_size == asym_signature_size(suite.bit)
        assert asym_suite(suite.bit) is suite


@pytest.mark.parametrize("value", [0, 0x3, 0x200, 0x800, 1 << 31, -1])
def test_asym_suite_rejects_anything_but_one_known_bit(value: int) -> None:
    with pytest.raises(NegotiationError, match="BaseAsymAlgo"):
        asym_suite(value)


@pytest.mark.parametrize("hashes", HASH_SUITES, ids=HASH_IDS)
@pytest.mark.parametrize("suite", ASYM_SUITES, ids=ASYM_IDS)
def test_sign_verify_round_trip(suite: AsymSuite, hashes: HashSuite) -> None:
    """1.1 signs the bare transcript digest, 1.2 the combined prefix and it; EdDSA exists from 1.2 only."""
    key = key_for(suite)
    for version in (0x11, 0x12):
        signed = signature_input(hashes, version, SigningContext.CHALLENGE_AUTH, hashes.digest(b"A || B || C"))
        other = signature_input(hashes, version, SigningContext.CHALLENGE_AUTH, hashes.digest(b"another"))
        if version < 0x12 and suite.scheme is SignatureScheme.EDDSA:
            with pytest.raises(NegotiationError, match=r"1\.2"):
                suite.sign(key, signed, hashes)
            continue
        signature = suite.sign(key, signed, hashes)
        assert len(signature) == suite.signature_size
        suite.verify(key.public_key(), signed, signature, hashes)
        with pytest.raises(VerificationError):
            suite.verify(key.public_key(), other, signature, hashes)
        if version == 0x11:
            suite.verify(key.public_key(), signed.digest, signature, hashes)  # a bare digest is 1.1's input


@pytest.mark.parametrize("suite", [s for s in ASYM_SUITES if s.name.startswith("ECDSA")], ids=lambda s: s.name)
def test_ecdsa_is_raw_r_s_and_equals_ecdsa_over_the_message(suite: AsymSuite) -> None:
    """1.1 signs Hash(M): the same as ordinary ECDSA-with-hash over M; the wire carries fixed-width r||s."""
    key = key_for(suite)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    message = b"transcript M"
    der = key.sign(message, ec.ECDSA(SHA_384.algorithm))
    r, s = decode_dss_signature(der)
    half = suite.signature_size // 2
    raw = r.to_bytes(half, "big") + s.to_bytes(half, "big")
    suite.verify(key.public_key(), SHA_384.digest(message), raw, SHA_384)

    ours = suite.sign(key, SHA_384.digest(message), SHA_384)
    r2, s2 = int.from_bytes(ours[:half], "big"), int.from_bytes(ours[half:], "big")
    key.public_key().verify(encode_dss_signature(r2, s2), message, ec.ECDSA(SHA_384.algorithm))
    # raw -> DER -> raw is the identity, leading zero bytes included
    assert decode_dss_signature(encode_dss_signature(r2, s2)) == (r2, s2)


def test_ecdsa_small_r_is_left_padded() -> None:
    """A short r or s must be left-zero-padded, not shortened: sign until one comes out short."""
    suite = asym_suite(BaseAsymAlgo.ECDSA_P256)
    key = key_for(suite)
    half = suite.signature_size // 2
    for attempt in range(2000):
        digest = SHA_384.digest(attempt.to_bytes(4, "big"))
        signature = suite.sign(key, digest, SHA_384)
        if signature[0] == 0 or signature[half] == 0:
            assert len(signature) == suite.signature_size
            suite.verify(key.public_key(), digest, signature, SHA_384)
            return
    pytest.fail("no short r or s in 2000 signatures")


@pytest.mark.parametrize("hashes", HASH_SUITES[:3], ids=HASH_IDS[:3])
def test_rsapss_is_mgf1_same_hash_salt_hash_length(hashes: HashSuite) -> None:
    key = key_for(RSAPSS_2048)
    assert isinstance(key, rsa.RSAPrivateKey)
    message = b"transcript M"
    pss = padding.PSS(mgf=padding.MGF1(hashes.algorithm), salt_length=hashes.size)
    RSAPSS_2048.verify(key.public_key(), hashes.digest(message), key.sign(message, pss, hashes.algorithm), hashes)
    ours = RSAPSS_2048.sign(key, hashes.digest(message), hashes)
    key.public_key().verify(ours, message, pss, hashes.algorithm)


def test_rsapss_other_salt_length_is_rejected() -> None:
    """libspdm requires SaltLen = DigestLen; a maximal-salt PSS signature must not pass."""
    key = key_for(RSAPSS_2048)
    assert isinstance(key, rsa.RSAPrivateKey)
    digest = SHA_384.digest(b"M")
    long_salt = padding.PSS(mgf=padding.MGF1(SHA_384.algorithm), salt_length=padding.PSS.MAX_LENGTH)
    signature = key.sign(digest, long_salt, Prehashed(SHA_384.algorithm))
    with pytest.raises(VerificationError, match="does not verify"):
        RSAPSS_2048.verify(key.public_key(), digest, signature, SHA_384)


def test_rsassa_is_pkcs1_v1_5() -> None:
    key = key_for(RSASSA_2048)
    assert isinstance(key, rsa.RSAPrivateKey)
    message = b"transcript M"
    signature = key.sign(message, padding.PKCS1v15(), SHA_384.algorithm)
    RSASSA_2048.verify(key.public_key(), SHA_384.digest(message), signature, SHA_384)
    assert RSASSA_2048.sign(key, SHA_384.digest(message), SHA_384) == signature  # deterministic


def test_rsassa_and_rsapss_signatures_are_not_interchangeable() -> None:
    key = key_for(RSASSA_2048)
    digest = SHA_384.digest(b"M")
    with pytest.raises(VerificationError):
        RSAPSS_2048.verify(key.public_key(), digest, RSASSA_2048.sign(key, digest, SHA_384), SHA_384)
    with pytest.raises(VerificationError):
        RSASSA_2048.verify(key.public_key(), digest, RSAPSS_2048.sign(key, digest, SHA_384), SHA_384)


def test_signature_over_another_hash_is_rejected() -> None:
    key = key_for(ECDSA_P384)
    sha512 = hash_suite(BaseHashAlgo.SHA_512)
    digest = SHA_384.digest(b"M")
    signature = ECDSA_P384.sign(key, digest, SHA_384)
    with pytest.raises(VerificationError):
        ECDSA_P384.verify(key.public_key(), sha512.digest(b"M"), signature, sha512)


_SIGNED_12 = signature_input(SHA_384, 0x12, SigningContext.MEASUREMENTS, SHA_384.digest(b"M"))
"""What a 1.2 signature covers (every algorithm signs it, EdDSA included)."""


@pytest.mark.parametrize("suite", ASYM_SUITES, ids=ASYM_IDS)
def test_malformed_signatures_are_verification_errors(suite: AsymSuite) -> None:
    key = key_for(suite)
    public = key.public_key()
    digest = _SIGNED_12
    good = suite.sign(key, digest, SHA_384)
    half = suite.signature_size // 2
    bad = {
        "flipped bit": good[:-1] + bytes([good[-1] ^ 1]),
        "truncated": good[:-1],
        "one byte longer": good + b"\x00",
        "empty": b"",
        "zeros": bytes(suite.signature_size),
        "ones": b"\xff" * suite.signature_size,
        "byte-reversed": good[::-1],
        "halves reversed": good[half:] + good[:half],
    }
    for label, signature in bad.items():
        with pytest.raises(VerificationError):
            suite.verify(public, digest, signature, SHA_384)
            pytest.fail(label)
    with pytest.raises(VerificationError, match=f"must be {suite.signature_size} bytes, got {len(good) - 1}"):
        suite.verify(public, digest, good[:-1], SHA_384)


# a second RSA-3072/4096 key would cost a second of generation for no new code path
@pytest.mark.parametrize("suite", [s for s in ASYM_SUITES if s.key_bits < 3072], ids=lambda s: s.name)
def test_wrong_key_is_a_verification_error(suite: AsymSuite) -> None:
    digest = _SIGNED_12
    signature = suite.sign(key_for(suite), digest, SHA_384)
    with pytest.raises(VerificationError, match="does not verify"):
        suite.verify(key_for(suite, 1).public_key(), digest, signature, SHA_384)


@pytest.mark.parametrize("suite", ASYM_SUITES, ids=ASYM_IDS)
def test_key_of_the_wrong_type_is_a_verification_error(suite: AsymSuite) -> None:
    digest = _SIGNED_12
    signature = bytes(suite.signature_size)
    strangers: list[PublicKeyTypes] = [
        key_for(other).public_key() for other in ASYM_SUITES if not other.accepts(key_for(suite).public_key())
    ]
    strangers.append(ed448.Ed448PrivateKey.generate().public_key())  # Ed448: named, not backed
    for public in strangers:
        assert not suite.accepts(public)
        with pytest.raises(VerificationError, match="cannot be checked with"):
            suite.verify(public, digest, signature, SHA_384)


def test_wrong_digest_length_is_a_verification_error() -> None:
    key = key_for(ECDSA_P384)
    signature = ECDSA_P384.sign(key, SHA_384.digest(b"M"), SHA_384)
    with pytest.raises(VerificationError, match="digest is 48 bytes, got 32"):
        ECDSA_P384.verify(key.public_key(), bytes(32), signature, SHA_384)


def test_signing_with_a_key_that_does_not_fit_is_a_negotiation_error() -> None:
    digest = SHA_384.digest(b"M")
    with pytest.raises(NegotiationError, match="ECDSA_P384 cannot sign with an EC key on secp256r1"):
        ECDSA_P384.sign(cached_key(BaseAsymAlgo.ECDSA_P256), digest, SHA_384)
    with pytest.raises(NegotiationError, match="RSA-2048"):
        asym_suite(BaseAsymAlgo.RSASSA_3072).sign(key_for(RSASSA_2048), digest, SHA_384)
    with pytest.raises(NegotiationError, match="digest is 48 bytes"):
        ECDSA_P384.sign(key_for(ECDSA_P384), digest[:32], SHA_384)


@pytest.mark.parametrize("suite", ASYM_SUITES, ids=ASYM_IDS)
def test_accepts_matches_type_curve_and_modulus(suite: AsymSuite) -> None:
    accepted = {other.bit for other in ASYM_SUITES if other.accepts(key_for(suite).public_key())}
    same_key_type = {
        other.bit for other in ASYM_SUITES if (other.scheme, other.key_bits) == (suite.scheme, suite.key_bits)
    }
    if suite.scheme in (SignatureScheme.RSASSA, SignatureScheme.RSAPSS):
        same_key_type |= {
            other.bit
            for other in ASYM_SUITES
            if other.key_bits == suite.key_bits and other.scheme in (SignatureScheme.RSASSA, SignatureScheme.RSAPSS)
        }
    assert accepted == same_key_type  # RSASSA and RSAPSS of one size share keys; curves and EdDSA do not mix
    assert suite.bit in accepted


# --- libspdm sample keys -----------------------------------------------------------------------


@pytest.mark.parametrize("folder", sorted(SAMPLE_FOLDERS))
def test_accepts_each_libspdm_sample_key(libspdm_vectors: Path, folder: str) -> None:
    keys = libspdm_vectors / "sample_key" / folder
    private = load_pem_private_key(
        (keys / "end_responder.key").read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
    )
    certificate = x509.load_der_x509_certificate((keys / "end_responder.cert.der").read_bytes())
    accepted = {suite.bit for suite in ASYM_SUITES if suite.accepts(certificate.public_key())}
    assert accepted == SAMPLE_FOLDERS[folder]
    assert {suite.bit for suite in ASYM_SUITES if suite.accepts(private.public_key())} == accepted


@pytest.mark.parametrize("folder", sorted(SAMPLE_FOLDERS))
def test_libspdm_sample_key_round_trip(libspdm_vectors: Path, folder: str) -> None:
    """Sign with end_responder.key, verify with the public key of end_responder.cert.der."""
    keys = libspdm_vectors / "sample_key" / folder
    private = load_pem_private_key(
        (keys / "end_responder.key").read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
    )
    public = x509.load_der_x509_certificate((keys / "end_responder.cert.der").read_bytes()).public_key()
    for bit in SAMPLE_FOLDERS[folder]:
        suite = asym_suite(bit)
        for hashes in HASH_SUITES[:3]:
            digest = hashes.digest(b"libspdm sample")
            signature = suite.sign(private, digest, hashes)
            assert len(signature) == suite.signature_size
            suite.verify(public, digest, signature, hashes)
