"""The SPDM DHE groups (DHE AlgStruct): ephemeral keys, ExchangeData and the shared secret.

SPDM fixes the wire forms (SPDM_NOTES sections 2 and 5, mistake 10): ECDH ExchangeData is X || Y,
each big-endian and as wide as the field, without the SEC1 0x04 prefix, and the shared secret is
the X coordinate of the product, fixed width; FFDHE ExchangeData and the shared secret are
big-endian and left-padded to the size of the prime. A peer value that is not a point of the
curve, or not in 2..p-2, is a `VerificationError` before any arithmetic uses it.

Private keys can be made from a given private value (`from_private_value`) so that tests and
replays are deterministic; `generate` draws a fresh one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from cryptography.hazmat.primitives.asymmetric import dh, ec

from spdm.errors import NegotiationError, VerificationError
from spdm.messages.codes import DheGroup

__all__ = [
    "DHE_SUITES",
    "DhePrivateKey",
    "DheSuite",
    "EcdheSuite",
    "FfdheSuite",
    "dhe_suite",
]

DhePrivateKey: TypeAlias = dh.DHPrivateKey | ec.EllipticCurvePrivateKey
"""An ephemeral DHE private key (what `DheSuite.generate` returns)."""


def _prime(text: str) -> int:
    """A prime written as RFC 7919 prints it: hex digits in groups, over several lines."""
    return int("".join(text.split()), 16)


# RFC 7919 Appendix A: the finite-field groups, generator 2.
_FFDHE2048 = _prime(
    """
    FFFFFFFF FFFFFFFF ADF85458 A2BB4A9A AFDC5620 273D3CF1 D8B9C583 CE2D3695
    A9E13641 146433FB CC939DCE 249B3EF9 7D2FE363 630C75D8 F681B202 AEC4617A
    D3DF1ED5 D5FD6561 2433F51F 5F066ED0 85636555 3DED1AF3 B557135E 7F57C935
    984F0C70 E0E68B77 E2A689DA F3EFE872 1DF158A1 36ADE735 30ACCA4F 483A797A
    BC0AB182 B324FB61 D108A94B B2C8E3FB B96ADAB7 60D7F468 1D4F42A3 DE394DF4
    AE56EDE7 6372BB19 0B07A7C8 EE0A6D70 9E02FCE1 CDF7E2EC C03404CD 28342F61
    9172FE9C E98583FF 8E4F1232 EEF28183 C3FE3B1B 4C6FAD73 3BB5FCBC 2EC22005
    C58EF183 7D1683B2 C6F34A26 C1B2EFFA 886B4238 61285C97 FFFFFFFF FFFFFFFF
    """
)
_FFDHE3072 = _prime(
    """
    FFFFFFFF FFFFFFFF ADF85458 A2BB4A9A AFDC5620 273D3CF1 D8B9C583 CE2D3695
    A9E13641 146433FB CC939DCE 249B3EF9 7D2FE363 630C75D8 F681B202 AEC4617A
    D3DF1ED5 D5FD6561 2433F51F 5F066ED0 85636555 3DED1AF3 B557135E 7F57C935
    984F0C70 E0E68B77 E2A689DA F3EFE872 1DF158A1 36ADE735 30ACCA4F 483A797A
    BC0AB182 B324FB61 D108A94B B2C8E3FB B96ADAB7 60D7F468 1D4F42A3 DE394DF4
    AE56EDE7 6372BB19 0B07A7C8 EE0A6D70 9E02FCE1 CDF7E2EC C03404CD 28342F61
    9172FE9C E98583FF 8E4F1232 EEF28183 C3FE3B1B 4C6FAD73 3BB5FCBC 2EC22005
    C58EF183 7D1683B2 C6F34A26 C1B2EFFA 886B4238 611FCFDC DE355B3B 6519035B
    BC34F4DE F99C0238 61B46FC9 D6E6C907 7AD91D26 91F7F7EE 598CB0FA C186D91C
    AEFE1309 85139270 B4130C93 BC437944 F4FD4452 E2D74DD3 64F2E21E 71F54BFF
    5CAE82AB 9C9DF69E E86D2BC5 22363A0D ABC52197 9B0DEADA 1DBF9A42 D5C4484E
    0ABCD06B FA53DDEF 3C1B20EE 3FD59D7C 25E41D2B 66C62E37 FFFFFFFF FFFFFFFF
    """
)
_FFDHE4096 = _prime(
    """
    FFFFFFFF FFFFFFFF ADF85458 A2BB4A9A AFDC5620 273D3CF1 D8B9C583 CE2D3695
    A9E13641 146433FB CC939DCE 249B3EF9 7D2FE363 630C75D8 F681B202 AEC4617A
    D3DF1ED5 D5FD6561 2433F51F 5F066ED0 85636555 3DED1AF3 B557135E 7F57C935
    984F0C70 E0E68B77 E2A689DA F3EFE872 1DF158A1 36ADE735 30ACCA4F 483A797A
    BC0AB182 B324FB61 D108A94B B2C8E3FB B96ADAB7 60D7F468 1D4F42A3 DE394DF4
    AE56EDE7 6372BB19 0B07A7C8 EE0A6D70 9E02FCE1 CDF7E2EC C03404CD 28342F61
    9172FE9C E98583FF 8E4F1232 EEF28183 C3FE3B1B 4C6FAD73 3BB5FCBC 2EC22005
    C58EF183 7D1683B2 C6F34A26 C1B2EFFA 886B4238 611FCFDC DE355B3B 6519035B
    BC34F4DE F99C0238 61B46FC9 D6E6C907 7AD91D26 91F7F7EE 598CB0FA C186D91C
    AEFE1309 85139270 B4130C93 BC437944 F4FD4452 E2D74DD3 64F2E21E 71F54BFF
    5CAE82AB 9C9DF69E E86D2BC5 22363A0D ABC52197 9B0DEADA 1DBF9A42 D5C4484E
    0ABCD06B FA53DDEF 3C1B20EE 3FD59D7C 25E41D2B 669E1EF1 6E6F52C3 164DF4FB
    7930E9E4 E58857B6 AC7D5F42 D69F6D18 7763CF1D 55034004 87F55BA5 7E31CC7A
    7135C886 EFB4318A ED6A1E01 2D9E6832 A907600A 918130C4 6DC778F9 71AD0038
    092999A3 33CB8B7A 1A1DB93D 7140003C 2A4ECEA9 F98D0ACC 0A8291CD CEC97DCF
    8EC9B55A 7F88A46B 4DB5A851 F44182E1 C68A007E 5E655F6A FFFFFFFF FFFFFFFF
    """
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DheSuite:
    """One DHE group bit: its name, ExchangeData size D (= shared-secret size) and key operations."""

    bit: int
    name: str
    exchange_size: int

    def generate(self) -> DhePrivateKey:
        """A fresh ephemeral private key."""
        raise NotImplementedError

    def from_private_value(self, value: int) -> DhePrivateKey:
        """The private key with this exact private value (FFDHE exponent or EC scalar), for deterministic runs.

        A value outside the group's range (FFDHE 2..p-2, EC 1..n-1) is a `ValueError`: a local mistake.
        """
        raise NotImplementedError

    def public_bytes(self, private_key: DhePrivateKey) -> bytes:
        """The SPDM ExchangeData of `private_key`'s public value."""
        raise NotImplementedError

    def shared_secret(self, private_key: DhePrivateKey, peer_exchange_data: bytes) -> bytes:
        """The DHE shared secret with the peer's ExchangeData; `VerificationError` if the peer value is invalid."""
        raise NotImplementedError

    def _check_size(self, peer_exchange_data: bytes) -> None:
        if len(peer_exchange_data) != self.exchange_size:
            raise VerificationError(
                f"{self.name}: ExchangeData must be {self.exchange_size} bytes, got {len(peer_exchange_data)}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class FfdheSuite(DheSuite):
    """A finite-field group of RFC 7919 (safe prime p, generator 2, subgroup order q = (p - 1) / 2)."""

    prime: int
    generator: int = 2

    @property
    def _parameter_numbers(self) -> dh.DHParameterNumbers:
        return dh.DHParameterNumbers(self.prime, self.generator, (self.prime - 1) // 2)

    def generate(self) -> DhePrivateKey:
        return self._parameter_numbers.parameters().generate_private_key()

    def from_private_value(self, value: int) -> DhePrivateKey:
        if not 2 <= value <= self.prime - 2:
            raise ValueError(f"{self.name}: the private value must be in 2..p-2")
        numbers = self._parameter_numbers
        public = dh.DHPublicNumbers(pow(self.generator, value, self.prime), numbers)
        return dh.DHPrivateNumbers(value, public).private_key()

    def public_bytes(self, private_key: DhePrivateKey) -> bytes:
        if not isinstance(private_key, dh.DHPrivateKey) or private_key.parameters().parameter_numbers().p != self.prime:
            raise ValueError(f"{self.name}: not a private key of this group")
        return private_key.public_key().public_numbers().y.to_bytes(self.exchange_size, "big")

    def shared_secret(self, private_key: DhePrivateKey, peer_exchange_data: bytes) -> bytes:
        if not isinstance(private_key, dh.DHPrivateKey) or private_key.parameters().parameter_numbers().p != self.prime:
            raise ValueError(f"{self.name}: not a private key of this group")
        self._check_size(peer_exchange_data)
        y = int.from_bytes(peer_exchange_data, "big")
        if not 1 < y < self.prime - 1:
            raise VerificationError(f"{self.name}: the peer's public value is not in 2..p-2")
        try:
            peer = dh.DHPublicNumbers(y, self._parameter_numbers).public_key()
            secret = private_key.exchange(peer)
        except ValueError as exc:
            raise VerificationError(f"{self.name}: the peer's public value is rejected: {exc}") from None
        return secret.rjust(self.exchange_size, b"\x00")


@dataclass(frozen=True, slots=True, kw_only=True)
class EcdheSuite(DheSuite):
    """A NIST prime curve; ExchangeData is X || Y, each `exchange_size / 2` bytes."""

    curve: type[ec.EllipticCurve]

    @property
    def coordinate_size(self) -> int:
        return self.exchange_size // 2

    def generate(self) -> DhePrivateKey:
        return ec.generate_private_key(self.curve())

    def from_private_value(self, value: int) -> DhePrivateKey:
        try:
            return ec.derive_private_key(value, self.curve())
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{self.name}: the private scalar is out of range: {exc}") from None

    def _key(self, private_key: DhePrivateKey) -> ec.EllipticCurvePrivateKey:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, self.curve):
            raise ValueError(f"{self.name}: not a private key on this curve")
        return private_key

    def public_bytes(self, private_key: DhePrivateKey) -> bytes:
        numbers = self._key(private_key).public_key().public_numbers()
        size = self.coordinate_size
        return numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")

    def shared_secret(self, private_key: DhePrivateKey, peer_exchange_data: bytes) -> bytes:
        key = self._key(private_key)
        self._check_size(peer_exchange_data)
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(self.curve(), b"\x04" + bytes(peer_exchange_data))
            secret = key.exchange(ec.ECDH(), peer)
        except ValueError as exc:
            raise VerificationError(f"{self.name}: the peer's public value is not on the curve: {exc}") from None
        return secret.rjust(self.coordinate_size, b"\x00")


DHE_SUITES: tuple[DheSuite, ...] = (
    FfdheSuite(bit=DheGroup.FFDHE_2048, name="FFDHE_2048", exchange_size=256, prime=_FFDHE2048),
    FfdheSuite(bit=DheGroup.FFDHE_3072, name="FFDHE_3072", exchange_size=384, prime=_FFDHE3072),
    FfdheSuite(bit=DheGroup.FFDHE_4096, name="FFDHE_4096", exchange_size=512, prime=_FFDHE4096),
    EcdheSuite(bit=DheGroup.SECP_256_R1, name="SECP_256_R1", exchange_size=64, curve=ec.SECP256R1),
    EcdheSuite(bit=DheGroup.SECP_384_R1, name="SECP_384_R1", exchange_size=96, curve=ec.SECP384R1),
    EcdheSuite(bit=DheGroup.SECP_521_R1, name="SECP_521_R1", exchange_size=132, curve=ec.SECP521R1),
)
"""Every SPDM 1.1 DHE group, in DHE bit order."""

_BY_BIT: Mapping[int, DheSuite] = {suite.bit: suite for suite in DHE_SUITES}


def dhe_suite(dhe_group: int) -> DheSuite:
    """The suite of one DHE bit; `NegotiationError` for anything else (0, several bits, unknown)."""
    suite = _BY_BIT.get(dhe_group)
    if suite is None:
        raise NegotiationError(f"DHE 0x{dhe_group:x} is not exactly one known DHE group")
    return suite
