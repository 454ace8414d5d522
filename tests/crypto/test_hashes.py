"""The hash table: every BaseHashAlgo / MeasurementHashAlgo bit, known answers, incremental use, HMAC."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes

from spdm.crypto import HASH_SUITES, HashSuite, hash_suite, measurement_hash_suite
from spdm.errors import NegotiationError
from spdm.messages.codes import BaseHashAlgo, MeasurementHashAlgo, hash_size, measurement_hash_size

# FIPS 180-4 / FIPS 202 example values for the message "abc".
ABC = {
    "SHA_256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "SHA_384": "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    "SHA_512": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    "SHA3_256": "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
    "SHA3_384": "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25",
    "SHA3_512": "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e"
    "10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0",
}

# RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
RFC4231_CASE2 = {
    "SHA_256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    "SHA_384": "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
    "SHA_512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
}

SUITE_IDS = [suite.name for suite in HASH_SUITES]


def test_one_suite_per_hash_bit_but_sm3() -> None:
    backed = [bit for bit in BaseHashAlgo if bit is not BaseHashAlgo.SM3_256]
    assert [suite.bit for suite in HASH_SUITES] == [int(bit) for bit in backed]
    assert [suite.name for suite in HASH_SUITES] == [bit.name for bit in backed]


@pytest.mark.parametrize("suite", HASH_SUITES, ids=SUITE_IDS)
def test_lookup_sizes_and_algorithm_agree(suite: HashSuite) -> None:
    assert hash_suite(suite.bit) is suite
    assert measurement_hash_suite(suite.measurement_bit) is suite
    assert MeasurementHashAlgo(suite.measurement_bit).name == suite.name
    assert suite.size == hash_size(suite.bit) == measurement_hash_size(suite.measurement_bit)
    assert suite.algorithm.digest_size == suite.size


@pytest.mark.parametrize("suite", HASH_SUITES, ids=SUITE_IDS)
def test_known_answer_abc(suite: HashSuite) -> None:
    assert suite.digest(b"abc").hex() == ABC[suite.name]


@pytest.mark.parametrize("suite", HASH_SUITES, ids=SUITE_IDS)
def test_digest_matches_cryptography(suite: HashSuite) -> None:
    data = bytes(range(256)) * 5
    context = hashes.Hash(suite.algorithm)
    context.update(data)
    assert suite.digest(data) == context.finalize()


@pytest.mark.parametrize("suite", HASH_SUITES, ids=SUITE_IDS)
def test_incremental_hash_and_copy(suite: HashSuite) -> None:
    running = suite.new()
    assert running.digest_size == suite.size
    running.update(b"GET_VERSION")
    snapshot = running.copy()
    running.update(b"VERSION")
    assert running.digest() == suite.digest(b"GET_VERSIONVERSION")
    assert snapshot.digest() == suite.digest(b"GET_VERSION")


@pytest.mark.parametrize("suite", HASH_SUITES[:3], ids=SUITE_IDS[:3])
def test_hmac_rfc4231(suite: HashSuite) -> None:
    assert suite.hmac(b"Jefe", b"what do ya want for nothing?").hex() == RFC4231_CASE2[suite.name]


@pytest.mark.parametrize("suite", HASH_SUITES, ids=SUITE_IDS)
def test_hmac_matches_stdlib(suite: HashSuite) -> None:
    key = bytes(range(suite.size))
    expected = hmac.new(key, b"transcript", getattr(hashlib, suite.algorithm.name.replace("-", "_"))).digest()
    assert suite.hmac(key, b"transcript") == expected


def test_raw_bit_stream_has_no_hash() -> None:
    assert measurement_hash_suite(MeasurementHashAlgo.RAW_BIT_STREAM_ONLY) is None


def test_the_two_bit_numberings_differ() -> None:
    # bit 1 is SHA-384 in BaseHashAlgo but SHA-256 in MeasurementHashAlgo
    assert hash_suite(0x02).name == "SHA_384"
    meas = measurement_hash_suite(0x02)
    assert meas is not None
    assert meas.name == "SHA_256"


@pytest.mark.parametrize("value", [0, 0x03, 0x40, 0x80, 1 << 31, -1])
def test_hash_suite_rejects_anything_but_one_known_bit(value: int) -> None:
    with pytest.raises(NegotiationError, match="BaseHashAlgo"):
        hash_suite(value)


@pytest.mark.parametrize("value", [0, 0x03, 0x06, 0x80, 1 << 31])
def test_measurement_hash_suite_rejects_anything_but_one_known_bit(value: int) -> None:
    with pytest.raises(NegotiationError, match="MeasurementHashAlgo"):
        measurement_hash_suite(value)
