"""SPDM 1.3 events between our requester and our responder, in memory over DOE: subscription, events
raised on the device, SEND_EVENT fetched through GET_ENCAPSULATED_REQUEST and acknowledged with
EVENT_ACK; and the refusals of both roles."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from spdm import cli
from spdm.aio import AsyncRequester, AsyncTransport
from spdm.errors import DecodeError, ErrorCode, NegotiationError, PeerError, ProtocolError
from spdm.events import DMTF_EVENT_GROUP, DmtfEventType, subscribe_all
from spdm.messages import CodecContext, Message, decode, encode
from spdm.messages.codec import decode_record, encode_records
from spdm.messages.codes import CapabilityFlags, Code
from spdm.messages.encapsulated import DeliverEncapsulatedResponse, EncapsulatedResponseAck, GetEncapsulatedRequest
from spdm.messages.error import ErrorResponse
from spdm.messages.events import (
    Event,
    EventAck,
    EventGroup,
    EventLostDetail,
    EventTypeEntry,
    GetSupportedEventTypes,
    SendEvent,
    SubscribeEventTypes,
    SupportedEventTypes,
)
from spdm.requester import Operation, Requester, RequesterConfig, Session
from spdm.requester.encapsulated import EncapsulatedAnswers
from spdm.requester.event_recipient import EventInbox
from spdm.responder import Responder, ResponderConfig, SessionState, demo_config
from spdm.responder.events import MAX_PENDING_EVENTS
from spdm.testing import MemoryDoeLink
from spdm.testing.strategies import mutations
from spdm.transport.doe import DoeMailboxResponder, DoeTransport
from spdm.transport.loopback import LoopbackTransport
from spdm.transport.socket import SocketServer

F = CapabilityFlags
DOE_PADDING = 3
CHANGED = bytes([0b110]) + bytes(31)  # measurement indices 1 and 2 changed


def _config(**changes: Any) -> ResponderConfig:
    config = demo_config(sessions=True)
    config = dataclasses.replace(config, capabilities=config.capabilities | F.EVENT_CAP, max_padding=DOE_PADDING)
    return dataclasses.replace(config, **changes)


def _requester_config(config: ResponderConfig) -> RequesterConfig:
    """A requester that can open sessions and fetch the responder's encapsulated requests (ENCAP_CAP)."""
    sessions = RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]})
    return dataclasses.replace(sessions, capabilities=sessions.capabilities | F.ENCAP_CAP)


def _pair(config: ResponderConfig | None = None, **requester_changes: Any) -> tuple[Requester, Responder, Session]:
    config = config or _config()
    responder = Responder(config)
    settings = dataclasses.replace(_requester_config(config), **requester_changes)
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), settings)
    requester.authenticate(0)
    return requester, responder, requester.key_exchange(0)


def _answer_context(requester: Requester, request: bytes) -> CodecContext | None:
    """The decode context of the answer to any request bytes: the connection's, sized for a signature
    when the request (if it decodes) asks for one."""
    negotiated = requester.negotiated
    if negotiated is None:
        return None
    try:
        asked = decode(request, negotiated.codec_context())
    except DecodeError:
        return negotiated.codec_context()
    return negotiated.codec_context(signature_requested=bool(getattr(asked, "signature_requested", False)))


def _raw(requester: Requester, session: Session, request: Message) -> Message:
    """One request of the session outside its own methods (the bytes a misbehaving requester sends)."""
    operation: Operation[Any] = Operation(session.core._transact(request, Message))
    try:
        return requester._run(operation)[0]  # type: ignore[no-any-return]
    except PeerError as error:
        assert isinstance(error.response, ErrorResponse)
        return error.response


def test_subscribe_raise_fetch_acknowledge() -> None:
    requester, responder, session = _pair()
    assert requester.negotiated is not None and requester.negotiated.version == 0x13
    groups = session.get_supported_event_types()
    assert groups == (DMTF_EVENT_GROUP,)
    assert responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, CHANGED) == {}  # nobody subscribed yet
    session.subscribe_event_types(*groups)
    assert session.poll_events() == ()  # NoPendingRequests: nothing waits
    sid = session.session_id
    assert responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, CHANGED) == {sid: 0}
    assert responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01", session_id=sid) == {sid: 1}
    assert responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01", session_id=sid + 1) == {}
    events = session.poll_events()
    assert events == (
        Event(event_instance_id=0, event_type_id=DmtfEventType.MEASUREMENT_CHANGED, event_detail=CHANGED),
        Event(event_instance_id=1, event_type_id=DmtfEventType.CERTIFICATE_CHANGED, event_detail=b"\x01"),
    )
    assert session.poll_events() == ()  # acknowledged: gone from the device
    assert responder.raise_event(DmtfEventType.MEASUREMENT_PRE_UPDATE, bytes(32)) == {sid: 2}
    assert [e.event_instance_id for e in session.poll_events()] == [2]
    session.subscribe_event_types()  # unsubscribe from all
    assert responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, CHANGED) == {}
    session.heartbeat()
    session.close()


def test_a_subscription_to_some_types() -> None:
    _, responder, session = _pair()
    only = EventGroup(svh_id=0, event_types=(EventTypeEntry(event_type_id=DmtfEventType.CERTIFICATE_CHANGED),))
    session.subscribe_event_types(only)
    sid = session.session_id
    assert responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, CHANGED) == {}
    assert responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x02") == {sid: 0}
    session.subscribe_event_types(subscribe_all(DMTF_EVENT_GROUP))
    assert responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, CHANGED) == {sid: 1}
    assert [e.event_type_id for e in session.poll_events()] == [4, 2]


def test_each_session_has_its_own_subscription_and_ids() -> None:
    requester, responder, first = _pair()
    second = requester.key_exchange(0)
    first.subscribe_event_types(DMTF_EVENT_GROUP)
    second.subscribe_event_types(DMTF_EVENT_GROUP)
    assert responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01", session_id=first.session_id) == {
        first.session_id: 0
    }
    both = responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x04")
    assert both == {first.session_id: 1, second.session_id: 0}
    assert [e.event_instance_id for e in second.poll_events()] == [0]
    assert [e.event_instance_id for e in first.poll_events()] == [0, 1]


def test_lost_events_are_reported_once() -> None:
    _, responder, session = _pair()
    session.subscribe_event_types(DMTF_EVENT_GROUP)
    for _ in range(MAX_PENDING_EVENTS + 3):
        responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
    events = session.poll_events()
    assert len(events) == MAX_PENDING_EVENTS + 1
    lost = events[-1]
    assert lost.event_type_id == DmtfEventType.EVENT_LOST
    assert decode_record(EventLostDetail, lost.event_detail, "EventLost") == EventLostDetail(
        last_acked_event_instance_id=0xFFFF_FFFF, last_lost_event_instance_id=MAX_PENDING_EVENTS + 3
    )


def _two_runs() -> tuple[Responder, Session]:
    """Events 0, 1 and 2 raised, then a subscription that drops event 1: 0 and 2 wait, two runs."""
    _, responder, session = _pair()
    session.subscribe_event_types(DMTF_EVENT_GROUP)
    responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
    responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, CHANGED)
    responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x02")
    only = EventGroup(svh_id=0, event_types=(EventTypeEntry(event_type_id=DmtfEventType.CERTIFICATE_CHANGED),))
    session.subscribe_event_types(only)
    return responder, session


def test_one_poll_fetches_every_run_after_a_new_subscription() -> None:
    """Each run is a SEND_EVENT of its own flow (libspdm's responder also ends the flow at EVENT_ACK):
    one poll asks again until nothing is pending."""
    _, session = _two_runs()
    assert [e.event_instance_id for e in session.poll_events()] == [0, 2]
    assert session.poll_events() == ()


def test_a_poll_runs_at_most_max_poll_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    _, session = _two_runs()
    monkeypatch.setattr("spdm.requester.session_core.MAX_POLL_FLOWS", 1)
    assert [e.event_instance_id for e in session.poll_events()] == [0]
    assert [e.event_instance_id for e in session.poll_events()] == [2]


def test_send_event_fits_the_requesters_max_spdm_msg_size() -> None:
    """A requester without CHUNK_CAP that takes 1200-byte messages: 30 waiting events do not fit one
    SEND_EVENT, so each carries what fits and one poll fetches them all; the session stays usable."""
    requester, responder, session = _pair(data_transfer_size=1200, max_spdm_msg_size=1200)
    assert not requester.config.capabilities & F.CHUNK_CAP
    session.subscribe_event_types(DMTF_EVENT_GROUP)
    for _ in range(30):
        responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, CHANGED)
    assert [e.event_instance_id for e in session.poll_events()] == list(range(30))
    session.heartbeat()
    session.key_update()
    session.close()


def test_raise_event_refuses_an_event_no_send_event_can_carry() -> None:
    """An EventDetail over EventDetailLen (two bytes), or a SEND_EVENT of the event alone over what
    the requester takes, is ValueError: it would hold back every event after it."""
    vendor = EventGroup(svh_id=3, svh_vendor_id=b"\x86\x80", event_types=(EventTypeEntry(event_type_id=7),))
    responder = Responder(_config(event_groups=(DMTF_EVENT_GROUP, vendor)))
    with pytest.raises(ValueError, match="does not encode"):
        responder.raise_event(7, bytes(0x10000), group=(3, b"\x86\x80"))
    _, responder, session = _pair(_config(event_groups=(DMTF_EVENT_GROUP, vendor)))
    session.subscribe_event_types(subscribe_all(vendor))
    with pytest.raises(ValueError, match="over the 4608 the requester takes"):
        responder.raise_event(7, bytes(4608), group=(3, b"\x86\x80"))
    assert responder.raise_event(7, bytes(4000), group=(3, b"\x86\x80")) == {session.session_id: 0}
    assert [len(e.event_detail) for e in session.poll_events()] == [4000]
    session.heartbeat()


def test_the_async_session() -> None:
    config = _config()
    responder = Responder(config)

    class Loopback(AsyncTransport):
        async def exchange(
            self, request: bytes, *, session_id: int | None = None, timeout: float | None = None
        ) -> bytes:
            return responder.respond(request, session_id)

    async def main() -> tuple[Event, ...]:
        requester = AsyncRequester(Loopback(), _requester_config(config))
        await requester.authenticate(0)
        async with await requester.key_exchange(0) as session:
            await session.subscribe_event_types(*await session.get_supported_event_types())
            responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
            return await session.poll_events()

    assert [e.event_type_id for e in asyncio.run(main())] == [DmtfEventType.CERTIFICATE_CHANGED]


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "group",
    [
        EventGroup(svh_id=3, svh_vendor_id=b"\x86\x80"),
        EventGroup(svh_id=0, event_types=(EventTypeEntry(event_type_id=9),)),
        EventGroup(svh_id=0, event_group_ver=2),
    ],
    ids=["unknown_group", "unknown_type", "version"],
)
def test_a_bad_subscription_is_invalid_request_and_changes_nothing(group: EventGroup) -> None:
    _, responder, session = _pair()
    session.subscribe_event_types(DMTF_EVENT_GROUP)
    with pytest.raises(PeerError) as caught:
        session.subscribe_event_types(DMTF_EVENT_GROUP, group)
    assert caught.value.error_code == ErrorCode.InvalidRequest
    assert responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01") == {session.session_id: 0}


@pytest.mark.parametrize(
    "request_",
    [
        SubscribeEventTypes(group_count=2, subscribe_list=encode_records((DMTF_EVENT_GROUP,), "l")),
        SubscribeEventTypes(group_count=1, subscribe_list=encode_records((DMTF_EVENT_GROUP,), "l") + b"\x00"),
        SubscribeEventTypes(group_count=2, subscribe_list=encode_records((DMTF_EVENT_GROUP,) * 2, "l")),
    ],
    ids=["count", "trailing", "group_twice"],
)
def test_a_malformed_subscribe_list_is_invalid_request(request_: SubscribeEventTypes) -> None:
    requester, _, session = _pair()
    answer = _raw(requester, session, request_)
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest


def test_events_outside_a_session_are_session_required() -> None:
    config = _config()
    responder = Responder(config)
    requester = Requester(
        LoopbackTransport(responder.respond), RequesterConfig(trust_anchors={0: config.slots[0].certificates[0]})
    )
    requester.init_connection()
    for request in (GetSupportedEventTypes(), SubscribeEventTypes()):
        answer = decode(responder.respond(encode(request)))
        assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.SessionRequired


def test_a_responder_without_event_cap() -> None:
    config = demo_config(sessions=True)
    requester, _, session = _pair(dataclasses.replace(config, max_padding=DOE_PADDING))
    with pytest.raises(NegotiationError, match="EVENT_CAP"):
        session.get_supported_event_types()
    answer = _raw(requester, session, GetSupportedEventTypes())
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.UnsupportedRequest


def test_raise_event_checks_what_it_is_given() -> None:
    responder = Responder(_config())
    with pytest.raises(ValueError, match="32-byte EventDetail"):
        responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, b"\x01")
    with pytest.raises(ValueError, match=r"not in config\.event_groups"):
        responder.raise_event(7, group=(3, b"\x86\x80"))
    with pytest.raises(ValueError, match="EventLost"):
        responder.raise_event(DmtfEventType.EVENT_LOST, bytes(8))
    with pytest.raises(ValueError, match="event_groups"):
        _config(event_groups=(DMTF_EVENT_GROUP, DMTF_EVENT_GROUP))
    with pytest.raises(ValueError, match="DMTF EventTypeID 9 is not defined"):
        _config(event_groups=(EventGroup(svh_id=0, event_types=(EventTypeEntry(event_type_id=9),)),))


def test_a_refused_send_event_comes_again_with_the_same_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The requester answers SEND_EVENT with an encapsulated ERROR: the flow ends, the events wait."""
    _, responder, session = _pair()
    session.subscribe_event_types(DMTF_EVENT_GROUP)
    responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01")

    def refuse(inbox: EventInbox, request: SendEvent) -> None:
        raise ProtocolError(ErrorCode.Busy, "not now")

    monkeypatch.setattr(EventInbox, "deliver", refuse)
    assert session.poll_events() == ()
    monkeypatch.undo()
    assert [e.event_instance_id for e in session.poll_events()] == [0]


def test_a_bad_delivery_is_refused_and_the_events_still_wait() -> None:
    """DELIVER_ENCAPSULATED_RESPONSE with the wrong RequestID or another message than EVENT_ACK is
    refused; the flow stays open (RequestInFlight for anything else) until an EVENT_ACK comes."""
    requester, responder, session = _pair()
    session.subscribe_event_types(DMTF_EVENT_GROUP)
    responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
    asked = _raw(requester, session, GetEncapsulatedRequest(version=0x13))
    request_id = asked.request_id  # type: ignore[attr-defined]
    assert isinstance(decode(asked.payload), SendEvent)  # type: ignore[attr-defined]
    ack = encode(EventAck())
    wrong_id = _raw(
        requester, session, DeliverEncapsulatedResponse(version=0x13, request_id=request_id + 1, payload=ack)
    )
    assert isinstance(wrong_id, ErrorResponse) and wrong_id.error_code == ErrorCode.InvalidRequest
    other = encode(SupportedEventTypes(group_count=1, groups=b"\x00"))
    wrong = _raw(requester, session, DeliverEncapsulatedResponse(version=0x13, request_id=request_id, payload=other))
    assert isinstance(wrong, ErrorResponse) and wrong.error_code == ErrorCode.InvalidResponseCode
    busy = _raw(requester, session, GetSupportedEventTypes())
    assert isinstance(busy, ErrorResponse) and busy.error_code == ErrorCode.RequestInFlight
    done = _raw(requester, session, DeliverEncapsulatedResponse(version=0x13, request_id=request_id, payload=ack))
    assert isinstance(done, EncapsulatedResponseAck) and done.payload_type == 0 and done.ack_request_id == request_id
    assert session.poll_events() == ()


@pytest.mark.parametrize(
    "events",
    [
        (),
        (Event(event_instance_id=1, event_type_id=4, event_detail=b"\x01"),) * 2,
        (Event(event_instance_id=1, event_type_id=2, event_detail=b"\x01"),),
    ],
    ids=["none", "repeated_id", "detail_size"],
)
def test_the_requester_refuses_a_malformed_send_event(events: tuple[Event, ...]) -> None:
    """As libspdm_req_encap_event_ack.c: ERROR InvalidRequest in the encapsulated answer, nothing kept."""
    _, _, session = _pair()
    inbox = session.core._inbox
    negotiated = session.core._negotiated
    answers = EncapsulatedAnswers(
        negotiated=negotiated, config=RequesterConfig(), max_padding=0, send_event=inbox.deliver
    )
    answer = decode(answers.answer(encode(SendEvent(events=events)), 0x13))
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.InvalidRequest
    assert inbox.take() == ()
    fine = (Event(event_instance_id=5, event_type_id=4, event_detail=b"\x01"),)
    assert isinstance(decode(answers.answer(encode(SendEvent(events=fine)), 0x13)), EventAck)
    assert inbox.take() == fine


def test_no_events_on_a_1_2_connection() -> None:
    """EVENT_CAP is a 1.3 flag: a 1.2 CAPABILITIES cannot show it, so the requests are unsupported."""
    config = _config()
    responder = Responder(config)
    settings = dataclasses.replace(_requester_config(config), versions=(0x10, 0x11, 0x12))
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), settings)
    requester.authenticate(0)
    session = requester.key_exchange(0)
    with pytest.raises(NegotiationError, match=r"SPDM 1\.3"):
        session.get_supported_event_types()
    answer = _raw(requester, session, GetSupportedEventTypes(version=0x12))
    assert isinstance(answer, ErrorResponse) and answer.error_code == ErrorCode.UnsupportedRequest
    assert session.poll_events() == ()  # UnexpectedRequest before 1.3: nothing pending


# --- the command line, a capture of it, and the capture checked --------------------------------


def test_cli_events_recorded_verified_and_dumped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`spdm requester --events` against a device that raises CertificateChanged once it has a
    subscriber; the recording verifies (the event messages checked as their recipient checks them)
    and `spdm dump` shows the exchange."""
    config = demo_config(sessions=True, events=True)
    config = dataclasses.replace(config, max_padding=DOE_PADDING)
    responder = Responder(config)
    raised: dict[int, int] = {}

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        response = responder.respond(request, session_id)
        if not raised:  # the first answer after the subscription: the device notices a change
            raised.update(responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01"))
        return response

    root = tmp_path / "root.der"
    root.write_bytes(config.slots[0].certificates[0])
    pcap, secrets = tmp_path / "events.pcap", tmp_path / "secrets.json"
    server = SocketServer(DoeMailboxResponder(respond), host="127.0.0.1", port=0).start()
    try:
        base = ["requester", "--connect", f"127.0.0.1:{server.port}", "--root-cert", str(root)]
        run = [*base, "--exe-mode", "continue", "--session", "dhe", "--events", "--pcap", str(pcap)]
        assert cli.main([*run, "--secrets", str(secrets)]) == 0, capsys.readouterr().err
    finally:
        server.stop(timeout=2)
    out = capsys.readouterr().out
    assert (
        "event group 0x00 version 1: EVENT_LOST, MEASUREMENT_CHANGED, MEASUREMENT_PRE_UPDATE, CERTIFICATE_CHANGED"
        in out
    )
    assert "events waiting: 1, acknowledged" in out and "#0 CERTIFICATE_CHANGED: 01" in out
    assert cli.main(["verify", str(pcap), "--root-cert", str(root), "--secrets", str(secrets)]) == 0
    verified = capsys.readouterr().out
    for name in ("SUPPORTED_EVENT_TYPES", "SUBSCRIBE_EVENT_TYPES", "SEND_EVENT"):
        assert f"{name} well formed" in verified
    assert "EventInstanceID 0..0" in verified and "FAIL" not in verified
    assert cli.main(["dump", str(pcap), "--secrets", str(secrets)]) == 0
    dumped = capsys.readouterr().out
    for name in ("GET_SUPPORTED_EVENT_TYPES", "SUPPORTED_EVENT_TYPES", "SUBSCRIBE_EVENT_TYPES_ACK"):
        assert f") {name} (" in dumped
    shown = "ENCAPSULATED_REQUEST (request_id=0x1, param2=0x0, payload=13f1000001000000000000000000000000000400010001)"
    assert f"{shown} / SPDM(1.3) SEND_EVENT (param1=0x0, param2=0x0, events=[{{event_instance_id=0x0, " in dumped
    assert (
        "DELIVER_ENCAPSULATED_RESPONSE (request_id=0x1, param2=0x0, payload=13710000) / SPDM(1.3) EVENT_ACK" in dumped
    )


def test_cli_events_need_a_session(tmp_path: Path) -> None:
    root = tmp_path / "root.der"
    root.write_bytes(b"not read before the usage check")
    assert cli.main(["requester", "--connect", "127.0.0.1:1", "--root-cert", str(root), "--events"]) == 2


# --- mutated event requests inside a live session -----------------------------------------------

_SEEDS = (
    encode(GetSupportedEventTypes()),
    encode(SubscribeEventTypes(group_count=1, subscribe_list=encode_records((DMTF_EVENT_GROUP,), "l"))),
    encode(SubscribeEventTypes()),
    encode(GetEncapsulatedRequest(version=0x13)),
    encode(DeliverEncapsulatedResponse(version=0x13, request_id=1, payload=encode(EventAck()))),
)


@pytest.fixture(scope="module")
def live() -> tuple[Requester, Responder, Session]:
    requester, responder, session = _pair()
    session.subscribe_event_types(DMTF_EVENT_GROUP)
    return requester, responder, session


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.sampled_from(_SEEDS).flatmap(mutations))
@example(data=b"\x13\x81\x00\x00")  # found: a mutation into GET_DIGESTS, whose answer needs the hash size
def test_mutated_event_requests_are_answered_and_leave_the_session_usable(
    live: tuple[Requester, Responder, Session], data: bytes
) -> None:
    """Whatever the bytes, the answer is one message; an ERROR changes no subscription, and the
    session still carries events afterwards. Mutations into END_SESSION are left out: a well-formed
    one ends the one live session the examples share (found: 13ec0100)."""
    assume(data[1:2] != bytes([Code.END_SESSION]))
    requester, responder, session = live
    sid = session.session_id
    before = dict(responder._sessions.get(sid).events.subscribed)  # type: ignore[union-attr]
    operation: Operation[Any] = Operation(session.core._carry(data, 5.0, _answer_context(requester, data)))
    answer = requester._run(operation)[0]  # one SPDM message, inside the session
    if isinstance(answer, ErrorResponse):
        assert responder._sessions.get(sid).events.subscribed == before  # type: ignore[union-attr]
    state = responder.sessions.get(sid)
    if state is not SessionState.ESTABLISHED:  # a mutated GET_ENCAPSULATED_REQUEST took the events out
        assert state is SessionState.EXPECT_EVENT_ACK
        pending = responder._sessions.get(sid).events.request_id  # type: ignore[union-attr]
        _raw(
            requester,
            session,
            DeliverEncapsulatedResponse(version=0x13, request_id=pending, payload=encode(EventAck())),
        )
    session.subscribe_event_types(DMTF_EVENT_GROUP)
    assert set(responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01")) == {sid}
    assert [e.event_type_id for e in session.poll_events()] == [DmtfEventType.CERTIFICATE_CHANGED]
