"""The algorithm tables: SPDM's bit values mapped to working primitives from `cryptography` and hashlib.

`hash_suite` / `measurement_hash_suite` / `asym_suite` / `dhe_suite` / `aead_suite` turn a
negotiated bit into an object that hashes, MACs, signs, verifies, agrees keys or seals; anything
that is not exactly one known bit is a `NegotiationError`. `hkdf_extract` / `hkdf_expand` are
the key schedule's primitives. Nothing here knows about messages or transcripts.
"""

from __future__ import annotations

from spdm.crypto.aead import AEAD_SUITES, AeadCipher, AeadSuite, aead_suite
from spdm.crypto.asym import ASYM_SUITES, AsymSuite, SignatureInput, SignatureScheme, SigningKey, asym_suite
from spdm.crypto.dhe import DHE_SUITES, DhePrivateKey, DheSuite, dhe_suite
from spdm.crypto.ffdhe import FfdhePrivateKey, ffdhe_backend_name
from spdm.crypto.hashes import HASH_SUITES, HashObject, HashSuite, hash_suite, measurement_hash_suite
from spdm.crypto.kdf import hkdf_expand, hkdf_extract
from spdm.crypto.selection import select_algorithm

__all__ = [
    "AEAD_SUITES",
    "ASYM_SUITES",
    "DHE_SUITES",
    "HASH_SUITES",
    "AeadCipher",
    "AeadSuite",
    "AsymSuite",
    "DhePrivateKey",
    "DheSuite",
    "FfdhePrivateKey",
    "HashObject",
    "HashSuite",
    "SignatureInput",
    "SignatureScheme",
    "SigningKey",
    "aead_suite",
    "asym_suite",
    "dhe_suite",
    "ffdhe_backend_name",
    "hash_suite",
    "hkdf_expand",
    "hkdf_extract",
    "measurement_hash_suite",
    "select_algorithm",
]
