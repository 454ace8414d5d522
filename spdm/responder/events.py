"""The responder as the Notifier of SPDM 1.3 events: what it supports, each session's subscription
and the events waiting for it (the rules are `spdm.events`').

`SessionEvents` is what one session keeps: the event types it subscribed to, the events raised
for it and not yet acknowledged, and its EventInstanceID counter. An emulator raises an event with
`Responder.raise_event`; it waits in each subscribed session until the requester asks
(GET_ENCAPSULATED_REQUEST), goes out as SEND_EVENT in ENCAPSULATED_REQUEST and is gone once the
DELIVER_ENCAPSULATED_RESPONSE carries EVENT_ACK. A requester that answers ERROR instead leaves the
events waiting: the next GET_ENCAPSULATED_REQUEST carries them again, with the same IDs.

Bounds: a session keeps at most `MAX_PENDING_EVENTS` events. One raised while they wait is lost:
it still takes its EventInstanceID, and a session subscribed to EventLost gets one EventLost
(LastAckedEventInstID, LastLostEventInstID) in the queue instead, kept up to date until it is
sent. A SEND_EVENT carries the waiting events up to the first gap in their IDs (lost ones, or
ones dropped by a new subscription), so each is one run as the recipient requires, and only as
many of them as fit the ENCAPSULATED_REQUEST the requester takes (`send_event_room`, as
libspdm_rsp_encap_send_event.c gives libspdm_generate_event_list only the room left); the rest
go in the next one. `check_sendable` refuses, when it is raised, an event that would not fit
alone, so the first waiting event always goes and none blocks the queue. As libspdm's responder,
each GET_ENCAPSULATED_REQUEST flow carries one SEND_EVENT: the requester asks again for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from spdm.chunking import transfer_size
from spdm.errors import EncodeError
from spdm.events import (
    DMTF_REGISTRY,
    MAX_EVENT_INSTANCE_ID,
    DmtfEventType,
    GroupId,
    decode_groups,
    group_id,
    subscription,
)
from spdm.messages import encode
from spdm.messages.codec import encode_record, encode_records
from spdm.messages.encapsulated import EncapsulatedRequest
from spdm.messages.events import (
    Event,
    EventGroup,
    EventLostDetail,
    SendEvent,
    SubscribeEventTypes,
    SubscribeEventTypesAck,
    SupportedEventTypes,
)
from spdm.negotiated import Negotiated
from spdm.responder._common import next_request_id

__all__ = [
    "MAX_PENDING_EVENTS",
    "SessionEvents",
    "check_sendable",
    "send_event_room",
    "subscribe",
    "supported_event_types",
]

MAX_PENDING_EVENTS = 32
_EVENT_LOST = (DMTF_REGISTRY, b"", int(DmtfEventType.EVENT_LOST))


@dataclass(slots=True, eq=False)
class SessionEvents:
    """The Notifier's side of one session: its subscription and the events waiting for it."""

    subscribed: dict[GroupId, frozenset[int]] = field(default_factory=dict)
    pending: list[Event] = field(default_factory=list)
    next_id: int = 0
    last_acked: int = MAX_EVENT_INSTANCE_ID
    """EventInstanceID of the last event acknowledged (one before the first while none is)."""
    in_flight: int = 0
    """How many events at the front of `pending` the unacknowledged SEND_EVENT carries."""
    request_id: int = 0
    """RequestID of the ENCAPSULATED_REQUEST that carried the last SEND_EVENT."""

    def subscribes(self, group: GroupId, event_type_id: int) -> bool:
        return event_type_id in self.subscribed.get(group, frozenset())

    def subscribe(self, chosen: Mapping[GroupId, frozenset[int]]) -> None:
        """Replace the subscription; waiting events it no longer covers are dropped (not the ones in flight)."""
        self.subscribed = {key: types for key, types in chosen.items() if types}
        kept = self.pending[self.in_flight :]
        self.pending[self.in_flight :] = [e for e in kept if self.subscribes(group_id(e), e.event_type_id)]

    def queue(self, group: GroupId, event_type_id: int, detail: bytes) -> int | None:
        """Take an event if subscribed to it: its EventInstanceID (also when it is lost), or None
        (not subscribed, or every EventInstanceID is used)."""
        if not self.subscribes(group, event_type_id) or self.next_id > MAX_EVENT_INSTANCE_ID:
            return None
        if len(self.pending) - self._lost_entries() >= MAX_PENDING_EVENTS:
            return self._lose()
        return self._append(group, event_type_id, detail)

    def _append(self, group: GroupId, event_type_id: int, detail: bytes) -> int:
        instance_id = self.next_id
        svh_id, vendor_id = group
        self.pending.append(
            Event(
                event_instance_id=instance_id,
                svh_id=svh_id,
                svh_vendor_id=vendor_id,
                event_type_id=event_type_id,
                event_detail=detail,
            )
        )
        self.next_id += 1
        return instance_id

    def _lost_entries(self) -> int:
        """1 when an EventLost not yet sent is in the queue (it does not count against the bound)."""
        return 1 if self._unsent_event_lost() is not None else 0

    def _unsent_event_lost(self) -> int | None:
        for index in range(self.in_flight, len(self.pending)):
            event = self.pending[index]
            if (event.svh_id, event.svh_vendor_id, event.event_type_id) == _EVENT_LOST:
                return index
        return None

    def _lose(self) -> int:
        """The queue is full: the event is lost, and EventLost (when subscribed to) says so."""
        group, type_id = (DMTF_REGISTRY, b""), int(DmtfEventType.EVENT_LOST)
        index = self._unsent_event_lost()
        if index is None and self.subscribes(group, type_id) and self.next_id < MAX_EVENT_INSTANCE_ID:
            self._append(group, type_id, b"")
            index = len(self.pending) - 1
        lost = self.next_id
        self.next_id += 1
        if index is not None:
            detail = EventLostDetail(last_acked_event_instance_id=self.last_acked, last_lost_event_instance_id=lost)
            self.pending[index] = replace(self.pending[index], event_detail=encode_record(detail, "EventLost"))
        return lost

    def send_event(self, version: int, room: int | None = None) -> bytes | None:
        """The ENCAPSULATED_REQUEST carrying the next SEND_EVENT, or None if no event waits: the
        waiting events up to the first gap in their IDs, as many as fit in `room` bytes (None: no
        bound; the first always goes, `check_sendable` saw to it). Its events are in flight, and
        its RequestID taken, only once it is built."""
        if not self.pending:
            return None
        ids = [event.event_instance_id for event in self.pending]
        run = 1
        while run < len(ids) and ids[run] == ids[run - 1] + 1:
            run += 1
        count, size = 1, _carrier_size(version, self.pending[:1])
        for event in self.pending[1:run]:
            size += len(encode_record(event, "SEND_EVENT event"))
            if room is not None and size > room:
                break
            count += 1
        request_id = next_request_id(self.request_id)
        payload = encode(SendEvent(version=version, events=tuple(self.pending[:count])))
        request = encode(EncapsulatedRequest(version=version, request_id=request_id, payload=payload))
        self.in_flight, self.request_id = count, request_id
        return request

    def acknowledged(self) -> None:
        """EVENT_ACK: the events of the last SEND_EVENT are delivered."""
        if self.in_flight:
            self.last_acked = self.pending[self.in_flight - 1].event_instance_id
            del self.pending[: self.in_flight]
        self.in_flight = 0

    def refused(self) -> None:
        """The requester answered the SEND_EVENT with ERROR: its events wait for the next one."""
        self.in_flight = 0


def _carrier_size(version: int, events: list[Event]) -> int:
    """The size of the ENCAPSULATED_REQUEST whose SEND_EVENT carries `events` (EncodeError if one
    does not encode)."""
    send = encode(SendEvent(version=version, events=tuple(events)))
    return len(encode(EncapsulatedRequest(version=version, request_id=0, payload=send)))


def send_event_room(negotiated: Negotiated) -> int | None:
    """The largest ENCAPSULATED_REQUEST (carrying SEND_EVENT) the requester takes: its MaxSPDMmsgSize
    when the connection chunks, else its DataTransferSize (the message travels whole); None
    without 1.2 sizes."""
    if transfer_size(negotiated) is not None:
        return negotiated.requester_max_spdm_msg_size
    return negotiated.requester_data_transfer_size


def check_sendable(group: GroupId, event_type_id: int, detail: bytes, negotiated: Negotiated | None) -> None:
    """An event to raise must encode (EventDetailLen is two bytes) and, once a connection is
    negotiated, fit alone in a SEND_EVENT the requester takes (`send_event_room`): else ValueError,
    since it could never be delivered and would hold back every event raised after it."""
    svh_id, vendor_id = group
    event = Event(
        event_instance_id=0, svh_id=svh_id, svh_vendor_id=vendor_id, event_type_id=event_type_id, event_detail=detail
    )
    version = 0x13 if negotiated is None else negotiated.version
    try:
        size = _carrier_size(version, [event])
    except EncodeError as error:
        raise ValueError(f"the event does not encode: {error}") from None
    room = None if negotiated is None else send_event_room(negotiated)
    if room is not None and size > room:
        raise ValueError(f"a SEND_EVENT of this event alone is {size} bytes, over the {room} the requester takes")


def supported_event_types(groups: tuple[EventGroup, ...], version: int) -> bytes:
    """SUPPORTED_EVENT_TYPES listing the configured event groups."""
    return encode(
        SupportedEventTypes(
            version=version, group_count=len(groups), groups=encode_records(groups, "SupportedEventGroupsList")
        )
    )


def subscribe(events: SessionEvents, groups: tuple[EventGroup, ...], ask: SubscribeEventTypes) -> bytes:
    """SUBSCRIBE_EVENT_TYPES_ACK once the list is checked (`spdm.events.subscription`); a list
    that does not check is InvalidRequest and the subscription stays as it was."""
    requested = decode_groups(ask.subscribe_list, ask.group_count, "SubscribeList")
    events.subscribe(subscription(requested, groups))
    return encode(SubscribeEventTypesAck(version=ask.version))
