"""The 1.1 encapsulated request flow of libspdm's mutual authentication (capture e4), in-session.

Captures are named by the letter of their folder in shared/vectors/libspdm (e: e_dhe_secp384_...).
"""

from __future__ import annotations

import pytest

import spdm.messages as m
from spdm.errors import DecodeError, EncodeError
from spdm.messages import Code, CodecContext
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
)

# GET_ENCAPSULATED_REQUEST, decrypted (capture e4, record 27)
GET_ENCAPSULATED_REQUEST = bytes.fromhex("11ea0000")
# ENCAPSULATED_REQUEST carrying GET_DIGESTS, decrypted (capture e4, record 28)
ENCAPSULATED_REQUEST = bytes.fromhex("116a010011810000")
# DELIVER_ENCAPSULATED_RESPONSE carrying DIGESTS of 3 slots, decrypted (capture e4, record 29)
DELIVER_ENCAPSULATED_RESPONSE = bytes.fromhex(
    "11eb010011010007662138939f8fd0cb1d08328cf84bef7d12b73927f77969ad8a1a73ce4df624c38ce0373f9250a239"
    "00000aa04a9678bb662138939f8fd0cb1d08328cf84bef7d12b73927f77969ad8a1a73ce4df624c38ce0373f9250a239"
    "00000aa04a9678bb662138939f8fd0cb1d08328cf84bef7d12b73927f77969ad8a1a73ce4df624c38ce0373f9250a239"
    "00000aa04a9678bb"
)
# ENCAPSULATED_RESPONSE_ACK carrying GET_CERTIFICATE, decrypted (capture e4, record 30)
ENCAPSULATED_RESPONSE_ACK = bytes.fromhex("116b0201118200000000f411")
# ENCAPSULATED_RESPONSE_ACK ending the flow, decrypted (capture e4, record 32)
ENCAPSULATED_RESPONSE_ACK_DONE = bytes.fromhex("116b0000")

SHA384 = CodecContext(hash_size=48)

VECTORS = [
    pytest.param(GET_ENCAPSULATED_REQUEST, id="get_encapsulated_request"),
    pytest.param(ENCAPSULATED_REQUEST, id="encapsulated_request"),
    pytest.param(DELIVER_ENCAPSULATED_RESPONSE, id="deliver_encapsulated_response"),
    pytest.param(ENCAPSULATED_RESPONSE_ACK, id="encapsulated_response_ack"),
    pytest.param(ENCAPSULATED_RESPONSE_ACK_DONE, id="encapsulated_response_ack_done"),
]


@pytest.mark.parametrize("data", VECTORS)
def test_captures_round_trip(data: bytes) -> None:
    assert m.encode(m.decode(data)) == data


def test_get_encapsulated_request() -> None:
    assert m.decode(GET_ENCAPSULATED_REQUEST) == GetEncapsulatedRequest()


def test_encapsulated_request_embeds_get_digests() -> None:
    msg = m.decode(ENCAPSULATED_REQUEST)
    assert isinstance(msg, EncapsulatedRequest)
    assert (msg.request_id, msg.param2) == (1, 0)
    assert msg.payload == bytes.fromhex("11810000")
    assert m.decode(msg.payload).code is Code.GET_DIGESTS


def test_deliver_encapsulated_response_embeds_digests() -> None:
    msg = m.decode(DELIVER_ENCAPSULATED_RESPONSE)
    assert isinstance(msg, DeliverEncapsulatedResponse)
    assert (msg.request_id, msg.param2) == (1, 0)
    assert msg.payload == DELIVER_ENCAPSULATED_RESPONSE[4:]
    assert m.decode(msg.payload, SHA384).code is Code.DIGESTS


def test_ack_embeds_the_next_request() -> None:
    msg = m.decode(ENCAPSULATED_RESPONSE_ACK)
    assert isinstance(msg, EncapsulatedResponseAck)
    # 1.1 layout: the embedded request starts right after the 4-byte header
    assert (msg.request_id, msg.payload_type) == (2, 1)
    assert msg.payload == bytes.fromhex("118200000000f411")
    assert m.decode(msg.payload).code is Code.GET_CERTIFICATE


def test_ack_ends_the_flow() -> None:
    msg = m.decode(ENCAPSULATED_RESPONSE_ACK_DONE)
    assert msg == EncapsulatedResponseAck(request_id=0, payload_type=0, payload=b"")


def test_ack_with_req_slot_id() -> None:
    msg = EncapsulatedResponseAck(request_id=0, payload_type=2, payload=b"\x03")
    data = m.encode(msg)
    assert data == bytes.fromhex("116b000203")
    assert m.decode(data) == msg


def test_payload_is_the_rest_of_the_message() -> None:
    # no length field: a trailing byte becomes part of the payload, a missing one shortens it
    longer = m.decode(ENCAPSULATED_REQUEST + b"\x00")
    shorter = m.decode(ENCAPSULATED_REQUEST[:-1])
    assert isinstance(longer, EncapsulatedRequest) and isinstance(shorter, EncapsulatedRequest)
    assert longer.payload == bytes.fromhex("1181000000")
    assert shorter.payload == bytes.fromhex("118100")
    with pytest.raises(DecodeError) as caught:
        m.decode(shorter.payload)
    assert (caught.value.message, caught.value.field) == ("SPDM", "header")


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        pytest.param(GET_ENCAPSULATED_REQUEST + b"\x00", "GET_ENCAPSULATED_REQUEST", "", id="trailing"),
        pytest.param(ENCAPSULATED_REQUEST[:3], "ENCAPSULATED_REQUEST", "param2", id="request"),
        pytest.param(
            DELIVER_ENCAPSULATED_RESPONSE[:3], "DELIVER_ENCAPSULATED_RESPONSE", "param2", id="deliver"
        ),
        pytest.param(ENCAPSULATED_RESPONSE_ACK[:3], "ENCAPSULATED_RESPONSE_ACK", "payload_type", id="ack"),
    ],
)
def test_malformed(data: bytes, message: str, field: str) -> None:
    cls = m.registry()[Code(data[1])]
    with pytest.raises(DecodeError) as caught:
        m.decode_as(cls, data)
    assert (caught.value.message, caught.value.field) == (message, field)


def test_encode_rejects_a_payload_that_is_not_bytes() -> None:
    with pytest.raises(EncodeError):
        m.encode(EncapsulatedRequest(request_id=1, payload="11810000"))  # type: ignore[arg-type]
