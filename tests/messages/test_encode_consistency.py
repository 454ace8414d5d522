"""`encode` sends what the object says, or refuses: ``decode(encode(m), context) == m`` whenever encode
succeeds. A field the message's version (or another field) leaves off the wire is refused when given,
not dropped: the reviewer's cases (GET_CAPABILITIES, CAPABILITIES, NEGOTIATE_ALGORITHMS, ALGORITHMS,
CHALLENGE, GET_MEASUREMENTS, ENCAPSULATED_RESPONSE_ACK), then every message with fields taken from
another message of its class, drawn at another version perhaps."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import EncodeError
from spdm.messages import CodecContext, Message, decode, encode
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.encapsulated import EncapsulatedResponseAck
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.messages.negotiation import (
    SPDM_VERSIONS,
    Algorithms,
    Capabilities,
    GetCapabilities,
    NegotiateAlgorithms,
    SupportedAlgorithms,
)
from spdm.testing.strategies import STRATEGIES, any_message

CONTEXT = CodecContext(hash_size=32, signature_size=64, req_signature_size=64, dhe_size=64)
SIZES = {"data_transfer_size": 0x1200, "max_spdm_msg_size": 0x1200}
ALGORITHMS = {"measurement_hash_algo": 1, "base_asym_sel": 0x10, "base_hash_sel": 1, "measurement_specification_sel": 1}
OFFER = {"measurement_specification": 1, "base_asym_algo": 0x10, "base_hash_algo": 1}
CONTEXT_8 = b"ABCDEFGH"


def _round_trips_or_refused(msg: Message, context: CodecContext) -> None:
    try:
        wire = encode(msg)
    except EncodeError:
        return
    assert decode(wire, context) == msg, wire.hex()


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        (GetCapabilities(version=0x11, **SIZES), "data_transfer_size"),
        (Capabilities(version=0x11, **SIZES), "data_transfer_size"),
        (Capabilities(version=0x12, **SIZES, supported_algorithms=SupportedAlgorithms()), "supported_algorithms"),
        (Capabilities(version=0x13, **SIZES, supported_algorithms=SupportedAlgorithms()), "supported_algorithms"),
        (GetCapabilities(version=0x10, flags=0), "flags"),
        (GetCapabilities(version=0x10, ct_exponent=12), "ct_exponent"),
        (NegotiateAlgorithms(version=0x12, **OFFER, mel_specification=1), "mel_specification"),
        (Algorithms(version=0x12, **ALGORITHMS, mel_specification_sel=1), "mel_specification_sel"),
        (Challenge(version=0x12, nonce=bytes(32), requester_context=CONTEXT_8), "requester_context"),
        (
            ChallengeAuth(
                version=0x12,
                slot_mask=1,
                cert_chain_hash=bytes(32),
                nonce=bytes(32),
                requester_context=CONTEXT_8,
                signature=bytes(64),
            ),
            "requester_context",
        ),
        (GetMeasurements(version=0x12, operation=1, requester_context=CONTEXT_8), "requester_context"),
        (Measurements(version=0x12, nonce=bytes(32), requester_context=CONTEXT_8), "requester_context"),
        (EncapsulatedResponseAck(version=0x11, request_id=1, ack_request_id=7, reserved=bytes(3)), "ack_request_id"),
        (EncapsulatedResponseAck(version=0x11, request_id=1, reserved=bytes(3)), "reserved"),
        # and the other way: a field the version carries, missing
        (GetCapabilities(version=0x12), "data_transfer_size"),
        (Capabilities(version=0x12), "data_transfer_size"),
        (Capabilities(version=0x13, param1=1, **SIZES), "supported_algorithms"),
        (NegotiateAlgorithms(version=0x13, **OFFER), "mel_specification"),
        (Algorithms(version=0x13, **ALGORITHMS), "mel_specification_sel"),
        (Challenge(version=0x13, nonce=bytes(32)), "requester_context"),
        (GetMeasurements(version=0x13, operation=1), "requester_context"),
        (EncapsulatedResponseAck(version=0x12, request_id=1), "ack_request_id"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Message) else None,
)
def test_a_field_at_odds_with_the_version_is_refused(msg: Message, field: str) -> None:
    """Present where the version does not carry it (the wire would drop it), or missing where it does."""
    with pytest.raises(EncodeError) as raised:
        encode(msg)
    assert (raised.value.message, raised.value.field) == (msg.name, field)


@pytest.mark.parametrize(
    "msg",
    [
        GetMeasurements(version=0x10, attributes=1, operation=1, nonce=bytes(32)),
        Challenge(version=0x13, nonce=bytes(32), requester_context=CONTEXT_8),
        NegotiateAlgorithms(version=0x13, **OFFER, mel_specification=1),
        Algorithms(version=0x13, **ALGORITHMS, mel_specification_sel=1),
        Capabilities(version=0x13, param1=1, **SIZES, supported_algorithms=SupportedAlgorithms()),
        EncapsulatedResponseAck(version=0x12, request_id=1, ack_request_id=7, reserved=bytes(3)),
    ],
    ids=lambda msg: f"{type(msg).__name__}-{msg.version:x}",
)
def test_a_field_at_its_version_round_trips(msg: Message) -> None:
    assert decode(encode(msg), CONTEXT) == msg


@pytest.mark.parametrize("version", [0x10, 0x11])
def test_the_default_get_capabilities_of_a_version_round_trips(version: int) -> None:
    """1.0: the header alone, the 1.1 fields None; 1.1: those fields 0. (From 1.2 the request must
    state its DataTransferSize and MaxSPDMmsgSize, which have no default.)"""
    msg = GetCapabilities(version=version)
    assert (msg.flags is None) == (version == 0x10)
    assert decode(encode(msg)) == msg


@st.composite
def _mixed(draw: st.DrawFn) -> tuple[Message, CodecContext]:
    """A message with some fields, the version perhaps among them, taken from another message of its
    class drawn under the same context, or with another version."""
    sample = draw(any_message())
    cls = type(sample.message)
    other = draw(STRATEGIES[cls](sample.context))
    names = [f.name for f in dataclasses.fields(sample.message)]
    taken = draw(st.sets(st.sampled_from(names), min_size=1, max_size=3))
    changes = {name: getattr(other, name) for name in taken}
    if draw(st.booleans()):
        changes["version"] = draw(st.sampled_from(SPDM_VERSIONS))
    return dataclasses.replace(sample.message, **changes), sample.context


@given(_mixed())
def test_encode_round_trips_or_refuses_mixed_versions(mixed: tuple[Message, CodecContext]) -> None:
    _round_trips_or_refused(*mixed)
