"""HKDF (RFC 5869): the three SHA-256 test vectors of its Appendix A, and the edges of Expand."""

from __future__ import annotations

import pytest

from spdm.crypto import HASH_SUITES, HashSuite, hash_suite, hkdf_expand, hkdf_extract
from spdm.messages.codes import BaseHashAlgo

SHA_256 = hash_suite(BaseHashAlgo.SHA_256)

# RFC 5869 Appendix A.1-A.3: (IKM, salt, info, L, PRK, OKM)
RFC5869 = [
    (
        bytes([0x0B] * 22),
        bytes(range(0x0D)),
        bytes(range(0xF0, 0xFA)),
        42,
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(0x50)),
        bytes(range(0x60, 0xB0)),
        bytes(range(0xB0, 0x100)),
        82,
        "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da"
        "3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        bytes([0x0B] * 22),
        b"",
        b"",
        42,
        "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
]


@pytest.mark.parametrize(("ikm", "salt", "info", "length", "prk", "okm"), RFC5869, ids=["A.1", "A.2", "A.3"])
def test_rfc5869_sha256(ikm: bytes, salt: bytes, info: bytes, length: int, prk: str, okm: str) -> None:
    extracted = hkdf_extract(SHA_256, salt, ikm)
    assert extracted.hex() == prk
    assert hkdf_expand(SHA_256, extracted, info, length).hex() == okm


@pytest.mark.parametrize("suite", HASH_SUITES, ids=[suite.name for suite in HASH_SUITES])
def test_empty_salt_is_hash_length_zeros(suite: HashSuite) -> None:
    """SPDM's HandshakeSecret uses salt 0^H; RFC 5869 says an absent salt means exactly that."""
    assert hkdf_extract(suite, b"", b"secret") == hkdf_extract(suite, bytes(suite.size), b"secret")


def test_expand_lengths() -> None:
    prk = bytes(32)
    assert hkdf_expand(SHA_256, prk, b"info", 0) == b""
    full = hkdf_expand(SHA_256, prk, b"info", 255 * 32)
    assert len(full) == 255 * 32
    assert hkdf_expand(SHA_256, prk, b"info", 33) == full[:33]
    with pytest.raises(ValueError):
        hkdf_expand(SHA_256, prk, b"info", 255 * 32 + 1)
    with pytest.raises(ValueError):
        hkdf_expand(SHA_256, prk, b"info", -1)
