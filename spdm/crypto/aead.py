"""The SPDM AEAD algorithms (AEADCipherSuite): one table from the wire's bits to working ciphers.

Every SPDM 1.1 AEAD has a 12-byte IV and a 16-byte tag; only the key size differs. A failed tag
check is a `VerificationError` and nothing else. `AeadSuite.cipher(key)` returns an object bound
to one key, so a secured-message context builds its cipher once per key rather than per message
(the per-call `seal`/`open` are for one-off use and tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from spdm.errors import NegotiationError, VerificationError
from spdm.messages.codes import AeadAlgorithm

__all__ = [
    "AEAD_IV_SIZE",
    "AEAD_SUITES",
    "AEAD_TAG_SIZE",
    "AeadCipher",
    "AeadSuite",
    "aead_suite",
]

AEAD_IV_SIZE = 12
AEAD_TAG_SIZE = 16


class _Primitive(Protocol):
    """What `cryptography`'s AESGCM and ChaCha20Poly1305 have in common."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class AeadCipher:
    """One AEAD key, ready to use: `seal` returns ciphertext || tag, `open` checks the tag.

    The caller owns nonce uniqueness (the secured-message layer derives a fresh nonce from the
    sequence number for every record). `encrypt` / `decrypt` are the underlying primitive's
    bound methods (argument order nonce, data, aad; `decrypt` raises `cryptography`'s InvalidTag)
    for a hot path that translates the error itself.
    """

    __slots__ = ("decrypt", "encrypt", "name")

    def __init__(self, name: str, primitive: _Primitive) -> None:
        self.name = name
        self.encrypt = primitive.encrypt
        self.decrypt = primitive.decrypt

    def seal(self, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        """Encrypt and authenticate: ciphertext || 16-byte tag."""
        return self.encrypt(nonce, plaintext, aad)

    def open(self, nonce: bytes, aad: bytes, ciphertext_and_tag: bytes) -> bytes:
        """Check the tag and decrypt; `VerificationError` when the tag (or anything it covers) is wrong."""
        try:
            return self.decrypt(nonce, ciphertext_and_tag, aad)
        except InvalidTag:
            raise VerificationError(f"{self.name}: the AEAD tag does not verify") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class AeadSuite:
    """One AEADCipherSuite bit: its name, key size and how to build a cipher for a key."""

    bit: int
    name: str
    key_size: int
    factory: Callable[[bytes], _Primitive]
    iv_size: int = AEAD_IV_SIZE
    tag_size: int = AEAD_TAG_SIZE

    def cipher(self, key: bytes) -> AeadCipher:
        """A cipher bound to `key`; a key of the wrong size is a `ValueError` (a local mistake)."""
        if len(key) != self.key_size:
            raise ValueError(f"{self.name} needs a {self.key_size}-byte key, got {len(key)}")
        return AeadCipher(self.name, self.factory(bytes(key)))

    def seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        """One-off encryption: ciphertext || tag."""
        self._check_nonce(nonce)
        return self.cipher(key).seal(nonce, aad, plaintext)

    def open(self, key: bytes, nonce: bytes, aad: bytes, ciphertext_and_tag: bytes) -> bytes:
        """One-off decryption; `VerificationError` on a bad tag or a message shorter than the tag."""
        self._check_nonce(nonce)
        if len(ciphertext_and_tag) < self.tag_size:
            raise VerificationError(
                f"{self.name}: {len(ciphertext_and_tag)} bytes cannot hold a {self.tag_size}-byte tag"
            )
        return self.cipher(key).open(nonce, aad, ciphertext_and_tag)

    def _check_nonce(self, nonce: bytes) -> None:
        if len(nonce) != self.iv_size:
            raise ValueError(f"{self.name} needs a {self.iv_size}-byte nonce, got {len(nonce)}")


AEAD_SUITES: tuple[AeadSuite, ...] = (
    AeadSuite(bit=AeadAlgorithm.AES_128_GCM, name="AES_128_GCM", key_size=16, factory=AESGCM),
    AeadSuite(bit=AeadAlgorithm.AES_256_GCM, name="AES_256_GCM", key_size=32, factory=AESGCM),
    AeadSuite(bit=AeadAlgorithm.CHACHA20_POLY1305, name="CHACHA20_POLY1305", key_size=32, factory=ChaCha20Poly1305),
)
"""Every SPDM 1.1 AEAD, in AEADCipherSuite bit order."""

_BY_BIT: Mapping[int, AeadSuite] = {suite.bit: suite for suite in AEAD_SUITES}


def aead_suite(aead_cipher_suite: int) -> AeadSuite:
    """The suite of one AEADCipherSuite bit; `NegotiationError` for anything else (0, several bits, unknown)."""
    suite = _BY_BIT.get(aead_cipher_suite)
    if suite is None:
        raise NegotiationError(f"AEADCipherSuite 0x{aead_cipher_suite:x} is not exactly one known AEAD algorithm")
    return suite
