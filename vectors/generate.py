#!/usr/bin/env python3
"""Regenerate pyspdm's own regression captures: ``python vectors/generate.py [--out DIR] [NAME ...]``.

Every vector is one run of our `Requester` against our `Responder`, recorded as DMTF spdm-emu
records its captures (`spdm.capture.RecordingLink` under a `DoeTransport` for PCI DOE,
`RecordingTransport` over a loopback for MCTP). Nothing is left to chance, so two runs write
byte-identical files:

* randomness (nonces, RandomData, contexts, SessionIDs, KEY_UPDATE tags) comes from SHAKE-256
  streams seeded by the vector's name, one per side;
* DHE private values are fixed per vector, side and session;
* EC keys are derived from fixed scalars; RSA keys, which `cryptography` cannot derive from a seed,
  are the committed throwaway test keys in ``keys/``;
* signatures are deterministic: ECDSA with RFC 6979 nonces, RSASSA as always, RSAPSS with a salt
  derived from the digest (`DeterministicRsaKey`);
* certificates come from `spdm.testing.pki.make_chain` (fixed names, serials and validity);
* pcap timestamps count milliseconds from a fixed instant, and the requester's clock is fixed.

The same module is the test suite's source of truth for replays: `requester_config` rebuilds the
requester of a manifest entry and `run_flow` runs its recorded flow (tests/test_own_vectors.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import itertools
import json
import operator
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from spdm.capture import (
    LINKTYPE_MCTP,
    LINKTYPE_PCI_DOE,
    CaptureWriter,
    RecordingLink,
    RecordingTransport,
    SecretsLog,
    messages,
    read_pcap,
)
from spdm.certs import SPDM_REQUESTER_AUTH_OID
from spdm.crypto import DheSuite, SigningKey, hash_suite
from spdm.crypto.dhe import FfdheSuite
from spdm.errors import PeerError, TransportError
from spdm.events import DMTF_EVENT_GROUP, DmtfEventType, subscribe_all
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.measurements import StaticMeasurements
from spdm.mel import hash_extended_block
from spdm.messages.codes import (
    AeadAlgorithm,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    ErrorCode,
    KeyScheduleAlgo,
    MeasurementHashAlgo,
    MeasurementSpecification,
    MeasurementValueType,
)
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock
from spdm.messages.mel import MelEntry, MelLog
from spdm.messages.negotiation import DEFAULT_TRANSFER_SIZE
from spdm.requester import Requester, RequesterConfig, RequesterIdentity, Session
from spdm.responder import (
    DEFAULT_CAPABILITIES,
    KEY_PAIR_CAPABILITIES,
    PROVISIONING_CAPABILITIES,
    Responder,
    ResponderConfig,
    SlotIdentity,
    key_pairs_for_slots,
    session_capabilities,
)
from spdm.session.secured import MCTP, PCI_DOE, SecuredTransport
from spdm.testing.pki import make_chain
from spdm.transport.base import Transport
from spdm.transport.doe import MAX_DW_PADDING, DoeMailboxResponder, DoeTransport
from spdm.transport.loopback import LoopbackTransport

__all__ = [
    "CLOCK",
    "SECURED_TRANSPORTS",
    "SPECS",
    "VECTORS",
    "DeterministicEcKey",
    "DeterministicRsaKey",
    "SeededRandom",
    "VectorSpec",
    "generate",
    "main",
    "requester_config",
    "run_flow",
]

VECTORS = Path(__file__).resolve().parent
KEYS = VECTORS / "keys"

CLOCK = datetime(2026, 1, 1, tzinfo=timezone.utc)
"""The requester's and responder's clock (certificate validity is checked at this instant)."""
_EPOCH = CLOCK.timestamp()  # the first pcap record's timestamp; each next one 1 ms later

PSK = b"pyspdm vectors pre-shared key"
PSK_HINT = b"pyspdm-psk"

MCTP_UNPADDED = dataclasses.replace(MCTP, name="mctp", max_random_padding=0)
"""MCTP secured-message framing without random padding: DSP0277 makes padding optional, and
libspdm's 1..32 random bytes would make the files irreproducible."""

SECURED_TRANSPORTS: Mapping[str, SecuredTransport] = {"pci-doe": PCI_DOE, "mctp-unpadded": MCTP_UNPADDED}
"""Secured-message framings by the name a manifest's requester settings give as `secured_transport`."""

_F = CapabilityFlags


# --- determinism ------------------------------------------------------------------------------


class SeededRandom:
    """A byte stream from SHAKE-256 of (label, counter): the same label gives the same draws."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._counter = itertools.count()

    def __call__(self, size: int) -> bytes:
        return hashlib.shake_256(f"{self._label}/{next(self._counter)}".encode()).digest(size)


def _scalar(label: str) -> int:
    """A private scalar below 2^248 (and so below the order of P-256, P-384 and P-521), never 0."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:31], "big") + 1


def _dhe_values(label: str) -> Callable[[DheSuite], int]:
    """DHE private values for one side: a fresh fixed value for each session, in order."""
    counter = itertools.count()

    def value(suite: DheSuite) -> int:
        tag = f"{label}/dhe/{suite.name}/{next(counter)}"
        if isinstance(suite, FfdheSuite):
            return int.from_bytes(hashlib.shake_256(tag.encode()).digest(64), "big") | 2
        return _scalar(tag)

    return value


class DeterministicEcKey(ec.EllipticCurvePrivateKey):
    """An EC private key whose ECDSA signatures use RFC 6979 nonces (the same digest, the same signature)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError("only ECDSA signs here")
        return self._key.sign(data, ec.ECDSA(signature_algorithm.algorithm, deterministic_signing=True))

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        return self._key.exchange(algorithm, peer_public_key)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._key.curve

    @property
    def key_size(self) -> int:
        return self._key.key_size

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        return self._key.private_numbers()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        return self._key.private_bytes(encoding, format, encryption_algorithm)

    def __copy__(self) -> DeterministicEcKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> DeterministicEcKey:
        return self


_HASHES = {32: "sha256", 48: "sha384", 64: "sha512"}


class DeterministicRsaKey(rsa.RSAPrivateKey):
    """An RSA private key whose PSS signatures take their salt from the digest (RFC 8017 EMSA-PSS,
    salt as long as the hash, MGF1 with the same hash). PKCS#1 v1.5 is deterministic already."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key

    def sign(self, data: Any, padding: Any, algorithm: Any) -> bytes:
        if not isinstance(padding, _PSS):
            return self._key.sign(data, padding, algorithm)
        if not isinstance(algorithm, Prehashed):
            raise TypeError("PSS signs a prehashed digest here")
        return self._pss(bytes(data), _HASHES[algorithm.digest_size])

    def _pss(self, digest: bytes, name: str) -> bytes:
        numbers = self._key.private_numbers()
        modulus = numbers.public_numbers.n
        em_bits = modulus.bit_length() - 1
        em_len = (em_bits + 7) // 8
        size = len(digest)
        salt = hashlib.new(name, b"pyspdm vectors PSS salt" + digest).digest()
        h = hashlib.new(name, bytes(8) + digest + salt).digest()
        db = bytes(em_len - 2 * size - 2) + b"\x01" + salt
        mask = _mgf1(h, len(db), name)
        masked = bytearray(a ^ b for a, b in zip(db, mask, strict=True))
        masked[0] &= 0xFF >> (8 * em_len - em_bits)
        encoded = int.from_bytes(bytes(masked) + h + b"\xbc", "big")
        return pow(encoded, numbers.d, modulus).to_bytes((modulus.bit_length() + 7) // 8, "big")

    def decrypt(self, ciphertext: bytes, padding: Any) -> bytes:
        return self._key.decrypt(ciphertext, padding)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    @property
    def key_size(self) -> int:
        return self._key.key_size

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        return self._key.private_numbers()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        return self._key.private_bytes(encoding, format, encryption_algorithm)

    def __copy__(self) -> DeterministicRsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> DeterministicRsaKey:
        return self


_PSS = padding.PSS


def _mgf1(seed: bytes, length: int, name: str) -> bytes:
    size = hashlib.new(name).digest_size
    blocks = (hashlib.new(name, seed + i.to_bytes(4, "big")).digest() for i in range(-(-length // size)))
    return b"".join(blocks)[:length]


def _deterministic(key: SigningKey) -> SigningKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return DeterministicEcKey(key)
    return DeterministicRsaKey(key)


_CURVES: Mapping[int, type[ec.EllipticCurve]] = {
    BaseAsymAlgo.ECDSA_P256: ec.SECP256R1,
    BaseAsymAlgo.ECDSA_P384: ec.SECP384R1,
    BaseAsymAlgo.ECDSA_P521: ec.SECP521R1,
}
_RSA_BITS: Mapping[int, int] = {
    BaseAsymAlgo.RSASSA_2048: 2048,
    BaseAsymAlgo.RSAPSS_2048: 2048,
    BaseAsymAlgo.RSASSA_3072: 3072,
    BaseAsymAlgo.RSAPSS_3072: 3072,
    BaseAsymAlgo.RSASSA_4096: 4096,
    BaseAsymAlgo.RSAPSS_4096: 4096,
}


def _rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """The committed throwaway RSA test key of this size (generated and written on first use only)."""
    path = KEYS / f"rsa{bits}.pem"
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        KEYS.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        print(f"generated {path.relative_to(VECTORS)}: commit it, the vectors depend on it", file=sys.stderr)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != bits:
        raise ValueError(f"{path} is not an RSA-{bits} private key")
    return key


def _key(asym: int, label: str) -> SigningKey:
    """The leaf key of algorithm `asym`: EC from a fixed scalar, RSA from keys/."""
    curve = _CURVES.get(asym)
    if curve is not None:
        return ec.derive_private_key(_scalar(f"pyspdm vectors {label} {curve.name}"), curve())
    return _rsa_key(_RSA_BITS[asym])


@dataclasses.dataclass(frozen=True)
class _Identity:
    certificates: tuple[bytes, ...]
    leaf_key: SigningKey

    @property
    def root(self) -> bytes:
        return self.certificates[0]


def _identity(asym: int, hash_algo: int, role: str, name: str | None = None) -> _Identity:
    """Root -> intermediate -> leaf; the CAs are ECDSA P-384 for RSA leaves (their keys stay derivable).
    `name` issues other certificates for the same keys (the chain SET_CERTIFICATE installs)."""
    ca_algo = asym if asym in _CURVES else BaseAsymAlgo.ECDSA_P384
    keys = [_key(ca_algo, f"{role} root"), _key(ca_algo, f"{role} intermediate"), _key(asym, f"{role} leaf")]
    chain = make_chain(
        asym,
        hash_algo=hash_algo,
        keys=keys,
        name=name or f"pyspdm vectors {role}",
        spdm_eku=role == "responder",
        extended_key_usages=(SPDM_REQUESTER_AUTH_OID,) if role == "requester" else (),
    )
    return _Identity(certificates=chain.certificates_der, leaf_key=keys[-1])


_MEL_INDEX = 0x11
"""The hash-extended measurement block the 1.3 vectors' measurement extension log extends (libspdm's sample index)."""

ENDPOINT_INFO = bytes.fromhex("01000000" + "07" + "0000" + "01" + "07") + b"vectors"
"""The EPInfo of the 1.3 vectors' responder: one DMTF device class identifier element with a 7-byte subordinate ID."""

EVENT_DETAIL = hashlib.sha256(b"pyspdm vectors measurement changed").digest()
"""The EventDetail (32 bytes) of the MeasurementChanged event the events vector raises."""


def _mel() -> MelLog:
    """Three raw entries, all extended into block `_MEL_INDEX`."""
    values = (b"pyspdm vectors boot ROM", b"pyspdm vectors firmware", b"1.3.0")
    return MelLog(
        entries=tuple(
            MelEntry(
                mel_index=number,
                meas_index=_MEL_INDEX,
                measurement=DmtfMeasurement(value_type=0x80 | MeasurementValueType.INFORMATIONAL, value=value),
            )
            for number, value in enumerate(values, start=1)
        )
    )


def _measurements(meas_hash: int, mel: MelLog | None = None) -> StaticMeasurements:
    """Four digests (of the measurement hash) and a raw manifest; with `mel`, the block it extends."""
    name = {
        MeasurementHashAlgo.SHA_256: "sha256",
        MeasurementHashAlgo.SHA_384: "sha384",
        MeasurementHashAlgo.SHA_512: "sha512",
    }[meas_hash]
    kinds = (
        (1, MeasurementValueType.IMMUTABLE_ROM, "immutable ROM"),
        (2, MeasurementValueType.MUTABLE_FIRMWARE, "firmware"),
        (3, MeasurementValueType.HARDWARE_CONFIGURATION, "hardware configuration"),
        (4, MeasurementValueType.FIRMWARE_CONFIGURATION, "firmware configuration"),
    )
    blocks = [
        MeasurementBlock(
            index=index,
            specification=MeasurementSpecification.DMTF,
            measurement=DmtfMeasurement(
                value_type=kind, value=hashlib.new(name, f"pyspdm vectors {label}".encode()).digest()
            ),
        )
        for index, kind, label in kinds
    ]
    manifest = DmtfMeasurement(
        value_type=0x80 | MeasurementValueType.MEASUREMENT_MANIFEST, value=b"pyspdm vectors manifest v1"
    )
    blocks.append(MeasurementBlock(index=5, specification=MeasurementSpecification.DMTF, measurement=manifest))
    if mel is not None:
        blocks.append(hash_extended_block(mel, _MEL_INDEX, hash_suite(_BASE_HASH[meas_hash])))
    return StaticMeasurements(tuple(blocks))


# --- the vectors ------------------------------------------------------------------------------

_MEAS_HASH = {
    BaseHashAlgo.SHA_256: MeasurementHashAlgo.SHA_256,
    BaseHashAlgo.SHA_384: MeasurementHashAlgo.SHA_384,
    BaseHashAlgo.SHA_512: MeasurementHashAlgo.SHA_512,
}
_BASE_HASH = {meas: base for base, meas in _MEAS_HASH.items()}


@dataclasses.dataclass(frozen=True, kw_only=True)
class VectorSpec:
    """One vector: who the two sides are and what the requester does (`flow`, see `run_flow`).
    `versions` are the responder's, `requester_versions` what the requester offers; with `chunk`
    both sides set CHUNK_CAP, so a message over `data_transfer_size` travels in chunks. SPDM 1.3:
    `mel` serves a measurement extension log (MEL_CAP), `endpoint_info` signed endpoint info
    (EP_INFO_CAP_SIG), `events` EVENT_CAP, `key_pairs` GET_/SET_KEY_PAIR_INFO of slot 0's key
    (`key_pairs_for_slots`), and with `multi_key` both sides set MULTI_KEY_CAP_NEG (a multi-key
    connection)."""

    name: str
    description: str
    asym: int
    hash: int
    flow: tuple[Mapping[str, Any], ...]
    dhe: int = DheGroup.SECP_384_R1
    aead: int = AeadAlgorithm.AES_256_GCM
    versions: tuple[int, ...] = (0x10, 0x11)
    requester_versions: tuple[int, ...] = (0x10, 0x11)
    data_transfer_size: int = DEFAULT_TRANSFER_SIZE
    max_spdm_msg_size: int = DEFAULT_TRANSFER_SIZE
    sessions: bool = False
    psk: bool = False
    psk_context: bool = True
    psk_hint: bytes = PSK_HINT
    in_the_clear: bool = False
    encrypt: bool = True
    mutual_auth: str | None = None
    req_asym: int = BaseAsymAlgo.ECDSA_P384
    transport: str = "pci-doe"
    certificate_portion: int = 0x400
    provisioning: bool = False
    chunk: bool = False
    mel: bool = False
    endpoint_info: bool = False
    events: bool = False
    key_pairs: bool = False
    multi_key: bool = False


_VCA_CERT: tuple[Mapping[str, Any], ...] = (
    {"op": "init_connection"},
    {"op": "get_digests"},
    {"op": "get_certificate", "slot": 0},
    {"op": "verify_certificate", "slot": 0},
)


def _connection(summary: int = 0xFF, operation: int = 0xFF) -> tuple[Mapping[str, Any], ...]:
    return (
        *_VCA_CERT,
        {"op": "challenge", "slot": 0, "summary": summary},
        {"op": "get_measurements", "operation": operation, "signed": True, "slot": 0},
    )


def _dhe_session(summary: int = 0, *, measurements: bool = True) -> tuple[Mapping[str, Any], ...]:
    steps: list[Mapping[str, Any]] = [
        {"op": "key_exchange", "slot": 0, "summary": summary},
        {"op": "heartbeat"},
        {"op": "key_update", "all_keys": False},
        {"op": "key_update", "all_keys": True},
    ]
    if measurements:
        steps.append({"op": "session_measurements", "operation": 0xFF, "signed": True})
    steps.append({"op": "end_session"})
    return tuple(steps)


def _psk_session(summary: int = 0) -> tuple[Mapping[str, Any], ...]:
    return (
        {"op": "psk_exchange", "summary": summary},
        {"op": "heartbeat"},
        {"op": "key_update", "all_keys": True},
        {"op": "session_measurements", "operation": 0xFF, "signed": True},
        {"op": "session_measurements", "operation": 2, "signed": False},
        {"op": "end_session"},
    )


def _raw(request: str, error: ErrorCode, *, malformed: bool = False) -> Mapping[str, Any]:
    """A request sent as bytes; `malformed` ones do not decode (the capture decoder refuses them too)."""
    step: dict[str, Any] = {"op": "raw", "request": request, "error": error.name}
    if malformed:
        step["malformed"] = True
    return step


_V12 = (0x10, 0x11, 0x12)
_SPDM_12: Mapping[str, Any] = {
    "versions": _V12,
    "requester_versions": _V12,
    "data_transfer_size": 0x1200,
    "max_spdm_msg_size": 0x1200,
}
"""Both sides offer 1.0 to 1.2 and state libspdm's 1.2 DataTransferSize (MaxSPDMmsgSize the same: no chunking)."""


_V13 = (*_V12, 0x13)
_SPDM_13: Mapping[str, Any] = {**_SPDM_12, "versions": _V13, "requester_versions": _V13}
"""Both sides offer 1.0 to 1.3, with the 1.2 sizes."""


def _chunked(data_transfer_size: int) -> Mapping[str, Any]:
    """1.2 sessions with CHUNK_CAP on both sides, libspdm's MaxSPDMmsgSize (0x28000) over a small
    DataTransferSize, and a whole chain asked for at once (libspdm's Length 0xFFFF), as its `v_` captures."""
    return {
        **_SPDM_12,
        "data_transfer_size": data_transfer_size,
        "max_spdm_msg_size": 0x28000,
        "chunk": True,
        "sessions": True,
        "certificate_portion": 0xFFFF,
    }


_A = BaseAsymAlgo
_H = BaseHashAlgo
_D = DheGroup
_E = AeadAlgorithm

SPECS: tuple[VectorSpec, ...] = (
    # --- connections: signature x hash --------------------------------------------------------
    VectorSpec(
        name="conn_ecdsap256_sha256",
        description="1.1 connection: VCA, DIGESTS, CERTIFICATE in 0x200-byte portions, CHALLENGE (all-measurements "
        "summary), signed MEASUREMENTS of every block",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        certificate_portion=0x200,
        flow=_connection(),
    ),
    VectorSpec(
        name="conn_ecdsap384_sha384",
        description="1.1 connection, ECDSA P-384 / SHA-384, TCB summary hash, the whole chain in one portion",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        certificate_portion=0xFFFF,
        flow=_connection(summary=0x01),
    ),
    VectorSpec(
        name="conn_ecdsap521_sha512",
        description="1.1 connection, ECDSA P-521 / SHA-512, no summary hash",
        asym=_A.ECDSA_P521,
        hash=_H.SHA_512,
        flow=_connection(summary=0),
    ),
    VectorSpec(
        name="conn_rsassa2048_sha256",
        description="1.1 connection, RSASSA-2048 / SHA-256 (ECDSA P-384 CAs)",
        asym=_A.RSASSA_2048,
        hash=_H.SHA_256,
        flow=_connection(),
    ),
    VectorSpec(
        name="conn_rsassa3072_sha384",
        description="1.1 connection, RSASSA-3072 / SHA-384",
        asym=_A.RSASSA_3072,
        hash=_H.SHA_384,
        flow=_connection(),
    ),
    VectorSpec(
        name="conn_rsassa4096_sha512",
        description="1.1 connection, RSASSA-4096 / SHA-512",
        asym=_A.RSASSA_4096,
        hash=_H.SHA_512,
        certificate_portion=0xFFFF,
        flow=_connection(),
    ),
    VectorSpec(
        name="conn_rsapss2048_sha512",
        description="1.1 connection, RSAPSS-2048 / SHA-512 (64-byte salt)",
        asym=_A.RSAPSS_2048,
        hash=_H.SHA_512,
        flow=_connection(),
    ),
    VectorSpec(
        name="conn_rsapss3072_sha256",
        description="1.1 connection, RSAPSS-3072 / SHA-256",
        asym=_A.RSAPSS_3072,
        hash=_H.SHA_256,
        flow=_connection(summary=0x01),
    ),
    VectorSpec(
        name="conn_ecdsap384_sha384_v10",
        description="SPDM 1.0 connection (the responder offers 1.0 only): 1.0 GET_CAPABILITIES and "
        "NEGOTIATE_ALGORITHMS without AlgStructs, no SlotIDParam in GET_MEASUREMENTS",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        versions=(0x10,),
        flow=_connection(),
    ),
    VectorSpec(
        name="conn_measurements_one_by_one_p256",
        description="measurements one by one: the count (0), indices 1-4 unsigned, an absent index 9 "
        "(ERROR InvalidRequest, which restarts L1/L2), then 1-4 unsigned again and 5 signed over L1/L2",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_384,
        flow=(
            *_VCA_CERT,
            {"op": "challenge", "slot": 0, "summary": 0},
            {"op": "get_measurements", "operation": 0, "signed": False},
            *({"op": "get_measurements", "operation": i, "signed": False} for i in (1, 2, 3, 4)),
            {"op": "get_measurements", "operation": 9, "signed": False, "error": "InvalidRequest"},
            *({"op": "get_measurements", "operation": i, "signed": False} for i in (1, 2, 3, 4)),
            {"op": "get_measurements", "operation": 5, "signed": True, "slot": 0},
        ),
    ),
    # --- DHE sessions: DHE x AEAD x signature x hash ------------------------------------------
    VectorSpec(
        name="dhe_secp256r1_aes128gcm_p256_sha256",
        description="KEY_EXCHANGE/FINISH (encrypted FINISH), HEARTBEAT, KEY_UPDATE (UpdateKey, UpdateAllKeys, "
        "VerifyNewKey), signed MEASUREMENTS in the session, END_SESSION",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        dhe=_D.SECP_256_R1,
        aead=_E.AES_128_GCM,
        sessions=True,
        flow=(*_connection(), *_dhe_session(summary=0xFF)),
    ),
    VectorSpec(
        name="dhe_secp384r1_aes256gcm_p384_sha384_two_sessions",
        description="two DHE sessions one after the other (DHE secrets in session order), the second with a TCB "
        "summary hash; no CHALLENGE (KEY_EXCHANGE_RSP's signature authenticates)",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        dhe=_D.SECP_384_R1,
        aead=_E.AES_256_GCM,
        sessions=True,
        flow=(*_VCA_CERT, *_dhe_session(), *_dhe_session(summary=0x01, measurements=False)),
    ),
    VectorSpec(
        name="dhe_secp521r1_chacha20_p521_sha512",
        description="DHE session, SECP521R1 / ChaCha20-Poly1305, ECDSA P-521 / SHA-512",
        asym=_A.ECDSA_P521,
        hash=_H.SHA_512,
        dhe=_D.SECP_521_R1,
        aead=_E.CHACHA20_POLY1305,
        sessions=True,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="dhe_ffdhe2048_aes256gcm_rsassa2048_sha256",
        description="DHE session, FFDHE-2048 / AES-256-GCM, RSASSA-2048 / SHA-256",
        asym=_A.RSASSA_2048,
        hash=_H.SHA_256,
        dhe=_D.FFDHE_2048,
        aead=_E.AES_256_GCM,
        sessions=True,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="dhe_ffdhe3072_chacha20_rsapss3072_sha384",
        description="DHE session, FFDHE-3072 / ChaCha20-Poly1305, RSAPSS-3072 / SHA-384",
        asym=_A.RSAPSS_3072,
        hash=_H.SHA_384,
        dhe=_D.FFDHE_3072,
        aead=_E.CHACHA20_POLY1305,
        sessions=True,
        flow=(*_VCA_CERT, *_dhe_session(summary=0xFF)),
    ),
    VectorSpec(
        name="dhe_ffdhe4096_aes128gcm_p384_sha512",
        description="DHE session, FFDHE-4096 / AES-128-GCM, ECDSA P-384 / SHA-512",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_512,
        dhe=_D.FFDHE_4096,
        aead=_E.AES_128_GCM,
        sessions=True,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="dhe_in_the_clear_p384_sha384",
        description="HANDSHAKE_IN_THE_CLEAR on both sides: no ResponderVerifyData in KEY_EXCHANGE_RSP, FINISH and "
        "FINISH_RSP (with ResponderVerifyData) in the clear",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        sessions=True,
        in_the_clear=True,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="dhe_mac_only_p256_sha256",
        description="a responder without ENCRYPT_CAP: the session's records are authenticated only (MAC, no "
        "encryption)",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        dhe=_D.SECP_256_R1,
        aead=_E.AES_128_GCM,
        sessions=True,
        encrypt=False,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="dhe_mutauth_encap_p384_sha384",
        description="mutual authentication with encapsulated requests (MutAuthRequested 0x02): the responder fetches "
        "the requester's chain (ECDSA P-384) with GET_DIGESTS/GET_CERTIFICATE inside the handshake; signed FINISH",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        sessions=True,
        mutual_auth="encapsulated",
        req_asym=_A.ECDSA_P384,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="dhe_mutauth_finish_rsapss2048_p256_sha256",
        description="mutual authentication without encapsulation (MutAuthRequested 0x01): the requester signs FINISH "
        "(RSAPSS-2048); its chain never crosses the wire (requester_chain.der)",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        dhe=_D.SECP_256_R1,
        aead=_E.AES_256_GCM,
        sessions=True,
        mutual_auth="basic",
        req_asym=_A.RSAPSS_2048,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    # --- PSK sessions -------------------------------------------------------------------------
    VectorSpec(
        name="psk_context_sha384_aes256gcm",
        description="PSK_EXCHANGE with a PSK hint and a responder context, PSK_FINISH, HEARTBEAT, KEY_UPDATE, signed "
        "and unsigned MEASUREMENTS in the session, END_SESSION; both sides set HANDSHAKE_IN_THE_CLEAR, which does "
        "not apply to PSK (PSK_FINISH is secured)",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        sessions=True,
        psk=True,
        in_the_clear=True,
        flow=(*_VCA_CERT, *_psk_session(summary=0xFF)),
    ),
    VectorSpec(
        name="psk_nocontext_nohint_sha256_chacha20",
        description="PSK_EXCHANGE without a PSK hint to a responder without PSK context: no PSK_FINISH, the data keys "
        "follow PSK_EXCHANGE_RSP at once",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        aead=_E.CHACHA20_POLY1305,
        sessions=True,
        psk=True,
        psk_context=False,
        psk_hint=b"",
        flow=(*_VCA_CERT, *_psk_session()),
    ),
    VectorSpec(
        name="psk_context_sha512_aes128gcm_nocert",
        description="PSK session straight after VCA (no certificates: unsigned measurements only)",
        asym=_A.ECDSA_P521,
        hash=_H.SHA_512,
        aead=_E.AES_128_GCM,
        sessions=True,
        psk=True,
        flow=(
            {"op": "init_connection"},
            {"op": "psk_exchange", "summary": 0},
            {"op": "key_update", "all_keys": False},
            {"op": "session_measurements", "operation": 0xFF, "signed": False},
            {"op": "end_session"},
        ),
    ),
    # --- errors -------------------------------------------------------------------------------
    VectorSpec(
        name="err_busy_p256_sha256",
        description="ERROR Busy before GET_DIGESTS, CHALLENGE, KEY_EXCHANGE and an in-session HEARTBEAT (twice): the "
        "requester retries the same request",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        dhe=_D.SECP_256_R1,
        sessions=True,
        flow=(
            {"op": "init_connection"},
            {"op": "responder", "busy": 1},
            {"op": "get_digests"},
            {"op": "get_certificate", "slot": 0},
            {"op": "verify_certificate", "slot": 0},
            {"op": "responder", "busy": 1},
            {"op": "challenge", "slot": 0, "summary": 0},
            {"op": "responder", "busy": 1},
            {"op": "key_exchange", "slot": 0, "summary": 0},
            {"op": "responder", "busy": 2},
            {"op": "heartbeat"},
            {"op": "end_session"},
        ),
    ),
    VectorSpec(
        name="err_not_ready_p384_sha384",
        description="ERROR ResponseNotReady then RESPOND_IF_READY for CHALLENGE, GET_MEASUREMENTS (twice NotReady) "
        "and an in-session GET_MEASUREMENTS",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        sessions=True,
        flow=(
            *_VCA_CERT,
            {"op": "responder", "not_ready": 1},
            {"op": "challenge", "slot": 0, "summary": 0xFF},
            {"op": "responder", "not_ready": 2},
            {"op": "get_measurements", "operation": 0xFF, "signed": True, "slot": 0},
            {"op": "key_exchange", "slot": 0, "summary": 0},
            {"op": "responder", "not_ready": 1},
            {"op": "session_measurements", "operation": 0xFF, "signed": True},
            {"op": "end_session"},
        ),
    ),
    VectorSpec(
        name="err_refused_requests_p256_sha256",
        description="well-formed requests the responder refuses, then a normal connection: GET_DIGESTS before VCA "
        "(UnexpectedRequest), GET_CERTIFICATE of an empty slot and CHALLENGE of an empty slot (InvalidRequest), "
        "GET_DIGESTS at version 1.0 after 1.1 was negotiated (VersionMismatch), RESPOND_IF_READY with nothing pending "
        "(InvalidRequest, as libspdm_rsp_respond_if_ready.c: its RequestCode is not the pending one), "
        "HEARTBEAT to a device without HBEAT_CAP (UnsupportedRequest)",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        flow=(
            _raw("10810000", ErrorCode.UnexpectedRequest),
            {"op": "init_connection"},
            _raw("11820300" + "0000" + "0004", ErrorCode.InvalidRequest),
            _raw("11830500" + "00" * 32, ErrorCode.InvalidRequest),
            _raw("10810000", ErrorCode.VersionMismatch),
            _raw("11ff8100", ErrorCode.InvalidRequest),
            _raw("11e80000", ErrorCode.UnsupportedRequest),
            *_connection()[1:],
        ),
    ),
    VectorSpec(
        name="err_malformed_requests_p384_sha384",
        description="malformed requests answered with ERROR, then a normal connection: GET_DIGESTS followed by 4 "
        "stray bytes, a truncated CHALLENGE, an unknown request code 0xF7, GET_CERTIFICATE with a non-zero byte in "
        "its DOE padding (InvalidRequest or UnsupportedRequest); these request records do not decode, by design "
        "(manifest: undecodable_records)",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        flow=(
            {"op": "init_connection"},
            _raw("11810000deadbeef", ErrorCode.InvalidRequest, malformed=True),
            _raw("11830000" + "00" * 12, ErrorCode.InvalidRequest, malformed=True),
            _raw("11f70000", ErrorCode.UnsupportedRequest, malformed=True),
            _raw("11820000" + "0000" + "0004" + "01", ErrorCode.InvalidRequest, malformed=True),
            *_connection()[1:],
        ),
    ),
    # --- MCTP ---------------------------------------------------------------------------------
    VectorSpec(
        name="mctp_conn_ecdsap384_sha384",
        description="the 1.1 connection over MCTP (link type 291)",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        transport="mctp",
        flow=_connection(),
    ),
    VectorSpec(
        name="mctp_dhe_secp384r1_aes256gcm_p384_sha384",
        description="a DHE session over MCTP: secured records carry 2-byte sequence numbers and the MCTP message type "
        "inside AppData (no random padding, to stay reproducible)",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        transport="mctp",
        sessions=True,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="mctp_psk_sha256_aes128gcm",
        description="a PSK session (with context) over MCTP",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        aead=_E.AES_128_GCM,
        transport="mctp",
        sessions=True,
        psk=True,
        flow=(*_VCA_CERT, *_psk_session()),
    ),
    # --- SPDM 1.2 (no chunked vectors yet: chunking is being added to both sides) ------------
    VectorSpec(
        name="conn_ecdsap384_sha384_v12",
        description="1.2 connection: VCA with DataTransferSize/MaxSPDMmsgSize and OpaqueDataFmt1, DIGESTS, "
        "CERTIFICATE, CHALLENGE (all-measurements summary), signed MEASUREMENTS (1.2 signing prefix)",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_SPDM_12,
        flow=_connection(),
    ),
    VectorSpec(
        name="conn_rsassa3072_sha256_v12",
        description="1.2 connection, RSASSA-3072 / SHA-256, TCB summary hash",
        asym=_A.RSASSA_3072,
        hash=_H.SHA_256,
        **_SPDM_12,
        flow=_connection(summary=0x01),
    ),
    VectorSpec(
        name="dhe_secp384r1_aes256gcm_p384_sha384_v12",
        description="1.2 DHE session: KEY_EXCHANGE/FINISH, HEARTBEAT, KEY_UPDATE, signed MEASUREMENTS in the "
        "session, END_SESSION",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_SPDM_12,
        sessions=True,
        flow=(*_connection(), *_dhe_session(summary=0xFF)),
    ),
    VectorSpec(
        name="psk_context_sha384_aes256gcm_v12",
        description="1.2 PSK session: PSK_EXCHANGE with a hint and a responder context, PSK_FINISH, HEARTBEAT, "
        "KEY_UPDATE, signed and unsigned MEASUREMENTS in the session, END_SESSION",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_SPDM_12,
        sessions=True,
        psk=True,
        flow=(*_VCA_CERT, *_psk_session(summary=0xFF)),
    ),
    VectorSpec(
        name="dhe_mutauth_encap_p384_sha384_v12",
        description="1.2 mutual authentication with encapsulated requests in the session: GET_DIGESTS and "
        "GET_CERTIFICATE of the requester's chain, the 1.2 ENCAPSULATED_RESPONSE_ACK, signed FINISH",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_SPDM_12,
        sessions=True,
        mutual_auth="encapsulated",
        req_asym=_A.ECDSA_P384,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="csr_setcert_p384_sha384_v12",
        description="1.2 certificate provisioning in a DHE session: GET_CSR (no RequesterInfo), SET_CERTIFICATE of "
        "slot 0 with new certificates for its key, END_SESSION, then GET_DIGESTS shows the new chain's digest",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_SPDM_12,
        sessions=True,
        provisioning=True,
        flow=(
            *_VCA_CERT,
            {"op": "key_exchange", "slot": 0, "summary": 0},
            {"op": "session_get_csr"},
            {"op": "session_set_certificate", "slot": 0, "asym": "ECDSA_P384", "hash": "SHA_384"},
            {"op": "end_session"},
            {"op": "get_digests"},
        ),
    ),
    VectorSpec(
        name="chunk_dts256_p384_sha384_v12",
        description="1.2 chunking at DataTransferSize 256 on both sides: CERTIFICATE (whole chain), MEASUREMENTS, "
        "KEY_EXCHANGE_RSP, CSR, and in the session MEASUREMENTS and CSR fetched with CHUNK_GET (CHALLENGE_AUTH, 230 "
        "bytes, fits); SET_CERTIFICATE sent with CHUNK_SEND inside the session, then in the clear",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_chunked(256),
        provisioning=True,
        flow=(
            *_connection(),
            {"op": "key_exchange", "slot": 0, "summary": 0xFF},
            {"op": "heartbeat"},
            {"op": "session_measurements", "operation": 0xFF, "signed": True},
            {"op": "session_get_csr"},
            {"op": "session_set_certificate", "slot": 0, "asym": "ECDSA_P384", "hash": "SHA_384"},
            {"op": "end_session"},
            {"op": "get_csr"},
            {"op": "set_certificate", "slot": 0, "asym": "ECDSA_P384", "hash": "SHA_384"},
            {"op": "get_digests"},
        ),
    ),
    VectorSpec(
        name="chunk_dts64_dhe_psk_p384_sha384_v12",
        description="1.2 chunking at DataTransferSize 64 on both sides: CERTIFICATE, CHALLENGE_AUTH, MEASUREMENTS, "
        "KEY_EXCHANGE_RSP, PSK_EXCHANGE_RSP and the in-session MEASUREMENTS through CHUNK_GET; KEY_EXCHANGE and "
        "PSK_EXCHANGE sent with CHUNK_SEND, the last chunk answered by a bare ERROR(LargeResponse) as libspdm does; "
        "a DHE session (HEARTBEAT, KEY_UPDATE, signed MEASUREMENTS) and a PSK session with context",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_chunked(64),
        psk=True,
        flow=(*_connection(), *_dhe_session(summary=0xFF), *_psk_session(summary=0xFF)),
    ),
    VectorSpec(
        name="err_session_required_p256_sha256_v12",
        description="1.2 session requests in the clear refused with SessionRequired (HEARTBEAT, END_SESSION), then "
        "a DHE session where HEARTBEAT is answered; no KEY_UPDATE in the clear (DMTF spdm_dump crashes on one)",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        dhe=_D.SECP_256_R1,
        aead=_E.AES_128_GCM,
        **_SPDM_12,
        sessions=True,
        flow=(
            {"op": "init_connection"},
            _raw("12e80000", ErrorCode.SessionRequired),
            _raw("12ec0000", ErrorCode.SessionRequired),
            *_VCA_CERT[1:],
            {"op": "key_exchange", "slot": 0, "summary": 0},
            {"op": "heartbeat"},
            {"op": "end_session"},
        ),
    ),
    # --- SPDM 1.3 -----------------------------------------------------------------------------
    VectorSpec(
        name="conn_ecdsap384_sha384_v13",
        description="1.3 connection: VCA with MELspecification (the responder has MEL_CAP), DIGESTS, CERTIFICATE, "
        "CHALLENGE (all-measurements summary) and signed MEASUREMENTS, both with a RequesterContext",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_SPDM_13,
        mel=True,
        flow=_connection(),
    ),
    VectorSpec(
        name="dhe_mutauth_multikey_p384_sha384_v13",
        description="1.3 multi-key connection (MULTI_KEY_CAP_NEG both sides: DIGESTS with KeyPairID, "
        "CertificateInfo and KeyUsageMask, the CERTIFICATE model in Param2, both ways), then a DHE session with "
        "encapsulated mutual authentication: the TH holds message D and the requester's encapsulated DIGESTS; "
        "HEARTBEAT, KEY_UPDATE, signed MEASUREMENTS, END_SESSION",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_SPDM_13,
        sessions=True,
        multi_key=True,
        key_pairs=True,
        mutual_auth="encapsulated",
        req_asym=_A.ECDSA_P384,
        flow=(*_VCA_CERT, *_dhe_session()),
    ),
    VectorSpec(
        name="psk_context_sha384_aes256gcm_v13",
        description="1.3 PSK session (the 1.3 key schedule's 0xFF salt): PSK_EXCHANGE with a hint and a responder "
        "context, PSK_FINISH, HEARTBEAT, KEY_UPDATE, signed and unsigned MEASUREMENTS in the session, END_SESSION",
        asym=_A.ECDSA_P384,
        hash=_H.SHA_384,
        **_SPDM_13,
        sessions=True,
        psk=True,
        flow=(*_VCA_CERT, *_psk_session(summary=0xFF)),
    ),
    VectorSpec(
        name="mel_epinfo_keypair_events_p256_sha256_v13",
        description="the 1.3-only exchanges on a multi-key connection: GET_MEASUREMENT_EXTENSION_LOG, signed "
        "GET_ENDPOINT_INFO and GET_KEY_PAIR_INFO in the clear, then in a DHE session GET_SUPPORTED_EVENT_TYPES, "
        "SUBSCRIBE_EVENT_TYPES (all DMTF types), a MeasurementChanged event fetched as SEND_EVENT and answered "
        "EVENT_ACK (GET_ENCAPSULATED_REQUEST, DELIVER_ENCAPSULATED_RESPONSE), the MEL, endpoint info and key-pair "
        "info again, END_SESSION",
        asym=_A.ECDSA_P256,
        hash=_H.SHA_256,
        dhe=_D.SECP_256_R1,
        aead=_E.AES_128_GCM,
        **_SPDM_13,
        sessions=True,
        mel=True,
        endpoint_info=True,
        events=True,
        key_pairs=True,
        multi_key=True,
        flow=(
            *_VCA_CERT,
            {"op": "get_measurement_extension_log"},
            {"op": "get_endpoint_info", "signed": True, "slot": 0},
            {"op": "get_key_pair_info", "key_pair_id": 1},
            {"op": "key_exchange", "slot": 0, "summary": 0},
            {"op": "session_get_supported_event_types"},
            {"op": "session_subscribe_events"},
            {"op": "responder", "event": "MEASUREMENT_CHANGED"},
            {"op": "session_poll_events"},
            {"op": "session_get_measurement_extension_log"},
            {"op": "session_get_endpoint_info", "signed": True, "slot": 0},
            {"op": "session_get_key_pair_info", "key_pair_id": 1},
            {"op": "end_session"},
        ),
    ),
)


# --- the requester of a vector --------------------------------------------------------------


def _requester_settings(spec: VectorSpec) -> dict[str, Any]:
    """The requester's configuration as JSON (written to the manifest, read back by `requester_config`)."""
    return {
        "versions": list(spec.requester_versions),
        "data_transfer_size": spec.data_transfer_size,
        "max_spdm_msg_size": spec.max_spdm_msg_size,
        "sessions": spec.sessions,
        "certificate_portion": spec.certificate_portion,
        "psk": PSK.hex() if spec.psk else None,
        "psk_hint": spec.psk_hint.hex() if spec.psk else "",
        "identity_slots": [0] if spec.mutual_auth else [],
        "secured_transport": "mctp-unpadded" if spec.transport == "mctp" else "pci-doe",
        "chunk": spec.chunk,
    } | ({"capabilities_13": _requester_flags_13(spec)} if spec.multi_key or spec.events else {})


def _limits(max_spdm_msg_size: int) -> Limits:
    """The default limits, raised to read the MaxSPDMmsgSize a side states (libspdm's 0x28000 when chunked)."""
    return dataclasses.replace(
        DEFAULT_LIMITS,
        max_request_bytes=max(DEFAULT_LIMITS.max_request_bytes, max_spdm_msg_size),
        max_response_bytes=max(DEFAULT_LIMITS.max_response_bytes, max_spdm_msg_size),
    )


def _requester_flags_13(spec: VectorSpec) -> list[str]:
    """The requester's SPDM 1.3 additions by name: MULTI_KEY_CAP_NEG, and ENCAP_CAP to take events."""
    chosen = ((spec.multi_key, _F.MULTI_KEY_CAP_NEG), (spec.events, _F.ENCAP_CAP))
    return [str(flag.name) for wanted, flag in chosen if wanted]


def requester_config(settings: Mapping[str, Any], **injected: Any) -> RequesterConfig:
    """The requester of a manifest entry's `requester` settings; `injected` supplies the rest
    (trust_anchors, random, identities, dhe_private_value or dhe_key_share, on_dhe_secret...)."""
    fields: dict[str, Any] = {
        "versions": tuple(settings["versions"]),
        "limits": _limits(settings["max_spdm_msg_size"]),
        "certificate_portion": settings["certificate_portion"],
        "secured_transport": SECURED_TRANSPORTS[settings["secured_transport"]],
        "clock": lambda: CLOCK,
        "sleep": lambda seconds: None,
    }
    if settings["psk"] is not None:
        fields["psk"] = bytes.fromhex(settings["psk"])
        fields["psk_hint"] = bytes.fromhex(settings["psk_hint"])
    fields.update(injected)
    config = RequesterConfig.with_sessions(**fields) if settings["sessions"] else RequesterConfig(**fields)
    extra = sum(_F[name] for name in settings.get("capabilities_13", ())) | (_F.CHUNK_CAP if settings["chunk"] else 0)
    return dataclasses.replace(  # the sizes with CHUNK_CAP: unequal ones without it are refused
        config,
        capabilities=config.capabilities | extra,
        data_transfer_size=settings["data_transfer_size"],
        max_spdm_msg_size=settings["max_spdm_msg_size"],
    )


def _expect_error(name: str | None, run: Callable[[], object]) -> None:
    if name is None:
        run()
        return
    try:
        run()
    except PeerError as error:
        if error.error_code != ErrorCode[name]:
            raise
    else:
        raise ValueError(f"expected ERROR {name}")


def _raw_exchange(requester: Requester, request: bytes, error: str | None) -> None:
    """A request the requester would never send, straight through its transport."""
    response = requester.transport.exchange(request)
    if error is not None and (len(response) < 4 or response[1] != 0x7F or response[2] != ErrorCode[error]):
        raise TransportError(f"{request.hex()} was answered with {response.hex()}, not ERROR {error}")


def _provisioned_chain(asym: int, hash_algo: int) -> tuple[bytes, ...]:
    """What SET_CERTIFICATE installs: new certificates for the responder's own keys (its slot key
    stays the same), rebuilt from the step alone so that a replay sends the same bytes."""
    return _identity(asym, hash_algo, "responder", name="pyspdm vectors responder, provisioned").certificates


_OPS_13: Mapping[str, Callable[[Any, Mapping[str, Any]], object]] = {
    "get_measurement_extension_log": lambda on, step: on.get_measurement_extension_log(),
    "get_endpoint_info": lambda on, step: on.get_endpoint_info(signed=step["signed"], slot=step["slot"]),
    "get_key_pair_info": lambda on, step: on.get_key_pair_info(step["key_pair_id"]),
    "get_supported_event_types": lambda on, step: on.get_supported_event_types(),
    "subscribe_events": lambda on, step: on.subscribe_event_types(subscribe_all(DMTF_EVENT_GROUP)),
    "poll_events": lambda on, step: on.poll_events(),
}
"""SPDM 1.3 steps, each on the requester or (``session_`` prefix) on the last session opened."""


def run_flow(
    requester: Requester, flow: Sequence[Mapping[str, Any]], responder: Responder | None = None
) -> list[Session]:
    """Run a vector's flow with `requester`; the "responder" steps (test knobs) apply only when
    `responder` is given (generation), not in a replay. Returns the sessions opened, in order."""
    sessions: list[Session] = []
    for step in flow:
        op = step["op"]
        error = step.get("error")
        if op == "responder":
            if responder is not None and step.get("busy"):
                responder.answer_busy(step["busy"])
            if responder is not None and step.get("not_ready"):
                responder.answer_not_ready(step["not_ready"])
            if responder is not None and step.get("event"):
                responder.raise_event(DmtfEventType[step["event"]], EVENT_DETAIL)
        elif op == "raw":
            _raw_exchange(requester, bytes.fromhex(step["request"]), error)
        elif op == "init_connection":
            requester.init_connection()
        elif op == "get_digests":
            requester.get_digests()
        elif op == "get_certificate":
            requester.get_certificate(step["slot"])
        elif op == "verify_certificate":
            requester.verify_certificate(step["slot"])
        elif op == "challenge":
            requester.challenge(step["slot"], step["summary"])
        elif op == "get_measurements":
            read = functools.partial(
                requester.get_measurements, step["operation"], signed=step["signed"], slot=step.get("slot", 0)
            )
            _expect_error(error, read)
        elif op == "key_exchange":
            sessions.append(requester.key_exchange(step["slot"], summary_hash_type=step["summary"]))
        elif op == "psk_exchange":
            sessions.append(requester.psk_exchange(summary_hash_type=step["summary"]))
        elif op == "heartbeat":
            sessions[-1].heartbeat()
        elif op == "key_update":
            sessions[-1].key_update(all_keys=step["all_keys"])
        elif op == "session_measurements":
            sessions[-1].get_measurements(step["operation"], signed=step["signed"])
        elif op in ("get_csr", "session_get_csr"):
            (sessions[-1] if op == "session_get_csr" else requester).get_csr()
        elif op in ("set_certificate", "session_set_certificate"):
            chain = _provisioned_chain(BaseAsymAlgo[step["asym"]], BaseHashAlgo[step["hash"]])
            (sessions[-1] if op == "session_set_certificate" else requester).set_certificate(step["slot"], chain)
        elif op.removeprefix("session_") in _OPS_13:
            _OPS_13[op.removeprefix("session_")](sessions[-1] if op.startswith("session_") else requester, step)
        elif op == "end_session":
            sessions[-1].close()
        else:
            raise ValueError(f"unknown flow step {op!r}")
    return sessions


# --- generation -------------------------------------------------------------------------------


class _MailboxLink:
    """A `DoeLink` straight into a `DoeMailboxResponder`, in memory."""

    def __init__(self, mailbox: DoeMailboxResponder) -> None:
        self._mailbox = mailbox

    def exchange_object(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        response = self._mailbox(obj)
        if response is None:
            raise TransportError("the DOE instance discarded the object")
        return response

    def close(self) -> None:
        pass


def _responder_config(
    spec: VectorSpec, identity: _Identity, requester: _Identity | None, log: SecretsLog
) -> ResponderConfig:
    capabilities = DEFAULT_CAPABILITIES
    if spec.sessions:
        capabilities |= session_capabilities(
            psk=spec.psk, psk_context=spec.psk_context, handshake_in_the_clear=spec.in_the_clear
        )
        if not spec.encrypt:
            capabilities &= ~_F.ENCRYPT_CAP
    if spec.provisioning:
        capabilities |= PROVISIONING_CAPABILITIES
    if spec.chunk:
        capabilities |= _F.CHUNK_CAP
    capabilities |= _capabilities_13(spec)
    mel = _mel() if spec.mel else None
    slots = {0: SlotIdentity(certificates=identity.certificates, private_key=_deterministic(identity.leaf_key))}
    settings: dict[str, Any] = {
        "versions": spec.versions,
        "capabilities": capabilities,
        "data_transfer_size": spec.data_transfer_size,
        "max_spdm_msg_size": spec.max_spdm_msg_size,
        "limits": _limits(spec.max_spdm_msg_size),
        "base_asym_priority": (spec.asym,),
        "base_hash_priority": (spec.hash,),
        "measurement_hash_priority": (_MEAS_HASH[spec.hash],),
        "dhe_priority": (spec.dhe,),
        "aead_priority": (spec.aead,),
        "req_base_asym_priority": (spec.req_asym,),
        "slots": slots,
        "measurements": _measurements(_MEAS_HASH[spec.hash], mel),
        "measurement_extension_log": mel,
        "endpoint_info": ENDPOINT_INFO if spec.endpoint_info else None,
        "key_pairs": key_pairs_for_slots(slots) if spec.key_pairs else (),
        "random": SeededRandom(f"{spec.name}/responder"),
        "max_padding": MAX_DW_PADDING if spec.transport == "pci-doe" else 0,
        "heartbeat_period": 30 if spec.sessions else 0,
        "dhe_private_value": _dhe_values(f"{spec.name}/responder"),
        "clock": lambda: CLOCK,
        "secured_transport": MCTP_UNPADDED if spec.transport == "mctp" else PCI_DOE,
        "on_dhe_secret": log.add_dhe_secret,
    }
    if spec.psk:
        settings["psks"] = {spec.psk_hint: PSK}
    if spec.mutual_auth is not None and requester is not None:
        settings["mutual_auth"] = spec.mutual_auth
        settings["requester_trust_anchors"] = {0: requester.root}
        if spec.mutual_auth == "basic":
            settings["requester_chain"] = requester.certificates
    return ResponderConfig(**settings)


def _capabilities_13(spec: VectorSpec) -> int:
    """The responder's SPDM 1.3 capability flags the spec asks for."""
    chosen = (
        (spec.mel, _F.MEL_CAP),
        (spec.endpoint_info, _F.EP_INFO_CAP_SIG),
        (spec.events, _F.EVENT_CAP),
        (spec.key_pairs, KEY_PAIR_CAPABILITIES),
        (spec.multi_key, _F.MULTI_KEY_CAP_NEG),
    )
    return functools.reduce(operator.or_, (flag for wanted, flag in chosen if wanted), 0)


def _timestamps() -> Callable[[], float]:
    counter = itertools.count()
    return lambda: _EPOCH + next(counter) / 1000


def _names(value: int, enum: type[Any]) -> str:
    return enum(value).name if value else "NONE"


def _build(spec: VectorSpec, out: Path) -> dict[str, Any]:
    """Run one vector into `out/<name>/` and return its manifest entry."""
    folder = out / spec.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    identity = _identity(spec.asym, spec.hash, "responder")
    requester_identity = _identity(spec.req_asym, spec.hash, "requester") if spec.mutual_auth else None
    settings = _requester_settings(spec)
    log = SecretsLog(
        folder / "secrets.json",
        psk=PSK if spec.psk else None,
        psk_hint=spec.psk_hint if spec.psk else b"",
        requester_chain=requester_identity.certificates if spec.mutual_auth == "basic" and requester_identity else (),
    )
    responder = Responder(_responder_config(spec, identity, requester_identity, log))
    identities = {}
    if requester_identity is not None:
        key = _deterministic(requester_identity.leaf_key)
        identities = {0: RequesterIdentity(certificates=requester_identity.certificates, private_key=key)}
    config = requester_config(
        settings,
        trust_anchors={0: identity.root},
        random=SeededRandom(f"{spec.name}/requester"),
        dhe_private_value=_dhe_values(f"{spec.name}/requester"),
        identities=identities,
    )
    link_type = LINKTYPE_MCTP if spec.transport == "mctp" else LINKTYPE_PCI_DOE
    with CaptureWriter(folder / "requester.pcap", link_type, clock=_timestamps()) as writer:
        transport: Transport
        if spec.transport == "mctp":
            transport = RecordingTransport(LoopbackTransport(responder.respond), writer)
        else:
            transport = DoeTransport(RecordingLink(_MailboxLink(DoeMailboxResponder(responder.respond)), writer))
        requester = Requester(transport, config)
        sessions = run_flow(requester, spec.flow, responder)
    (folder / "root.der").write_bytes(identity.root)
    entry: dict[str, Any] = {"name": spec.name, "description": spec.description}
    negotiated = requester.negotiated
    if negotiated is None:
        raise ValueError(f"{spec.name}: the flow negotiated nothing")
    secrets = log.secrets
    entry.update(
        {
            "link_type": link_type,
            "transport": spec.transport,
            "spdm_version": f"{negotiated.version >> 4}.{negotiated.version & 0xF}",
            "algorithms": {
                "Hash": _names(negotiated.base_hash_algo, BaseHashAlgo),
                "MeasHash": _names(negotiated.measurement_hash_algo, MeasurementHashAlgo),
                "Asym": _names(negotiated.base_asym_algo, BaseAsymAlgo),
                "DHE": _names(negotiated.dhe_group, DheGroup),
                "AEAD": _names(negotiated.aead_suite, AeadAlgorithm),
                "ReqAsym": _names(negotiated.req_base_asym_alg, BaseAsymAlgo),
                "KeySchedule": _names(negotiated.key_schedule, KeyScheduleAlgo),
            },
            "requester_capabilities": f"0x{negotiated.requester_flags:08x}",
            "responder_capabilities": f"0x{negotiated.responder_flags:08x}",
            "flow": [dict(step) for step in spec.flow],
            "root_cert": f"{spec.name}/root.der",
            "secrets": f"{spec.name}/secrets.json",
            "psk": None if secrets.psk is None else secrets.psk.hex(),
            "psk_hint": secrets.psk_hint.hex(),
            "dhe_secrets": [secret.hex() for secret in secrets.dhe_secrets],
            "sessions": [
                {
                    "session_id": f"0x{session.session_id:08x}",
                    "psk": session.psk,
                    "secured_message_version": f"{session.secured_message_version >> 12}."
                    f"{session.secured_message_version >> 8 & 0xF}",
                    "th1": (session.th1 or b"").hex(),
                    "th2": (session.th2 or b"").hex(),
                }
                for session in sessions
            ],
            "requester": settings,
        }
    )
    if requester_identity is not None:
        (folder / "requester_chain.der").write_bytes(b"".join(requester_identity.certificates))
        entry["requester_chain"] = f"{spec.name}/requester_chain.der"
        entry["requester_chain_on_wire"] = spec.mutual_auth == "encapsulated"
    undecodable = [item.index for item in messages(read_pcap(folder / "requester.pcap")) if item.error is not None]
    expected = sum(1 for step in spec.flow if step.get("malformed"))
    if len(undecodable) != expected:
        raise ValueError(f"{spec.name}: records {undecodable} do not decode, {expected} malformed requests were sent")
    if undecodable:
        entry["undecodable_records"] = undecodable
    return entry


_FLAT = re.compile(r"([\[{])\n\s+([^\[\]{}]*?)\n\s*([\]}])")


def _json(document: object) -> str:
    """Indented JSON with every innermost object or list on one line (flow steps, versions, secrets)."""

    def flatten(match: re.Match[str]) -> str:
        return match.group(1) + re.sub(r",\n\s+", ", ", match.group(2)) + match.group(3)

    return _FLAT.sub(flatten, json.dumps(document, indent=1)) + "\n"


def generate(out: Path = VECTORS, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Write the vectors `names` (all by default) under `out`, and `out/manifest.json`.

    With a subset, the manifest keeps the entries of the other vectors it already lists.
    """
    chosen = [spec for spec in SPECS if names is None or spec.name in names]
    unknown = set(names or ()) - {spec.name for spec in SPECS}
    if unknown:
        raise ValueError(f"no such vectors: {sorted(unknown)}")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    entries: dict[str, dict[str, Any]] = {}
    if manifest_path.exists() and names is not None:
        entries = {entry["name"]: entry for entry in json.loads(manifest_path.read_text())["vectors"]}
    built = [_build(spec, out) for spec in chosen]
    entries.update({entry["name"]: entry for entry in built})
    order = [spec.name for spec in SPECS]
    ordered = sorted(entries.values(), key=lambda e: order.index(e["name"]) if e["name"] in order else len(order))
    manifest_path.write_text(_json({"vectors": ordered}))
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="vectors to regenerate (default: all)")
    parser.add_argument("--out", type=Path, default=VECTORS, help="where to write them (default: vectors/)")
    args = parser.parse_args(argv)
    for entry in generate(args.out, args.names or None):
        print(f"{entry['name']}: {(args.out / entry['name'] / 'requester.pcap').stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
