"""GET_SUPPORTED_EVENT_TYPES/SUPPORTED_EVENT_TYPES, SUBSCRIBE_EVENT_TYPES/SUBSCRIBE_EVENT_TYPES_ACK,
SEND_EVENT and EVENT_ACK: the event mechanism (SPDM 1.3).

Layouts per libspdm's include/industry_standard/spdm.h (spdm_get_supported_event_types_request_t,
spdm_supported_event_types_response_t, spdm_subscribe_event_types_request_t,
spdm_subscribe_event_types_ack_response_t, spdm_event_ack_response_t). Param1 of
SUPPORTED_EVENT_TYPES and SUBSCRIBE_EVENT_TYPES counts the event groups in the list; the groups
themselves stay bytes. SEND_EVENT's list has no length of its own: it is EventCount events, each
read whole (spdm_send_event_request_t; the event layout as libspdm_com_event.c reads it:
EventInstanceID u32, four reserved bytes, the standards-vendor header (ID, VendorIDLen, VendorID),
EventTypeID u16, EventDetailLen u16, EventDetail).
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._codec import Message, Record, message, record
from spdm.messages._layout import field, length_of
from spdm.messages.codes import Code

__all__ = [
    "Event",
    "EventAck",
    "GetSupportedEventTypes",
    "SendEvent",
    "SubscribeEventTypes",
    "SubscribeEventTypesAck",
    "SupportedEventTypes",
]


@message(Code.GET_SUPPORTED_EVENT_TYPES, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetSupportedEventTypes(Message):
    """Param1 and Param2 are reserved."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0


@message(
    Code.SUPPORTED_EVENT_TYPES,
    "group_count" / c.Int8ul,
    "param2" / c.Int8ul,
    "_groups_length" / c.Rebuild(c.Int32ul, length_of("groups")),
    "groups" / c.Bytes(field("_groups_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class SupportedEventTypes(Message):
    """`groups` is the SupportedEventGroupsList of `group_count` event groups."""

    version: int = 0x13
    group_count: int
    param2: int = 0
    groups: bytes


@message(
    Code.SUBSCRIBE_EVENT_TYPES,
    "group_count" / c.Int8ul,
    "param2" / c.Int8ul,
    "_subscribe_length" / c.Rebuild(c.Int32ul, length_of("subscribe_list")),
    "subscribe_list" / c.Bytes(field("_subscribe_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeEventTypes(Message):
    """`subscribe_list` names the event types of `group_count` groups; empty (and no groups) unsubscribes."""

    version: int = 0x13
    group_count: int = 0
    param2: int = 0
    subscribe_list: bytes = b""


@message(Code.SUBSCRIBE_EVENT_TYPES_ACK, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeEventTypesAck(Message):
    """Param1 and Param2 are reserved."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0


@message(Code.EVENT_ACK, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class EventAck(Message):
    """Param1 and Param2 are reserved."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0


@record(
    "event_instance_id" / c.Int32ul,
    "reserved" / c.Int32ul,
    "svh_id" / c.Int8ul,
    "_vendor_id_length" / c.Rebuild(c.Int8ul, length_of("svh_vendor_id")),
    "svh_vendor_id" / c.Bytes(field("_vendor_id_length")),
    "event_type_id" / c.Int16ul,
    "_detail_length" / c.Rebuild(c.Int16ul, length_of("event_detail")),
    "event_detail" / c.Bytes(field("_detail_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Record):
    """One event of SEND_EVENT: who raised it (the standards-vendor header), its type and detail."""

    event_instance_id: int
    reserved: int = 0
    svh_id: int = 0
    svh_vendor_id: bytes = b""
    event_type_id: int
    event_detail: bytes = b""


@message(
    Code.SEND_EVENT,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "_event_count" / c.Rebuild(c.Int32ul, length_of("events")),
    "events" / c.Array(field("_event_count"), Event.layout),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class SendEvent(Message):
    """The events a responder sends (inside a session); each is read whole, so the list needs no length."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0
    events: tuple[Event, ...]
