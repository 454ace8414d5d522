"""The responder's configuration: what the device is, what it supports, and its identities.

Kept apart from the state machine (`spdm.responder`) so that the protocol code reads as one
pipeline; both are public through `spdm.responder`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spdm import _responder_demo
from spdm._checks import check_responder_flags
from spdm.crypto import SigningKey
from spdm.errors import NegotiationError
from spdm.measurements import MeasurementProvider
from spdm.messages.codes import (
    AeadAlgorithm,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KeyScheduleAlgo,
    MeasurementHashAlgo,
)

__all__ = [
    "DEFAULT_CAPABILITIES",
    "MAX_CT_EXPONENT",
    "SLOT_COUNT",
    "SUPPORTED_VERSIONS",
    "ResponderConfig",
    "SlotIdentity",
    "demo_config",
]

F = CapabilityFlags

SUPPORTED_VERSIONS = frozenset({0x10, 0x11})
MAX_CT_EXPONENT = 31
SLOT_COUNT = 8

DEFAULT_CAPABILITIES = int(F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG | F.MEAS_FRESH_CAP)
"""Certificates, CHALLENGE and signed fresh measurements: a 1.1 device without sessions."""

# Preference orders: libspdm's (libspdm_rsp_algorithms.c), strongest first.
_ASYM_PRIORITY = (
    BaseAsymAlgo.ECDSA_P521,
    BaseAsymAlgo.ECDSA_P384,
    BaseAsymAlgo.ECDSA_P256,
    BaseAsymAlgo.RSAPSS_4096,
    BaseAsymAlgo.RSAPSS_3072,
    BaseAsymAlgo.RSAPSS_2048,
    BaseAsymAlgo.RSASSA_4096,
    BaseAsymAlgo.RSASSA_3072,
    BaseAsymAlgo.RSASSA_2048,
)
_HASH_PRIORITY = (
    BaseHashAlgo.SHA_512,
    BaseHashAlgo.SHA_384,
    BaseHashAlgo.SHA_256,
    BaseHashAlgo.SHA3_512,
    BaseHashAlgo.SHA3_384,
    BaseHashAlgo.SHA3_256,
)
_MEASUREMENT_HASH_PRIORITY = (
    MeasurementHashAlgo.SHA_512,
    MeasurementHashAlgo.SHA_384,
    MeasurementHashAlgo.SHA_256,
    MeasurementHashAlgo.SHA3_512,
    MeasurementHashAlgo.SHA3_384,
    MeasurementHashAlgo.SHA3_256,
    MeasurementHashAlgo.RAW_BIT_STREAM_ONLY,
)
_DHE_PRIORITY = (
    DheGroup.SECP_521_R1,
    DheGroup.SECP_384_R1,
    DheGroup.SECP_256_R1,
    DheGroup.FFDHE_4096,
    DheGroup.FFDHE_3072,
    DheGroup.FFDHE_2048,
)
_AEAD_PRIORITY = (AeadAlgorithm.AES_256_GCM, AeadAlgorithm.AES_128_GCM, AeadAlgorithm.CHACHA20_POLY1305)
_KEY_SCHEDULE_PRIORITY = (KeyScheduleAlgo.SPDM_KEY_SCHEDULE,)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotIdentity:
    """One certificate slot: DER certificates root (or first intermediate) first, leaf last, and the leaf's key.

    `root_certificate` is the root's DER when the chain starts at an intermediate (RootHash covers it).
    The SPDM-format chain is built per negotiated hash, so one identity serves every hash.
    """

    certificates: tuple[bytes, ...]
    private_key: SigningKey
    root_certificate: bytes | None = None

    def __post_init__(self) -> None:
        if not self.certificates:
            raise ValueError("a slot needs at least one certificate")
        try:
            leaf = x509.load_der_x509_certificate(self.certificates[-1])
        except ValueError as exc:
            raise ValueError(f"the leaf certificate does not parse: {exc}") from None
        if _spki(leaf.public_key()) != _spki(self.private_key.public_key()):
            raise ValueError("the private key does not belong to the leaf certificate")

    @property
    def public_key(self) -> PublicKeyTypes:
        return self.private_key.public_key()


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponderConfig:
    """What the device is and supports. Priorities are bit values, most preferred first.

    - `versions`: SPDMVersion bytes (0x10, 0x11) listed in VERSION.
    - `capabilities`: the CAPABILITIES flags (a raw u32, so a replay may advertise bits this
      responder does not serve yet); each version's CAPABILITIES shows only the bits it defines.
    - `slots`: populated certificate slots (0..7). BaseAsymAlgo is chosen among what the
      requester offers, the priority and what some slot's key can sign; slots whose key cannot
      sign the chosen algorithm are left out of that connection.
    - `random`: the source of the 32-byte nonces of CHALLENGE_AUTH and MEASUREMENTS.
    - `transport_padding`: how many zero bytes may follow a request (DOE pads to DWORDs: 3).
    - `max_request_size`: longer requests are InvalidRequest before anything is read.
    - `certificate_portion`: the largest CERTIFICATE portion served, whatever Length asks.
    """

    versions: tuple[int, ...] = (0x10, 0x11)
    capabilities: int = DEFAULT_CAPABILITIES
    ct_exponent: int = 0
    base_asym_priority: tuple[int, ...] = _ASYM_PRIORITY
    base_hash_priority: tuple[int, ...] = _HASH_PRIORITY
    measurement_hash_priority: tuple[int, ...] = _MEASUREMENT_HASH_PRIORITY
    dhe_priority: tuple[int, ...] = _DHE_PRIORITY
    aead_priority: tuple[int, ...] = _AEAD_PRIORITY
    req_base_asym_priority: tuple[int, ...] = _ASYM_PRIORITY
    key_schedule_priority: tuple[int, ...] = _KEY_SCHEDULE_PRIORITY
    slots: Mapping[int, SlotIdentity] = field(default_factory=dict)
    measurements: MeasurementProvider | None = None
    random: Callable[[int], bytes] = os.urandom
    transport_padding: int = 0
    max_request_size: int = 4096
    certificate_portion: int = 0xFFFF

    def __post_init__(self) -> None:
        if not self.versions or not set(self.versions) <= SUPPORTED_VERSIONS:
            raise ValueError(f"versions {self.versions!r}: give one or more of 0x10, 0x11")
        if not 0 <= self.capabilities <= 0xFFFF_FFFF:
            raise ValueError(f"capabilities 0x{self.capabilities:x} is not a u32")
        try:
            check_responder_flags(self.capabilities, max(self.versions))
        except NegotiationError as exc:
            raise ValueError(str(exc)) from None
        if not 0 <= self.ct_exponent <= MAX_CT_EXPONENT:
            raise ValueError(f"ct_exponent {self.ct_exponent} is over {MAX_CT_EXPONENT}")
        if any(not 0 <= slot < SLOT_COUNT for slot in self.slots):
            raise ValueError(f"slots {sorted(self.slots)}: slot numbers are 0..7")
        signs = self.capabilities & (F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG)
        if signs and not self.slots:
            raise ValueError("CERT_CAP, CHAL_CAP and signed measurements need at least one slot")
        if self.capabilities & F.MEAS_CAP_MASK:
            if self.measurements is None:
                raise ValueError("MEAS_CAP needs a measurement provider")
            if not self.measurement_hash_priority:
                raise ValueError("MEAS_CAP needs a measurement hash")
        if not 0 <= self.transport_padding <= 0xFF:
            raise ValueError(f"transport_padding {self.transport_padding} is out of range")
        if self.max_request_size < 4:
            raise ValueError("max_request_size must allow the 4-byte header")
        if not 1 <= self.certificate_portion <= 0xFFFF:
            raise ValueError(f"certificate_portion {self.certificate_portion} is not within 1..0xFFFF")
        object.__setattr__(self, "slots", MappingProxyType(dict(self.slots)))


def demo_config(**overrides: object) -> ResponderConfig:
    """A ready device: ECDSA P-384 in slot 0 (a chain generated once per process) and demo measurements.

    `overrides` replace any `ResponderConfig` field (e.g. ``transport_padding=3`` for DOE).
    """
    chain = _responder_demo.demo_chain()
    settings: dict[str, object] = {
        "slots": {0: SlotIdentity(certificates=chain.certificates, private_key=chain.leaf_key)},
        "measurements": _responder_demo.demo_measurements(),
        "measurement_hash_priority": (MeasurementHashAlgo.SHA_384,),
    }
    settings.update(overrides)
    return ResponderConfig(**settings)  # type: ignore[arg-type]
