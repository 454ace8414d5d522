"""GET_SUPPORTED_EVENT_TYPES/SUPPORTED_EVENT_TYPES, SUBSCRIBE_EVENT_TYPES/SUBSCRIBE_EVENT_TYPES_ACK and
EVENT_ACK (SPDM 1.3), hand-built after libspdm's spdm.h structures (no capture has them yet)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.errors import DecodeError
from spdm.messages import decode, encode
from spdm.messages.codec import decode_record, decode_records, encode_record, encode_records
from spdm.messages.events import (
    Event,
    EventAck,
    EventGroup,
    EventLostDetail,
    GetSupportedEventTypes,
    SendEvent,
    SubscribeEventTypes,
    SubscribeEventTypesAck,
    SupportedEventTypes,
)
from spdm.testing import strategies

# one group, four bytes of SupportedEventGroupsList
SUPPORTED = bytes.fromhex("13620100" + "04000000" + "01020304")
SUBSCRIBE = bytes.fromhex("13f00100" + "02000000" + "aabb")
UNSUBSCRIBE = bytes.fromhex("13f00000")  # the bare header, as libspdm sends and takes it

EXAMPLES = {
    "get_supported_event_types": bytes.fromhex("13e20000"),
    "supported_event_types": SUPPORTED,
    "subscribe_event_types": SUBSCRIBE,
    "unsubscribe": UNSUBSCRIBE,
    "subscribe_event_types_ack": bytes.fromhex("13700000"),
    "event_ack": bytes.fromhex("13710000"),
}


@pytest.mark.parametrize("data", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_round_trip(data: bytes) -> None:
    assert encode(decode(data)) == data


def test_fields() -> None:
    assert decode(EXAMPLES["get_supported_event_types"]) == GetSupportedEventTypes()
    assert decode(SUPPORTED) == SupportedEventTypes(group_count=1, groups=bytes.fromhex("01020304"))
    assert decode(SUBSCRIBE) == SubscribeEventTypes(group_count=1, subscribe_list=bytes.fromhex("aabb"))
    assert decode(UNSUBSCRIBE) == SubscribeEventTypes()
    assert decode(EXAMPLES["subscribe_event_types_ack"]) == SubscribeEventTypesAck()
    assert decode(EXAMPLES["event_ack"]) == EventAck()


@pytest.mark.parametrize(
    ("data", "message", "field", "reason"),
    [
        (SUPPORTED[:-1], "SUPPORTED_EVENT_TYPES", "groups", "truncated"),
        (SUBSCRIBE + b"\x00", "SUBSCRIBE_EVENT_TYPES", "", "trailing"),
        (SUBSCRIBE[:7], "SUBSCRIBE_EVENT_TYPES", "_subscribe_length", "truncated"),
        (UNSUBSCRIBE + bytes(4), "SUBSCRIBE_EVENT_TYPES", "", "trailing"),
    ],
    ids=["groups_short", "subscribe_trailing", "subscribe_truncated", "unsubscribe_with_length"],
)
def test_rejected(data: bytes, message: str, field: str, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert (caught.value.message, caught.value.field) == (message, field)
    assert reason in caught.value.reason


# two events: a DMTF MEASUREMENT_CHANGED with a 1-byte detail and one with a 2-byte vendor ID, no detail
SEND_EVENT = bytes.fromhex(
    "13f10000"
    + "02000000"
    + "07000000"
    + "00000000"
    + "00"
    + "00"
    + "0200"
    + "0100"
    + "05"
    + "08000000"
    + "00000000"
    + "03"
    + "02"
    + "b105"
    + "0100"
    + "0000"
)


def test_send_event_reads_each_event_whole() -> None:
    msg = decode(SEND_EVENT)
    assert isinstance(msg, SendEvent) and encode(msg) == SEND_EVENT
    first, second = msg.events
    assert (first.event_instance_id, first.svh_id, first.event_type_id, first.event_detail) == (7, 0, 2, b"\x05")
    assert (second.svh_id, second.svh_vendor_id, second.event_detail) == (3, b"\xb1\x05", b"")
    assert msg.events[0] == Event(event_instance_id=7, event_type_id=2, event_detail=b"\x05")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (SEND_EVENT[:-1], "truncated"),  # the last event's detail length promises more
        (SEND_EVENT + b"\x00", "trailing"),
        (bytes.fromhex("13f10000" + "ffffffff"), "truncated"),  # a count the bytes cannot hold
    ],
    ids=["short", "extra", "count"],
)
def test_send_event_refuses(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert caught.value.message == "SEND_EVENT" and reason in caught.value.reason


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(strategies.event_group(), max_size=3), lost=strategies.event_lost_detail())
def test_event_records_round_trip(groups: list[EventGroup], lost: EventLostDetail) -> None:
    data = encode_records(tuple(groups), "list")
    assert decode_records(EventGroup, data, len(groups), "list") == tuple(groups)
    assert decode_record(EventLostDetail, encode_record(lost, "d"), "d") == lost
    if groups:
        with pytest.raises(DecodeError):
            decode_records(EventGroup, data[:-1], len(groups), "list")
