"""HKDF (RFC 5869) over the negotiated hash: the two primitives the SPDM key schedule is built from.

Written on HMAC directly rather than through `cryptography`'s HKDF class because SPDM needs
Extract and Expand separately (the handshake secret is an Extract output that is expanded many
times, and KEY_UPDATE expands a previous Expand output), and the classes only offer both fused or
Expand alone with a per-call object.
"""

from __future__ import annotations

import hmac

from spdm.crypto.hashes import HashSuite

__all__ = ["hkdf_expand", "hkdf_extract"]


def hkdf_extract(hash_suite: HashSuite, salt: bytes, ikm: bytes) -> bytes:
    """PRK = HMAC-Hash(salt, IKM). An empty salt means H zero bytes (RFC 5869 section 2.2)."""
    if not salt:
        salt = bytes(hash_suite.size)
    return hmac.digest(salt, ikm, hash_suite.hashlib_name)


def hkdf_expand(hash_suite: HashSuite, prk: bytes, info: bytes, length: int) -> bytes:
    """OKM = T(1) || T(2) || ... truncated to `length` bytes, T(i) = HMAC(PRK, T(i-1) || info || i).

    `length` is limited to 255 * H by RFC 5869; anything outside 0..255*H is a `ValueError`
    (a caller's mistake, not a peer's).
    """
    size, name = hash_suite.size, hash_suite.hashlib_name
    if 0 <= length <= size:  # every SPDM secret, key and IV: one block
        return hmac.digest(prk, info + b"\x01", name)[:length]
    if not 0 <= length <= 255 * size:
        raise ValueError(f"HKDF-Expand length must be 0..{255 * size} for {hash_suite.name}, got {length}")
    blocks: list[bytes] = []
    block = b""
    produced = 0
    counter = 1
    while produced < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), name)
        blocks.append(block)
        produced += size
        counter += 1
    return b"".join(blocks)[:length]
