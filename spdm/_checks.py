"""Checks of what a peer sent, shared by the requester, the capture verifier and (for the rules
both sides obey, such as the 1.2 transfer sizes) the responder."""

from __future__ import annotations

from collections.abc import Iterable

from spdm.crypto import HashSuite
from spdm.errors import NegotiationError, ProtocolError, VerificationError
from spdm.measurements import block_bytes
from spdm.messages.certificates import CERT_MODEL_MASK, CERT_MODELS, Certificate, Digests, slot_ids
from spdm.messages.challenge import ChallengeAuth
from spdm.messages.codes import (
    AlgType,
    CapabilityFlags,
    CertificateInfo,
    ErrorCode,
    KeyPairAsymAlgo,
    KeyPairCapability,
    KeyUsage,
    MeasurementSpecification,
    OtherParams,
    measurement_hash_size,
)
from spdm.messages.key_pairs import KeyPairInfo
from spdm.messages.measurements import (
    ALL_MEASUREMENTS,
    DmtfMeasurement,
    GetMeasurements,
    MeasurementBlock,
    Measurements,
)
from spdm.messages.negotiation import (
    Algorithms,
    Capabilities,
    GetCapabilities,
    NegotiateAlgorithms,
    has_mel_specification,
    has_multi_key_conn,
    has_other_params,
    has_transfer_sizes,
)
from spdm.negotiated import Negotiated, check_multi_key_connection, mel_specification_selection, required_selections

__all__ = [
    "check_certificate_info",
    "check_key_pair_info",
    "check_measurements",
    "check_multi_key_digests",
    "check_requester_context",
    "check_responder_flags",
    "check_selection",
    "check_slot_masks",
    "check_summary_hash",
    "check_transfer_sizes",
    "invalid_response",
]


def invalid_response(reason: str) -> ProtocolError:
    """A response that breaks the protocol: InvalidResponseCode (the requester's, and the responder's
    for a requester's encapsulated response)."""
    return ProtocolError(ErrorCode.InvalidResponseCode, reason)


def _one_bit(value: int) -> bool:
    return value != 0 and value & (value - 1) == 0


def _one_offered(selected: int, offered: int) -> bool:
    return _one_bit(selected) and selected & offered != 0


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
    in libspdm_req_get_capabilities.c and libspdm_rsp_capabilities.c). Before 1.2 there are no sizes."""
    if not has_transfer_sizes(capabilities.version) or flags & CapabilityFlags.CHUNK_CAP:
        return
    if capabilities.data_transfer_size != capabilities.max_spdm_msg_size:
        raise NegotiationError(
            f"{capabilities.name}: no CHUNK_CAP, yet DataTransferSize {capabilities.data_transfer_size} is not "
            f"MaxSPDMmsgSize {capabilities.max_spdm_msg_size}"
        )


def check_selection(offer: NegotiateAlgorithms, chosen: Algorithms, negotiated: Negotiated) -> None:
    """Every selection is one bit among what was offered, or none where the capabilities allow it
    (`required_selections`)."""
    if has_other_params(negotiated.version):
        chosen_format = chosen.other_params_selection & OtherParams.OPAQUE_DATA_FMT_MASK
        if chosen_format and (not _one_bit(chosen_format) or not chosen_format & offer.other_params_support):
            raise NegotiationError(f"ALGORITHMS: OtherParamsSelection 0x{chosen_format:x} is not one offered format")
    if has_multi_key_conn(negotiated.version):
        check_multi_key_connection(negotiated.requester_flags, negotiated.requester_multi_key)
    if has_mel_specification(negotiated.version):
        expected_mel = mel_specification_selection(negotiated.responder_flags, offer.mel_specification or 0)
        if negotiated.mel_specification != expected_mel:
            raise NegotiationError(
                f"ALGORITHMS: MELspecificationSel 0x{negotiated.mel_specification:02x}, expected 0x{expected_mel:02x}"
            )
    required = required_selections(negotiated.requester_flags, negotiated.responder_flags)
    if (chosen.base_hash_sel or required.base_hash) and not _one_offered(chosen.base_hash_sel, offer.base_hash_algo):
        raise NegotiationError(f"ALGORITHMS: BaseHashSel 0x{chosen.base_hash_sel:x} is not one offered hash")
    if (chosen.base_asym_sel or required.base_asym) and not _one_offered(chosen.base_asym_sel, offer.base_asym_algo):
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
        if struct.alg_supported and not _one_offered(struct.alg_supported, offered.get(struct.alg_type, 0)):
            name = AlgType(struct.alg_type).name if struct.alg_type in AlgType._value2member_map_ else struct.alg_type
            raise NegotiationError(f"ALGORITHMS: AlgStruct {name} selects 0x{struct.alg_supported:x}, not offered")
    selected = {s.alg_type for s in chosen.alg_structs if s.alg_supported}
    missing = sorted(required.alg_structs - selected)
    if missing:
        name = AlgType(missing[0]).name
        raise NegotiationError(f"ALGORITHMS: no {name} selected, yet both sides' capabilities need one")


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
    if 0 < ask.operation < ALL_MEASUREMENTS and indices != [ask.operation]:
        raise invalid_response(f"MEASUREMENTS for index {ask.operation} returns {indices}")
    if ask.signature_requested and answer.slot_id != ask.slot_id:
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


def check_multi_key_digests(answer: Digests) -> None:
    """A 1.3 multi-key DIGESTS' per-slot fields as libspdm_req_get_digests.c accepts them: a defined
    certificate model, none GenericCert in slot 0, slot 0 allowing some SPDM usage, and model None
    only with an all-zero digest."""
    if answer.key_pair_ids is None or answer.certificate_infos is None or answer.key_usage_masks is None:
        return
    slots, infos, usages = slot_ids(answer.slot_mask), answer.certificate_infos, answer.key_usage_masks
    for slot, digest, info, usage in zip(slots, answer.digests, infos, usages, strict=True):
        model = info & CERT_MODEL_MASK
        if model != CertificateInfo.NONE and model not in CERT_MODELS:
            raise invalid_response(f"DIGESTS: slot {slot} has certificate model {model}")
        if slot == 0 and model == CertificateInfo.GENERIC_CERT:
            raise invalid_response("DIGESTS: slot 0 holds a generic certificate")
        if slot == 0 and not usage & KeyUsage.ALL_SPDM:
            raise invalid_response(f"DIGESTS: slot 0's KeyUsageMask 0x{usage:04x} allows no SPDM usage")
        if model == CertificateInfo.NONE and any(digest):
            raise invalid_response(f"DIGESTS: slot {slot} has no certificate model but a digest")


def check_key_pair_info(answer: KeyPairInfo, key_pair_id: int, *, settable: bool) -> None:
    """KEY_PAIR_INFO as libspdm_req_get_key_pair_info.c accepts it, reserved bits dropped as it drops
    them; `settable`: the responder has SET_KEY_PAIR_INFO_CAP (else Capabilities must be 0)."""
    capabilities = KeyPairCapability(answer.capabilities & KeyPairCapability.DEFINED)
    usages = answer.key_usage_capabilities & KeyUsage.DEFINED
    current_usage = answer.current_key_usage & KeyUsage.DEFINED
    algos = answer.asym_algo_capabilities & KeyPairAsymAlgo.DEFINED
    current_algo = answer.current_asym_algo & KeyPairAsymAlgo.DEFINED
    shareable = KeyPairCapability.SHAREABLE in capabilities
    refusals = (
        (answer.key_pair_id != key_pair_id, f"KEY_PAIR_INFO of key pair {answer.key_pair_id}, asked {key_pair_id}"),
        (answer.key_pair_id > answer.total_key_pairs, f"KeyPairID {answer.key_pair_id} over TotalKeyPairs"),
        (not settable and bool(capabilities), "Capabilities set without SET_KEY_PAIR_INFO_CAP"),
        (shareable and KeyPairCapability.CERT_ASSOC not in capabilities, "ShareableCap without CertAssocCap"),
        (not usages, "no KeyUsageCapabilities"),
        (current_usage & ~usages != 0, "CurrentKeyUsage outside KeyUsageCapabilities"),
        (not algos, "no AsymAlgoCapabilities"),
        (current_algo.bit_count() > 1, "CurrentAsymAlgo names more than one algorithm"),
        (current_algo & ~algos != 0, "CurrentAsymAlgo outside AsymAlgoCapabilities"),
        (
            answer.assoc_cert_slot_mask.bit_count() > 1 and settable and not shareable,
            "several slots share a key pair without ShareableCap",
        ),
    )
    for broken, reason in refusals:
        if broken:
            raise invalid_response(f"KEY_PAIR_INFO: {reason}")


def check_certificate_info(answer: Certificate, multi_key: bool, digests_model: int | None) -> None:
    """A 1.3 CERTIFICATE's CertificateInfo (Param2) as libspdm_req_get_certificate.c accepts it: on a
    multi-key connection a defined model, not GenericCert in slot 0, no chain with model None, and the
    model DIGESTS gave the slot (`digests_model`, when it gave one); otherwise no model at all. Before
    1.3 every CERTIFICATE passes: Param2 is reserved (no model) and no connection is multi-key."""
    model = answer.certificate_model
    slot = answer.slot_id
    if not multi_key:
        if model != CertificateInfo.NONE:
            raise invalid_response(f"CERTIFICATE of slot {slot}: model {model} outside a multi-key connection")
        return
    refusals = (
        (model != CertificateInfo.NONE and model not in CERT_MODELS, f"certificate model {model} is not defined"),
        (slot == 0 and model == CertificateInfo.GENERIC_CERT, "slot 0 holds a generic certificate"),
        (model == CertificateInfo.NONE and bool(answer.portion), "a chain with no certificate model"),
        (digests_model not in (None, model), f"certificate model {model}, DIGESTS said {digests_model}"),
    )
    for broken, reason in refusals:
        if broken:
            raise invalid_response(f"CERTIFICATE of slot {slot}: {reason}")
