"""Hypothesis strategies for every SPDM message the codecs know, the records nested in them and opaque data.

Each message strategy is named after its class in snake_case (`challenge_auth` for
`ChallengeAuth`) and takes an optional `CodecContext`. A layout that depends on negotiation
(hash, signature and DHE sizes, optional fields) is drawn consistent with the given context, so
``decode(encode(msg), context) == msg``; given no context, such a strategy draws one first, and the
caller who needs it should use `any_message` (a `Sample` keeps the two together). A context that
lacks a size a message cannot do without raises `hypothesis.errors.InvalidArgument`.

Every shape is produced: every negotiated size, empty and maximal lists and lengths (up to each
codec bound), reserved fields sometimes non-zero, every SPDM version that defines the message
(0x10 to 0x13; from 0x11, 0x12 or 0x13 for the messages those versions add) with the fields and
bits of that version, optional fields present and absent. Large variable fields are filled from a
short repeated pattern so that drawing them stays cheap.

`STRATEGIES` (and `strategy_for`) maps each registered message class to its strategy;
`mutations` turns valid wire bytes into near-valid ones for never-crash fuzzing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, cast

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.strategies import SearchStrategy
except ModuleNotFoundError as missing:  # the one module of `spdm` that needs hypothesis: say how to get it
    raise ModuleNotFoundError(
        f"spdm.testing.strategies needs hypothesis: pip install 'pyspdm[fuzz]' ({missing})", name=missing.name
    ) from missing

from spdm.messages import Code, CodecContext, ErrorCode, Message, encode, registry
from spdm.messages.bounds import MAX_OPAQUE_LENGTH, NONCE_SIZE
from spdm.messages.certificates import CERT_MODEL_MASK, SLOT_COUNT, Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import REQUESTER_CONTEXT_SIZE, Challenge, ChallengeAuth, has_requester_context
from spdm.messages.chunk import ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, DheGroup, asym_signature_size, dhe_exchange_size, hash_size
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
    PayloadType,
    has_ack_request_id,
)
from spdm.messages.endpoint_info import SIGNATURE_REQUESTED, EndpointInfo, GetEndpointInfo
from spdm.messages.error import (
    MAX_EXTENDED_ERROR_DATA,
    ErrorResponse,
    LargeResponse,
    RespondIfReady,
    ResponseNotReady,
    ResponseTooLarge,
)
from spdm.messages.events import (
    Event,
    EventAck,
    EventGroup,
    EventLostDetail,
    EventTypeEntry,
    GetSupportedEventTypes,
    SendEvent,
    SubscribeEventTypes,
    SubscribeEventTypesAck,
    SupportedEventTypes,
)
from spdm.messages.key_exchange import EVENT_ALL_POLICY, RANDOM_SIZE, Finish, FinishRsp, KeyExchange, KeyExchangeRsp
from spdm.messages.key_pairs import (
    ERASE,
    GetKeyPairInfo,
    KeyPairInfo,
    KeyPairSettings,
    SetKeyPairInfo,
    SetKeyPairInfoAck,
)
from spdm.messages.measurements import DmtfMeasurement, GetMeasurements, MeasurementBlock, Measurements
from spdm.messages.mel import MAX_MEL_SIZE, GetMeasurementExtensionLog, MeasurementExtensionLog, MelEntry, MelLog
from spdm.messages.negotiation import (
    ALGORITHMS_FIXED_SIZE,
    MAX_ALG_STRUCT_EXTS,
    MAX_EXT_ASYM_PLUS_HASH,
    MIN_DATA_TRANSFER_SIZE,
    NEGOTIATE_ALGORITHMS_FIXED_SIZE,
    SPDM_VERSIONS,
    SUPPORTED_ALGORITHMS,
    Algorithms,
    AlgStruct,
    Capabilities,
    ExtAlg,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
    SupportedAlgorithms,
    Version,
    has_mel_specification,
    has_requester_capabilities,
    has_transfer_sizes,
    max_algorithms_length,
)
from spdm.messages.opaque import (
    OpaqueElement,
    OpaqueTable,
    SupportedVersionList,
    VersionSelection,
    encode_opaque,
)
from spdm.messages.provisioning import Csr, GetCsr, SetCertificate, SetCertificateRsp, erases_slot
from spdm.messages.psk import (
    MAX_PSK_CONTEXT_LENGTH,
    MAX_PSK_HINT_SIZE,
    PskExchange,
    PskExchangeRsp,
    PskFinish,
    PskFinishRsp,
)
from spdm.messages.session_control import (
    EndSession,
    EndSessionAck,
    Heartbeat,
    HeartbeatAck,
    KeyUpdate,
    KeyUpdateAck,
)
from spdm.messages.vendor import VendorDefinedRequest, VendorDefinedResponse

__all__ = [
    "DHE_SIZES",
    "HASH_SIZES",
    "NEEDS_CONTEXT",
    "SIGNATURE_SIZES",
    "STRATEGIES",
    "MessageStrategy",
    "Sample",
    "alg_struct",
    "algorithms",
    "any_message",
    "capabilities",
    "certificate",
    "challenge",
    "challenge_auth",
    "chunk_get",
    "chunk_response",
    "chunk_send",
    "chunk_send_ack",
    "contexts",
    "csr",
    "deliver_encapsulated_response",
    "digests",
    "dmtf_measurement",
    "encapsulated_request",
    "encapsulated_response_ack",
    "end_session",
    "end_session_ack",
    "endpoint_info",
    "error_response",
    "event",
    "event_ack",
    "event_group",
    "event_lost_detail",
    "ext_alg",
    "finish",
    "finish_rsp",
    "get_capabilities",
    "get_certificate",
    "get_csr",
    "get_digests",
    "get_encapsulated_request",
    "get_endpoint_info",
    "get_key_pair_info",
    "get_measurement_extension_log",
    "get_measurements",
    "get_supported_event_types",
    "get_version",
    "heartbeat",
    "heartbeat_ack",
    "key_exchange",
    "key_exchange_rsp",
    "key_pair_info",
    "key_pair_settings",
    "key_update",
    "key_update_ack",
    "large_response",
    "measurement_block",
    "measurement_extension_log",
    "measurements",
    "mel_entry",
    "mel_log",
    "messages",
    "mutations",
    "negotiate_algorithms",
    "opaque_data",
    "opaque_element",
    "opaque_table",
    "psk_exchange",
    "psk_exchange_rsp",
    "psk_finish",
    "psk_finish_rsp",
    "respond_if_ready",
    "response_not_ready",
    "response_too_large",
    "send_event",
    "set_certificate",
    "set_certificate_rsp",
    "set_key_pair_info",
    "set_key_pair_info_ack",
    "strategy_for",
    "subscribe_event_types",
    "subscribe_event_types_ack",
    "supported_algorithms",
    "supported_event_types",
    "supported_version_list",
    "vendor_defined_request",
    "vendor_defined_response",
    "version",
    "version_selection",
    "wire_messages",
]

T = TypeVar("T")
P = ParamSpec("P")
M = TypeVar("M", bound=Message)
M_co = TypeVar("M_co", bound=Message, covariant=True)


class MessageStrategy(Protocol[M_co]):
    """A message strategy function: ``(context=None) -> SearchStrategy[message class]``."""

    def __call__(self, context: CodecContext | None = None) -> SearchStrategy[M_co]: ...


def _memo(build: Callable[P, T]) -> Callable[P, T]:
    """`build` remembering its results: strategies are immutable, and Hypothesis validates each new
    strategy object on its first draw, which costs more than drawing from a known one."""
    return cast("Callable[P, T]", functools.cache(build))


HASH_SIZES: tuple[int, ...] = tuple(sorted({hash_size(algo) for algo in BaseHashAlgo}))
"""Digest sizes H of every BaseHashAlgo."""
SIGNATURE_SIZES: tuple[int, ...] = tuple(sorted({asym_signature_size(algo) for algo in BaseAsymAlgo}))
"""Signature sizes S of every BaseAsymAlgo (and ReqBaseAsymAlg)."""
DHE_SIZES: tuple[int, ...] = tuple(sorted({dhe_exchange_size(group) for group in DheGroup}))
"""ExchangeData sizes D of every DHE group."""

# codec bounds (see each message module)
_U8, _U16 = 0xFF, 0xFFFF

# variable fields are usually at most this long; the maximal size is drawn on purpose
_TYPICAL = 64


# ---------------------------------------------------------------------------------------------
# building blocks


@_memo
def _uint(maximum: int) -> SearchStrategy[int]:
    return st.integers(0, maximum)


@_memo
def _reserved(maximum: int = _U8) -> SearchStrategy[int]:
    """A reserved or rarely used field: mostly zero, sometimes any value (it must round-trip)."""
    return st.one_of(st.just(0), _uint(maximum))


@_memo
def _usual(values: Sequence[int], maximum: int = _U8) -> SearchStrategy[int]:
    """One of the usual `values`, or any value up to `maximum`."""
    return st.one_of(st.sampled_from(tuple(values)), _uint(maximum))


@_memo
def _bitmask(defined_bits: int, maximum: int) -> SearchStrategy[int]:
    """A flags field: one defined bit, any mix of defined bits, or anything at all."""
    return st.one_of(
        st.sampled_from(tuple(1 << i for i in range(defined_bits))),
        _uint((1 << defined_bits) - 1),
        _uint(maximum),
    )


@_memo
def _versions(first: int = 0x10) -> SearchStrategy[int]:
    """The versions of `SPDM_VERSIONS` from `first`, the one that defines the message."""
    return st.sampled_from(tuple(v for v in SPDM_VERSIONS if v >= first))


@_memo
def _requester_context(version: int) -> SearchStrategy[bytes | None]:
    return _fixed(REQUESTER_CONTEXT_SIZE) if has_requester_context(version) else st.none()


@_memo
@st.composite
def _sizes(draw: st.DrawFn, maximum: int, minimum: int = 0, typical: int = _TYPICAL) -> int:
    """A length in minimum..maximum: mostly up to `typical`, sometimes exactly `maximum`, sometimes any."""
    if maximum <= minimum:
        return minimum
    shape = draw(st.integers(0, 7))
    if shape == 6:
        return maximum
    if shape == 7:
        return draw(st.integers(minimum, maximum))
    return draw(st.integers(minimum, max(minimum, min(maximum, typical))))


@_memo
def _bytes_of(size: int) -> SearchStrategy[bytes]:
    """Exactly `size` bytes: random when short, a repeated random pattern when long."""
    if size <= _TYPICAL:
        return st.binary(min_size=size, max_size=size)
    return st.binary(min_size=1, max_size=16).map(lambda pattern: (pattern * (size // len(pattern) + 1))[:size])


@_memo
def _fixed(size: int) -> SearchStrategy[bytes]:
    """A fixed-size field (nonce, digest, signature, exchange data): random bytes."""
    return st.binary(min_size=size, max_size=size)


@_memo
def _blob(maximum: int, minimum: int = 0, typical: int = _TYPICAL) -> SearchStrategy[bytes]:
    """Variable-length bytes up to `maximum`, the empty and the maximal ones included."""
    return _sizes(maximum, minimum, typical).flatmap(_bytes_of)


@_memo
def _tuples(
    elements: SearchStrategy[T], maximum: int, minimum: int = 0, typical: int = 6
) -> SearchStrategy[tuple[T, ...]]:
    """Tuples of minimum..maximum elements, the empty and the maximal ones included."""
    return _sizes(maximum, minimum, typical).flatmap(lambda size: _tuples_of(elements, size))


@_memo
def _tuples_of(elements: SearchStrategy[T], size: int) -> SearchStrategy[tuple[T, ...]]:
    return st.lists(elements, min_size=size, max_size=size).map(tuple)


def _size(context: CodecContext, key: str, cls: type[Message]) -> int:
    value = getattr(context, key)
    if value is None:
        raise InvalidArgument(f"{cls.__name__} needs a CodecContext with {key}")
    return int(value)


@_memo
def _with_context(
    build: Callable[[CodecContext], SearchStrategy[M]], context: CodecContext | None
) -> SearchStrategy[M]:
    """`build(context)`, or `build` of a drawn context when there is none."""
    if context is None:
        return contexts().flatmap(build)
    return build(context)


# ---------------------------------------------------------------------------------------------
# contexts


@_memo
def contexts() -> SearchStrategy[CodecContext]:
    """Negotiation contexts with realistic sizes (every algorithm's) and every presence flag."""
    return st.builds(
        CodecContext,
        hash_size=st.sampled_from(HASH_SIZES),
        signature_size=st.sampled_from(SIGNATURE_SIZES),
        req_signature_size=st.sampled_from(SIGNATURE_SIZES),
        dhe_size=st.sampled_from(DHE_SIZES),
        measurement_summary_hash=st.booleans(),
        signature_requested=st.booleans(),
        handshake_in_the_clear=st.booleans(),
        multi_key=st.booleans(),
    )


# ---------------------------------------------------------------------------------------------
# GET_VERSION / VERSION, GET_CAPABILITIES / CAPABILITIES, NEGOTIATE_ALGORITHMS / ALGORITHMS


@_memo
def _version_entries() -> SearchStrategy[int]:
    return _usual((0x1000, 0x1100, 0x1200, 0x1101), _U16)


@_memo
def get_version(context: CodecContext | None = None) -> SearchStrategy[GetVersion]:
    return st.builds(GetVersion, version=_versions(), param1=_reserved(), param2=_reserved())


@_memo
def version(context: CodecContext | None = None) -> SearchStrategy[Version]:
    return st.builds(
        Version,
        version=_versions(),
        param1=_reserved(),
        param2=_reserved(),
        reserved=_reserved(),
        entries=_tuples(_version_entries(), _U8, minimum=1, typical=4),
    )


_CAPABILITY_BITS = 32


@_memo
@st.composite
def _transfer_sizes(draw: st.DrawFn, version: int) -> dict[str, int | None]:
    """DataTransferSize and MaxSPDMmsgSize from 1.2 (42 <= DataTransferSize <= MaxSPDMmsgSize), else ``None``."""
    if not has_transfer_sizes(version):
        return {"data_transfer_size": None, "max_spdm_msg_size": None}
    transfer = draw(st.one_of(st.sampled_from((MIN_DATA_TRANSFER_SIZE, 0x1200)), _uint(0xFFFFFFFF)))
    transfer = max(transfer, MIN_DATA_TRANSFER_SIZE)
    largest = draw(st.one_of(st.just(transfer), st.integers(transfer, 0xFFFFFFFF)))
    return {"data_transfer_size": transfer, "max_spdm_msg_size": largest}


@_memo
@st.composite
def _capability_fields(draw: st.DrawFn, version: int) -> dict[str, Any]:
    """The fields GET_CAPABILITIES (from 1.1) and CAPABILITIES share, at `version`."""
    return {
        "version": version,
        "param1": draw(_reserved()),
        "param2": draw(_reserved()),
        "reserved": draw(_reserved()),
        "ct_exponent": draw(_uint(_U8)),
        "reserved2": draw(_reserved(_U16)),
        "flags": draw(_bitmask(_CAPABILITY_BITS, 0xFFFFFFFF)),
        **draw(_transfer_sizes(version)),
    }


@_memo
@st.composite
def _get_capabilities(draw: st.DrawFn) -> GetCapabilities:
    ver = draw(_versions())
    if not has_requester_capabilities(ver):
        return GetCapabilities(
            version=ver,
            param1=draw(_reserved()),
            param2=draw(_reserved()),
            reserved=None,
            ct_exponent=None,
            reserved2=None,
            flags=None,
        )
    return GetCapabilities(**draw(_capability_fields(ver)))


@_memo
def get_capabilities(context: CodecContext | None = None) -> SearchStrategy[GetCapabilities]:
    """1.0 requests (the header alone, 1.1 fields ``None``) and 1.1+ ones (1.2: with the transfer sizes;
    1.3: Param1 bit 0 asking for the supported algorithms, or not)."""
    return _get_capabilities()


@_memo
@st.composite
def _capabilities(draw: st.DrawFn) -> Capabilities:
    fields = draw(_capability_fields(draw(_versions())))
    listed = fields["version"] >= 0x13 and fields["param1"] & SUPPORTED_ALGORITHMS
    return Capabilities(**fields, supported_algorithms=draw(supported_algorithms()) if listed else None)


@_memo
def capabilities(context: CodecContext | None = None) -> SearchStrategy[Capabilities]:
    """Any version's answer (1.2: with the transfer sizes; 1.3: with the supported algorithms when
    Param1 bit 0 says so)."""
    return _capabilities()


@_memo
def ext_alg() -> SearchStrategy[ExtAlg]:
    """An extended algorithm entry (RegistryID, reserved, AlgorithmID)."""
    return st.builds(
        ExtAlg,
        registry_id=_usual((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)),
        reserved=_reserved(),
        algorithm_id=_uint(_U16),
    )


@_memo
def _alg_struct(max_ext: int) -> SearchStrategy[AlgStruct]:
    return st.builds(
        AlgStruct,
        alg_type=_usual((2, 3, 4, 5)),
        alg_supported=_bitmask(6, _U16),
        ext=_tuples(ext_alg(), max_ext, typical=2),
    )


@_memo
def alg_struct() -> SearchStrategy[AlgStruct]:
    """An AlgStruct with 0 to 15 extended algorithms."""
    return _alg_struct(MAX_ALG_STRUCT_EXTS)


@_memo
@st.composite
def _alg_structs(draw: st.DrawFn, budget: int) -> tuple[AlgStruct, ...]:
    """AlgStructs taking at most `budget` 4-byte units (1 each, plus 1 per extended algorithm)."""
    count = draw(_sizes(min(budget, _U8), typical=4))
    structs, used = [], 0
    for i in range(count):
        spare = budget - used - (count - i)  # units left once every remaining struct has its own
        structs.append(draw(_alg_struct(min(MAX_ALG_STRUCT_EXTS, spare))))
        used += 1 + len(structs[-1].ext)
    return tuple(structs)


@_memo
def _reserved_bytes(size: int) -> SearchStrategy[bytes]:
    return st.one_of(st.just(bytes(size)), _fixed(size))


@_memo
@st.composite
def _negotiate_algorithms(draw: st.DrawFn) -> NegotiateAlgorithms:
    ver = draw(_versions())
    budget = (max_algorithms_length(ver) - NEGOTIATE_ALGORITHMS_FIXED_SIZE) // 4
    ext_asym = draw(_tuples(ext_alg(), min(MAX_EXT_ASYM_PLUS_HASH, budget), typical=2))
    budget -= len(ext_asym)
    ext_hash = draw(_tuples(ext_alg(), min(MAX_EXT_ASYM_PLUS_HASH - len(ext_asym), budget), typical=2))
    budget -= len(ext_hash)
    return NegotiateAlgorithms(
        version=ver,
        param2=draw(_reserved()),
        measurement_specification=draw(_usual((0, 1))),
        other_params_support=draw(_usual((0, 1, 2, 3, 0x12))),
        base_asym_algo=draw(_bitmask(12, 0xFFFFFFFF)),
        base_hash_algo=draw(_bitmask(7, 0xFFFFFFFF)),
        reserved2=draw(_reserved_bytes(12)),
        reserved3=draw(_reserved(_U8 if has_mel_specification(ver) else _U16)),
        mel_specification=draw(_usual((0, 1))) if has_mel_specification(ver) else None,
        ext_asym=ext_asym,
        ext_hash=ext_hash,
        alg_structs=draw(_alg_structs(budget)),
    )


@_memo
@st.composite
def supported_algorithms(draw: st.DrawFn) -> SupportedAlgorithms:
    """A 1.3 Supported Algorithms block, within NEGOTIATE_ALGORITHMS' bound on ext algs and AlgStructs."""
    budget = (max_algorithms_length(0x13) - NEGOTIATE_ALGORITHMS_FIXED_SIZE) // 4
    ext_asym = draw(_tuples(ext_alg(), min(MAX_EXT_ASYM_PLUS_HASH, budget), typical=2))
    budget -= len(ext_asym)
    ext_hash = draw(_tuples(ext_alg(), min(MAX_EXT_ASYM_PLUS_HASH - len(ext_asym), budget), typical=2))
    budget -= len(ext_hash)
    return SupportedAlgorithms(
        param2=draw(_reserved()),
        measurement_specification=draw(_usual((0, 1))),
        other_params_support=draw(_usual((0, 2, 0x12))),
        base_asym_algo=draw(_bitmask(12, 0xFFFFFFFF)),
        base_hash_algo=draw(_bitmask(7, 0xFFFFFFFF)),
        reserved2=draw(_reserved_bytes(12)),
        reserved3=draw(_reserved()),
        mel_specification=draw(_usual((0, 1))),
        ext_asym=ext_asym,
        ext_hash=ext_hash,
        alg_structs=draw(_alg_structs(budget)),
    )


@_memo
def negotiate_algorithms(context: CodecContext | None = None) -> SearchStrategy[NegotiateAlgorithms]:
    """Offers up to the Length bound of their version (0x40 for 1.0, 0x80 after), ext algs up to 20."""
    return _negotiate_algorithms()


@_memo
@st.composite
def _algorithms(draw: st.DrawFn) -> Algorithms:
    ver = draw(_versions())
    budget = (max_algorithms_length(ver) - ALGORITHMS_FIXED_SIZE) // 4
    ext_asym = draw(_tuples(ext_alg(), min(1, budget)))
    ext_hash = draw(_tuples(ext_alg(), min(1, budget - len(ext_asym))))
    budget -= len(ext_asym) + len(ext_hash)
    return Algorithms(
        version=ver,
        param2=draw(_reserved()),
        measurement_specification_sel=draw(_usual((0, 1))),
        other_params_selection=draw(_usual((0, 1, 2, 0x12))),
        measurement_hash_algo=draw(_bitmask(8, 0xFFFFFFFF)),
        base_asym_sel=draw(_bitmask(12, 0xFFFFFFFF)),
        base_hash_sel=draw(_bitmask(7, 0xFFFFFFFF)),
        reserved2=draw(_reserved((1 << (88 if has_mel_specification(ver) else 96)) - 1)),
        mel_specification_sel=draw(_usual((0, 1))) if has_mel_specification(ver) else None,
        reserved3=draw(_reserved(_U16)),
        ext_asym=ext_asym,
        ext_hash=ext_hash,
        alg_structs=draw(_alg_structs(budget)),
    )


@_memo
def algorithms(context: CodecContext | None = None) -> SearchStrategy[Algorithms]:
    """Selections up to the Length bound of their version, at most one ext alg of each kind."""
    return _algorithms()


# ---------------------------------------------------------------------------------------------
# GET_DIGESTS / DIGESTS, GET_CERTIFICATE / CERTIFICATE


@_memo
def get_digests(context: CodecContext | None = None) -> SearchStrategy[GetDigests]:
    return st.builds(GetDigests, version=_versions(), param1=_reserved(), param2=_reserved())


@_memo
def _digests(context: CodecContext) -> SearchStrategy[Digests]:
    if context.hash_size is None:  # only an empty slot mask decodes without a hash size
        return st.builds(Digests, version=_versions(), param1=_reserved(), slot_mask=st.just(0), digests=st.just(()))
    size = context.hash_size

    @st.composite
    def build(draw: st.DrawFn) -> Digests:
        mask = draw(_usual((0x01, 0x03, 0xFF, 0x00)))
        count = mask.bit_count()
        multi_key = context.multi_key
        return Digests(
            version=draw(_versions(0x13 if multi_key else 0x10)),  # a multi-key connection is 1.3's
            param1=draw(_reserved()),
            slot_mask=mask,
            digests=tuple(draw(_fixed(size)) for _ in range(count)),
            key_pair_ids=tuple(draw(_uint(_U8)) for _ in range(count)) if multi_key else None,
            certificate_infos=tuple(draw(_usual((0, 1, 2, 3))) for _ in range(count)) if multi_key else None,
            key_usage_masks=tuple(draw(_uint(_U16)) for _ in range(count)) if multi_key else None,
        )

    return build()


@_memo
def digests(context: CodecContext | None = None) -> SearchStrategy[Digests]:
    """One digest of the context's hash size per slot in the mask, from none to all eight; with the
    context's `multi_key`, a 1.3 answer with a KeyPairID, CertificateInfo and KeyUsageMask per slot too."""
    return _with_context(_digests, context)


@_memo
def _slot_param() -> SearchStrategy[int]:
    return _usual(tuple(range(SLOT_COUNT)))


@_memo
def get_certificate(context: CodecContext | None = None) -> SearchStrategy[GetCertificate]:
    """Param2 bit 0 set or not: 1.3 SlotSizeRequested, reserved before."""
    return st.builds(
        GetCertificate,
        version=_versions(),
        slot_param=_slot_param(),
        param2=_usual((0x00, 0x01)),
        offset=_usual((0, 0x400, 0x800), _U16),
        length=_usual((0x400, 0xFFFF, 0), _U16),
    )


@_memo
def certificate(context: CodecContext | None = None) -> SearchStrategy[Certificate]:
    """Portions from empty to 0xFFFF bytes; Param2 any 1.3 certificate model (reserved before)."""
    return st.builds(
        Certificate,
        version=_versions(),
        slot_param=_slot_param(),
        param2=_usual(tuple(range(CERT_MODEL_MASK + 1))),
        remainder_length=_usual((0,), _U16),
        portion=_blob(_U16),
    )


# ---------------------------------------------------------------------------------------------
# CHALLENGE / CHALLENGE_AUTH


@_memo
def _summary_hash_type() -> SearchStrategy[int]:
    return _usual((0x00, 0x01, 0xFF))


@_memo
@st.composite
def _challenge(draw: st.DrawFn) -> Challenge:
    ver = draw(_versions())
    return Challenge(
        version=ver,
        slot_id=draw(_usual((0, 1, 7, 0xFF))),
        summary_hash_type=draw(_summary_hash_type()),
        nonce=draw(_fixed(NONCE_SIZE)),
        requester_context=draw(_requester_context(ver)),
    )


@_memo
def challenge(context: CodecContext | None = None) -> SearchStrategy[Challenge]:
    """RequesterContext at 1.3."""
    return _challenge()


@_memo
def _summary_hash(context: CodecContext, hash_size: int) -> SearchStrategy[bytes | None]:
    return _fixed(hash_size) if context.measurement_summary_hash else st.none()


@_memo
def _challenge_auth(context: CodecContext) -> SearchStrategy[ChallengeAuth]:
    hash_size = _size(context, "hash_size", ChallengeAuth)
    signature_size = _size(context, "signature_size", ChallengeAuth)  # a missing size fails here, not when drawn
    return _versions().flatmap(
        lambda ver: st.builds(
            ChallengeAuth,
            version=st.just(ver),
            attributes=_usual((0x00, 0x01, 0x80)),
            slot_mask=_usual((0x01, 0xFF)),
            cert_chain_hash=_fixed(hash_size),
            nonce=_fixed(NONCE_SIZE),
            measurement_summary_hash=_summary_hash(context, hash_size),
            opaque_data=opaque_data(),
            requester_context=_requester_context(ver),
            signature=_fixed(signature_size),
        )
    )


@_memo
def challenge_auth(context: CodecContext | None = None) -> SearchStrategy[ChallengeAuth]:
    """MeasurementSummaryHash present exactly when the context says so; opaque data up to 1024."""
    return _with_context(_challenge_auth, context)


# ---------------------------------------------------------------------------------------------
# GET_MEASUREMENTS / MEASUREMENTS


@_memo
@st.composite
def _get_measurements(draw: st.DrawFn) -> GetMeasurements:
    ver = draw(_versions())
    attributes = draw(_usual((0x00, 0x01)))
    signed = bool(attributes & 0x01)
    return GetMeasurements(
        version=ver,
        attributes=attributes,
        operation=draw(_usual((0x00, 0x01, 0xFE, 0xFF))),
        nonce=draw(_fixed(NONCE_SIZE)) if signed else None,
        slot_id_param=draw(_slot_param()) if signed and ver >= 0x11 else None,
        requester_context=draw(_requester_context(ver)),
    )


@_memo
def get_measurements(context: CodecContext | None = None) -> SearchStrategy[GetMeasurements]:
    """Nonce when a signature is requested, SlotIDParam too from 1.1; RequesterContext at 1.3."""
    return _get_measurements()


@_memo
def dmtf_measurement(max_value: int = _U16 - 3) -> SearchStrategy[DmtfMeasurement]:
    """A DMTF measurement: digests of every size or raw bit streams, up to the u16 block size."""
    return st.builds(
        DmtfMeasurement,
        value_type=_usual((0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x81, 0x85)),
        value=st.one_of(st.sampled_from((32, 48, 64)).flatmap(_fixed), _blob(max_value)),
    )


@_memo
@st.composite
def _measurement_block(draw: st.DrawFn, max_size: int) -> MeasurementBlock:
    specification = draw(_usual((0x01,)))
    # the DMTF format is a record; any other specification's measurement is raw bytes
    measurement: DmtfMeasurement | bytes = (
        draw(dmtf_measurement(max_size - 3)) if specification == 0x01 else draw(_blob(max_size))
    )
    index = draw(_usual((0x01, 0x10, 0xFD, 0xFE)))
    return MeasurementBlock(index=index, specification=specification, measurement=measurement)


@_memo
def measurement_block() -> SearchStrategy[MeasurementBlock]:
    """A block in the DMTF format (specification 0x01) or any other (raw bytes), up to 0xFFFF bytes."""
    return _measurement_block(_U16)


@_memo
@st.composite
def _measurement_blocks(draw: st.DrawFn) -> tuple[MeasurementBlock, ...]:
    if draw(st.integers(0, 7)) == 7:  # the most blocks a MEASUREMENTS holds: 255 small ones
        block = draw(_measurement_block(8))
        count = draw(_sizes(_U8, typical=_U8))
        return tuple(
            MeasurementBlock(index=i + 1, specification=block.specification, measurement=block.measurement)
            for i in range(count)
        )
    return draw(_tuples(measurement_block(), 8, typical=4))


@_memo
def _measurements(context: CodecContext) -> SearchStrategy[Measurements]:
    signature: SearchStrategy[bytes | None] = st.none()
    if context.signature_requested:
        signature = _fixed(_size(context, "signature_size", Measurements))
    return _versions().flatmap(
        lambda ver: st.builds(
            Measurements,
            version=st.just(ver),
            total_indices=_usual((0, 8)),
            slot_param=_slot_param(),
            blocks=_measurement_blocks(),
            nonce=_fixed(NONCE_SIZE),
            opaque_data=opaque_data(),
            requester_context=_requester_context(ver),
            signature=signature,
        )
    )


@_memo
def measurements(context: CodecContext | None = None) -> SearchStrategy[Measurements]:
    """From no blocks to 255; the signature present exactly when the context says so."""
    return _with_context(_measurements, context)


# ---------------------------------------------------------------------------------------------
# ERROR / RESPOND_IF_READY, VENDOR_DEFINED_*


@_memo
def _codes() -> SearchStrategy[int]:
    return _usual(tuple(int(code) for code in Code))


@_memo
def response_not_ready() -> SearchStrategy[ResponseNotReady]:
    """The ExtendedErrorData of ResponseNotReady."""
    return st.builds(ResponseNotReady, rd_exponent=_uint(_U8), request_code=_codes(), token=_uint(_U8), rdtm=_uint(_U8))


@_memo
def large_response() -> SearchStrategy[LargeResponse]:
    """The ExtendedErrorData of LargeResponse (SPDM 1.2): a chunk handle."""
    return st.builds(LargeResponse, handle=_uint(_U8))


@_memo
def response_too_large() -> SearchStrategy[ResponseTooLarge]:
    """The ExtendedErrorData of ResponseTooLarge (SPDM 1.2): the size of the response."""
    return st.builds(ResponseTooLarge, response_size=_usual((0x1_0000, 0x2_8000), 0xFFFFFFFF))


@_memo
@st.composite
def _error_response(draw: st.DrawFn) -> ErrorResponse:
    error_code = draw(_usual(tuple(int(e) for e in ErrorCode)))
    extended: ResponseNotReady | LargeResponse | ResponseTooLarge | bytes
    if error_code == ErrorCode.ResponseNotReady:
        extended = draw(response_not_ready())
    elif error_code == ErrorCode.LargeResponse:
        extended = draw(st.one_of(large_response(), st.just(b"")))
    elif error_code == ErrorCode.ResponseTooLarge:
        extended = draw(st.one_of(response_too_large(), st.just(b"")))
    else:
        extended = draw(_blob(MAX_EXTENDED_ERROR_DATA, typical=8))
    return ErrorResponse(
        version=draw(_versions()), error_code=error_code, error_data=draw(_uint(_U8)), extended_data=extended
    )


@_memo
def error_response(context: CodecContext | None = None) -> SearchStrategy[ErrorResponse]:
    """ResponseNotReady with its record, LargeResponse and ResponseTooLarge with theirs or none (``b""``,
    as libspdm sends them), other codes with 0 to 32 bytes of extended data."""
    return _error_response()


@_memo
def respond_if_ready(context: CodecContext | None = None) -> SearchStrategy[RespondIfReady]:
    return st.builds(RespondIfReady, version=_versions(), request_code=_codes(), token=_uint(_U8))


@_memo
def _vendor(cls: type[M]) -> SearchStrategy[M]:
    return st.builds(
        cls,
        version=_versions(),
        param1=_reserved(),
        param2=_reserved(),
        standard_id=_usual((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), _U16),
        vendor_id=_blob(_U8, typical=4),
        payload=_blob(_U16),
    )


@_memo
def vendor_defined_request(context: CodecContext | None = None) -> SearchStrategy[VendorDefinedRequest]:
    """Vendor IDs up to 255 bytes, payloads up to 0xFFFF."""
    return _vendor(VendorDefinedRequest)


@_memo
def vendor_defined_response(context: CodecContext | None = None) -> SearchStrategy[VendorDefinedResponse]:
    """Vendor IDs up to 255 bytes, payloads up to 0xFFFF."""
    return _vendor(VendorDefinedResponse)


# ---------------------------------------------------------------------------------------------
# DSP0277 opaque data


@_memo
def _secured_versions() -> SearchStrategy[int]:
    return _usual((0x1000, 0x1100, 0x1200), _U16)


@_memo
def _supported_version_list(max_versions: int) -> SearchStrategy[SupportedVersionList]:
    return st.builds(SupportedVersionList, versions=_tuples(_secured_versions(), max_versions, minimum=1, typical=3))


@_memo
def supported_version_list() -> SearchStrategy[SupportedVersionList]:
    """A requester's secured-message version offer: 1 to 255 versions."""
    return _supported_version_list(_U8)


@_memo
def version_selection() -> SearchStrategy[VersionSelection]:
    """A responder's secured-message version choice."""
    return st.builds(VersionSelection, selected_version=_secured_versions())


def _built(record: SupportedVersionList | VersionSelection) -> bytes:
    return bytes(record.layout.build(record))


@_memo
def _opaque_element(max_size: int) -> SearchStrategy[OpaqueElement]:
    """DMTF version elements and raw elements with vendor IDs and data up to about `max_size` bytes."""
    raw = st.builds(
        OpaqueElement,
        registry_id=_usual((0, 1, 3, 4)),
        vendor_id=_blob(min(_U8, max_size), typical=4),
        data=_blob(max_size, typical=16),
    )
    return st.one_of(
        _supported_version_list(min(_U8, max_size)).map(lambda r: OpaqueElement(data=_built(r))),
        version_selection().map(lambda r: OpaqueElement(data=_built(r))),
        raw,
    )


@_memo
def opaque_element() -> SearchStrategy[OpaqueElement]:
    """A DMTF SupportedVersionList or VersionSelection element, or a raw one of any registry."""
    return _opaque_element(_U16)


@_memo
@st.composite
def _opaque_table(draw: st.DrawFn, max_elements: int, max_size: int) -> OpaqueTable:
    count = draw(_sizes(max_elements, typical=3))
    if count <= 8:
        elements = tuple(draw(_opaque_element(max_size)) for _ in range(count))
    else:  # many elements: a few small ones over and over, cheap to draw
        cycle = draw(st.lists(_opaque_element(8), min_size=1, max_size=4))
        elements = tuple(cycle[i % len(cycle)] for i in range(count))
    return OpaqueTable(reserved=draw(_reserved(_U16)), elements=elements)


@_memo
def opaque_table() -> SearchStrategy[OpaqueTable]:
    """A 1.1-format opaque data table: none to 255 elements, version lists, selections and raw ones."""
    return _opaque_table(_U8, _U16)


@_memo
def opaque_data(max_size: int = MAX_OPAQUE_LENGTH) -> SearchStrategy[bytes]:
    """A message's OpaqueData: an encoded `opaque_table` or any bytes, at most `max_size` long."""
    tables = _opaque_table(6, 64).map(encode_opaque).filter(lambda data: len(data) <= max_size)
    return st.one_of(_blob(max_size), tables)


# ---------------------------------------------------------------------------------------------
# KEY_EXCHANGE / KEY_EXCHANGE_RSP, FINISH / FINISH_RSP


@_memo
def _key_exchange(context: CodecContext) -> SearchStrategy[KeyExchange]:
    return st.builds(
        KeyExchange,
        version=_versions(0x11),
        summary_hash_type=_summary_hash_type(),
        slot_id=_usual((0, 1, 7, 0xFF)),
        req_session_id=_uint(_U16),
        session_policy=_usual((0, 1, EVENT_ALL_POLICY)),
        reserved=_reserved(),
        random_data=_fixed(RANDOM_SIZE),
        exchange_data=_fixed(_size(context, "dhe_size", KeyExchange)),
        opaque_data=opaque_data(),
    )


@_memo
def key_exchange(context: CodecContext | None = None) -> SearchStrategy[KeyExchange]:
    """ExchangeData of the context's DHE size; SessionPolicy's 1.2 and 1.3 bits (reserved before)."""
    return _with_context(_key_exchange, context)


@_memo
def _key_exchange_rsp(context: CodecContext) -> SearchStrategy[KeyExchangeRsp]:
    hash_size = _size(context, "hash_size", KeyExchangeRsp)
    return st.builds(
        KeyExchangeRsp,
        version=_versions(0x11),
        heartbeat_period=_usual((0,)),
        param2=_reserved(),
        rsp_session_id=_uint(_U16),
        mut_auth_requested=_usual((0x00, 0x01, 0x03, 0x05)),
        req_slot_id_param=_usual((0x00, 0x01, 0x0F)),
        random_data=_fixed(RANDOM_SIZE),
        exchange_data=_fixed(_size(context, "dhe_size", KeyExchangeRsp)),
        measurement_summary_hash=_summary_hash(context, hash_size),
        opaque_data=opaque_data(),
        signature=_fixed(_size(context, "signature_size", KeyExchangeRsp)),
        responder_verify_data=st.none() if context.handshake_in_the_clear else _fixed(hash_size),
    )


@_memo
def key_exchange_rsp(context: CodecContext | None = None) -> SearchStrategy[KeyExchangeRsp]:
    """MeasurementSummaryHash and ResponderVerifyData present exactly when the context says so."""
    return _with_context(_key_exchange_rsp, context)


@_memo
def _finish(context: CodecContext) -> SearchStrategy[Finish]:
    hash_size = _size(context, "hash_size", Finish)
    req_signature_size = context.req_signature_size

    @st.composite
    def build(draw: st.DrawFn) -> Finish:
        attributes = draw(_usual((0x00, 0x01)))
        if req_signature_size is None:  # no requester signature size: SignatureIncluded stays clear
            attributes &= ~0x01
        signature = None
        if req_signature_size is not None and attributes & 0x01:
            signature = draw(_fixed(req_signature_size))
        return Finish(
            version=draw(_versions(0x11)),
            attributes=attributes,
            req_slot_id=draw(_usual((0x00, 0x01, 0xFF))),
            signature=signature,
            requester_verify_data=draw(_fixed(hash_size)),
        )

    return build()


@_memo
def finish(context: CodecContext | None = None) -> SearchStrategy[Finish]:
    """The requester's signature (of the context's ReqBaseAsymAlg size) exactly when Param1 bit 0 says so."""
    return _with_context(_finish, context)


@_memo
def _finish_rsp(context: CodecContext) -> SearchStrategy[FinishRsp]:
    verify_data: SearchStrategy[bytes | None] = st.none()
    if context.handshake_in_the_clear:
        verify_data = _fixed(_size(context, "hash_size", FinishRsp))
    return st.builds(
        FinishRsp, version=_versions(0x11), param1=_reserved(), param2=_reserved(), responder_verify_data=verify_data
    )


@_memo
def finish_rsp(context: CodecContext | None = None) -> SearchStrategy[FinishRsp]:
    """ResponderVerifyData exactly when the handshake is in the clear."""
    return _with_context(_finish_rsp, context)


# ---------------------------------------------------------------------------------------------
# PSK_EXCHANGE / PSK_EXCHANGE_RSP, PSK_FINISH / PSK_FINISH_RSP


@_memo
def psk_exchange(context: CodecContext | None = None) -> SearchStrategy[PskExchange]:
    """PSKHint up to 32 bytes, RequesterContext and OpaqueData up to 1024."""
    return st.builds(
        PskExchange,
        version=_versions(0x11),
        summary_hash_type=_summary_hash_type(),
        session_policy=_usual((0, 1)),
        req_session_id=_uint(_U16),
        psk_hint=_blob(MAX_PSK_HINT_SIZE, typical=16),
        requester_context=_blob(MAX_PSK_CONTEXT_LENGTH),
        opaque_data=opaque_data(),
    )


@_memo
def _psk_exchange_rsp(context: CodecContext) -> SearchStrategy[PskExchangeRsp]:
    hash_size = _size(context, "hash_size", PskExchangeRsp)
    return st.builds(
        PskExchangeRsp,
        version=_versions(0x11),
        heartbeat_period=_usual((0,)),
        param2=_reserved(),
        rsp_session_id=_uint(_U16),
        reserved=_reserved(_U16),
        measurement_summary_hash=_summary_hash(context, hash_size),
        responder_context=_blob(MAX_PSK_CONTEXT_LENGTH),
        opaque_data=opaque_data(),
        responder_verify_data=_fixed(hash_size),
    )


@_memo
def psk_exchange_rsp(context: CodecContext | None = None) -> SearchStrategy[PskExchangeRsp]:
    """ResponderContext (empty: no PSK_FINISH) and OpaqueData up to 1024; summary hash per the context."""
    return _with_context(_psk_exchange_rsp, context)


@_memo
def _psk_finish(context: CodecContext) -> SearchStrategy[PskFinish]:
    return st.builds(
        PskFinish,
        version=_versions(0x11),
        param1=_reserved(),
        param2=_reserved(),
        requester_verify_data=_fixed(_size(context, "hash_size", PskFinish)),
    )


@_memo
def psk_finish(context: CodecContext | None = None) -> SearchStrategy[PskFinish]:
    return _with_context(_psk_finish, context)


@_memo
def psk_finish_rsp(context: CodecContext | None = None) -> SearchStrategy[PskFinishRsp]:
    return st.builds(PskFinishRsp, version=_versions(0x11), param1=_reserved(), param2=_reserved())


# ---------------------------------------------------------------------------------------------
# HEARTBEAT, KEY_UPDATE, END_SESSION and their ACKs


@_memo
def heartbeat(context: CodecContext | None = None) -> SearchStrategy[Heartbeat]:
    return st.builds(Heartbeat, version=_versions(0x11), param1=_reserved(), param2=_reserved())


@_memo
def heartbeat_ack(context: CodecContext | None = None) -> SearchStrategy[HeartbeatAck]:
    return st.builds(HeartbeatAck, version=_versions(0x11), param1=_reserved(), param2=_reserved())


@_memo
def key_update(context: CodecContext | None = None) -> SearchStrategy[KeyUpdate]:
    return st.builds(KeyUpdate, version=_versions(0x11), operation=_usual((1, 2, 3)), tag=_uint(_U8))


@_memo
def key_update_ack(context: CodecContext | None = None) -> SearchStrategy[KeyUpdateAck]:
    return st.builds(KeyUpdateAck, version=_versions(0x11), operation=_usual((1, 2, 3)), tag=_uint(_U8))


@_memo
def end_session(context: CodecContext | None = None) -> SearchStrategy[EndSession]:
    return st.builds(EndSession, version=_versions(0x11), attributes=_usual((0, 1)), param2=_reserved())


@_memo
def end_session_ack(context: CodecContext | None = None) -> SearchStrategy[EndSessionAck]:
    return st.builds(EndSessionAck, version=_versions(0x11), param1=_reserved(), param2=_reserved())


# ---------------------------------------------------------------------------------------------
# the encapsulated request flow


@_memo
def get_encapsulated_request(context: CodecContext | None = None) -> SearchStrategy[GetEncapsulatedRequest]:
    return st.builds(GetEncapsulatedRequest, version=_versions(0x11), param1=_reserved(), param2=_reserved())


@_memo
def _encoded(strategy: SearchStrategy[M]) -> SearchStrategy[bytes]:
    return strategy.map(encode)


@_memo
def _encapsulated_requests(context: CodecContext | None) -> SearchStrategy[bytes]:
    """The requests a responder may encapsulate, encoded."""
    return st.one_of(
        _encoded(get_digests(context)),
        _encoded(get_certificate(context)),
        _encoded(challenge(context)),
        _encoded(key_update(context)),
    )


@_memo
def _encapsulated_responses(context: CodecContext | None) -> SearchStrategy[bytes]:
    """The requester's answers to them, encoded (decodable under `context` when one is given)."""
    return st.one_of(
        _encoded(digests(context)),
        _encoded(certificate(context)),
        _encoded(challenge_auth(context)),
        _encoded(key_update_ack(context)),
        _encoded(error_response(context)),
    )


@_memo
def encapsulated_request(context: CodecContext | None = None) -> SearchStrategy[EncapsulatedRequest]:
    """Payloads are encoded requests (GET_DIGESTS, GET_CERTIFICATE, CHALLENGE, KEY_UPDATE) or any bytes."""
    return st.builds(
        EncapsulatedRequest,
        version=_versions(0x11),
        request_id=_uint(_U8),
        param2=_reserved(),
        payload=st.one_of(_encapsulated_requests(context), _blob(_U16)),
    )


@_memo
def deliver_encapsulated_response(
    context: CodecContext | None = None,
) -> SearchStrategy[DeliverEncapsulatedResponse]:
    """Payloads are encoded responses (or any bytes); given a context, they decode under it."""
    return st.builds(
        DeliverEncapsulatedResponse,
        version=_versions(0x11),
        request_id=_uint(_U8),
        param2=_reserved(),
        payload=st.one_of(_encapsulated_responses(context), _blob(_U16)),
    )


@_memo
@st.composite
def _encapsulated_response_ack(draw: st.DrawFn, context: CodecContext | None) -> EncapsulatedResponseAck:
    payload_type = draw(_usual(tuple(PayloadType)))
    payload: bytes
    if payload_type == PayloadType.ABSENT:
        payload = b""
    elif payload_type == PayloadType.PRESENT:
        payload = draw(_encapsulated_requests(context))
    elif payload_type == PayloadType.REQ_SLOT_NUMBER:
        payload = bytes([draw(_slot_param())])
    else:
        payload = draw(_blob(_U16))
    version = draw(_versions(0x11))
    return EncapsulatedResponseAck(
        version=version,
        request_id=draw(_uint(_U8)),
        payload_type=payload_type,
        ack_request_id=draw(_uint(_U8)) if has_ack_request_id(version) else None,
        reserved=draw(_reserved_bytes(3)) if has_ack_request_id(version) else None,
        payload=payload,
    )


@_memo
def encapsulated_response_ack(context: CodecContext | None = None) -> SearchStrategy[EncapsulatedResponseAck]:
    """PayloadType 0 (no payload), 1 (an encoded request), 2 (ReqSlotID) and others (any bytes)."""
    return _encapsulated_response_ack(context)


# ---------------------------------------------------------------------------------------------
# SPDM 1.2: CHUNK_SEND / CHUNK_SEND_ACK, CHUNK_GET / CHUNK_RESPONSE


C = TypeVar("C", ChunkSend, ChunkResponse)


def _large_message_size(first_chunk: int) -> SearchStrategy[int]:
    """LargeMessageSize of a first chunk: never smaller than the chunk it starts."""
    return st.one_of(st.just(first_chunk), st.integers(first_chunk, 0xFFFFFFFF))


@_memo
def _chunk(cls: type[C]) -> SearchStrategy[C]:
    @st.composite
    def build(draw: st.DrawFn) -> C:
        chunk_seq_no = draw(_usual((0, 1, _U16), _U16))
        chunk = draw(_blob(_U16))
        large_message_size = draw(_large_message_size(len(chunk))) if chunk_seq_no == 0 else None
        return cls(
            version=draw(_versions(0x12)),
            attributes=draw(_usual((0x00, 0x01))),
            handle=draw(_uint(_U8)),
            chunk_seq_no=chunk_seq_no,
            reserved=draw(_reserved(_U16)),
            large_message_size=large_message_size,
            chunk=chunk,
        )

    return build()


@_memo
def chunk_send(context: CodecContext | None = None) -> SearchStrategy[ChunkSend]:
    """Chunks up to 0xFFFF bytes; LargeMessageSize (at least the chunk's size) exactly in ChunkSeqNo 0."""
    return _chunk(ChunkSend)


@_memo
def chunk_response(context: CodecContext | None = None) -> SearchStrategy[ChunkResponse]:
    """Chunks up to 0xFFFF bytes; LargeMessageSize (at least the chunk's size) exactly in ChunkSeqNo 0."""
    return _chunk(ChunkResponse)


@_memo
def chunk_send_ack(context: CodecContext | None = None) -> SearchStrategy[ChunkSendAck]:
    """No response (a chunk taken), an encoded response (the last chunk, or an early ERROR) or any bytes."""
    response = st.one_of(
        st.just(b""),
        _encoded(set_certificate_rsp(context)),
        _encoded(error_response(context)),
        _blob(_U16),
    )
    return st.builds(
        ChunkSendAck,
        version=_versions(0x12),
        attributes=_usual((0x00, 0x01)),
        handle=_uint(_U8),
        chunk_seq_no=_usual((0, 1, _U16), _U16),
        response=response,
    )


@_memo
def chunk_get(context: CodecContext | None = None) -> SearchStrategy[ChunkGet]:
    return st.builds(ChunkGet, version=_versions(0x12), param1=_reserved(), handle=_uint(_U8), chunk_seq_no=_uint(_U16))


# ---------------------------------------------------------------------------------------------
# SPDM 1.2: GET_CSR / CSR, SET_CERTIFICATE / SET_CERTIFICATE_RSP


@_memo
def get_csr(context: CodecContext | None = None) -> SearchStrategy[GetCsr]:
    """RequesterInfo up to 0xFFFF bytes, OpaqueData up to 1024; 1.3 KeyPairID and RequestAttributes."""
    return st.builds(
        GetCsr,
        version=_versions(0x12),
        param1=_usual((0, 1)),
        param2=_usual((0x00, 0x01, 0x02, 0x0A, 0x80)),
        requester_info=_blob(_U16),
        opaque_data=opaque_data(),
    )


@_memo
def csr(context: CodecContext | None = None) -> SearchStrategy[Csr]:
    """CSRs up to 0xFFFF bytes."""
    return st.builds(
        Csr, version=_versions(0x12), param1=_reserved(), param2=_reserved(), reserved=_reserved(_U16), csr=_blob(_U16)
    )


@_memo
@st.composite
def _set_certificate(draw: st.DrawFn) -> SetCertificate:
    ver = draw(_versions(0x12))
    slot_param = draw(_usual((0x00, 0x01, 0x07, 0x10, 0x14, 0x80, 0x83)))
    erasing = erases_slot(ver, slot_param)
    return SetCertificate(
        version=ver,
        slot_param=slot_param,
        param2=draw(_usual((0, 1))),
        cert_chain=b"" if erasing else draw(_blob(_U16, minimum=1)),
    )


@_memo
def set_certificate(context: CodecContext | None = None) -> SearchStrategy[SetCertificate]:
    """A chain of 1 to 0xFFFF bytes, none in a 1.3 Erase; 1.3 SetCertModel and KeyPairID."""
    return _set_certificate()


@_memo
def set_certificate_rsp(context: CodecContext | None = None) -> SearchStrategy[SetCertificateRsp]:
    return st.builds(SetCertificateRsp, version=_versions(0x12), slot_param=_slot_param(), param2=_reserved())


# ---------------------------------------------------------------------------------------------
# SPDM 1.3: GET_ENDPOINT_INFO, GET_MEASUREMENT_EXTENSION_LOG / MEASUREMENT_EXTENSION_LOG,
# GET_KEY_PAIR_INFO / KEY_PAIR_INFO, SET_KEY_PAIR_INFO / SET_KEY_PAIR_INFO_ACK, events


@_memo
@st.composite
def _get_endpoint_info(draw: st.DrawFn) -> GetEndpointInfo:
    attributes = draw(_usual((0x00, SIGNATURE_REQUESTED)))
    return GetEndpointInfo(
        version=draw(_versions(0x13)),
        sub_code=draw(_usual((0x01,))),
        slot_param=draw(_slot_param()),
        request_attributes=attributes,
        reserved=draw(_reserved(0xFFFFFF)),
        nonce=draw(_fixed(NONCE_SIZE)) if attributes & SIGNATURE_REQUESTED else None,
    )


@_memo
def get_endpoint_info(context: CodecContext | None = None) -> SearchStrategy[GetEndpointInfo]:
    """A nonce exactly when a signature is requested."""
    return _get_endpoint_info()


@_memo
def _endpoint_info(context: CodecContext) -> SearchStrategy[EndpointInfo]:
    signed = context.signature_requested
    return st.builds(
        EndpointInfo,
        version=_versions(0x13),
        param1=_reserved(),
        slot_param=_slot_param(),
        reserved=_reserved(0xFFFFFFFF),
        nonce=_fixed(NONCE_SIZE) if signed else st.none(),
        ep_info=_blob(1024),
        signature=_fixed(_size(context, "signature_size", EndpointInfo)) if signed else st.none(),
    )


@_memo
def endpoint_info(context: CodecContext | None = None) -> SearchStrategy[EndpointInfo]:
    """The nonce and the signature exactly when the context says the request asked for a signature."""
    return _with_context(_endpoint_info, context)


_U32 = 0xFFFFFFFF


@_memo
def get_measurement_extension_log(context: CodecContext | None = None) -> SearchStrategy[GetMeasurementExtensionLog]:
    return st.builds(
        GetMeasurementExtensionLog,
        version=_versions(0x13),
        param1=_reserved(),
        param2=_reserved(),
        offset=_usual((0, 0x3F), _U32),
        length=_usual((0x27FF4, _U32), _U32),
    )


@_memo
@st.composite
def _measurement_extension_log(draw: st.DrawFn) -> MeasurementExtensionLog:
    portion = draw(_blob(_U16))
    return MeasurementExtensionLog(
        version=draw(_versions(0x13)),
        param1=draw(_reserved()),
        param2=draw(_reserved()),
        remainder_length=draw(_usual((0, MAX_MEL_SIZE - len(portion)), MAX_MEL_SIZE - len(portion))),
        portion=portion,
    )


@_memo
def measurement_extension_log(context: CodecContext | None = None) -> SearchStrategy[MeasurementExtensionLog]:
    """Portions up to 0xFFFF bytes; the remainder up to what the largest log leaves."""
    return _measurement_extension_log()


@_memo
def mel_entry() -> SearchStrategy[MelEntry]:
    """One DMTF MEL entry: a small DMTF measurement, any MelIndex and MeasIndex, reserved bytes kept."""
    return st.builds(
        MelEntry,
        mel_index=_usual((1, 2, 3), _U32),
        meas_index=_usual((0x11, 0x01, 0xFE)),
        reserved=_reserved(0xFF_FFFF),
        measurement=dmtf_measurement(_TYPICAL),
    )


@_memo
def mel_log() -> SearchStrategy[MelLog]:
    """A whole DMTF-format log (`spdm.messages.mel.MelLog`): up to 16 entries, reserved bytes kept."""
    return st.builds(MelLog, reserved=_reserved(2**64 - 1), entries=_tuples(mel_entry(), 16, typical=4))


@_memo
def get_key_pair_info(context: CodecContext | None = None) -> SearchStrategy[GetKeyPairInfo]:
    return st.builds(
        GetKeyPairInfo, version=_versions(0x13), param1=_reserved(), param2=_reserved(), key_pair_id=_usual((1,))
    )


@_memo
def key_pair_info(context: CodecContext | None = None) -> SearchStrategy[KeyPairInfo]:
    """PublicKeyInfo up to 0xFFFF bytes; capability and algorithm bits defined or not."""
    return st.builds(
        KeyPairInfo,
        version=_versions(0x13),
        param1=_reserved(),
        param2=_reserved(),
        total_key_pairs=_usual((1, 0x18)),
        key_pair_id=_usual((1,)),
        capabilities=_bitmask(6, _U16),
        key_usage_capabilities=_bitmask(4, _U16),
        current_key_usage=_bitmask(4, _U16),
        asym_algo_capabilities=_bitmask(9, _U32),
        current_asym_algo=_bitmask(9, _U32),
        assoc_cert_slot_mask=_bitmask(8, _U8),
        public_key_info=_blob(_U16),
    )


@_memo
def key_pair_settings() -> SearchStrategy[KeyPairSettings]:
    """The desired settings of a SET_KEY_PAIR_INFO that does not erase."""
    return st.builds(
        KeyPairSettings,
        reserved=_reserved(),
        key_usage=_bitmask(4, _U16),
        asym_algo=_bitmask(9, _U32),
        assoc_cert_slot_mask=_bitmask(8, _U8),
    )


@_memo
@st.composite
def _set_key_pair_info(draw: st.DrawFn) -> SetKeyPairInfo:
    operation = draw(_usual((0, ERASE, 2)))
    return SetKeyPairInfo(
        version=draw(_versions(0x13)),
        operation=operation,
        param2=draw(_reserved()),
        key_pair_id=draw(_usual((1,))),
        desired=None if operation == ERASE else draw(key_pair_settings()),
    )


@_memo
def set_key_pair_info(context: CodecContext | None = None) -> SearchStrategy[SetKeyPairInfo]:
    """Desired settings unless the operation erases."""
    return _set_key_pair_info()


@_memo
def set_key_pair_info_ack(context: CodecContext | None = None) -> SearchStrategy[SetKeyPairInfoAck]:
    return _reserved_params(SetKeyPairInfoAck)


@_memo
def _reserved_params(cls: type[M]) -> SearchStrategy[M]:
    """A 1.3 message of header only, its Param1 and Param2 reserved."""
    return st.builds(cls, version=_versions(0x13), param1=_reserved(), param2=_reserved())


@_memo
def get_supported_event_types(context: CodecContext | None = None) -> SearchStrategy[GetSupportedEventTypes]:
    return _reserved_params(GetSupportedEventTypes)


@_memo
def supported_event_types(context: CodecContext | None = None) -> SearchStrategy[SupportedEventTypes]:
    """Event group lists up to 0xFFFF bytes (the count is not checked against them)."""
    return st.builds(
        SupportedEventTypes, version=_versions(0x13), group_count=_usual((1,)), param2=_reserved(), groups=_blob(_U16)
    )


@_memo
def subscribe_event_types(context: CodecContext | None = None) -> SearchStrategy[SubscribeEventTypes]:
    """Subscription lists up to 0xFFFF bytes with one or more groups, or the bare header (unsubscribe)."""
    subscribing = st.builds(
        SubscribeEventTypes,
        version=_versions(0x13),
        group_count=st.integers(min_value=1, max_value=_U8),
        param2=_reserved(),
        subscribe_list=_blob(_U16),
    )
    unsubscribing = st.builds(SubscribeEventTypes, version=_versions(0x13), param2=_reserved())
    return st.one_of(subscribing, unsubscribing)


@_memo
def subscribe_event_types_ack(context: CodecContext | None = None) -> SearchStrategy[SubscribeEventTypesAck]:
    return _reserved_params(SubscribeEventTypesAck)


@_memo
def event_ack(context: CodecContext | None = None) -> SearchStrategy[EventAck]:
    return _reserved_params(EventAck)


@_memo
def event() -> SearchStrategy[Event]:
    """One event of SEND_EVENT, with or without a vendor ID and detail."""
    return st.builds(
        Event,
        event_instance_id=_uint(_U32),
        reserved=_reserved(_U32),
        svh_id=_usual((0, 3, 0xB)),
        svh_vendor_id=_blob(_U8, typical=2),
        event_type_id=_usual((1, 2, 3, 4)),
        event_detail=_blob(_U16),
    )


@_memo
def event_group() -> SearchStrategy[EventGroup]:
    """An event group of SupportedEventGroupsList or SubscribeList, with a few event types."""
    entry = st.builds(EventTypeEntry, event_type_id=_usual((1, 2, 3, 4), _U16), reserved=_reserved(_U16))
    return st.builds(
        EventGroup,
        svh_id=_usual((0, 3, 0xB)),
        svh_vendor_id=_blob(_U8, typical=2),
        event_group_ver=_usual((1,), _U16),
        attributes=_usual((0, 1), _U32),
        event_types=_tuples(entry, 4),
    )


@_memo
def event_lost_detail() -> SearchStrategy[EventLostDetail]:
    """The EventDetail of a DMTF EventLost."""
    return st.builds(
        EventLostDetail, last_acked_event_instance_id=_uint(_U32), last_lost_event_instance_id=_uint(_U32)
    )


@_memo
def send_event(context: CodecContext | None = None) -> SearchStrategy[SendEvent]:
    """One to a few events (SEND_EVENT lists at least the one it raises)."""
    return st.builds(
        SendEvent, version=_versions(0x13), param1=_reserved(), param2=_reserved(), events=_tuples(event(), 4, 1)
    )


# ---------------------------------------------------------------------------------------------
# the registry and whole-message strategies

STRATEGIES: dict[type[Message], MessageStrategy[Message]] = {
    GetVersion: get_version,
    Version: version,
    GetCapabilities: get_capabilities,
    Capabilities: capabilities,
    NegotiateAlgorithms: negotiate_algorithms,
    Algorithms: algorithms,
    GetDigests: get_digests,
    Digests: digests,
    GetCertificate: get_certificate,
    Certificate: certificate,
    Challenge: challenge,
    ChallengeAuth: challenge_auth,
    GetMeasurements: get_measurements,
    Measurements: measurements,
    ErrorResponse: error_response,
    RespondIfReady: respond_if_ready,
    VendorDefinedRequest: vendor_defined_request,
    VendorDefinedResponse: vendor_defined_response,
    KeyExchange: key_exchange,
    KeyExchangeRsp: key_exchange_rsp,
    Finish: finish,
    FinishRsp: finish_rsp,
    PskExchange: psk_exchange,
    PskExchangeRsp: psk_exchange_rsp,
    PskFinish: psk_finish,
    PskFinishRsp: psk_finish_rsp,
    Heartbeat: heartbeat,
    HeartbeatAck: heartbeat_ack,
    KeyUpdate: key_update,
    KeyUpdateAck: key_update_ack,
    EndSession: end_session,
    EndSessionAck: end_session_ack,
    GetEncapsulatedRequest: get_encapsulated_request,
    EncapsulatedRequest: encapsulated_request,
    DeliverEncapsulatedResponse: deliver_encapsulated_response,
    EncapsulatedResponseAck: encapsulated_response_ack,
    ChunkSend: chunk_send,
    ChunkSendAck: chunk_send_ack,
    ChunkGet: chunk_get,
    ChunkResponse: chunk_response,
    GetCsr: get_csr,
    Csr: csr,
    SetCertificate: set_certificate,
    SetCertificateRsp: set_certificate_rsp,
    GetEndpointInfo: get_endpoint_info,
    EndpointInfo: endpoint_info,
    GetMeasurementExtensionLog: get_measurement_extension_log,
    MeasurementExtensionLog: measurement_extension_log,
    GetKeyPairInfo: get_key_pair_info,
    KeyPairInfo: key_pair_info,
    SetKeyPairInfo: set_key_pair_info,
    SetKeyPairInfoAck: set_key_pair_info_ack,
    GetSupportedEventTypes: get_supported_event_types,
    SupportedEventTypes: supported_event_types,
    SubscribeEventTypes: subscribe_event_types,
    SubscribeEventTypesAck: subscribe_event_types_ack,
    EventAck: event_ack,
    SendEvent: send_event,
}
"""The strategy of each message class, keyed by class."""

NEEDS_CONTEXT: frozenset[type[Message]] = frozenset(
    {
        Digests,
        ChallengeAuth,
        Measurements,
        EndpointInfo,
        KeyExchange,
        KeyExchangeRsp,
        Finish,
        FinishRsp,
        PskExchangeRsp,
        PskFinish,
    }
)
"""The message classes whose layout depends on the `CodecContext` (the others decode without one)."""


def strategy_for(cls: type[M]) -> MessageStrategy[M]:
    """The strategy function of message class `cls`; `KeyError` when there is none."""
    return cast("MessageStrategy[M]", STRATEGIES[cls])


def _usable(cls: type[Message], context: CodecContext | None) -> SearchStrategy[Message] | None:
    try:
        return STRATEGIES[cls](context)
    except InvalidArgument:
        return None


@_memo
def messages(context: CodecContext | None = None) -> SearchStrategy[Message]:
    """Any registered message valid under `context` (types needing a size it lacks are left out).

    Without a context each message is valid under some drawn context that is not returned; use
    `any_message` to get it.
    """
    found = [s for s in (_usable(cls, context) for cls in registry().values()) if s is not None]
    return st.one_of(found)


@dataclass(frozen=True, slots=True)
class Sample:
    """A message and a context it decodes under: ``decode(encode(message), context) == message``."""

    message: Message
    context: CodecContext

    @property
    def wire(self) -> bytes:
        return encode(self.message)


@_memo
@st.composite
def _any_message(draw: st.DrawFn, classes: tuple[type[Message], ...]) -> Sample:
    context = draw(contexts())
    cls = draw(st.sampled_from(classes))
    return Sample(message=draw(STRATEGIES[cls](context)), context=context)


@_memo
def any_message(*classes: type[Message]) -> SearchStrategy[Sample]:
    """A context, then a message valid under it (of one of `classes`, else of any registered class)."""
    return _any_message(classes or tuple(registry().values()))


@_memo
def wire_messages(*classes: type[Message]) -> SearchStrategy[tuple[bytes, CodecContext]]:
    """Encoded messages (of `classes`, else of any class) with a context they decode under."""
    return any_message(*classes).map(lambda sample: (sample.wire, sample.context))


# ---------------------------------------------------------------------------------------------
# mutations

_MUTATIONS = ("flip", "replace", "truncate", "insert", "append", "delete", "length")


def _boundary_values(old: int, width: int) -> SearchStrategy[int]:
    top = (1 << (8 * width)) - 1
    return st.one_of(
        st.sampled_from(tuple(v & top for v in (0, 1, top, top - 1, old + 1, old - 1, old * 2, old + 4, old - 4))),
        _uint(top),
    )


@st.composite
def _mutations(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(_MUTATIONS))
        if not buf and kind not in ("insert", "append"):
            kind = "append"
        if kind == "flip":
            at = draw(st.integers(0, len(buf) - 1))
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "replace":
            at = draw(st.integers(0, len(buf) - 1))
            buf[at] = draw(_usual((0x00, 0x01, 0x7F, 0x80, 0xFF)))
        elif kind == "truncate":
            del buf[draw(st.integers(0, len(buf) - 1)) :]
        elif kind == "insert":
            at = draw(st.integers(0, len(buf)))
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "append":
            buf += draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            at = draw(st.integers(0, len(buf) - 1))
            del buf[at : at + draw(st.integers(1, 8))]
        else:  # a 1- to 4-byte little-endian field (a length, count or code) set to a boundary value
            width = draw(st.integers(1, min(4, len(buf))))
            at = draw(st.integers(0, len(buf) - width))
            old = int.from_bytes(buf[at : at + width], "little")
            buf[at : at + width] = draw(_boundary_values(old, width)).to_bytes(width, "little")
    return bytes(buf)


def mutations(data: bytes) -> SearchStrategy[bytes]:
    """`data` after 1 to 3 edits: bit flips, byte replacements, truncation, insertion, deletion,
    appended bytes, and 1- to 4-byte fields set to boundary values (lengths, counts, codes)."""
    return _mutations(bytes(data))
