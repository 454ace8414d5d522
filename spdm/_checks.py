"""Checks of what a peer sent, shared by the requester, the capture verifier and (for the rules
both sides obey, such as the 1.2 transfer sizes) the responder."""

from __future__ import annotations

from collections.abc import Iterable

from spdm.crypto import HashSuite
from spdm.errors import NegotiationError, ProtocolError, VerificationError
from spdm.measurements import block_bytes
from spdm.messages.certificates import Digests
from spdm.messages.challenge import ChallengeAuth
from spdm.messages.codes import (
    AlgType,
    CapabilityFlags,
    ErrorCode,
    MeasurementSpecification,
    OtherParams,
    measurement_hash_size,
)
from spdm.messages.measurements import DmtfMeasurement, GetMeasurements, MeasurementBlock, Measurements
from spdm.messages.negotiation import Algorithms, Capabilities, GetCapabilities, NegotiateAlgorithms
from spdm.negotiated import Negotiated, check_multi_key_connection, mel_specification_selection

__all__ = [
    "check_measurements",
    "check_requester_context",
    "check_responder_flags",
    "check_selection",
    "check_slot_masks",
    "check_summary_hash",
    "check_transfer_sizes",
    "invalid_response",
]


def invalid_response(reason: str) -> ProtocolError:
    """A response that breaks the protocol (the requester's side of InvalidResponseCode)."""
    return ProtocolError(ErrorCode.InvalidResponseCode, reason)


def _one_bit(value: int) -> bool:
    return value != 0 and value & (value - 1) == 0


def check_responder_flags(flags: int, version: int) -> None:
    """The 1.0/1.1 rules for a responder's CAPABILITIES flags."""
    f = CapabilityFlags
    meas = flags & f.MEAS_CAP_MASK
    if meas == f.MEAS_CAP_MASK:
        raise NegotiationError("CAPABILITIES: MEAS_CAP 11b is reserved")
    if flags & f.MEAS_FRESH_CAP and not meas:
        raise NegotiationError("CAPABILITIES: MEAS_FRESH_CAP without MEAS_CAP")
    if version >= 0x11:
        if flags & f.PSK_CAP_MASK == f.PSK_CAP_MASK:
            raise NegotiationError("CAPABILITIES: PSK_CAP 11b is reserved")
        if flags & f.CERT_CAP and flags & f.PUB_KEY_ID_CAP:
            raise NegotiationError("CAPABILITIES: CERT_CAP and PUB_KEY_ID_CAP together")
        if flags & (f.KEY_EX_CAP | f.PSK_CAP_MASK) and not flags & (f.MAC_CAP | f.ENCRYPT_CAP):
            raise NegotiationError("CAPABILITIES: KEY_EX_CAP/PSK_CAP without MAC_CAP or ENCRYPT_CAP")


def check_transfer_sizes(capabilities: GetCapabilities | Capabilities, flags: int) -> None:
    """1.2: without CHUNK_CAP a side's largest message is one transfer, so its two sizes are equal
    (the codec already bounds DataTransferSize by 42 and by MaxSPDMmsgSize; libspdm checks the same
    in libspdm_req_get_capabilities.c and libspdm_rsp_capabilities.c)."""
    if flags & CapabilityFlags.CHUNK_CAP:
        return
    if capabilities.data_transfer_size != capabilities.max_spdm_msg_size:
        raise NegotiationError(
            f"{capabilities.name}: no CHUNK_CAP, yet DataTransferSize {capabilities.data_transfer_size} is not "
            f"MaxSPDMmsgSize {capabilities.max_spdm_msg_size}"
        )


def check_selection(offer: NegotiateAlgorithms, chosen: Algorithms, negotiated: Negotiated) -> None:
    """Every selection is one bit (or none where allowed) among what was offered."""
    if negotiated.version >= 0x12:
        chosen_format = chosen.other_params_selection & OtherParams.OPAQUE_DATA_FMT_MASK
        if chosen_format and (not _one_bit(chosen_format) or not chosen_format & offer.other_params_support):
            raise NegotiationError(f"ALGORITHMS: OtherParamsSelection 0x{chosen_format:x} is not one offered format")
    if negotiated.version >= 0x13:
        check_multi_key_connection(negotiated.requester_flags, negotiated.requester_multi_key)
        expected_mel = mel_specification_selection(negotiated.responder_flags, offer.mel_specification or 0)
        if negotiated.mel_specification != expected_mel:
            raise NegotiationError(
                f"ALGORITHMS: MELspecificationSel 0x{negotiated.mel_specification:02x}, expected 0x{expected_mel:02x}"
            )
    if not _one_bit(chosen.base_hash_sel) or not chosen.base_hash_sel & offer.base_hash_algo:
        raise NegotiationError(f"ALGORITHMS: BaseHashSel 0x{chosen.base_hash_sel:x} is not one offered hash")
    if not _one_bit(chosen.base_asym_sel) or not chosen.base_asym_sel & offer.base_asym_algo:
        raise NegotiationError(f"ALGORITHMS: BaseAsymSel 0x{chosen.base_asym_sel:x} is not one offered algorithm")
    if negotiated.responder_measurement_cap:
        if not _one_bit(chosen.measurement_hash_algo):
            raise NegotiationError(f"ALGORITHMS: MeasurementHashAlgo 0x{chosen.measurement_hash_algo:x} is not one bit")
        if chosen.measurement_specification_sel != MeasurementSpecification.DMTF:
            raise NegotiationError("ALGORITHMS: the measurement specification is not DMTF")
    offered = {s.alg_type: s.alg_supported for s in offer.alg_structs}
    previous = 0
    for struct in chosen.alg_structs:
        if struct.alg_type <= previous:
            raise NegotiationError("ALGORITHMS: AlgStruct types are not in increasing order")
        previous = struct.alg_type
        if struct.alg_supported and (
            not _one_bit(struct.alg_supported) or not struct.alg_supported & offered.get(struct.alg_type, 0)
        ):
            name = AlgType(struct.alg_type).name if struct.alg_type in AlgType._value2member_map_ else struct.alg_type
            raise NegotiationError(f"ALGORITHMS: AlgStruct {name} selects 0x{struct.alg_supported:x}, not offered")


def check_requester_context(asked: bytes | None, answer: ChallengeAuth | Measurements) -> None:
    """1.3 CHALLENGE_AUTH and MEASUREMENTS echo the request's RequesterContext."""
    if answer.requester_context != asked:
        raise invalid_response(f"{answer.name} does not echo the request's RequesterContext")


def check_slot_masks(answer: Digests) -> None:
    """1.3 DIGESTS: every provisioned slot (Param2) is a supported one (Param1), as libspdm_req_get_digests.c checks."""
    if answer.version >= 0x13 and answer.supported_slot_mask & answer.slot_mask != answer.slot_mask:
        provisioned, supported = answer.slot_mask, answer.supported_slot_mask
        raise invalid_response(f"DIGESTS: provisioned slots 0x{provisioned:02x} outside supported 0x{supported:02x}")


def check_measurements(ask: GetMeasurements, answer: Measurements, negotiated: Negotiated) -> None:
    """The blocks answer the question, and DMTF digests have the negotiated measurement hash size."""
    indices = [b.index for b in answer.blocks]
    if len(set(indices)) != len(indices):
        raise invalid_response("MEASUREMENTS repeats an index")
    if ask.operation == 0 and indices:
        raise invalid_response("MEASUREMENTS returns blocks for a count request")
    if 0 < ask.operation < 0xFF and indices != [ask.operation]:
        raise invalid_response(f"MEASUREMENTS for index {ask.operation} returns {indices}")
    if ask.signature_requested and negotiated.version >= 0x11 and answer.slot_param & 0xF != (ask.slot_id_param or 0):
        raise invalid_response("MEASUREMENTS names another slot")
    size = _measurement_digest_size(negotiated.measurement_hash_algo)
    for block in answer.blocks:
        value = block.measurement
        if isinstance(value, DmtfMeasurement) and not value.is_raw_bit_stream and size and len(value.value) != size:
            raise VerificationError(
                f"measurement {block.index}: a {len(value.value)}-byte digest for a {size}-byte measurement hash"
            )


def _measurement_digest_size(algo: int) -> int:
    """The digest size of the negotiated measurement hash; 0 (nothing to check) for raw bit streams
    only, none or a selection the library does not know."""
    try:
        return measurement_hash_size(algo)
    except NegotiationError:
        return 0


def check_summary_hash(summary: bytes, blocks: Iterable[MeasurementBlock], suite: HashSuite) -> None:
    """With every block in hand, a summary hash over all of them (type 0xFF) must be theirs."""
    expected = suite.digest(b"".join(block_bytes(b) for b in sorted(blocks, key=lambda b: b.index)))
    if expected != summary:
        raise VerificationError("the measurement summary hash does not match the measurement blocks")
