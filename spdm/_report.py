"""Human-readable reports of what the requester established (the CLI's output)."""

from __future__ import annotations

from typing import TextIO

from cryptography import x509

from spdm.measurements import Appraisal
from spdm.messages.codes import (
    AeadAlgorithm,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    MeasurementHashAlgo,
    MeasurementValueType,
)
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock
from spdm.requester import AuthenticationResult

__all__ = ["print_authentication"]


def _flags(value: int) -> str:
    names = [flag.name for flag in CapabilityFlags if flag.name and _single(flag) and value & flag]
    return "|".join(n for n in names if n) or "none"


def _single(flag: CapabilityFlags) -> bool:
    return bin(int(flag)).count("1") == 1


def _enum_name(kind: type, value: int) -> str:
    try:
        return str(kind(value).name) if value else "none"
    except ValueError:
        return f"0x{value:x}"


def _certificate_line(index: int, certificate: x509.Certificate) -> str:
    subject = certificate.subject.rfc4514_string() or "(empty subject)"
    before = certificate.not_valid_before_utc.date().isoformat()
    after = certificate.not_valid_after_utc.date().isoformat()
    return f"  [{index}] {subject}  valid {before} .. {after}"


def _block_line(block: MeasurementBlock, appraisal: Appraisal | None) -> str:
    value = block.measurement
    if isinstance(value, DmtfMeasurement):
        kind = _enum_name(MeasurementValueType, value.kind) if value.kind else "IMMUTABLE_ROM"
        form = "raw" if value.is_raw_bit_stream else "digest"
        text = f"  index {block.index:3}: {kind} {form} {value.value.hex()}"
    else:
        text = f"  index {block.index:3}: spec 0x{block.specification:02x} {value.hex()}"
    if appraisal is not None:
        if block.index in appraisal.matched:
            text += "  [matches reference]"
        elif block.index in appraisal.mismatched:
            text += "  [MISMATCH]"
        else:
            text += "  [no reference]"
    return text


def print_authentication(result: AuthenticationResult, out: TextIO) -> None:
    """Negotiated parameters, the chain, the challenge and the measurements with their status."""
    n = result.negotiated
    out.write(f"SPDM version {n.version >> 4}.{n.version & 0xF}\n")
    out.write(f"requester capabilities: {_flags(n.requester_flags)}\n")
    out.write(f"responder capabilities: {_flags(n.responder_flags)} (CTExponent {n.responder_ct_exponent})\n")
    out.write(
        f"algorithms: hash {_enum_name(BaseHashAlgo, n.base_hash_algo)}, "
        f"asym {_enum_name(BaseAsymAlgo, n.base_asym_algo)}, "
        f"measurement hash {_enum_name(MeasurementHashAlgo, n.measurement_hash_algo)}, "
        f"DHE {_enum_name(DheGroup, n.dhe_group)}, AEAD {_enum_name(AeadAlgorithm, n.aead_suite)}\n"
    )
    out.write(f"populated slots: {', '.join(str(s) for s in sorted(result.digests))}\n")
    out.write(f"certificate chain, slot {result.slot}: {len(result.chain.certificates)} certificates, verified\n")
    for index, certificate in enumerate(result.chain.certificates):
        out.write(_certificate_line(index, certificate) + "\n")
    identity = result.chain.cma_identity
    if identity is not None:
        out.write(f"  CMA identity: {identity}\n")
    out.write(f"challenge: slot {result.challenge.slot} signature verified\n")
    measured = result.measurements
    if measured is None:
        out.write("measurements: not read\n")
    else:
        status = "signature verified" if measured.signed else "unsigned"
        out.write(f"measurements: {len(measured.blocks)} blocks, {status}\n")
        for block in measured.blocks:
            out.write(_block_line(block, result.appraisal) + "\n")
    if result.appraisal is not None:
        a = result.appraisal
        out.write(
            f"appraisal: {len(a.matched)} matched, {len(a.mismatched)} mismatched, "
            f"{len(a.missing)} missing, {len(a.unexpected)} unexpected\n"
        )
    out.write("result: authenticated\n")
