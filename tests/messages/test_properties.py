"""Properties of every message codec, driven by the public strategies of `spdm.testing.strategies`.

Round trips both ways, `decode_prefix` over padding, and never-crash decoding of arbitrary and
mutated bytes: decoders raise `DecodeError` and nothing else, and whatever decodes re-encodes to
exactly the bytes it came from. Example counts come from the Hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from spdm.errors import DecodeError
from spdm.messages import Code, CodecContext, ErrorCode, Message, decode, decode_as, decode_prefix, encode, registry
from spdm.messages.certificates import CERT_MODELS
from spdm.messages.chunk import ChunkSendAck
from spdm.messages.codes import REQUEST_NEEDS
from spdm.messages.encapsulated import DeliverEncapsulatedResponse, EncapsulatedRequest, EncapsulatedResponseAck
from spdm.messages.error import ErrorResponse, LargeResponse, ResponseNotReady, ResponseTooLarge
from spdm.messages.key_exchange import asks_all_events
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock, Measurements
from spdm.messages.negotiation import SPDM_VERSIONS, AlgStruct, ExtAlg, NegotiateAlgorithms
from spdm.messages.opaque import (
    OpaqueTable,
    SupportedVersionList,
    VersionSelection,
    decode_opaque,
    encode_opaque,
    secured_message_versions,
    selected_secured_message_version,
    version_list_opaque,
    version_selection_opaque,
)
from spdm.messages.provisioning import SetCertificate
from spdm.testing import strategies
from spdm.testing.strategies import (
    DHE_SIZES,
    HASH_SIZES,
    NEEDS_CONTEXT,
    SIGNATURE_SIZES,
    STRATEGIES,
    alg_struct,
    any_message,
    contexts,
    dmtf_measurement,
    ext_alg,
    measurement_block,
    messages,
    mutations,
    opaque_table,
    strategy_for,
    supported_version_list,
    version_selection,
    wire_messages,
)

CLASSES = list(registry().values())
by_class = pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.name)

# a trailing field that takes the rest of the message: decode_prefix cannot tell padding from it
GREEDY_TAIL = (EncapsulatedRequest, DeliverEncapsulatedResponse, EncapsulatedResponseAck, ChunkSendAck, SetCertificate)
BARE_ERRORS = (ErrorCode.LargeResponse, ErrorCode.ResponseTooLarge)
"""The ERRORs whose ExtendedErrorData record a responder may leave off (libspdm does)."""


def _sizes_or_none(sizes: tuple[int, ...]) -> st.SearchStrategy[int | None]:
    return st.one_of(st.none(), st.just(0), st.sampled_from(sizes))


# contexts missing some sizes (or with size 0), as a half-negotiated connection would have
partial_contexts = st.builds(
    CodecContext,
    hash_size=_sizes_or_none(HASH_SIZES),
    signature_size=_sizes_or_none(SIGNATURE_SIZES),
    req_signature_size=_sizes_or_none(SIGNATURE_SIZES),
    dhe_size=_sizes_or_none(DHE_SIZES),
    measurement_summary_hash=st.booleans(),
    signature_requested=st.booleans(),
    handshake_in_the_clear=st.booleans(),
)
any_context = st.one_of(st.none(), contexts(), partial_contexts)


def _check_decoders(data: bytes, context: CodecContext | None) -> None:
    """`decode` and `decode_prefix` raise only DecodeError; what they decode re-encodes exactly."""
    try:
        msg = decode(data, context)
    except DecodeError:
        pass
    else:
        assert encode(msg) == data
    try:
        prefix, length = decode_prefix(data, context)
    except DecodeError:
        pass
    else:
        assert 4 <= length <= len(data)
        assert encode(prefix) == data[:length]


# --- the registry -------------------------------------------------------------------------------


def test_every_registered_message_has_a_strategy() -> None:
    missing = sorted(cls.__name__ for cls in CLASSES if cls not in STRATEGIES)
    assert not missing, f"no strategy in spdm.testing.strategies for {missing}"
    assert set(STRATEGIES) == set(CLASSES)


@by_class
def test_strategies_are_named_after_their_class(cls: type[Message]) -> None:
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
    assert getattr(strategies, name) is STRATEGIES[cls] is strategy_for(cls)
    assert name in strategies.__all__


def test_a_context_missing_a_size_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="hash_size"):
        strategies.challenge_auth(CodecContext(signature_size=64))


# --- round trips --------------------------------------------------------------------------------


@by_class
@given(data=st.data())
def test_round_trip(cls: type[Message], data: st.DataObject) -> None:
    sample = data.draw(any_message(cls), label="sample")
    msg, context = sample.message, sample.context
    assert type(msg) is cls
    wire = encode(msg)
    decoded = decode(wire, context)
    assert decoded == msg
    assert encode(decoded) == wire
    assert decode_as(cls, wire, context) == msg
    if cls not in NEEDS_CONTEXT:
        assert decode(wire) == msg
    # given no context, the strategy still gives valid messages (it draws a context of its own)
    free = data.draw(STRATEGIES[cls](None), label="without a context")
    assert type(free) is cls and encode(free)[1] == cls.code
    if cls not in NEEDS_CONTEXT:
        assert decode(encode(free)) == free


@by_class
@given(data=st.data())
def test_decode_prefix_stops_at_the_end_of_the_message(cls: type[Message], data: st.DataObject) -> None:
    sample = data.draw(any_message(cls), label="sample")
    padding = data.draw(st.binary(min_size=1, max_size=8), label="padding")
    wire = sample.wire
    padded = wire + padding
    message = sample.message
    if isinstance(message, ErrorResponse) and message.extended_data == b"" and message.error_code in BARE_ERRORS:
        # the record it may leave off is read from what follows, when there is enough of it (DOE pads
        # neither the bare 4-byte ERROR nor, with zeros, the record's place)
        try:
            found, size = decode_prefix(padded, sample.context)
        except DecodeError:
            return
        assert isinstance(found, ErrorResponse) and found.error_code == message.error_code
        assert encode(found) == padded[:size] and size > len(wire)
        return
    greedy = isinstance(message, GREEDY_TAIL) or (
        isinstance(message, ErrorResponse) and isinstance(message.extended_data, bytes)
    )
    if not greedy:
        assert decode_prefix(padded, sample.context) == (sample.message, len(wire))
        return
    try:  # the padding becomes part of the trailing field
        whole = decode(padded, sample.context)
    except DecodeError:
        with pytest.raises(DecodeError):
            decode_prefix(padded, sample.context)
    else:
        assert decode_prefix(padded, sample.context) == (whole, len(padded))


@given(data=st.data())
def test_messages_under_a_partial_context_decode_under_it(data: st.DataObject) -> None:
    context = data.draw(partial_contexts, label="context")
    msg = data.draw(messages(context), label="msg")
    assert decode(encode(msg), context) == msg


@given(wire_and_context=wire_messages())
def test_wire_messages_decode_under_their_context(wire_and_context: tuple[bytes, CodecContext]) -> None:
    wire, context = wire_and_context
    assert encode(decode(wire, context)) == wire


@given(
    context=contexts(),
    block=measurement_block(),
    value=dmtf_measurement(),
    struct=alg_struct(),
    exts=st.lists(ext_alg(), max_size=4),
)
def test_nested_record_strategies(
    context: CodecContext, block: MeasurementBlock, value: DmtfMeasurement, struct: AlgStruct, exts: list[ExtAlg]
) -> None:
    signature = bytes(context.signature_size or 0) if context.signature_requested else None
    blocks = (block, MeasurementBlock(index=2, measurement=value))
    report = Measurements(blocks=blocks, nonce=bytes(32), signature=signature)
    assert decode(encode(report), context) == report
    offer = NegotiateAlgorithms(
        measurement_specification=1, base_asym_algo=0x10, base_hash_algo=1, ext_asym=tuple(exts), alg_structs=(struct,)
    )
    assert decode(encode(offer)) == offer


def _wire_length(msg: Message) -> int:
    return len(encode(msg))


# shapes each strategy must reach: bounds, empty and maximal fields, optional fields, versions
SHAPES: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], bool]]] = {
    "NEGOTIATE_ALGORITHMS Length 0x80": (
        strategies.negotiate_algorithms(),
        lambda m: m.version != 0x10 and _wire_length(m) == 0x80,
    ),
    "NEGOTIATE_ALGORITHMS 1.0 Length 0x40": (
        strategies.negotiate_algorithms(),
        lambda m: m.version == 0x10 and _wire_length(m) == 0x40,
    ),
    "NEGOTIATE_ALGORITHMS 20 ext algs": (
        strategies.negotiate_algorithms(),
        lambda m: len(m.ext_asym) + len(m.ext_hash) == 20,
    ),
    "ALGORITHMS Length 0x80": (strategies.algorithms(), lambda m: _wire_length(m) == 0x80),
    "ALGORITHMS 1.0 Length 0x40": (strategies.algorithms(), lambda m: m.version == 0x10 and _wire_length(m) == 0x40),
    "AlgStruct 15 ext algs": (alg_struct(), lambda a: len(a.ext) == 15),
    "VERSION 255 entries": (strategies.version(), lambda m: len(m.entries) == 255),
    "GET_CAPABILITIES 1.0": (strategies.get_capabilities(), lambda m: m.version == 0x10 and m.flags is None),
    "GET_CAPABILITIES 1.2": (strategies.get_capabilities(), lambda m: m.version == 0x12 and m.flags is not None),
    "GET_CAPABILITIES 1.3 asking for the supported algorithms": (
        strategies.get_capabilities(),
        lambda m: m.supported_algorithms_requested,
    ),
    "CAPABILITIES 1.3 with Supported Algorithms": (
        strategies.capabilities(),
        lambda m: m.version == 0x13 and m.supported_algorithms is not None,
    ),
    "CAPABILITIES 1.3 without": (
        strategies.capabilities(),
        lambda m: m.version == 0x13 and m.supported_algorithms is None,
    ),
    "DIGESTS 8 slots": (strategies.digests(), lambda m: len(m.digests) == 8),
    "DIGESTS no slot": (strategies.digests(), lambda m: not m.digests),
    "DIGESTS 1.3 multi-key": (
        strategies.digests(),
        lambda m: m.version == 0x13 and m.digests and m.key_pair_ids is not None,
    ),
    "DIGESTS 1.3 SupportedSlotMask": (strategies.digests(), lambda m: m.supported_slot_mask != 0),
    "GET_CERTIFICATE 1.3 SlotSizeRequested": (strategies.get_certificate(), lambda m: m.slot_size_requested),
    "CERTIFICATE 1.3 certificate model": (strategies.certificate(), lambda m: m.certificate_model in CERT_MODELS),
    "CERTIFICATE portion 0xFFFF": (strategies.certificate(), lambda m: len(m.portion) == 0xFFFF),
    "CERTIFICATE empty portion": (strategies.certificate(), lambda m: not m.portion),
    "CHALLENGE_AUTH summary hash and 1024 opaque": (
        strategies.challenge_auth(),
        lambda m: m.measurement_summary_hash is not None and len(m.opaque_data) == 1024,
    ),
    "CHALLENGE_AUTH 512-byte signature": (strategies.challenge_auth(), lambda m: len(m.signature) == 512),
    "GET_MEASUREMENTS 1.0 signed": (
        strategies.get_measurements(),
        lambda m: m.version == 0x10 and m.nonce is not None and m.slot_id_param is None,
    ),
    "GET_MEASUREMENTS 1.1 signed": (strategies.get_measurements(), lambda m: m.slot_id_param is not None),
    "MEASUREMENTS 255 blocks": (strategies.measurements(), lambda m: len(m.blocks) == 255),
    "MEASUREMENTS signed, no block": (
        strategies.measurements(),
        lambda m: not m.blocks and m.signature is not None,
    ),
    "measurement block 0xFFFF raw bytes": (
        measurement_block(),
        lambda b: isinstance(b.measurement, bytes) and len(b.measurement) == 0xFFFF,
    ),
    "DMTF measurement of 0xFFFC bytes": (dmtf_measurement(), lambda d: len(d.value) == 0xFFFC),
    "ERROR 32 bytes of extended data": (
        strategies.error_response(),
        lambda m: isinstance(m.extended_data, bytes) and len(m.extended_data) == 32,
    ),
    "ERROR ResponseNotReady": (
        strategies.error_response(),
        lambda m: isinstance(m.extended_data, ResponseNotReady),
    ),
    "ERROR LargeResponse": (strategies.error_response(), lambda m: isinstance(m.extended_data, LargeResponse)),
    "ERROR ResponseTooLarge": (strategies.error_response(), lambda m: isinstance(m.extended_data, ResponseTooLarge)),
    # libspdm sends these two without their ExtendedErrorData
    "ERROR LargeResponse without extended data": (
        strategies.error_response(),
        lambda m: m.error_code == ErrorCode.LargeResponse and m.extended_data == b"",
    ),
    "ERROR ResponseTooLarge without extended data": (
        strategies.error_response(),
        lambda m: m.error_code == ErrorCode.ResponseTooLarge and m.extended_data == b"",
    ),
    "ERROR 1.3 NoPendingRequests": (
        strategies.error_response(),
        lambda m: m.version == 0x13 and m.error_code == ErrorCode.NoPendingRequests,
    ),
    "CHUNK_SEND first chunk, 0xFFFF bytes": (
        strategies.chunk_send(),
        lambda m: m.large_message_size is not None and len(m.chunk) == 0xFFFF,
    ),
    "CHUNK_SEND last chunk": (strategies.chunk_send(), lambda m: m.last_chunk and m.large_message_size is None),
    "CHUNK_SEND_ACK with a response": (strategies.chunk_send_ack(), lambda m: m.response[1:2] == b"\x6e"),
    "CHUNK_SEND_ACK empty": (strategies.chunk_send_ack(), lambda m: not m.response),
    "CHUNK_RESPONSE whole message in one chunk": (
        strategies.chunk_response(),
        lambda m: m.large_message_size == len(m.chunk) and m.last_chunk,
    ),
    "CHUNK_RESPONSE empty later chunk": (
        strategies.chunk_response(),
        lambda m: m.large_message_size is None and not m.chunk,
    ),
    "GET_CSR 1024 opaque, 1.3 attributes": (
        strategies.get_csr(),
        lambda m: len(m.opaque_data) == 1024 and m.version == 0x13 and m.cert_model != 0,
    ),
    "CSR 0xFFFF bytes": (strategies.csr(), lambda m: len(m.csr) == 0xFFFF),
    "SET_CERTIFICATE 1.3 erase": (strategies.set_certificate(), lambda m: m.erase and not m.cert_chain),
    "SET_CERTIFICATE 1.2 with the Erase bit reserved": (
        strategies.set_certificate(),
        lambda m: m.version == 0x12 and m.erase and m.cert_chain,
    ),
    "VENDOR_DEFINED_REQUEST 255-byte vendor ID": (
        strategies.vendor_defined_request(),
        lambda m: len(m.vendor_id) == 255,
    ),
    "VENDOR_DEFINED_RESPONSE 0xFFFF payload": (
        strategies.vendor_defined_response(),
        lambda m: len(m.payload) == 0xFFFF,
    ),
    "KEY_EXCHANGE opaque table": (strategies.key_exchange(), lambda m: m.opaque_data[:4] == b"FTMD"),
    "KEY_EXCHANGE 512-byte exchange data": (strategies.key_exchange(), lambda m: len(m.exchange_data) == 512),
    "KEY_EXCHANGE 1.3 EventAllPolicy": (
        strategies.key_exchange(),
        lambda m: asks_all_events(m.version, m.session_policy),
    ),
    "KEY_EXCHANGE_RSP in the clear": (
        strategies.key_exchange_rsp(),
        lambda m: m.responder_verify_data is None and m.measurement_summary_hash is not None,
    ),
    "FINISH signed": (strategies.finish(), lambda m: m.signature is not None),
    "FINISH_RSP verify data": (strategies.finish_rsp(), lambda m: m.responder_verify_data is not None),
    "PSK_EXCHANGE 32-byte hint, 1024-byte context": (
        strategies.psk_exchange(),
        lambda m: len(m.psk_hint) == 32 and len(m.requester_context) == 1024,
    ),
    "PSK_EXCHANGE_RSP empty context, reserved set": (
        strategies.psk_exchange_rsp(),
        lambda m: not m.responder_context and m.reserved != 0,
    ),
    "ENCAPSULATED_REQUEST embedded request": (
        strategies.encapsulated_request(),
        lambda m: len(m.payload) >= 4 and m.payload[1] in (0x81, 0x82, 0x83, 0xE9),
    ),
    "ENCAPSULATED_RESPONSE_ACK ReqSlotID": (
        strategies.encapsulated_response_ack(),
        lambda m: m.payload_type == 2 and len(m.payload) == 1,
    ),
    "ENCAPSULATED_RESPONSE_ACK 1.3 AckRequestID": (
        strategies.encapsulated_response_ack(),
        lambda m: m.version == 0x13 and m.ack_request_id is not None,
    ),
    "opaque table of 255 elements": (opaque_table(), lambda t: len(t.elements) == 255),
    "opaque table of no element": (opaque_table(), lambda t: not t.elements),
    "SupportedVersionList of 255": (supported_version_list(), lambda r: len(r.versions) == 255),
    "HEARTBEAT 1.2": (strategies.heartbeat(), lambda m: m.version == 0x12),
}
_FIND = settings(
    max_examples=3000, database=None, phases=[Phase.generate], deadline=None, suppress_health_check=list(HealthCheck)
)


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@pytest.mark.parametrize("shape", list(SHAPES))
def test_strategies_reach_every_shape(shape: str) -> None:
    strategy, condition = SHAPES[shape]
    find(strategy, condition, settings=_FIND)


def _defined_from(cls: type[Message]) -> int:
    """The SPDM version that defines `cls`: its request's (SEND_EVENT, the responder's request, is 1.3's)."""
    request = Code(cls.code | 0x80)
    return 0x13 if request == Code.SEND_EVENT else REQUEST_NEEDS[request].version


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@pytest.mark.parametrize(
    ("cls", "version"),
    [
        pytest.param(cls, version, id=f"{cls.name}-{version:x}")
        for cls in CLASSES
        for version in SPDM_VERSIONS
        if version >= _defined_from(cls)
    ],
)
def test_strategies_reach_every_version(cls: type[Message], version: int) -> None:
    """Each message at every SPDM version that defines it, from its first to 1.3."""
    find(STRATEGIES[cls](), lambda m: m.version == version, settings=_FIND)


# --- never crash ----------------------------------------------------------------------------------


@given(data=st.binary(max_size=2048), context=any_context)
def test_arbitrary_bytes_raise_only_decode_error(data: bytes, context: CodecContext | None) -> None:
    _check_decoders(data, context)


@pytest.mark.parametrize("code", list(Code), ids=lambda code: code.name)
@given(
    version=st.one_of(st.sampled_from(SPDM_VERSIONS), st.integers(0, 0xFF)),
    body=st.binary(max_size=600),
    context=any_context,
)
def test_bytes_after_a_valid_header_raise_only_decode_error(
    code: Code, version: int, body: bytes, context: CodecContext | None
) -> None:
    _check_decoders(bytes([version, code]) + body, context)


@by_class
@given(data=st.data())
def test_mutated_messages_raise_only_decode_error(cls: type[Message], data: st.DataObject) -> None:
    sample = data.draw(any_message(cls), label="sample")
    mutated = data.draw(mutations(sample.wire), label="mutated")
    context = data.draw(st.sampled_from((sample.context, None, CodecContext())), label="context")
    _check_decoders(mutated, context)


@given(data=st.binary(max_size=16), extra=st.data())
def test_mutations_of_any_bytes(data: bytes, extra: st.DataObject) -> None:
    assert isinstance(extra.draw(mutations(data)), bytes)


# --- opaque data ----------------------------------------------------------------------------------


@given(table=opaque_table())
def test_opaque_round_trip(table: OpaqueTable) -> None:
    data = encode_opaque(table)
    assert decode_opaque(data) == table
    assert encode_opaque(decode_opaque(data)) == data


@given(offer=supported_version_list(), selection=version_selection())
def test_opaque_version_offer_and_selection(offer: SupportedVersionList, selection: VersionSelection) -> None:
    versions = offer.versions
    assert secured_message_versions(decode_opaque(version_list_opaque(versions))) == versions
    chosen = selection.selected_version
    assert selected_secured_message_version(decode_opaque(version_selection_opaque(chosen))) == chosen


def _check_opaque(data: bytes) -> None:
    try:
        table = decode_opaque(data)
    except DecodeError:
        return
    assert encode_opaque(table) == data
    for read in (secured_message_versions, selected_secured_message_version):
        with contextlib.suppress(DecodeError):
            read(table)


@given(data=st.one_of(st.binary(max_size=512), st.binary(max_size=512).map(lambda rest: b"FTMD\x01" + rest)))
def test_opaque_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    _check_opaque(data)


@given(data=st.data())
def test_opaque_mutations_raise_only_decode_error(data: st.DataObject) -> None:
    table = data.draw(opaque_table(), label="table")
    _check_opaque(data.draw(mutations(encode_opaque(table)), label="mutated"))


def test_the_strategies_without_hypothesis_say_how_to_get_it() -> None:
    """`spdm.testing` needs nothing beyond the runtime dependencies; its strategies need hypothesis,
    and say which extra brings it instead of a bare ModuleNotFoundError."""
    script = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import spdm.testing\n"
        "try:\n"
        "    import spdm.testing.strategies\n"
        "except ModuleNotFoundError as error:\n"
        "    print(error.name, error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.startswith("hypothesis spdm.testing.strategies needs hypothesis: pip install 'pyspdm[fuzz]'")
