"""The SPDM DHE groups (DHE AlgStruct): ephemeral keys, ExchangeData and the shared secret.

SPDM fixes the wire forms (DSP0274 1.1, the ExchangeData field of KEY_EXCHANGE and
KEY_EXCHANGE_RSP, and the DHE secret of the key schedule): ECDH ExchangeData is X || Y, each
big-endian and as wide as the field, without the SEC1 0x04 prefix, and the shared secret is the X
coordinate of the product, fixed width; FFDHE ExchangeData and the shared secret are big-endian
and left-padded to the size of the prime. A peer value that is not a point of the
curve, or not in 2..p-2 and in the subgroup of order (p-1)/2, is a `VerificationError` before any
arithmetic uses it. The FFDHE arithmetic lives in `spdm.crypto.ffdhe`, which picks its backend.

Private keys can be made from a given private value (`from_private_value`) so that tests and
replays are deterministic; `generate` draws a fresh one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec

from spdm.crypto.ffdhe import FFDHE2048, FFDHE3072, FFDHE4096, FfdheGroup, FfdhePrivateKey, ffdhe_backend
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

DhePrivateKey: TypeAlias = FfdhePrivateKey | ec.EllipticCurvePrivateKey
"""An ephemeral DHE private key (what `DheSuite.generate` returns)."""


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
    """A finite-field group of RFC 7919; `spdm.crypto.ffdhe` does the arithmetic on the backend it chose."""

    group: FfdheGroup

    @property
    def prime(self) -> int:
        return self.group.prime

    @property
    def generator(self) -> int:
        return self.group.generator

    def generate(self) -> DhePrivateKey:
        return ffdhe_backend().generate(self.group)

    def from_private_value(self, value: int) -> DhePrivateKey:
        return ffdhe_backend().from_private_value(self.group, value)

    def _key(self, private_key: DhePrivateKey) -> FfdhePrivateKey:
        if not isinstance(private_key, FfdhePrivateKey) or private_key.group != self.group:
            raise ValueError(f"{self.name}: not a private key of this group")
        return private_key

    def public_bytes(self, private_key: DhePrivateKey) -> bytes:
        return self._key(private_key).public_value.to_bytes(self.exchange_size, "big")

    def shared_secret(self, private_key: DhePrivateKey, peer_exchange_data: bytes) -> bytes:
        return self._key(private_key).exchange(peer_exchange_data)


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
    FfdheSuite(bit=DheGroup.FFDHE_2048, name="FFDHE_2048", exchange_size=256, group=FFDHE2048),
    FfdheSuite(bit=DheGroup.FFDHE_3072, name="FFDHE_3072", exchange_size=384, group=FFDHE3072),
    FfdheSuite(bit=DheGroup.FFDHE_4096, name="FFDHE_4096", exchange_size=512, group=FFDHE4096),
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
