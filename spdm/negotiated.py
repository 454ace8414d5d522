"""The outcome of VCA (version, capabilities, algorithms) as one immutable value.

Everything that depends on negotiation (codec sizes, transcripts, crypto) reads it from here,
so no module keeps its own copy of "the hash size".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from spdm.certs import CertModel
from spdm.crypto import HashSuite, hash_suite
from spdm.errors import NegotiationError, ProtocolError
from spdm.messages.codes import (
    AlgType,
    CapabilityFlags,
    CertificateInfo,
    ErrorCode,
    KeyScheduleAlgo,
    KeyUsage,
    MeasurementSpecification,
    OtherParams,
    asym_signature_size,
    dhe_exchange_size,
    hash_size,
)
from spdm.messages.context import CodecContext
from spdm.messages.negotiation import (
    SPDM_VERSIONS,
    Algorithms,
    Capabilities,
    GetCapabilities,
    NegotiateAlgorithms,
    has_multi_key_conn,
    has_other_params,
)

__all__ = [
    "SIGNING_CAPABILITIES",
    "Negotiated",
    "RequiredSelections",
    "check_key_usage",
    "check_multi_key_connection",
    "mel_specification_selection",
    "multi_key_connection",
    "required_selections",
    "uses_alg_struct",
]

_F = CapabilityFlags
_ALG_STRUCT_USERS: dict[int, tuple[int, ...]] = {
    AlgType.DHE: (_F.KEY_EX_CAP,),
    AlgType.AEAD: (_F.ENCRYPT_CAP, _F.MAC_CAP),
    AlgType.REQ_BASE_ASYM_ALG: (_F.MUT_AUTH_CAP,),
    AlgType.KEY_SCHEDULE: (_F.KEY_EX_CAP, _F.PSK_CAP_MASK),
}
"""The capabilities that use each AlgStruct type (PSK_CAP_MASK: PSK with or without context)."""
SIGNING_CAPABILITIES = _F.CERT_CAP | _F.CHAL_CAP | _F.MEAS_CAP_SIG
"""The responder capabilities that sign with BaseAsymAlgo (and hash with BaseHashAlgo): a responder
with any of them needs a slot to sign with."""


def uses_alg_struct(flags: int, alg_type: int) -> bool:
    """Whether a side with capability `flags` uses AlgStruct `alg_type`: a responder answers the types
    it uses (libspdm_rsp_algorithms.c)."""
    return any(flags & users for users in _ALG_STRUCT_USERS.get(alg_type, ()))


@dataclass(frozen=True, slots=True)
class RequiredSelections:
    """What ALGORITHMS must select (not zero), given both sides' capabilities."""

    base_hash: bool
    base_asym: bool
    alg_structs: frozenset[int]


def required_selections(requester_flags: int, responder_flags: int) -> RequiredSelections:
    """DSP0274 NEGOTIATE_ALGORITHMS, as libspdm's responder and requester both apply it
    (libspdm_rsp_algorithms.c, libspdm_req_negotiate_algorithms.c): a hash when the responder signs
    (CERT_CAP, CHAL_CAP, MEAS_CAP with signatures) or both sides set KEY_EX_CAP or PSK_CAP; a
    signature algorithm when the responder signs or both set KEY_EX_CAP; each AlgStruct type when
    both sides set a capability that uses it. Any other selection may be zero."""

    def both(flags: int) -> bool:
        return bool(requester_flags & flags and responder_flags & flags)

    signs = bool(responder_flags & SIGNING_CAPABILITIES)
    return RequiredSelections(
        base_hash=signs or both(_F.KEY_EX_CAP) or both(_F.PSK_CAP_MASK),
        base_asym=signs or both(_F.KEY_EX_CAP),
        alg_structs=frozenset(
            alg_type for alg_type, users in _ALG_STRUCT_USERS.items() if any(both(flags) for flags in users)
        ),
    )


def multi_key_connection(flags: int, *, willing: bool) -> bool:
    """Whether the side whose capability `flags` these are uses its key pairs as a multi-key
    connection (1.3): never without MULTI_KEY_CAP, always with MULTI_KEY_CAP_ONLY, and with
    MULTI_KEY_CAP_NEG when the other side is `willing`. The requester decides it for the responder
    (NEGOTIATE_ALGORITHMS' MULTI_KEY_CONN), the responder for the requester (ALGORITHMS'), the same
    way (libspdm_req_negotiate_algorithms.c, libspdm_rsp_algorithms.c). Both bits set is reserved:
    `NegotiationError`."""
    caps = flags & CapabilityFlags.MULTI_KEY_CAP_MASK
    if caps == CapabilityFlags.MULTI_KEY_CAP_MASK:
        raise NegotiationError("MULTI_KEY_CAP 11b is reserved")
    if caps == CapabilityFlags.MULTI_KEY_CAP_ONLY:
        return True
    return bool(caps) and willing


def check_multi_key_connection(own_flags: int, connection: bool) -> None:
    """The other side's MULTI_KEY_CONN for our key pairs must fit our own MULTI_KEY_CAP: a side
    with MULTI_KEY_CAP_ONLY has no other kind of connection, and one without MULTI_KEY_CAP has no
    multi-key one (libspdm refuses both in the same two places). `NegotiationError` otherwise."""
    caps = own_flags & CapabilityFlags.MULTI_KEY_CAP_MASK
    if not connection and caps == CapabilityFlags.MULTI_KEY_CAP_ONLY:
        raise NegotiationError("MULTI_KEY_CONN is clear, yet this side has MULTI_KEY_CAP_ONLY")
    if connection and not caps:
        raise NegotiationError("MULTI_KEY_CONN is set, yet this side has no MULTI_KEY_CAP")


def mel_specification_selection(responder_flags: int, offered: int) -> int:
    """ALGORITHMS MELspecificationSel (1.3): DMTF when the responder has MEL_CAP and the requester
    offered it, else 0. The responder answers with it and the requester accepts nothing else
    (libspdm_rsp_algorithms.c, libspdm_req_negotiate_algorithms.c)."""
    if responder_flags & CapabilityFlags.MEL_CAP and offered & MeasurementSpecification.DMTF:
        return int(MeasurementSpecification.DMTF)
    return 0


def _size(table: Callable[[int], int], value: int) -> int | None:
    """The size for one selected algorithm bit; None when nothing (or nonsense) was selected."""
    try:
        return table(value)
    except NegotiationError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    """Version, both sides' capabilities and the selected algorithms (raw wire values)."""

    version: int
    requester_flags: int = 0
    responder_flags: int = 0
    requester_ct_exponent: int = 0
    responder_ct_exponent: int = 0
    measurement_specification: int = 0
    measurement_hash_algo: int = 0
    base_asym_algo: int = 0
    base_hash_algo: int = 0
    dhe_group: int = 0
    aead_suite: int = 0
    req_base_asym_alg: int = 0
    key_schedule: int = 0
    other_params: int = 0
    """ALGORITHMS OtherParamsSelection (1.2 on; 0 before)."""
    requester_data_transfer_size: int | None = None
    requester_max_spdm_msg_size: int | None = None
    responder_data_transfer_size: int | None = None
    responder_max_spdm_msg_size: int | None = None
    """The 1.2 transfer sizes of GET_CAPABILITIES and CAPABILITIES (None before 1.2)."""
    responder_multi_key: bool = False
    """1.3 ResponderMultiKeyConn: NEGOTIATE_ALGORITHMS OtherParamsSupport MULTI_KEY_CONN (libspdm's
    multi_key_conn_rsp). The responder's DIGESTS then carry key pair fields."""
    requester_multi_key: bool = False
    """1.3 RequesterMultiKeyConn: ALGORITHMS OtherParamsSelection MULTI_KEY_CONN (libspdm's
    multi_key_conn_req). The requester's encapsulated DIGESTS then carry key pair fields."""
    mel_specification: int = 0
    """1.3 ALGORITHMS MELspecificationSel (0: no measurement extension log)."""
    # decode contexts by (summary hash requested, signature requested), made once
    _contexts: dict[tuple[bool, bool], CodecContext] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_vca(
        cls,
        version: int,
        request: GetCapabilities,
        response: Capabilities,
        algorithms: Algorithms,
        offer: NegotiateAlgorithms | None = None,
    ) -> Negotiated:
        """Collect the negotiated state from the messages of VCA: the one way every side builds it
        (the requester from what it sent and received, the responder from what it received and
        answered, a verifier and a flow decoder from what went by). Without the `offer`, the
        responder has no multi-key connection. A `version` that is no SPDM version raises
        `ProtocolError` VersionMismatch (a captured ALGORITHMS may carry any).

        Every field is a plain int, also where a side built its own messages from enum members: each
        bit test on an IntFlag member is an enum operation (about 1 us; 4% of a PSK session)."""
        if version not in SPDM_VERSIONS:
            raise ProtocolError(ErrorCode.VersionMismatch, f"ALGORITHMS at version 0x{version:02x}, no SPDM version")
        return cls(
            version=version,
            requester_flags=int(request.flags or 0),
            responder_flags=int(response.flags),
            requester_ct_exponent=request.ct_exponent or 0,
            responder_ct_exponent=response.ct_exponent,
            measurement_specification=int(algorithms.measurement_specification_sel),
            measurement_hash_algo=int(algorithms.measurement_hash_algo),
            base_asym_algo=int(algorithms.base_asym_sel),
            base_hash_algo=int(algorithms.base_hash_sel),
            dhe_group=int(algorithms.selected(AlgType.DHE)),
            aead_suite=int(algorithms.selected(AlgType.AEAD)),
            req_base_asym_alg=int(algorithms.selected(AlgType.REQ_BASE_ASYM_ALG)),
            key_schedule=int(algorithms.selected(AlgType.KEY_SCHEDULE)),
            other_params=int(algorithms.other_params_selection) if has_other_params(version) else 0,
            requester_data_transfer_size=request.data_transfer_size,
            requester_max_spdm_msg_size=request.max_spdm_msg_size,
            responder_data_transfer_size=response.data_transfer_size,
            responder_max_spdm_msg_size=response.max_spdm_msg_size,
            responder_multi_key=has_multi_key_conn(version)
            and offer is not None
            and offer.other_params_support & OtherParams.MULTI_KEY_CONN != 0,
            requester_multi_key=has_multi_key_conn(version)
            and algorithms.other_params_selection & OtherParams.MULTI_KEY_CONN != 0,
            mel_specification=algorithms.mel_specification_sel or 0,
        )

    def both(self, flag: int) -> bool:
        """A session feature is in effect only when both sides set its capability bits (`flag`, a
        CapabilityFlags member or its value)."""
        bits = int(flag)
        return self.requester_flags & self.responder_flags & bits == bits

    def requester_has(self, flag: int) -> bool:
        """The requester set some bit of `flag` (PSK_CAP_MASK: PSK with or without context)."""
        return self.requester_flags & int(flag) != 0

    def responder_has(self, flag: int) -> bool:
        """The responder set some bit of `flag` (PSK_CAP_MASK: PSK with or without context)."""
        return self.responder_flags & int(flag) != 0

    def session_refusal(self) -> str | None:
        """Why this connection can hold no session, or None when it can: DSP0277 secured messages always
        carry a MAC, so both sides set MAC_CAP (libspdm requires it too); from 1.2 ALGORITHMS selected
        OpaqueDataFmt1 (libspdm_rsp_key_exchange.c, libspdm_rsp_psk_exchange_rsp.c and both requester
        files refuse a session without it); and ALGORITHMS selected an AEAD suite and the SPDM key
        schedule. The requester raises it (NegotiationError) before asking for a session; the responder
        answers a session request with it (InvalidRequest)."""
        if not self.both(CapabilityFlags.MAC_CAP):
            return "MAC_CAP is not set by both sides, so no secured message can be sent"
        if has_other_params(self.version) and not self.general_opaque_data:
            return "ALGORITHMS selected no OpaqueDataFmt1, which a session's OpaqueData needs from SPDM 1.2"
        if not self.aead_suite or self.key_schedule != KeyScheduleAlgo.SPDM_KEY_SCHEDULE:
            return "ALGORITHMS selected no AEAD suite or no SPDM key schedule"
        return None

    @property
    def encrypts_records(self) -> bool:
        """Both sides set ENCRYPT_CAP: secured records are encrypted (else MAC-only)."""
        return self.both(CapabilityFlags.ENCRYPT_CAP)

    @property
    def handshake_in_the_clear(self) -> bool:
        """Both sides set HANDSHAKE_IN_THE_CLEAR_CAP: FINISH (and the encapsulated flow) travel in the
        clear, and ResponderVerifyData moves from KEY_EXCHANGE_RSP to FINISH_RSP."""
        return self.both(CapabilityFlags.HANDSHAKE_IN_THE_CLEAR_CAP)

    @property
    def heartbeats(self) -> bool:
        """Both sides set HBEAT_CAP: *_EXCHANGE_RSP may carry a HeartbeatPeriod (else it is 0)."""
        return self.both(CapabilityFlags.HBEAT_CAP)

    @property
    def general_opaque_data(self) -> bool:
        """OpaqueData fields use the 1.2 general format (OpaqueDataFmt1 selected), not DSP0277 1.1's."""
        return has_other_params(self.version) and self.other_params & int(OtherParams.OPAQUE_DATA_FMT_1) != 0

    @property
    def certificate_model(self) -> CertModel:
        """The responder's certificate model: alias when its 1.2 CAPABILITIES set ALIAS_CERT_CAP (DSP0274 1.2;
        libspdm_verify_peer_cert_chain_buffer_integrity), else device."""
        alias = self.version >= 0x12 and self.responder_has(CapabilityFlags.ALIAS_CERT_CAP)
        return CertModel.ALIAS if alias else CertModel.DEVICE

    @property
    def certificate_info(self) -> CertificateInfo:
        """`certificate_model` as the 1.3 CertificateInfo value (DIGESTS, GET_CSR, SET_CERTIFICATE)."""
        alias = self.certificate_model is CertModel.ALIAS
        return CertificateInfo.ALIAS_CERT if alias else CertificateInfo.DEVICE_CERT

    @property
    def responder_measurement_cap(self) -> int:
        """MEAS_CAP: 0 none, 1 without signature, 2 with signature."""
        return (self.responder_flags & int(CapabilityFlags.MEAS_CAP_MASK)) >> 3

    @property
    def signs_measurements(self) -> bool:
        """MEAS_CAP 10b: the responder signs MEASUREMENTS (11b is reserved, refused at CAPABILITIES)."""
        return self.responder_has(CapabilityFlags.MEAS_CAP_SIG)

    @property
    def base_hash_suite(self) -> HashSuite | None:
        """The selected hash's suite, which every transcript hashes with; None when ALGORITHMS selected
        none (only a responder that neither signs nor holds sessions may: `required_selections`)."""
        return hash_suite(self.base_hash_algo) if self.base_hash_algo else None

    @property
    def hash_size(self) -> int | None:
        return _size(hash_size, self.base_hash_algo)

    @property
    def signature_size(self) -> int | None:
        return _size(asym_signature_size, self.base_asym_algo)

    @property
    def req_signature_size(self) -> int | None:
        return _size(asym_signature_size, self.req_base_asym_alg)

    @property
    def dhe_size(self) -> int | None:
        return _size(dhe_exchange_size, self.dhe_group)

    def codec_context(self, *, summary_hash_type: int = 0, signature_requested: bool = False) -> CodecContext:
        """The decode context for a message answering a request with these parameters."""
        key = (summary_hash_type != 0, signature_requested)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = self._codec_context(*key)
        return context

    def requester_response_context(self, *, signature_requested: bool = False) -> CodecContext:
        """The decode context of the requester's answers to encapsulated requests: its signatures are
        ReqBaseAsymAlg's, and its DIGESTS carry key pair fields on its own multi-key connection
        (RequesterMultiKeyConn)."""
        context = self.codec_context(signature_requested=signature_requested)
        return replace(context, signature_size=self.req_signature_size, multi_key=self.requester_multi_key)

    def _codec_context(self, summary_requested: bool, signature_requested: bool) -> CodecContext:
        return CodecContext(
            hash_size=self.hash_size,
            signature_size=self.signature_size,
            req_signature_size=self.req_signature_size,
            dhe_size=self.dhe_size,
            measurement_summary_hash=summary_requested and self.responder_measurement_cap != 0,
            signature_requested=signature_requested,
            handshake_in_the_clear=self.handshake_in_the_clear,
            multi_key=self.responder_multi_key,
        )


def check_key_usage(
    negotiated: Negotiated, slot_usage: int, slot: int, usage: KeyUsage, *, requester: bool = False
) -> None:
    """On a 1.3 multi-key connection a slot's key signs only for the usages its KeyUsageMask allows,
    InvalidRequest otherwise. The responder's slots on its multi-key connection (libspdm_rsp_challenge_auth.c,
    _measurements.c, _key_exchange.c, _endpoint_info.c); with `requester`, the requester's own slots on
    the requester's multi-key connection (libspdm_req_encap_challenge_auth.c, _encap_endpoint_info.c,
    and the slot that signs FINISH: libspdm_req_key_exchange.c, libspdm_req_encap_request.c)."""
    multi_key = negotiated.requester_multi_key if requester else negotiated.responder_multi_key
    if multi_key and not slot_usage & usage:
        reason = f"slot {slot}'s KeyUsageMask 0x{slot_usage:04x} does not allow {usage.name}"
        raise ProtocolError(ErrorCode.InvalidRequest, reason)
