"""The DHE table: RFC 7919 primes, SPDM's ExchangeData and shared-secret forms, peer validation."""

from __future__ import annotations

import pytest

from spdm.crypto import DHE_SUITES, DheSuite, dhe_suite
from spdm.crypto.dhe import EcdheSuite, FfdheSuite
from spdm.errors import NegotiationError, VerificationError
from spdm.messages.codes import DheGroup, dhe_exchange_size

IDS = [suite.name for suite in DHE_SUITES]
FFDHE = [suite for suite in DHE_SUITES if isinstance(suite, FfdheSuite)]
ECDHE = [suite for suite in DHE_SUITES if isinstance(suite, EcdheSuite)]

# RFC 7919 Appendix A: p = 2^b - 2^{b-64} + {[2^{b-130} e] + X} * 2^64 - 1
RFC7919_X = {2048: 560316, 3072: 2625351, 4096: 5736041}

# SEC 2 base points (X, Y) of the NIST curves: a private scalar of 1 has them as its public value.
GENERATORS = {
    "SECP_256_R1": (
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    ),
    "SECP_384_R1": (
        "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
        "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
    ),
}


def _e_fixed(bits: int) -> int:
    """floor(e * 2^bits), from the series sum 1/k!."""
    precision = bits + 64
    total, term, k = 0, 1 << precision, 0
    while term:
        total += term
        k += 1
        term //= k
    return total >> 64


def test_one_suite_per_bit() -> None:
    backed = [bit for bit in DheGroup if bit is not DheGroup.SM2_P256]
    assert [suite.bit for suite in DHE_SUITES] == [int(bit) for bit in backed]
    assert [suite.name for suite in DHE_SUITES] == [bit.name for bit in backed]
    for suite in DHE_SUITES:
        assert dhe_suite(suite.bit) is suite
        assert suite.exchange_size == dhe_exchange_size(suite.bit)


@pytest.mark.parametrize("bits", [0, 3, 0x40, 0xFFFF])
def test_not_exactly_one_known_bit(bits: int) -> None:
    with pytest.raises(NegotiationError):
        dhe_suite(bits)


@pytest.mark.parametrize("suite", FFDHE, ids=[suite.name for suite in FFDHE])
def test_ffdhe_primes_are_rfc7919(suite: FfdheSuite) -> None:
    bits = suite.exchange_size * 8
    expected = 2**bits - 2 ** (bits - 64) + (_e_fixed(bits - 130) + RFC7919_X[bits]) * 2**64 - 1
    assert suite.prime == expected
    assert suite.generator == 2


@pytest.mark.parametrize("suite", DHE_SUITES, ids=IDS)
def test_round_trip(suite: DheSuite) -> None:
    ours = suite.from_private_value(0x5EED_1234_5678_9ABC_DEF0)
    theirs = suite.generate()
    exchange = suite.public_bytes(ours)
    assert len(exchange) == suite.exchange_size
    secret = suite.shared_secret(ours, suite.public_bytes(theirs))
    assert secret == suite.shared_secret(theirs, exchange)
    size = suite.exchange_size // 2 if isinstance(suite, EcdheSuite) else suite.exchange_size
    assert len(secret) == size


@pytest.mark.parametrize("suite", FFDHE, ids=[suite.name for suite in FFDHE])
def test_ffdhe_known_answers_and_left_padding(suite: FfdheSuite) -> None:
    """x = 2: Y = 4, left-padded to the prime size; with peer Y the secret is Y^2 mod p, left-padded."""
    private = suite.from_private_value(2)
    assert suite.public_bytes(private) == (4).to_bytes(suite.exchange_size, "big")
    peer = suite.from_private_value(3)
    peer_y = suite.public_bytes(peer)
    assert peer_y == (8).to_bytes(suite.exchange_size, "big")
    assert suite.shared_secret(private, peer_y) == (64).to_bytes(suite.exchange_size, "big")


@pytest.mark.parametrize("suite", ECDHE, ids=[suite.name for suite in ECDHE])
def test_ecdhe_forms(suite: EcdheSuite) -> None:
    """ExchangeData is X || Y without 0x04; the secret is the X coordinate of d * Q, fixed width."""
    one = suite.from_private_value(1)
    generator = suite.public_bytes(one)
    if suite.name in GENERATORS:
        x, y = GENERATORS[suite.name]
        assert generator.hex() == x + y
    other = suite.from_private_value(7)
    assert suite.shared_secret(one, suite.public_bytes(other)) == suite.public_bytes(other)[: suite.coordinate_size]
    assert suite.shared_secret(other, generator) == suite.public_bytes(other)[: suite.coordinate_size]


@pytest.mark.parametrize("suite", FFDHE, ids=[suite.name for suite in FFDHE])
def test_ffdhe_rejects_degenerate_peer_values(suite: FfdheSuite) -> None:
    private = suite.from_private_value(5)
    size = suite.exchange_size
    for y in (0, 1, suite.prime - 1, suite.prime, 2**(size * 8) - 1):
        with pytest.raises(VerificationError):
            suite.shared_secret(private, y.to_bytes(size, "big"))
    with pytest.raises(VerificationError):
        suite.shared_secret(private, (4).to_bytes(size - 1, "big"))


@pytest.mark.parametrize("suite", ECDHE, ids=[suite.name for suite in ECDHE])
def test_ecdhe_rejects_points_off_the_curve(suite: EcdheSuite) -> None:
    private = suite.from_private_value(5)
    generator = bytearray(suite.public_bytes(suite.from_private_value(1)))
    generator[-1] ^= 0x01
    with pytest.raises(VerificationError):
        suite.shared_secret(private, bytes(generator))
    with pytest.raises(VerificationError):
        suite.shared_secret(private, bytes(suite.exchange_size))
    with pytest.raises(VerificationError):
        suite.shared_secret(private, bytes(generator[:-1]))


@pytest.mark.parametrize("suite", DHE_SUITES, ids=IDS)
def test_local_mistakes_are_value_errors(suite: DheSuite) -> None:
    with pytest.raises(ValueError):
        suite.from_private_value(0)
    other = next(s for s in DHE_SUITES if s is not suite)
    with pytest.raises(ValueError):
        suite.public_bytes(other.from_private_value(5))
