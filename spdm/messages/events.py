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

The event group of SupportedEventGroupsList and SubscribeList (`EventGroup`) is read as libspdm's
unit tests build it (unit_test/spdm_unit_test_common/event_support.c `generate_dmtf_event_group`):
the standards-vendor header naming the group, EventTypeCount u16, EventGroupVer u16, Attributes
u32, then EventTypeCount event types of EventTypeID u16 and two reserved bytes each. libspdm itself
hands both lists to its integrator as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of, of, require, when
from spdm.messages.codec import Message, Record, message, record
from spdm.messages.codes import Code

__all__ = [
    "Event",
    "EventAck",
    "EventGroup",
    "EventLostDetail",
    "EventTypeEntry",
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


_SUBSCRIBING = when("group_count", ">=", 1)


def _list_length(length: int | None) -> int:
    return length or 0


def _unsubscribe_is_empty(group_count: int, subscribe_list: bytes) -> bool:
    return group_count >= 1 or not subscribe_list


@message(
    Code.SUBSCRIBE_EVENT_TYPES,
    "group_count" / c.Int8ul,
    "param2" / c.Int8ul,
    "_subscribe_length" / c.Rebuild(c.If(_SUBSCRIBING, c.Int32ul), length_of("subscribe_list")),
    "subscribe_list" / c.Bytes(of(_list_length, "_subscribe_length")),
    require(of(_unsubscribe_is_empty, "group_count", "subscribe_list"), "a SubscribeList with no group"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeEventTypes(Message):
    """`subscribe_list` names the event types of `group_count` groups. With no group the request is
    the bare header, which unsubscribes (libspdm_req_subscribe_event_types.c sends 4 bytes and
    libspdm_rsp_subscribe_event_types_ack.c takes no more)."""

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


@record("event_type_id" / c.Int16ul, "reserved" / c.Int16ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class EventTypeEntry(Record):
    """One event type of an event group."""

    event_type_id: int
    reserved: int = 0


@record(
    "svh_id" / c.Int8ul,
    "_vendor_id_length" / c.Rebuild(c.Int8ul, length_of("svh_vendor_id")),
    "svh_vendor_id" / c.Bytes(field("_vendor_id_length")),
    "_event_type_count" / c.Rebuild(c.Int16ul, length_of("event_types")),
    "event_group_ver" / c.Int16ul,
    "attributes" / c.Int32ul,
    "event_types" / c.Array(field("_event_type_count"), EventTypeEntry.layout),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class EventGroup(Record):
    """An event group (named by its standards-vendor header) and event types of it.

    In SUBSCRIBE_EVENT_TYPES, `attributes` bit 0 subscribes to every type of the group (the list
    is then empty); in SUPPORTED_EVENT_TYPES it is reserved.
    """

    svh_id: int
    svh_vendor_id: bytes = b""
    event_group_ver: int = 1
    attributes: int = 0
    event_types: tuple[EventTypeEntry, ...] = ()


@record("last_acked_event_instance_id" / c.Int32ul, "last_lost_event_instance_id" / c.Int32ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class EventLostDetail(Record):
    """EventDetail of the DMTF EventLost event (spdm.h `spdm_dmtf_event_type_event_lost_t`)."""

    last_acked_event_instance_id: int
    last_lost_event_instance_id: int
