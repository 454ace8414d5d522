"""The SPDM 1.3 event rules (`spdm.events`) and the responder's per-session event queue
(`spdm.responder.events.SessionEvents`), without a connection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.errors import DecodeError, EncodeError, ErrorCode, ProtocolError
from spdm.events import (
    DMTF_EVENT_GROUP,
    DmtfEventType,
    check_notifier_groups,
    decode_groups,
    received_events,
    subscribe_all,
    subscription,
)
from spdm.messages import decode, encode
from spdm.messages.codec import decode_record, encode_record, encode_records
from spdm.messages.encapsulated import EncapsulatedRequest
from spdm.messages.events import (
    Event,
    EventGroup,
    EventLostDetail,
    EventTypeEntry,
    SendEvent,
    SubscribeEventTypes,
)
from spdm.responder.events import MAX_PENDING_EVENTS, SessionEvents, subscribe

DMTF = (0, b"")
# libspdm's generate_dmtf_event_group(attributes=0, all four types): SVH 00 00, EventTypeCount 4,
# EventGroupVer 1, Attributes 0, then EventTypeID and two reserved bytes per type
DMTF_GROUP_BYTES = bytes.fromhex(
    "0000" + "0400" + "0100" + "00000000" + "01000000" + "02000000" + "03000000" + "04000000"
)
DMTF_ALL_BYTES = bytes.fromhex("0000" + "0000" + "0100" + "01000000")
PCISIG = EventGroup(svh_id=3, svh_vendor_id=b"\x86\x80", event_types=(EventTypeEntry(event_type_id=7),))


def _invalid(call: object, *args: object) -> str:
    with pytest.raises(ProtocolError) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.error_code == ErrorCode.InvalidRequest
    return str(caught.value)


def _event(instance_id: int, type_id: int = DmtfEventType.CERTIFICATE_CHANGED, detail: bytes = b"\x01") -> Event:
    return Event(event_instance_id=instance_id, event_type_id=type_id, event_detail=detail)


# --- the event group list -----------------------------------------------------------------------


def test_dmtf_group_is_byte_exact() -> None:
    assert encode_record(DMTF_EVENT_GROUP, "group") == DMTF_GROUP_BYTES
    assert encode_record(subscribe_all(DMTF_EVENT_GROUP), "group") == DMTF_ALL_BYTES
    two = encode_records((DMTF_EVENT_GROUP, PCISIG), "list")
    assert decode_groups(two, 2, "list") == (DMTF_EVENT_GROUP, PCISIG)


@pytest.mark.parametrize(
    ("data", "count", "reason"),
    [
        (DMTF_GROUP_BYTES, 2, "ends after 1"),
        (DMTF_GROUP_BYTES + b"\x00", 1, "trailing"),
        (DMTF_GROUP_BYTES[:-1], 1, "truncated"),
        (DMTF_GROUP_BYTES * 2, 2, "names event group 0x00 twice"),
        (bytes.fromhex("0000" + "0200" + "0100" + "00000000" + "01000000" + "01000000"), 1, "event type"),
        (bytes.fromhex("0001aa" + "0000" + "0100" + "00000000"), 1, "1-byte VendorID"),
        (bytes.fromhex("0c00" + "0000" + "0100" + "00000000"), 1, "0x0c is not defined"),
    ],
    ids=["count", "trailing", "truncated", "group_twice", "type_twice", "dmtf_vendor_id", "unknown_svh"],
)
def test_group_list_refused(data: bytes, count: int, reason: str) -> None:
    assert reason in _invalid(decode_groups, data, count, "SubscribeList")


# --- what a subscription list means -------------------------------------------------------------


def test_subscription() -> None:
    supported = (DMTF_EVENT_GROUP, PCISIG)
    every = frozenset(DmtfEventType)
    assert subscription((), supported) == {}
    assert subscription((subscribe_all(DMTF_EVENT_GROUP),), supported) == {DMTF: every}
    assert subscription(supported, supported) == {DMTF: every, (3, b"\x86\x80"): frozenset({7})}
    one = EventGroup(svh_id=0, event_types=(EventTypeEntry(event_type_id=DmtfEventType.MEASUREMENT_CHANGED),))
    assert subscription((one,), supported) == {DMTF: frozenset({2})}
    assert subscription((EventGroup(svh_id=0),), supported) == {DMTF: frozenset()}


@pytest.mark.parametrize(
    ("group", "reason"),
    [
        (EventGroup(svh_id=1), "0x01 is not supported"),
        (EventGroup(svh_id=0, event_group_ver=2), "version 2, not 1"),
        (EventGroup(svh_id=0, event_types=(EventTypeEntry(event_type_id=5),)), "no event type 5"),
        (
            EventGroup(svh_id=0, attributes=1, event_types=(EventTypeEntry(event_type_id=1),)),
            "all types and lists some",
        ),
    ],
    ids=["unknown_group", "version", "unknown_type", "all_and_list"],
)
def test_subscription_refused(group: EventGroup, reason: str) -> None:
    assert reason in _invalid(subscription, (group,), (DMTF_EVENT_GROUP,))


# --- SEND_EVENT as the recipient checks it ------------------------------------------------------


def test_received_events_in_instance_order() -> None:
    events = (_event(9), _event(7), _event(8))
    assert [e.event_instance_id for e in received_events(SendEvent(events=events))] == [7, 8, 9]
    lost = encode_record(EventLostDetail(last_acked_event_instance_id=3, last_lost_event_instance_id=5), "d")
    assert received_events(SendEvent(events=(_event(6, DmtfEventType.EVENT_LOST, lost),)))[0].event_detail == lost


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ((), "no event"),
        ((_event(1), _event(3)), "not one run"),
        ((_event(1), _event(1)), "not one run"),
        ((_event(1, DmtfEventType.MEASUREMENT_CHANGED, bytes(31)),), "32-byte EventDetail, not 31"),
        ((_event(1, 9),), "EventTypeID 9 is not defined"),
        ((Event(event_instance_id=1, svh_id=4, svh_vendor_id=b"\x01\x02", event_type_id=1),), "2-byte VendorID"),
    ],
    ids=["empty", "gap", "repeat", "detail_size", "unknown_dmtf_type", "vendor_id"],
)
def test_received_events_refused(events: tuple[Event, ...], reason: str) -> None:
    assert reason in _invalid(received_events, SendEvent(events=events))


def test_event_lost_detail_layout() -> None:
    detail = EventLostDetail(last_acked_event_instance_id=0xFFEEDDCC, last_lost_event_instance_id=0x55667788)
    assert encode_record(detail, "d") == bytes.fromhex("ccddeeff88776655")
    assert decode_record(EventLostDetail, bytes.fromhex("ccddeeff88776655"), "d") == detail
    with pytest.raises(DecodeError):
        decode_record(EventLostDetail, bytes(7), "d")


# --- the responder's queue of one session --------------------------------------------------------


def _send(events: SessionEvents, room: int | None = None) -> SendEvent | None:
    """The SEND_EVENT of the ENCAPSULATED_REQUEST `events.send_event` builds."""
    request = events.send_event(0x13, room)
    if request is None:
        return None
    carrier = decode(request)
    assert isinstance(carrier, EncapsulatedRequest) and carrier.request_id == events.request_id
    assert len(request) <= (room or len(request))
    send = decode(carrier.payload)
    assert isinstance(send, SendEvent)
    return send


def _subscribed(*types: int) -> SessionEvents:
    events = SessionEvents()
    events.subscribe({DMTF: frozenset(types)})
    return events


def test_queue_send_acknowledge() -> None:
    events = _subscribed(DmtfEventType.CERTIFICATE_CHANGED)
    assert _send(events) is None
    assert events.queue(DMTF, DmtfEventType.MEASUREMENT_CHANGED, bytes(32)) is None  # not subscribed
    assert [events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01") for _ in range(3)] == [0, 1, 2]
    sent = _send(events)
    assert sent is not None and [e.event_instance_id for e in sent.events] == [0, 1, 2]
    assert decode(encode(sent)) == sent
    assert events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x02") == 3  # raised while in flight
    events.acknowledged()
    assert events.last_acked == 2
    again = _send(events)
    assert again is not None and [e.event_instance_id for e in again.events] == [3]


def test_refused_events_come_again_with_their_ids() -> None:
    events = _subscribed(DmtfEventType.CERTIFICATE_CHANGED)
    events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
    first = _send(events)
    events.refused()
    second = _send(events)
    assert first is not None and second is not None
    assert first.events == second.events
    assert events.request_id == 2  # a new encapsulated request each time


def test_overflow_is_one_event_lost() -> None:
    events = _subscribed(DmtfEventType.CERTIFICATE_CHANGED, DmtfEventType.EVENT_LOST)
    for _ in range(MAX_PENDING_EVENTS):
        events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
    # the queue is full: the next two are lost; EventLost takes ID 32, the lost ones 33 and 34
    assert events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01") == 33
    assert events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01") == 34
    sent = _send(events)
    assert sent is not None and len(sent.events) == MAX_PENDING_EVENTS + 1
    lost = sent.events[-1]
    assert (lost.event_instance_id, lost.event_type_id) == (32, DmtfEventType.EVENT_LOST)
    assert decode_record(EventLostDetail, lost.event_detail, "d") == EventLostDetail(
        last_acked_event_instance_id=0xFFFF_FFFF, last_lost_event_instance_id=34
    )
    assert received_events(sent) == sent.events  # one run, as the recipient requires
    events.acknowledged()
    assert events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01") == 35


def test_overflow_without_event_lost_subscription_skips_ids() -> None:
    events = _subscribed(DmtfEventType.CERTIFICATE_CHANGED)
    for _ in range(MAX_PENDING_EVENTS + 2):
        events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
    sent = _send(events)
    assert sent is not None and [e.event_instance_id for e in sent.events] == list(range(MAX_PENDING_EVENTS))
    events.acknowledged()
    assert events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01") == MAX_PENDING_EVENTS + 2


def test_a_new_subscription_drops_waiting_events_and_sends_one_run() -> None:
    events = _subscribed(DmtfEventType.CERTIFICATE_CHANGED, DmtfEventType.MEASUREMENT_CHANGED)
    events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01")  # 0
    events.queue(DMTF, DmtfEventType.MEASUREMENT_CHANGED, bytes(32))  # 1, dropped below
    events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x02")  # 2
    events.subscribe({DMTF: frozenset({DmtfEventType.CERTIFICATE_CHANGED})})
    first = _send(events)
    assert first is not None and [e.event_instance_id for e in first.events] == [0]
    events.acknowledged()
    second = _send(events)
    assert second is not None and [e.event_instance_id for e in second.events] == [2]
    events.acknowledged()
    events.subscribe({})
    assert events.queue(DMTF, DmtfEventType.CERTIFICATE_CHANGED, b"\x01") is None


def test_a_send_event_carries_only_what_fits_the_room() -> None:
    """As many events of the run as the ENCAPSULATED_REQUEST the requester takes can carry; the rest
    go in the next one (libspdm_rsp_encap_send_event.c: the room left for the event list)."""
    events = _subscribed(DmtfEventType.MEASUREMENT_CHANGED)
    for _ in range(30):
        events.queue(DMTF, DmtfEventType.MEASUREMENT_CHANGED, bytes(32))
    three = len(encode(EncapsulatedRequest(request_id=1, payload=encode(SendEvent(events=tuple(events.pending[:3]))))))
    first = _send(events, room=three + 45)  # one more event is 46 bytes
    assert first is not None and [e.event_instance_id for e in first.events] == [0, 1, 2]
    assert events.in_flight == 3
    events.acknowledged()
    sent: list[int] = []
    while (more := _send(events, room=1200)) is not None:
        sent += [e.event_instance_id for e in more.events]
        events.acknowledged()
    assert sent == list(range(3, 30))


def test_a_send_event_that_does_not_build_leaves_nothing_in_flight() -> None:
    """An event whose EventDetail is over EventDetailLen (`Responder.raise_event` refuses it) makes
    no SEND_EVENT: EncodeError, and the queue is as it was, nothing in flight, no RequestID taken."""
    events = SessionEvents()
    events.subscribe({(3, b"\x86\x80"): frozenset({7})})
    assert events.queue((3, b"\x86\x80"), 7, bytes(0x10000)) == 0
    with pytest.raises(EncodeError):
        events.send_event(0x13)
    assert (events.in_flight, events.request_id, len(events.pending)) == (0, 0, 1)


def test_a_notifier_supports_only_the_dmtf_types_there_are() -> None:
    """ResponderConfig.event_groups may not list a DMTF type spdm.h does not define; the requester
    takes a SUPPORTED_EVENT_TYPES that does (libspdm_req_get_supported_event_types.c checks no type)."""
    nine = EventGroup(svh_id=0, event_types=(EventTypeEntry(event_type_id=9),))
    assert "DMTF EventTypeID 9 is not defined" in _invalid(check_notifier_groups, (nine,), "event_groups")
    check_notifier_groups((DMTF_EVENT_GROUP, PCISIG), "event_groups")
    assert decode_groups(encode_record(nine, "g"), 1, "SupportedEventGroupsList") == (nine,)


# --- any subscription list: acknowledged, or refused with nothing changed -----------------------


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=3),
    data=st.one_of(
        st.binary(max_size=64),
        st.lists(st.sampled_from([DMTF_ALL_BYTES, DMTF_GROUP_BYTES, encode_record(PCISIG, "g")]), max_size=3).map(
            b"".join
        ),
    ),
)
def test_any_subscribe_list_is_taken_whole_or_refused(count: int, data: bytes) -> None:
    events = SessionEvents()
    events.subscribe({DMTF: frozenset({DmtfEventType.CERTIFICATE_CHANGED})})
    before = dict(events.subscribed)
    ask = SubscribeEventTypes(group_count=count, subscribe_list=data)
    try:
        answer = subscribe(events, (DMTF_EVENT_GROUP,), ask)
    except ProtocolError as error:
        assert error.error_code == ErrorCode.InvalidRequest
        assert events.subscribed == before
    else:
        assert answer == bytes.fromhex("13700000")
        assert set(events.subscribed) <= {DMTF}
