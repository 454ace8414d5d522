"""The AEAD table: one suite per AEADCipherSuite bit, published known answers, tag failures."""

from __future__ import annotations

import pytest

from spdm.crypto import AEAD_SUITES, AeadSuite, aead_suite
from spdm.errors import NegotiationError, VerificationError
from spdm.messages.codes import AeadAlgorithm

# The GCM specification (McGrew and Viega), test case 4: AES-128, 60-byte plaintext, 20-byte AAD.
GCM_CASE4 = {
    "key": "feffe9928665731c6d6a8f9467308308",
    "iv": "cafebabefacedbaddecaf888",
    "plaintext": "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
    "49a6b525b16aedf5aa0de657ba637b39",
    "aad": "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    "ciphertext": "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
    "ac84aa051ba30b396a0aac973d58e091",
    "tag": "5bc94fbc3221a5db94fae95ae7121a47",
}

# RFC 8439 section 2.8.2: ChaCha20-Poly1305 AEAD of the "sunscreen" text; its tag.
RFC8439_PLAINTEXT = (
    b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    b"sunscreen would be it."
)
RFC8439_KEY = bytes(range(0x80, 0xA0))
RFC8439_NONCE = bytes.fromhex("070000004041424344454647")
RFC8439_AAD = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
RFC8439_TAG = "1ae10b594f09e26a7e902ecbd0600691"

IDS = [suite.name for suite in AEAD_SUITES]


def test_one_suite_per_bit() -> None:
    backed = [bit for bit in AeadAlgorithm if bit is not AeadAlgorithm.SM4_128_GCM]
    assert [suite.bit for suite in AEAD_SUITES] == [int(bit) for bit in backed]
    assert [suite.name for suite in AEAD_SUITES] == [bit.name for bit in backed]
    assert [suite.key_size for suite in AEAD_SUITES] == [16, 32, 32]
    assert all(suite.iv_size == 12 and suite.tag_size == 16 for suite in AEAD_SUITES)
    for suite in AEAD_SUITES:
        assert aead_suite(suite.bit) is suite


@pytest.mark.parametrize("bits", [0, 3, 6, 8, 0xFFFF])
def test_not_exactly_one_known_bit(bits: int) -> None:
    with pytest.raises(NegotiationError):
        aead_suite(bits)


def test_gcm_known_answer() -> None:
    suite = aead_suite(AeadAlgorithm.AES_128_GCM)
    key, iv, aad = (bytes.fromhex(GCM_CASE4[name]) for name in ("key", "iv", "aad"))
    sealed = suite.seal(key, iv, aad, bytes.fromhex(GCM_CASE4["plaintext"]))
    assert sealed.hex() == GCM_CASE4["ciphertext"] + GCM_CASE4["tag"]
    assert suite.open(key, iv, aad, sealed).hex() == GCM_CASE4["plaintext"]


def test_chacha20_poly1305_known_tag() -> None:
    suite = aead_suite(AeadAlgorithm.CHACHA20_POLY1305)
    sealed = suite.seal(RFC8439_KEY, RFC8439_NONCE, RFC8439_AAD, RFC8439_PLAINTEXT)
    assert sealed[-16:].hex() == RFC8439_TAG
    assert len(sealed) == len(RFC8439_PLAINTEXT) + 16


@pytest.mark.parametrize("suite", AEAD_SUITES, ids=IDS)
def test_round_trip_and_every_altered_byte_fails(suite: AeadSuite) -> None:
    key, nonce, aad = bytes(range(suite.key_size)), bytes(12), b"header"
    sealed = suite.seal(key, nonce, aad, b"an SPDM message")
    cipher = suite.cipher(key)
    assert cipher.open(nonce, aad, sealed) == b"an SPDM message"
    for position in range(len(sealed)):
        altered = bytearray(sealed)
        altered[position] ^= 0x01
        with pytest.raises(VerificationError):
            cipher.open(nonce, aad, bytes(altered))
    with pytest.raises(VerificationError):
        cipher.open(nonce, b"other header", sealed)
    with pytest.raises(VerificationError):
        cipher.open(bytes(11) + b"\x01", aad, sealed)
    with pytest.raises(VerificationError):
        suite.open(key, nonce, aad, sealed[:15])


@pytest.mark.parametrize("suite", AEAD_SUITES, ids=IDS)
def test_local_mistakes_are_value_errors(suite: AeadSuite) -> None:
    with pytest.raises(ValueError):
        suite.cipher(bytes(suite.key_size + 1))
    with pytest.raises(ValueError):
        suite.seal(bytes(suite.key_size), bytes(8), b"", b"")
