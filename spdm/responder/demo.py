"""A throwaway device identity for `spdm responder` with no arguments and for examples.

The chain (root -> intermediate -> leaf, ECDSA P-384, SHA-384 signatures) is generated on first
use and kept for the life of the process: P-384 keys cost a millisecond, so nothing is stored on
disk and no private key ships with the package. The measurement blocks are fixed SHA-384 digests
of labels, plus one raw bit stream; with the demo's MEL (SPDM 1.3), one hash-extended block more.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID, ObjectIdentifier

from spdm.certs import SPDM_RESPONDER_AUTH_OID
from spdm.crypto import hash_suite
from spdm.measurements import StaticMeasurements
from spdm.mel import hash_extended_block
from spdm.messages.codes import BaseHashAlgo, MeasurementSpecification, MeasurementValueType
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock
from spdm.messages.mel import MelEntry, MelLog

__all__ = ["DEMO_MEL_INDEX", "DemoChain", "demo_chain", "demo_measurements", "demo_mel"]

_NOT_BEFORE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
_NOT_AFTER = datetime.datetime(2049, 12, 31, tzinfo=datetime.timezone.utc)
_RAW = 0x80


@dataclass(frozen=True, slots=True)
class DemoChain:
    """DER certificates root first, and the leaf's private key."""

    certificates: tuple[bytes, ...]
    leaf_key: ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pyspdm demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@functools.cache
def demo_chain() -> DemoChain:
    """The process's demo chain (generated once)."""
    names = ("pyspdm demo root CA", "pyspdm demo intermediate CA", "pyspdm demo device")
    keys = [ec.generate_private_key(ec.SECP384R1()) for _ in names]
    certificates: list[bytes] = []
    for index, common_name in enumerate(names):
        issuer = max(index - 1, 0)
        leaf = index == len(names) - 1
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(names[issuer]))
            .public_key(keys[index].public_key())
            .serial_number(index + 1)
            .not_valid_before(_NOT_BEFORE)
            .not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=not leaf, path_length=None), critical=True)
            .add_extension(_usage(ca=not leaf), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(keys[index].public_key()), critical=False)
        )
        if index:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(keys[issuer].public_key()), critical=False
            )
        if leaf:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ObjectIdentifier(SPDM_RESPONDER_AUTH_OID)]), critical=False
            )
        certificate = builder.sign(keys[issuer], hashes.SHA384())
        certificates.append(certificate.public_bytes(Encoding.DER))
    return DemoChain(certificates=tuple(certificates), leaf_key=keys[-1])


def _digest_block(index: int, kind: int, label: str) -> MeasurementBlock:
    value = hashlib.sha384(f"pyspdm demo {label}".encode()).digest()
    return MeasurementBlock(
        index=index,
        specification=MeasurementSpecification.DMTF,
        measurement=DmtfMeasurement(value_type=kind, value=value),
    )


DEMO_MEL_INDEX = 0x11
"""The measurement index of the demo's hash-extended block, which its MEL extends (libspdm's sample uses 0x11)."""


def demo_mel() -> MelLog:
    """The demo's measurement extension log: three entries extended into block `DEMO_MEL_INDEX`."""
    entries = (
        (MeasurementValueType.INFORMATIONAL, b"pyspdm demo boot ROM"),
        (MeasurementValueType.INFORMATIONAL, b"pyspdm demo firmware"),
        (MeasurementValueType.MUTABLE_FIRMWARE_VERSION, b"1.3.0"),
    )
    return MelLog(
        entries=tuple(
            MelEntry(
                mel_index=number,
                meas_index=DEMO_MEL_INDEX,
                measurement=DmtfMeasurement(value_type=_RAW | kind, value=value),
            )
            for number, (kind, value) in enumerate(entries, start=1)
        )
    )


def demo_measurements(mel: MelLog | None = None) -> StaticMeasurements:
    """Four SHA-384 digest blocks (ROM, firmware, hardware and firmware configuration) and a raw manifest;
    with `mel`, the SHA-384 hash-extended block at `DEMO_MEL_INDEX` that the log extends too."""
    manifest = MeasurementBlock(
        index=5,
        specification=MeasurementSpecification.DMTF,
        measurement=DmtfMeasurement(
            value_type=_RAW | MeasurementValueType.MEASUREMENT_MANIFEST, value=b"pyspdm demo manifest v1"
        ),
    )
    blocks: tuple[MeasurementBlock, ...] = (
        _digest_block(1, MeasurementValueType.IMMUTABLE_ROM, "immutable ROM"),
        _digest_block(2, MeasurementValueType.MUTABLE_FIRMWARE, "firmware"),
        _digest_block(3, MeasurementValueType.HARDWARE_CONFIGURATION, "hardware configuration"),
        _digest_block(4, MeasurementValueType.FIRMWARE_CONFIGURATION, "firmware configuration"),
        manifest,
    )
    if mel is not None:
        blocks += (hash_extended_block(mel, DEMO_MEL_INDEX, hash_suite(BaseHashAlgo.SHA_384)),)
    return StaticMeasurements(blocks)
