"""The algorithm tables: SPDM's bit values mapped to working primitives from `cryptography` and hashlib.

`hash_suite` / `measurement_hash_suite` / `asym_suite` turn a negotiated bit into an object that
hashes, MACs, signs and verifies; anything that is not exactly one known bit is a
`NegotiationError`. Nothing here knows about messages or transcripts.
"""

from __future__ import annotations

from spdm.crypto._select import select_algorithm
from spdm.crypto.asym import ASYM_SUITES, AsymSuite, SignatureScheme, SigningKey, asym_suite
from spdm.crypto.hashes import HASH_SUITES, HashObject, HashSuite, hash_suite, measurement_hash_suite

__all__ = [
    "ASYM_SUITES",
    "HASH_SUITES",
    "AsymSuite",
    "HashObject",
    "HashSuite",
    "SignatureScheme",
    "SigningKey",
    "asym_suite",
    "hash_suite",
    "measurement_hash_suite",
    "select_algorithm",
]
