"""The SPDM hash algorithms: one table from the wire's bit values to working digests.

BaseHashAlgo and MeasurementHashAlgo number the same six hashes differently (MeasurementHashAlgo
keeps bit 0 for "raw bit stream only"), so each `HashSuite` carries both bits and both lookups
return the same objects.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives import hashes

from spdm.errors import NegotiationError
from spdm.messages.codes import BaseHashAlgo, MeasurementHashAlgo

__all__ = [
    "HASH_SUITES",
    "HashObject",
    "HashSuite",
    "hash_suite",
    "measurement_hash_suite",
]


class HashObject(Protocol):
    """An incremental hash (what `hashlib.new` returns): transcripts feed it message by message."""

    @property
    def digest_size(self) -> int: ...

    def update(self, data: bytes, /) -> None: ...

    def copy(self) -> HashObject: ...

    def digest(self) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HashSuite:
    """One hash algorithm: its SPDM bits and name, its digest size and its implementations.

    `bit` is the BaseHashAlgo bit, `measurement_bit` the MeasurementHashAlgo bit of the same
    hash. `algorithm` is the `cryptography` instance for signatures (`Prehashed`) and HKDF;
    digests and HMACs go through hashlib, which is faster for the short inputs SPDM hashes.
    """

    bit: int
    measurement_bit: int
    name: str
    size: int
    algorithm: hashes.HashAlgorithm
    hashlib_name: str
    _constructor: Callable[..., HashObject] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # hashlib's named constructor (hashlib.sha384): a third of the cost of hashlib.new per transcript
        object.__setattr__(self, "_constructor", getattr(hashlib, self.hashlib_name))

    def digest(self, data: bytes) -> bytes:
        """Hash(data)."""
        return self._constructor(data).digest()

    def new(self) -> HashObject:
        """A fresh incremental hash, for transcripts that grow message by message."""
        return self._constructor()

    def hmac(self, key: bytes, data: bytes) -> bytes:
        """HMAC-Hash(key, data): the SPDM VerifyData and the HKDF building block."""
        return _hmac.digest(key, data, self.hashlib_name)


SHA_256 = HashSuite(
    bit=BaseHashAlgo.SHA_256,
    measurement_bit=MeasurementHashAlgo.SHA_256,
    name="SHA_256",
    size=32,
    algorithm=hashes.SHA256(),
    hashlib_name="sha256",
)
SHA_384 = HashSuite(
    bit=BaseHashAlgo.SHA_384,
    measurement_bit=MeasurementHashAlgo.SHA_384,
    name="SHA_384",
    size=48,
    algorithm=hashes.SHA384(),
    hashlib_name="sha384",
)
SHA_512 = HashSuite(
    bit=BaseHashAlgo.SHA_512,
    measurement_bit=MeasurementHashAlgo.SHA_512,
    name="SHA_512",
    size=64,
    algorithm=hashes.SHA512(),
    hashlib_name="sha512",
)
SHA3_256 = HashSuite(
    bit=BaseHashAlgo.SHA3_256,
    measurement_bit=MeasurementHashAlgo.SHA3_256,
    name="SHA3_256",
    size=32,
    algorithm=hashes.SHA3_256(),
    hashlib_name="sha3_256",
)
SHA3_384 = HashSuite(
    bit=BaseHashAlgo.SHA3_384,
    measurement_bit=MeasurementHashAlgo.SHA3_384,
    name="SHA3_384",
    size=48,
    algorithm=hashes.SHA3_384(),
    hashlib_name="sha3_384",
)
SHA3_512 = HashSuite(
    bit=BaseHashAlgo.SHA3_512,
    measurement_bit=MeasurementHashAlgo.SHA3_512,
    name="SHA3_512",
    size=64,
    algorithm=hashes.SHA3_512(),
    hashlib_name="sha3_512",
)

HASH_SUITES: tuple[HashSuite, ...] = (SHA_256, SHA_384, SHA_512, SHA3_256, SHA3_384, SHA3_512)
"""Every SPDM 1.1 hash, in BaseHashAlgo bit order."""

_BY_BIT: Mapping[int, HashSuite] = {suite.bit: suite for suite in HASH_SUITES}
_BY_MEASUREMENT_BIT: Mapping[int, HashSuite] = {suite.measurement_bit: suite for suite in HASH_SUITES}


def hash_suite(base_hash_algo: int) -> HashSuite:
    """The suite of one BaseHashAlgo bit; `NegotiationError` for anything else (0, several bits, unknown)."""
    suite = _BY_BIT.get(base_hash_algo)
    if suite is None:
        raise NegotiationError(f"BaseHashAlgo 0x{base_hash_algo:x} is not exactly one known hash algorithm")
    return suite


def measurement_hash_suite(measurement_hash_algo: int) -> HashSuite | None:
    """The suite of one MeasurementHashAlgo bit, None for RawBitStreamOnly (measurements are not hashed)."""
    if measurement_hash_algo == MeasurementHashAlgo.RAW_BIT_STREAM_ONLY:
        return None
    suite = _BY_MEASUREMENT_BIT.get(measurement_hash_algo)
    if suite is None:
        raise NegotiationError(
            f"MeasurementHashAlgo 0x{measurement_hash_algo:x} is not exactly one known hash algorithm"
        )
    return suite
