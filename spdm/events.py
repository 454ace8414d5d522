"""SPDM 1.3 events: the rules both roles (and the verifier) share.

How events flow (DSP0274 1.3 event mechanism, as libspdm 1e16c60f implements it):

* Events exist only inside an established session: GET_SUPPORTED_EVENT_TYPES,
  SUBSCRIBE_EVENT_TYPES and SEND_EVENT outside one are SessionRequired
  (libspdm_rsp_supported_event_types.c, libspdm_rsp_subscribe_event_types_ack.c,
  libspdm_rsp_event_ack.c).
* The Event Recipient asks which event groups the Notifier supports (SUPPORTED_EVENT_TYPES) and
  subscribes (SUBSCRIBE_EVENT_TYPES). A subscription replaces the previous one; SubscribeEventGroupCount
  0 with an empty list unsubscribes from everything. A list that names a group or type the
  Notifier does not support is InvalidRequest and changes nothing (`subscription`).
* A Responder that is the Notifier cannot send a request of its own: its SEND_EVENT travels as an
  encapsulated request, which the Requester fetches with GET_ENCAPSULATED_REQUEST in the session and
  answers with EVENT_ACK in DELIVER_ENCAPSULATED_RESPONSE (libspdm_rsp_encap_send_event.c,
  libspdm_req_encap_event_ack.c). On PCIe DOE this is the only way: the device never initiates.
  (libspdm also lets a Requester with EVENT_CAP notify a Responder that subscribed through
  encapsulated requests, libspdm_req_send_event.c; not implemented here.)
* EVENT_ACK has no fields: it acknowledges every event of the SEND_EVENT it answers.
* EventInstanceIDs count up by one per event of a session; the events of one SEND_EVENT are a run
  without gaps or repeats, in any order (`received_events`, as libspdm_rsp_event_ack.c checks them).
* DMTF events (standards-vendor header ID 0, no VendorID): EventLost, MeasurementChanged,
  MeasurementPreUpdate, CertificateChanged, each with an EventDetail of a fixed size
  (spdm.h `SPDM_DMTF_EVENT_TYPE_*`, libspdm_com_event.c `libspdm_validate_dmtf_event_type`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from spdm.errors import DecodeError, ErrorCode, ProtocolError
from spdm.messages.codec import decode_records
from spdm.messages.events import Event, EventGroup, EventTypeEntry, SendEvent

__all__ = [
    "DMTF_DETAIL_SIZES",
    "DMTF_EVENT_GROUP",
    "DMTF_REGISTRY",
    "SUBSCRIBE_ALL",
    "DmtfEventType",
    "GroupId",
    "check_event",
    "check_groups",
    "check_notifier_groups",
    "check_svh",
    "decode_groups",
    "group_id",
    "received_events",
    "subscribe_all",
    "subscription",
    "supported_types",
]

DMTF_REGISTRY = 0
"""The standards-vendor header ID of DMTF (spdm.h `SPDM_REGISTRY_ID_DMTF`)."""

SUBSCRIBE_ALL = 1 << 0
"""SUBSCRIBE_EVENT_TYPES event group Attributes bit 0: every event type of the group
(spdm.h `SPDM_SUBSCRIBE_EVENT_TYPES_REQUEST_ATTRIBUTE_ALL`)."""

MAX_EVENT_INSTANCE_ID = 0xFFFF_FFFF


class DmtfEventType(enum.IntEnum):
    """EventTypeIDs of the DMTF event group (spdm.h `SPDM_DMTF_EVENT_TYPE_*`)."""

    EVENT_LOST = 1
    MEASUREMENT_CHANGED = 2
    MEASUREMENT_PRE_UPDATE = 3
    CERTIFICATE_CHANGED = 4


DMTF_DETAIL_SIZES: Mapping[int, int] = {
    DmtfEventType.EVENT_LOST: 8,  # LastAckedEventInstID, LastLostEventInstID (`EventLostDetail`)
    DmtfEventType.MEASUREMENT_CHANGED: 32,  # a bit per measurement index that changed
    DmtfEventType.MEASUREMENT_PRE_UPDATE: 32,  # a bit per measurement index about to change
    DmtfEventType.CERTIFICATE_CHANGED: 1,  # a bit per certificate slot that changed
}
"""The EventDetail size of each DMTF event type; no other DMTF type exists."""

DMTF_EVENT_GROUP = EventGroup(
    svh_id=DMTF_REGISTRY,
    event_group_ver=1,
    event_types=tuple(EventTypeEntry(event_type_id=t) for t in DmtfEventType),
)
"""The DMTF event group with every DMTF event type, as a Notifier lists it in SUPPORTED_EVENT_TYPES."""

GroupId = tuple[int, bytes]
"""An event group's name: its standards-vendor header (ID, VendorID)."""

# VendorID lengths each standards-vendor header ID allows (libspdm_com_support.c
# `libspdm_validate_svh_vendor_id_len`); an ID not listed is not defined.
_SVH_VENDOR_ID_LENGTHS: Mapping[int, frozenset[int]] = {
    0x0: frozenset({0}),  # DMTF
    0x1: frozenset({0, 2}),  # TCG
    0x2: frozenset({0, 2}),  # USB
    0x3: frozenset({0, 2}),  # PCI-SIG
    0x4: frozenset({0, 4}),  # IANA
    0x5: frozenset({0, 4}),  # HDBaseT
    0x6: frozenset({0, 2}),  # MIPI
    0x7: frozenset({0, 2}),  # CXL
    0x8: frozenset({0, 2}),  # JEDEC
    0x9: frozenset({0}),  # VESA
    0xA: frozenset({1, 2, 3, 5, 9}),  # IANA CBOR: a CBOR tag number
    0xB: frozenset({2}),  # DMTF DSP
}


def _invalid(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.InvalidRequest, reason)


def check_svh(svh_id: int, vendor_id: bytes) -> None:
    """A standards-vendor header's VendorID length must be one its ID allows (InvalidRequest)."""
    allowed = _SVH_VENDOR_ID_LENGTHS.get(svh_id)
    if allowed is None:
        raise _invalid(f"standards-vendor header ID 0x{svh_id:02x} is not defined")
    if len(vendor_id) not in allowed:
        raise _invalid(f"standards-vendor header ID 0x{svh_id:02x} with a {len(vendor_id)}-byte VendorID")


def group_id(group: EventGroup | Event) -> GroupId:
    """The group an event group entry or an event belongs to."""
    return group.svh_id, group.svh_vendor_id


def check_event(svh_id: int, vendor_id: bytes, event_type_id: int, detail: bytes) -> None:
    """One event's header, and for a DMTF event its type and EventDetail size (InvalidRequest)."""
    check_svh(svh_id, vendor_id)
    if svh_id != DMTF_REGISTRY:
        return
    size = DMTF_DETAIL_SIZES.get(event_type_id)
    if size is None:
        raise _invalid(f"DMTF EventTypeID {event_type_id} is not defined")
    if len(detail) != size:
        name = DmtfEventType(event_type_id).name
        raise _invalid(f"DMTF {name} has a {size}-byte EventDetail, not {len(detail)}")


def decode_groups(data: bytes, count: int, name: str) -> tuple[EventGroup, ...]:
    """`count` event groups read from a list (SupportedEventGroupsList, SubscribeList); each
    group's header checked, no group twice, no event type twice in a group."""
    try:
        groups = decode_records(EventGroup, data, count, name)
    except DecodeError as error:
        raise _invalid(str(error)) from None
    check_groups(groups, name)
    return groups


def check_groups(groups: Iterable[EventGroup], name: str) -> None:
    """Each group's header well formed, no group twice, no event type twice in a group (InvalidRequest)."""
    seen: set[GroupId] = set()
    for group in groups:
        check_svh(group.svh_id, group.svh_vendor_id)
        key = group_id(group)
        if key in seen:
            raise _invalid(f"{name} names event group {_describe(key)} twice")
        seen.add(key)
        types = [entry.event_type_id for entry in group.event_types]
        if len(set(types)) != len(types):
            raise _invalid(f"{name} names an event type of group {_describe(key)} twice")


def check_notifier_groups(groups: Iterable[EventGroup], name: str) -> None:
    """The event groups a Notifier supports: `check_groups`, and a DMTF group lists only the DMTF
    types (`DmtfEventType`), since an event of another could be neither raised nor received
    (libspdm_validate_dmtf_event_type); InvalidRequest. The Event Recipient does not hold the
    Notifier's SUPPORTED_EVENT_TYPES to this, as libspdm_req_get_supported_event_types.c does not:
    a type it does not know is one it need not subscribe to."""
    groups = tuple(groups)
    check_groups(groups, name)
    for group in groups:
        if group.svh_id != DMTF_REGISTRY:
            continue
        undefined = {entry.event_type_id for entry in group.event_types} - set(DMTF_DETAIL_SIZES)
        if undefined:
            raise _invalid(f"{name}: DMTF EventTypeID {min(undefined)} is not defined")


def supported_types(groups: Iterable[EventGroup]) -> dict[GroupId, frozenset[int]]:
    """The event types of each supported group."""
    return {group_id(g): frozenset(entry.event_type_id for entry in g.event_types) for g in groups}


def subscription(requested: Iterable[EventGroup], supported: Iterable[EventGroup]) -> dict[GroupId, frozenset[int]]:
    """What a SUBSCRIBE_EVENT_TYPES list subscribes to, by group: every listed group must be supported
    (in its version), and so must every listed type; Attributes bit 0 (`SUBSCRIBE_ALL`) takes
    every type of the group and then lists none; a group with neither subscribes to nothing."""
    versions = {group_id(g): g.event_group_ver for g in supported}
    types = supported_types(supported)
    chosen: dict[GroupId, frozenset[int]] = {}
    for group in requested:
        key = group_id(group)
        if key not in types:
            raise _invalid(f"event group {_describe(key)} is not supported")
        if group.event_group_ver != versions[key]:
            raise _invalid(f"event group {_describe(key)} version {group.event_group_ver}, not {versions[key]}")
        listed = frozenset(entry.event_type_id for entry in group.event_types)
        if group.attributes & SUBSCRIBE_ALL:
            if listed:
                raise _invalid(f"event group {_describe(key)} subscribes to all types and lists some")
            listed = types[key]
        unknown = listed - types[key]
        if unknown:
            raise _invalid(f"event group {_describe(key)} has no event type {min(unknown)}")
        chosen[key] = listed
    return chosen


def subscribe_all(group: EventGroup) -> EventGroup:
    """`group` as a SUBSCRIBE_EVENT_TYPES entry for every event type it has (Attributes bit 0)."""
    return EventGroup(
        svh_id=group.svh_id,
        svh_vendor_id=group.svh_vendor_id,
        event_group_ver=group.event_group_ver,
        attributes=SUBSCRIBE_ALL,
    )


def received_events(message: SendEvent) -> tuple[Event, ...]:
    """The events of a SEND_EVENT as the recipient checks them (libspdm_rsp_event_ack.c,
    libspdm_req_encap_event_ack.c), in EventInstanceID order: at least one event, every header
    and DMTF event well formed, and the EventInstanceIDs one run without gaps or repeats."""
    events = message.events
    if not events:
        raise _invalid("SEND_EVENT carries no event")
    for event in events:
        check_event(event.svh_id, event.svh_vendor_id, event.event_type_id, event.event_detail)
    ordered = tuple(sorted(events, key=lambda e: e.event_instance_id))
    first = ordered[0].event_instance_id
    if [e.event_instance_id - first for e in ordered] != list(range(len(ordered))):
        raise _invalid("the EventInstanceIDs of SEND_EVENT are not one run without gaps or repeats")
    return ordered


def _describe(key: GroupId) -> str:
    svh_id, vendor_id = key
    return f"0x{svh_id:02x}" + (f"/{vendor_id.hex()}" if vendor_id else "")
