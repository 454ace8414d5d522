"""The requester as an SPDM 1.3 Event Recipient: which events the responder offers, the subscription,
and the SEND_EVENTs it answers with EVENT_ACK (the rules are `spdm.events`').

All of it runs in an established session of a 1.3 connection whose responder set EVENT_CAP
(libspdm_req_get_supported_event_types.c, libspdm_req_subscribe_event_types.c). The responder's
SEND_EVENT comes as an encapsulated request when the requester asks for one
(`SessionCore.poll_events`); `EventInbox` checks it as libspdm_req_encap_event_ack.c does and keeps
its events until the caller takes them.
"""

from __future__ import annotations

from collections.abc import Iterable

from spdm._checks import invalid_response
from spdm.errors import ProtocolError
from spdm.events import decode_groups, received_events
from spdm.messages.codec import encode_records
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode
from spdm.messages.events import (
    Event,
    EventGroup,
    GetSupportedEventTypes,
    SendEvent,
    SubscribeEventTypes,
    SubscribeEventTypesAck,
    SupportedEventTypes,
)
from spdm.negotiated import Negotiated
from spdm.requester.channel import Transact
from spdm.requester.events import Steps
from spdm.requester.support import require_support

__all__ = ["MAX_POLL_FLOWS", "EventInbox", "get_supported_event_types", "subscribe_event_types"]

MAX_POLL_FLOWS = 64
"""The encapsulated flows one `poll_events` runs at most, each while the last brought new events:
a device that keeps raising events cannot hold the requester in one poll."""


def get_supported_event_types(transact: Transact, negotiated: Negotiated) -> Steps[tuple[EventGroup, ...]]:
    """GET_SUPPORTED_EVENT_TYPES: the event groups the responder supports, each with its event types."""
    require_support(negotiated, Code.GET_SUPPORTED_EVENT_TYPES)
    answer, _, _ = yield from transact(GetSupportedEventTypes(version=negotiated.version), SupportedEventTypes)
    if answer.group_count == 0 or not answer.groups:
        raise invalid_response("SUPPORTED_EVENT_TYPES lists no event group")
    try:
        return decode_groups(answer.groups, answer.group_count, "SupportedEventGroupsList")
    except ProtocolError as error:
        raise invalid_response(f"SUPPORTED_EVENT_TYPES: {error}") from None


def subscribe_event_types(transact: Transact, negotiated: Negotiated, groups: Iterable[EventGroup]) -> Steps[None]:
    """SUBSCRIBE_EVENT_TYPES for `groups` (none: unsubscribe from everything); the subscription
    replaces the previous one."""
    require_support(negotiated, Code.SUBSCRIBE_EVENT_TYPES)
    chosen = tuple(groups)
    if len(chosen) > 0xFF:
        raise ValueError(f"{len(chosen)} event groups: SubscribeEventGroupCount is one byte")
    ask = SubscribeEventTypes(
        version=negotiated.version,
        group_count=len(chosen),
        subscribe_list=encode_records(chosen, "SubscribeList"),
    )
    yield from transact(ask, SubscribeEventTypesAck)


class EventInbox:
    """The events the responder's SEND_EVENTs delivered and the caller has not taken yet."""

    __slots__ = ("_events", "_negotiated")

    def __init__(self, negotiated: Negotiated) -> None:
        self._negotiated = negotiated
        self._events: list[Event] = []

    def deliver(self, request: SendEvent) -> None:
        """One SEND_EVENT: its events are kept, or it is refused with the `ProtocolError` whose code
        the encapsulated ERROR carries (then nothing is kept)."""
        if not self._negotiated.responder_has(CapabilityFlags.EVENT_CAP):
            raise ProtocolError(ErrorCode.UnsupportedRequest, "the responder did not set EVENT_CAP", request.code)
        self._events.extend(received_events(request))

    def __len__(self) -> int:
        return len(self._events)

    def take(self) -> tuple[Event, ...]:
        """The events delivered since the last `take`, in the order they came."""
        taken, self._events = tuple(self._events), []
        return taken
