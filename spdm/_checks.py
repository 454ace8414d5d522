"""Checks of what a peer sent, shared by the requester, the capture verifier and (for the rules
both sides obey, such as the 1.2 transfer sizes) the responder."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from spdm.crypto import HashSuite
from spdm.errors import DecodeError, NegotiationError, ProtocolError, VerificationError
from spdm.measurements import block_bytes
from spdm.messages.certificates import CERT_MODEL_MASK, CERT_MODELS, SLOT_COUNT, Certificate, Digests, slot_ids
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
from spdm.messages.encapsulated import EncapsulatedResponseAck, PayloadType
from spdm.messages.key_pairs import KeyPairInfo
from spdm.messages.measurements import (
    ALL_MEASUREMENTS,
    DmtfMeasurement,
    GetMeasurements,
    MeasurementBlock,
    Measurements,
)
from spdm.messages.negotiation import (
    MAX_CT_EXPONENT,
    Algorithms,
    Capabilities,
    GetCapabilities,
    NegotiateAlgorithms,
    has_mel_specification,
    has_multi_key_conn,
    has_other_params,
    has_transfer_sizes,
)
from spdm.messages.opaque import check_general_opaque_data
from spdm.negotiated import Negotiated, check_multi_key_connection, mel_specification_selection, required_selections

__all__ = [
    "check_capabilities",
    "check_certificate_info",
    "check_challenge_slot",
    "check_csr",
    "check_encapsulated_ack",
    "check_key_pair_info",
    "check_measurements",
    "check_multi_key_digests",
    "check_opaque_data",
    "check_requester_context",
    "check_responder_flags",
    "check_selection",
    "check_slot_masks",
    "check_summary_hash",
    "check_transfer_sizes",
    "invalid_response",
    "requester_flags_refusal",
]


def invalid_response(reason: str) -> ProtocolError:
    """A response that breaks the protocol: InvalidResponseCode (the requester's, and the responder's
    for a requester's encapsulated response)."""
    return ProtocolError(ErrorCode.InvalidResponseCode, reason)


_ALG_TYPES = frozenset(AlgType)
"""The AlgTypes an AlgStruct may carry (DHE, AEAD, ReqBaseAsymAlg, KeySchedule)."""


def _one_bit(value: int) -> bool:
    return value != 0 and value & (value - 1) == 0


def _one_offered(selected: int, offered: int) -> bool:
    return _one_bit(selected) and selected & offered != 0


def requester_flags_refusal(flags: int, version: int) -> str | None:
    """Why a requester's flags break a rule at `version`, or None: checked as libspdm_rsp_capabilities.c
    (libspdm_check_request_flag_compatibility) checks them: MUT_AUTH_CAP needs ENCAP_CAP at 1.1
    only, and 1.3 adds the rules of EP_INFO_CAP, EVENT_CAP and MULTI_KEY_CAP. `flags` holds only
    the bits `version` defines (`DEFINED_REQUESTER_FLAGS`), so those three are zero before 1.3."""
    f = CapabilityFlags
    cert, chal = flags & f.CERT_CAP, flags & f.CHAL_CAP
    secure = flags & (f.ENCRYPT_CAP | f.MAC_CAP)
    key_ex, psk = flags & f.KEY_EX_CAP, flags & f.PSK_CAP_MASK
    pub_key_id, mut_auth = flags & f.PUB_KEY_ID_CAP, flags & f.MUT_AUTH_CAP
    ep_info, multi_key = flags & f.EP_INFO_CAP_MASK, flags & f.MULTI_KEY_CAP_MASK
    session_only = f.ENCRYPT_CAP | f.MAC_CAP | f.HANDSHAKE_IN_THE_CLEAR_CAP | f.HBEAT_CAP | f.KEY_UPD_CAP | f.EVENT_CAP
    rules = (
        (psk == f.PSK_CAP_MASK or psk == f.PSK_CAP_WITH_CONTEXT, "PSK_CAP 10b and 11b are reserved for a requester"),
        (bool(key_ex or psk) and not secure, "KEY_EX_CAP/PSK_CAP without ENCRYPT_CAP or MAC_CAP"),
        (not (key_ex or psk) and bool(flags & session_only), "session capabilities without KEY_EX_CAP or PSK_CAP"),
        (not key_ex and bool(psk) and bool(flags & f.HANDSHAKE_IN_THE_CLEAR_CAP), "PSK only, handshake in the clear"),
        (bool(cert and pub_key_id), "CERT_CAP and PUB_KEY_ID_CAP together"),
        (  # 1.3: a key that only signs ENDPOINT_INFO needs neither
            bool(cert or pub_key_id) and not (chal or key_ex) and ep_info != f.EP_INFO_CAP_SIG,
            "a certificate or key, no CHAL_CAP, KEY_EX_CAP or EP_INFO_CAP_SIG",
        ),
        (not (cert or pub_key_id) and bool(chal or mut_auth), "CHAL_CAP or MUT_AUTH_CAP without a certificate or key"),
        (not (cert or pub_key_id) and ep_info == f.EP_INFO_CAP_SIG, "EP_INFO_CAP_SIG without a certificate or key"),
        (bool(mut_auth) and not (key_ex or chal), "MUT_AUTH_CAP without KEY_EX_CAP or CHAL_CAP"),
        (version == 0x11 and bool(mut_auth) and not flags & f.ENCAP_CAP, "MUT_AUTH_CAP without ENCAP_CAP (SPDM 1.1)"),
        (ep_info == f.EP_INFO_CAP_MASK, "EP_INFO_CAP 11b is reserved"),
        (multi_key == f.MULTI_KEY_CAP_MASK, "MULTI_KEY_CAP 11b is reserved"),
        (bool(multi_key) and bool(pub_key_id or not cert), "MULTI_KEY_CAP without CERT_CAP, or with PUB_KEY_ID_CAP"),
    )
    return next((reason for broken, reason in rules if broken), None)


def check_capabilities(asked: GetCapabilities, answer: Capabilities) -> None:
    """CAPABILITIES as a requester takes it (libspdm_req_get_capabilities.c): flags that agree, the 1.2
    transfer sizes, a CTExponent in range, and a 1.3 Supported Algorithms block only when the request
    asked for one (DSP0274 1.3 "CAPABILITIES response": Param1 bit 0 answers the request's bit 0)."""
    check_responder_flags(answer.flags, answer.version)
    check_transfer_sizes(answer, answer.flags)
    if answer.ct_exponent > MAX_CT_EXPONENT:
        raise NegotiationError(f"CTExponent {answer.ct_exponent} is over {MAX_CT_EXPONENT}")
    if answer.supported_algorithms is not None and not asked.supported_algorithms_requested:
        raise invalid_response("CAPABILITIES lists Supported Algorithms that GET_CAPABILITIES did not ask for")


def check_responder_flags(flags: int, version: int) -> None:
    """A responder's CAPABILITIES flags as libspdm_req_get_capabilities.c (validate_responder_capability)
    accepts them at `version`: each rule from the version that brings it, on the flags as sent."""
    reason = _responder_flags_refusal(flags, version)
    if reason is not None:
        raise NegotiationError(f"CAPABILITIES: {reason}")


def _responder_flags_refusal(flags: int, version: int) -> str | None:
    """The first rule `flags` break at `version`, or None."""
    f = CapabilityFlags
    meas = flags & f.MEAS_CAP_MASK
    signed_meas = meas == f.MEAS_CAP_SIG
    cert, chal = bool(flags & f.CERT_CAP), bool(flags & f.CHAL_CAP)
    if meas == f.MEAS_CAP_MASK:
        return "MEAS_CAP 11b is reserved"
    if flags & f.MEAS_FRESH_CAP and not meas:
        return "MEAS_FRESH_CAP without MEAS_CAP"
    if version == 0x10:
        if signed_meas and not cert:
            return "signed measurements without CERT_CAP"
        if not signed_meas and cert != chal:
            return "CERT_CAP and CHAL_CAP differ, measurements unsigned (SPDM 1.0)"
        return None
    key_ex, psk = bool(flags & f.KEY_EX_CAP), flags & f.PSK_CAP_MASK
    sessions = key_ex or bool(psk)
    key = cert or bool(flags & f.PUB_KEY_ID_CAP)
    mut_auth, set_cert, csr = bool(flags & f.MUT_AUTH_CAP), bool(flags & f.SET_CERT_CAP), bool(flags & f.CSR_CAP)
    ep_info, multi_key = flags & f.EP_INFO_CAP_MASK, flags & f.MULTI_KEY_CAP_MASK
    signs_ep_info = version >= 0x13 and bool(ep_info & f.EP_INFO_CAP_SIG)
    session_only = f.ENCRYPT_CAP | f.MAC_CAP | f.HANDSHAKE_IN_THE_CLEAR_CAP | f.HBEAT_CAP | f.KEY_UPD_CAP
    key_pair_info = f.GET_KEY_PAIR_INFO_CAP | f.SET_KEY_PAIR_INFO_CAP
    rules = (
        (0x11, psk == f.PSK_CAP_MASK, "PSK_CAP 11b is reserved"),
        (
            0x11,
            sessions and not flags & (f.MAC_CAP | f.ENCRYPT_CAP),
            "KEY_EX_CAP/PSK_CAP without MAC_CAP or ENCRYPT_CAP",
        ),
        (
            0x11,
            not sessions and bool(flags & session_only),
            "ENCRYPT_CAP, MAC_CAP, HANDSHAKE_IN_THE_CLEAR_CAP, HBEAT_CAP or KEY_UPD_CAP without KEY_EX_CAP or PSK_CAP",
        ),
        (0x13, not sessions and bool(flags & f.EVENT_CAP), "EVENT_CAP without KEY_EX_CAP or PSK_CAP"),
        (
            0x11,
            bool(psk) and not key_ex and bool(flags & f.HANDSHAKE_IN_THE_CLEAR_CAP),
            "HANDSHAKE_IN_THE_CLEAR_CAP with PSK_CAP but no KEY_EX_CAP",
        ),
        (0x11, cert and bool(flags & f.PUB_KEY_ID_CAP), "CERT_CAP and PUB_KEY_ID_CAP together"),
        (
            0x11,
            key and not (chal or key_ex or signed_meas or signs_ep_info),
            "CERT_CAP or PUB_KEY_ID_CAP, yet nothing uses the key (CHAL_CAP, KEY_EX_CAP, signed measurements, "
            "from 1.3 signed endpoint info)",
        ),
        (
            0x11,
            not key and (chal or key_ex or signed_meas or mut_auth),
            "CHAL_CAP, KEY_EX_CAP, signed measurements or MUT_AUTH_CAP without CERT_CAP or PUB_KEY_ID_CAP",
        ),
        (0x13, not key and ep_info == f.EP_INFO_CAP_SIG, "signed EP_INFO_CAP without CERT_CAP or PUB_KEY_ID_CAP"),
        (0x11, mut_auth and not (key_ex or chal), "MUT_AUTH_CAP without KEY_EX_CAP or CHAL_CAP"),
        (0x12, not cert and bool(flags & f.ALIAS_CERT_CAP), "ALIAS_CERT_CAP without CERT_CAP"),
        (0x12, not cert and set_cert, "SET_CERT_CAP without CERT_CAP"),
        (0x12, csr and not set_cert, "CSR_CAP without SET_CERT_CAP"),
        (
            0x12,
            bool(flags & f.CERT_INSTALL_RESET_CAP) and not (csr or set_cert),
            "CERT_INSTALL_RESET_CAP without CSR_CAP or SET_CERT_CAP",
        ),
        (0x13, ep_info == f.EP_INFO_CAP_MASK, "EP_INFO_CAP 11b is reserved"),
        (0x13, multi_key == f.MULTI_KEY_CAP_MASK, "MULTI_KEY_CAP 11b is reserved"),
        (
            0x13,
            bool(multi_key) and not (cert and flags & f.GET_KEY_PAIR_INFO_CAP),
            "MULTI_KEY_CAP without CERT_CAP and GET_KEY_PAIR_INFO_CAP",
        ),
        (
            0x13,
            bool(flags & f.PUB_KEY_ID_CAP) and bool(multi_key or flags & key_pair_info),
            "PUB_KEY_ID_CAP with MULTI_KEY_CAP, GET_KEY_PAIR_INFO_CAP or SET_KEY_PAIR_INFO_CAP",
        ),
    )
    for since, broken, reason in rules:
        if version >= since and broken:
            return reason
    if version == 0x11 and mut_auth and not flags & f.ENCAP_CAP:
        return "MUT_AUTH_CAP without ENCAP_CAP (SPDM 1.1)"
    return None


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


def check_transfer_size_settings(message: GetCapabilities | Capabilities, flags: int) -> None:
    """`check_transfer_sizes` of a configuration, on the (GET_)CAPABILITIES it would send at its highest
    version: a ValueError before any peer sees it, since the peer would refuse every connection."""
    try:
        check_transfer_sizes(message, flags)
    except NegotiationError as exc:
        raise ValueError(str(exc)) from None


def check_selection(offer: NegotiateAlgorithms, chosen: Algorithms, negotiated: Negotiated) -> None:
    """Every selection is one bit among what was offered, or none where the capabilities allow it
    (`required_selections`); no extended algorithm (none is offered) and only the defined AlgTypes,
    as libspdm_req_negotiate_algorithms.c checks."""
    if chosen.ext_asym or chosen.ext_hash:
        raise NegotiationError(
            f"ALGORITHMS: ExtAsymSelCount {len(chosen.ext_asym)}, ExtHashSelCount {len(chosen.ext_hash)}: "
            "no extended algorithm was offered"
        )
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
    _check_measurement_selection(offer, chosen, negotiated)
    offered = {s.alg_type: s.alg_supported for s in offer.alg_structs}
    previous = 0
    for struct in chosen.alg_structs:
        if struct.alg_type not in _ALG_TYPES:
            raise NegotiationError(f"ALGORITHMS: AlgStruct AlgType {struct.alg_type} is not defined")
        if struct.ext:
            name = AlgType(struct.alg_type).name
            raise NegotiationError(f"ALGORITHMS: AlgStruct {name} has ExtAlgCount {len(struct.ext)}")
        if struct.alg_type <= previous:
            raise NegotiationError("ALGORITHMS: AlgStruct types are not in increasing order")
        previous = struct.alg_type
        if struct.alg_supported and not _one_offered(struct.alg_supported, offered.get(struct.alg_type, 0)):
            name = AlgType(struct.alg_type).name
            raise NegotiationError(f"ALGORITHMS: AlgStruct {name} selects 0x{struct.alg_supported:x}, not offered")
    selected = {s.alg_type for s in chosen.alg_structs if s.alg_supported}
    missing = sorted(required.alg_structs - selected)
    if missing:
        name = AlgType(missing[0]).name
        raise NegotiationError(f"ALGORITHMS: no {name} selected, yet both sides' capabilities need one")


def _check_measurement_selection(offer: NegotiateAlgorithms, chosen: Algorithms, negotiated: Negotiated) -> None:
    """MeasurementSpecificationSel is DMTF when the responder has MEAS_CAP and a specification was
    offered, else 0 (libspdm_req_negotiate_algorithms.c); MeasurementHashAlgo is one known algorithm
    then, 0 without MEAS_CAP (DSP0274 ALGORITHMS), and never more than one bit."""
    spec, algo = chosen.measurement_specification_sel, chosen.measurement_hash_algo
    measures = bool(negotiated.responder_measurement_cap)
    if algo and not _one_bit(algo):
        raise NegotiationError(f"ALGORITHMS: MeasurementHashAlgo 0x{algo:x} is not one bit")
    if measures and offer.measurement_specification:
        if spec != MeasurementSpecification.DMTF:
            raise NegotiationError("ALGORITHMS: the measurement specification is not DMTF")
        try:
            measurement_hash_size(algo)
        except NegotiationError as error:
            raise NegotiationError(f"ALGORITHMS: {error}, yet the responder has MEAS_CAP") from None
    elif spec:
        why = "no measurement specification offered" if measures else "no MEAS_CAP"
        raise NegotiationError(f"ALGORITHMS: MeasurementSpecificationSel 0x{spec:02x} with {why}")
    if algo and not measures:
        raise NegotiationError(f"ALGORITHMS: MeasurementHashAlgo 0x{algo:x} without MEAS_CAP")


def check_requester_context(asked: bytes | None, answer: ChallengeAuth | Measurements) -> None:
    """1.3 CHALLENGE_AUTH and MEASUREMENTS echo the request's RequesterContext."""
    if answer.requester_context != asked:
        raise invalid_response(f"{answer.name} does not echo the request's RequesterContext")


def check_challenge_slot(asked: int, answer: ChallengeAuth) -> None:
    """CHALLENGE_AUTH answers for the slot CHALLENGE named: its CertChainHash and signature are that slot's."""
    if answer.slot_id != asked:
        raise invalid_response(f"CHALLENGE_AUTH for slot {answer.slot_id}, asked {asked}")


def check_csr(csr: bytes) -> None:
    """CSR's request is a DER PKCS #10 request signed by the key it names (the device proves it holds
    the key it asks a certificate for)."""
    try:
        request = x509.load_der_x509_csr(csr)
        signed = request.is_signature_valid
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as error:
        raise invalid_response(f"CSR is not a DER PKCS #10 request: {error}") from None
    if not signed:
        raise VerificationError("the CSR's signature does not verify with the public key it names")


def check_slot_masks(answer: Digests) -> None:
    """1.3 DIGESTS: every provisioned slot (Param2) is a supported one (Param1), as libspdm_req_get_digests.c checks."""
    if answer.version >= 0x13 and answer.supported_slot_mask & answer.slot_mask != answer.slot_mask:
        provisioned, supported = answer.slot_mask, answer.supported_slot_mask
        raise invalid_response(f"DIGESTS: provisioned slots 0x{provisioned:02x} outside supported 0x{supported:02x}")


def check_opaque_data(answer: ChallengeAuth | Measurements, negotiated: Negotiated) -> None:
    """From 1.2 with OpaqueDataFmt1, non-empty OpaqueData is a general opaque data table
    (`spdm.messages.opaque.check_general_opaque_data`, libspdm's rule)."""
    opaque = answer.opaque_data
    if not opaque or not negotiated.general_opaque_data:
        return
    try:
        check_general_opaque_data(opaque)
    except DecodeError as error:
        raise invalid_response(f"{answer.name} OpaqueData is not a general opaque data table: {error}") from None


def check_measurements(ask: GetMeasurements, answer: Measurements, negotiated: Negotiated) -> None:
    """The answer as libspdm_req_get_measurements.c checks it: a count of 1 to 254; "all" returns 1
    to 254 blocks; each block has an index of 1 to 254, once, and the negotiated
    MeasurementSpecification; DMTF digests have the negotiated measurement hash size; an unsigned
    answer from 1.2 reports no content change; the OpaqueData is well formed (`check_opaque_data`)."""
    indices = [b.index for b in answer.blocks]
    if len(set(indices)) != len(indices):
        raise invalid_response("MEASUREMENTS repeats an index")
    if ask.operation == 0 and indices:
        raise invalid_response("MEASUREMENTS returns blocks for a count request")
    if ask.operation == 0 and not 0 < answer.total_indices < ALL_MEASUREMENTS:
        raise invalid_response(f"MEASUREMENTS counts {answer.total_indices} measurements: 1 to 254 is a count")
    if not ask.signature_requested and answer.content_changed:
        raise invalid_response("an unsigned MEASUREMENTS reports a content change (only a signed one may)")
    if ask.operation == ALL_MEASUREMENTS and not 0 < len(indices) < 0xFF:
        raise invalid_response(f"MEASUREMENTS of all measurements with NumberOfBlocks {len(indices)}")
    if 0 < ask.operation < ALL_MEASUREMENTS and indices != [ask.operation]:
        raise invalid_response(f"MEASUREMENTS for index {ask.operation} returns {indices}")
    if ask.signature_requested and answer.slot_id != ask.slot_id:
        raise invalid_response("MEASUREMENTS names another slot")
    size = _measurement_digest_size(negotiated.measurement_hash_algo)
    for block in answer.blocks:
        if not 0 < block.index < ALL_MEASUREMENTS:
            raise invalid_response(f"MEASUREMENTS block index {block.index}: a block index is 1 to 254")
        if block.specification != negotiated.measurement_specification:
            raise invalid_response(
                f"MEASUREMENTS block {block.index} has MeasurementSpecification 0x{block.specification:02x},"
                f" not the negotiated 0x{negotiated.measurement_specification:02x}"
            )
        value = block.measurement
        if isinstance(value, DmtfMeasurement) and not value.is_raw_bit_stream and size and len(value.value) != size:
            raise VerificationError(
                f"measurement {block.index}: a {len(value.value)}-byte digest for a {size}-byte measurement hash"
            )
    check_opaque_data(answer, negotiated)


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
    if not hmac.compare_digest(expected, summary):
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


def check_encapsulated_ack(ack: EncapsulatedResponseAck, request_id: int) -> None:
    """ENCAPSULATED_RESPONSE_ACK as libspdm_req_encap_request.c takes it after the answer to `request_id`:
    from 1.2 it acknowledges that RequestID; PayloadType ABSENT ends the flow, REQ_SLOT_NUMBER ends it
    naming a requester slot under 8, PRESENT carries the next request; no other PayloadType."""
    if ack.ack_request_id is not None and ack.ack_request_id != request_id:
        acknowledged = ack.ack_request_id
        raise invalid_response(f"ENCAPSULATED_RESPONSE_ACK acknowledges RequestID {acknowledged}, not {request_id}")
    if ack.payload_type == PayloadType.ABSENT:
        return
    if ack.payload_type == PayloadType.REQ_SLOT_NUMBER:
        if not ack.payload:
            raise invalid_response("ENCAPSULATED_RESPONSE_ACK names no ReqSlotNumber")
        if ack.payload[0] >= SLOT_COUNT:
            raise invalid_response(f"ENCAPSULATED_RESPONSE_ACK names requester slot {ack.payload[0]}")
        return
    if ack.payload_type != PayloadType.PRESENT or not ack.payload:
        raise invalid_response(f"ENCAPSULATED_RESPONSE_ACK PayloadType {ack.payload_type} without a request")


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
