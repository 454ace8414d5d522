"""Human-readable reports of what the requester established (the CLI's output)."""

from __future__ import annotations

import enum
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
    MutAuthRequest,
)
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock
from spdm.messages.negotiation import VersionNumber, version_text
from spdm.negotiated import Negotiated
from spdm.requester import AuthenticationResult, KeyPairInfoResult, MeasurementResult, MelResult
from spdm.requester.session_core import SessionView

__all__ = [
    "print_authentication",
    "print_key_pair_info",
    "print_measurements",
    "print_mel",
    "print_negotiated",
    "print_session",
]


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


def print_negotiated(n: Negotiated, out: TextIO) -> None:
    """Version, both sides' capabilities and the selected algorithms."""
    out.write(f"SPDM version {version_text(n.version)}\n")
    out.write(f"requester capabilities: {_flags(n.requester_flags)}\n")
    out.write(f"responder capabilities: {_flags(n.responder_flags)} (CTExponent {n.responder_ct_exponent})\n")
    out.write(
        f"algorithms: hash {_enum_name(BaseHashAlgo, n.base_hash_algo)}, "
        f"asym {_enum_name(BaseAsymAlgo, n.base_asym_algo)}, "
        f"measurement hash {_enum_name(MeasurementHashAlgo, n.measurement_hash_algo)}, "
        f"DHE {_enum_name(DheGroup, n.dhe_group)}, AEAD {_enum_name(AeadAlgorithm, n.aead_suite)}"
        + (f", ReqBaseAsym {_enum_name(BaseAsymAlgo, n.req_base_asym_alg)}" if n.req_base_asym_alg else "")
        + "\n"
    )


_MUT_AUTH_KINDS: dict[int, str] = {
    MutAuthRequest.MUT_AUTH_REQUESTED: "signed FINISH",
    MutAuthRequest.WITH_ENCAP_REQUEST: "encapsulated requests",
    MutAuthRequest.WITH_GET_DIGESTS: "encapsulated requests after DIGESTS",
}


def print_session(session: SessionView, n: Negotiated, out: TextIO) -> None:
    """What the handshake established (a blocking or an asyncio session alike)."""
    kind = "PSK" if session.psk else f"DHE {_enum_name(DheGroup, n.dhe_group)}, responder slot {session.slot}"
    version = version_text(VersionNumber(value=session.secured_message_version).major_minor)
    protection = "encrypted and authenticated" if session.encrypted else "authenticated only"
    out.write(
        f"session 0x{session.session_id:08x}: {kind}; secured messages DSP0277 {version}, "
        f"{_enum_name(AeadAlgorithm, n.aead_suite)} ({protection})\n"
    )
    if session.mut_auth_requested:
        how = _MUT_AUTH_KINDS.get(session.mut_auth_requested, f"0x{session.mut_auth_requested:02x}")
        out.write(f"  mutual authentication: requester slot {session.requester_slot} ({how})\n")
    if session.heartbeat_period:
        out.write(f"  heartbeat period: {session.heartbeat_period} s\n")


def print_measurements(measured: MeasurementResult, out: TextIO, *, indent: str) -> None:
    """The blocks of one measurement read in a session and whether its signature verified."""
    status = "signature verified" if measured.signed else "unsigned"
    out.write(f"{indent}measurements in the session: {len(measured.blocks)} blocks, {status}\n")
    for block in measured.blocks:
        out.write(indent + _block_line(block, None) + "\n")


def _bits(value: enum.IntFlag) -> str:
    names = [str(bit.name) for bit in type(value) if bit.name and int(bit).bit_count() == 1 and bit in value]
    return "|".join(names) or "none"


def print_key_pair_info(info: KeyPairInfoResult, out: TextIO) -> None:
    """One KEY_PAIR_INFO: what the key pair is now, and what SET_KEY_PAIR_INFO may make of it."""
    slots = ", ".join(str(slot) for slot in info.assoc_cert_slots) or "none"
    out.write(f"key pair {info.key_pair_id} of {info.total_key_pairs}: {_bits(info.current_asym_algo)}, ")
    out.write(f"usage {_bits(info.current_key_usage)}, slots {slots}\n")
    out.write(f"  may be: {_bits(info.asym_algo_capabilities)}; usages {_bits(info.key_usage_capabilities)}; ")
    out.write(f"capabilities {_bits(info.capabilities)}; public key info {info.public_key_info.hex() or 'none'}\n")


def print_mel(mel: MelResult, checked: tuple[int, ...] | None, out: TextIO, *, indent: str = "") -> None:
    """The measurement extension log's entries, and the hash-extended indices it was checked
    against (`checked`; None: not checked)."""
    where = "measurement extension log in the session" if indent else "measurement extension log"
    out.write(f"{indent}{where}: {len(mel.log.entries)} entries, {len(mel.raw)} bytes\n")
    for entry in mel.log.entries:
        value = entry.measurement
        kind = _enum_name(MeasurementValueType, value.kind) if value.kind else "IMMUTABLE_ROM"
        form = "raw" if value.is_raw_bit_stream else "digest"
        out.write(f"{indent}  entry {entry.mel_index}: index {entry.meas_index} {kind} {form} {value.value.hex()}\n")
    if checked is None:
        out.write(f"{indent}  not checked against the measurements (read them all: --measurements all)\n")
    else:
        shown = ", ".join(str(index) for index in checked) or "none"
        out.write(f"{indent}  consistent with the measurements (hash-extended indices: {shown})\n")


def print_authentication(result: AuthenticationResult, out: TextIO) -> None:
    """Negotiated parameters, the chain, the challenge and the measurements with their status."""
    print_negotiated(result.negotiated, out)
    out.write(f"populated slots: {', '.join(str(s) for s in sorted(result.digests))}\n")
    out.write(f"certificate chain, slot {result.slot}: {len(result.chain.certificates)} certificates, verified\n")
    for index, certificate in enumerate(result.chain.certificates):
        out.write(_certificate_line(index, certificate) + "\n")
    identity = result.chain.cma_identity
    if identity is not None:
        out.write(f"  CMA identity: {identity}\n")
    mutual = (
        "; requester authenticated (basic mutual authentication)" if result.challenge.requester_authenticated else ""
    )
    out.write(f"challenge: slot {result.challenge.slot} signature verified{mutual}\n")
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
    appraised = result.appraisal is None or result.appraisal.ok
    out.write("result: authenticated" + ("\n" if appraised else "; measurements do not match the reference\n"))
