"""RFC 7919 finite-field Diffie-Hellman (SPDM's FFDHE groups), with or without `cryptography`'s `dh`.

`cryptography` 50 deprecated FFDH (each attribute read from its `dh` module warns) and will remove
it, while SPDM still negotiates FFDHE 2048/3072/4096. So there are two backends, and both make keys
that agree byte for byte: `cryptography`'s (constant-time OpenSSL code), used whenever its `dh`
module and classes exist, and one over Python integers, used once they are gone.
`ffdhe_backend_name()` says which one runs. `dh` is imported on the first FFDHE use, never at
`import spdm`, and its classes are read from it once with the warning silenced, so no
warning ever reaches a user.

Both backends trust nothing from the peer until `FfdheGroup.peer_value` has checked it: the size,
1 < y < p - 1, and y^q mod p == 1. OpenSSL does not check the last one when it derives.
"""

from __future__ import annotations

import functools
import importlib
import secrets
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from cryptography.utils import CryptographyDeprecationWarning

from spdm.errors import VerificationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import dh

__all__ = [
    "FFDHE2048",
    "FFDHE3072",
    "FFDHE4096",
    "FfdheBackend",
    "FfdheGroup",
    "FfdhePrivateKey",
    "ffdhe_backend",
    "ffdhe_backend_name",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class FfdheGroup:
    """An RFC 7919 group: the safe prime p = 2q + 1, whose generator 2 spans the subgroup of prime order q."""

    name: str
    prime: int = field(repr=False)
    generator: ClassVar[int] = 2

    @property
    def order(self) -> int:
        """q = (p - 1) / 2: every honest public value lies in the subgroup of this order."""
        return (self.prime - 1) // 2

    @property
    def size(self) -> int:
        """The bytes of p: the width of ExchangeData and of the shared secret."""
        return (self.prime.bit_length() + 7) // 8

    def peer_value(self, exchange_data: bytes) -> int:
        """The peer's public value y from its ExchangeData, once checked; `VerificationError` otherwise.

        y must be exactly `size` bytes, 1 < y < p - 1 (0, 1 and p - 1 fix the secret), and y^q mod p
        must be 1: a y outside the subgroup would leak the private value modulo 2.
        """
        if len(exchange_data) != self.size:
            raise VerificationError(f"{self.name}: ExchangeData must be {self.size} bytes, got {len(exchange_data)}")
        y = int.from_bytes(exchange_data, "big")
        if not 1 < y < self.prime - 1:
            raise VerificationError(f"{self.name}: the peer's public value is not in 2..p-2")
        if pow(y, self.order, self.prime) != 1:
            raise VerificationError(f"{self.name}: the peer's public value is not in the subgroup of order (p-1)/2")
        return y


def _prime(text: str) -> int:
    """A prime written as RFC 7919 prints it: hex digits in groups, over several lines."""
    return int("".join(text.split()), 16)


# RFC 7919 Appendix A.
FFDHE2048 = FfdheGroup(
    name="FFDHE_2048",
    prime=_prime(
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
    ),
)
FFDHE3072 = FfdheGroup(
    name="FFDHE_3072",
    prime=_prime(
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
    ),
)
FFDHE4096 = FfdheGroup(
    name="FFDHE_4096",
    prime=_prime(
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
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FfdhePrivateKey(ABC):
    """An ephemeral FFDHE key of one group, made by a backend; the private value stays inside it."""

    group: FfdheGroup
    public_value: int

    @property
    def prime(self) -> int:
        return self.group.prime

    def exchange(self, peer_exchange_data: bytes) -> bytes:
        """The shared secret, big-endian and as wide as p; `VerificationError` if the peer's value fails a check."""
        return self._agree(self.group.peer_value(peer_exchange_data))

    @abstractmethod
    def _agree(self, peer_value: int) -> bytes:
        """peer_value ^ x mod p, big-endian and as wide as p, for a peer value that passed the checks."""


class FfdheBackend(ABC):
    """Where the FFDHE arithmetic happens. Its `name` is what `ffdhe_backend_name` reports."""

    __slots__ = ()
    name: ClassVar[str]

    @abstractmethod
    def generate(self, group: FfdheGroup) -> FfdhePrivateKey:
        """A fresh private key."""

    def from_private_value(self, group: FfdheGroup, value: int) -> FfdhePrivateKey:
        """The key with this private value; outside 2..p-2 it is a `ValueError` (our mistake, not the peer's).

        So is q, the one value in range whose public value is 1 (peers refuse it, and OpenSSL's
        derivation from it panics instead of raising).
        """
        if not 2 <= value <= group.prime - 2:
            raise ValueError(f"{group.name}: the private value must be in 2..p-2")
        if value == group.order:
            raise ValueError(f"{group.name}: the private value must not be (p-1)/2, whose public value is 1")
        return self._key(group, value)

    @abstractmethod
    def _key(self, group: FfdheGroup, value: int) -> FfdhePrivateKey:
        """The key with a private value already known to be in range."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _IntegerKey(FfdhePrivateKey):
    private_value: int = field(repr=False)

    def _agree(self, peer_value: int) -> bytes:
        return pow(peer_value, self.private_value, self.prime).to_bytes(self.group.size, "big")


@dataclass(frozen=True, slots=True)
class _IntegerBackend(FfdheBackend):
    """FFDHE over Python integers and `pow`, for when `cryptography` has no `dh` any more.

    Not constant-time: CPython's modular exponentiation takes a time that depends on the private
    exponent, so someone who can time many exchanges may learn about it. It is the fallback for
    that reason; the private values are drawn from `secrets`, uniformly in 2..p-2.
    """

    name: ClassVar[str] = "integers"

    def generate(self, group: FfdheGroup) -> FfdhePrivateKey:
        return self._key(group, 2 + secrets.randbelow(group.prime - 3))

    def _key(self, group: FfdheGroup, value: int) -> FfdhePrivateKey:
        public_value = pow(group.generator, value, group.prime)
        return _IntegerKey(group=group, public_value=public_value, private_value=value)


@dataclass(frozen=True, slots=True, kw_only=True)
class _CryptographyKey(FfdhePrivateKey):
    key: dh.DHPrivateKey = field(repr=False)
    backend: _CryptographyBackend = field(repr=False)

    def _agree(self, peer_value: int) -> bytes:
        return self.key.exchange(self.backend.public_key(self.group, peer_value))


@dataclass(frozen=True, slots=True, kw_only=True)
class _CryptographyBackend(FfdheBackend):
    """FFDHE by `cryptography`'s `dh` (OpenSSL, constant-time); it holds the classes it needs, read once.

    Calling the classes does not warn (reading them from the module does), so keys, exchanges and
    OpenSSL's own key generation stay silent.
    """

    name: ClassVar[str] = "cryptography"
    parameter_numbers: type[dh.DHParameterNumbers]
    public_numbers: type[dh.DHPublicNumbers]
    private_numbers: type[dh.DHPrivateNumbers]

    def _parameters(self, group: FfdheGroup) -> dh.DHParameterNumbers:
        return self.parameter_numbers(group.prime, group.generator, group.order)

    def public_key(self, group: FfdheGroup, value: int) -> dh.DHPublicKey:
        return self.public_numbers(value, self._parameters(group)).public_key()

    def generate(self, group: FfdheGroup) -> FfdhePrivateKey:
        key = self._parameters(group).parameters().generate_private_key()
        return _CryptographyKey(group=group, public_value=key.public_key().public_numbers().y, key=key, backend=self)

    def _key(self, group: FfdheGroup, value: int) -> FfdhePrivateKey:
        public_value = pow(group.generator, value, group.prime)
        public = self.public_numbers(public_value, self._parameters(group))
        key = self.private_numbers(value, public).private_key()
        return _CryptographyKey(group=group, public_value=public_value, key=key, backend=self)


_INTEGERS = _IntegerBackend()
_DH_MODULE = "cryptography.hazmat.primitives.asymmetric.dh"


@functools.cache
def _cryptography_backend() -> _CryptographyBackend | None:
    """`cryptography`'s backend, built on the first FFDHE use; None once its `dh` module or classes are gone.

    The classes are read here, once, with exactly `cryptography`'s deprecation warning ignored.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            module = importlib.import_module(_DH_MODULE)
            return _CryptographyBackend(
                parameter_numbers=module.DHParameterNumbers,
                public_numbers=module.DHPublicNumbers,
                private_numbers=module.DHPrivateNumbers,
            )
        except (ImportError, AttributeError):
            return None


def ffdhe_backend(name: str | None = None) -> FfdheBackend:
    """The backend called `name` ("cryptography" or "integers"), or by default the automatic choice.

    The choice is `cryptography`'s while it has `dh` (constant-time OpenSSL code), the integers
    otherwise. `LookupError` for a backend this installation cannot run.
    """
    if name == _IntegerBackend.name:
        return _INTEGERS
    backend = _cryptography_backend()
    if name is None:
        return _INTEGERS if backend is None else backend
    if name == _CryptographyBackend.name and backend is not None:
        return backend
    raise LookupError(f"no FFDHE backend {name!r} here (cryptography's needs its dh module)")


def ffdhe_backend_name() -> str:
    """Which backend the FFDHE groups use: "cryptography" or "integers"."""
    return ffdhe_backend().name
