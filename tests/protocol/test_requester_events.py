"""The sans-IO requester (`spdm.requester.Connection`) driven by hand: the events it asks for, the
answers it takes, and what it does when an answer is misplaced or the driver fails."""

from __future__ import annotations

from typing import Any

import pytest

from spdm.errors import PeerError, TransportError
from spdm.messages import encode
from spdm.messages.codes import ErrorCode
from spdm.messages.negotiation import GetVersion
from spdm.requester import Connection, Done, Operation, RequesterConfig, Send, Wait
from spdm.responder import Responder, demo_config

PSK, HINT = b"sans-io pre-shared key", b"hint"


def _pair() -> tuple[Responder, Connection]:
    config = demo_config(sessions=True, psks={HINT: PSK})
    root = config.slots[0].certificates[0]
    return Responder(config), Connection(RequesterConfig.with_sessions(trust_anchors={0: root}, psk=PSK, psk_hint=HINT))


def _drive(operation: Operation[Any], responder: Responder, waits: list[float] | None = None) -> Any:
    """The whole driver: no transport, no clock, no sleep."""
    event = operation.next_event()
    while not isinstance(event, Done):
        if isinstance(event, Wait):
            assert waits is not None
            waits.append(event.seconds)
            event = operation.resume()
        else:
            event = operation.receive(responder.respond(event.request, event.session_id))
    return event.result


def test_the_first_event_is_get_version_with_its_timeout() -> None:
    _, connection = _pair()
    operation = connection.init_connection()
    event = operation.next_event()
    assert event == Send(request=encode(GetVersion()), session_id=None, timeout=1.0 + 0.1)  # RTT + ST1
    assert operation.next_event() is event  # asked again until answered


def test_a_whole_flow_and_a_session_without_io() -> None:
    responder, connection = _pair()
    result = _drive(connection.authenticate(0), responder)
    assert result.measurements.signed and connection.verified.keys() == {0}
    session = _drive(connection.psk_exchange(), responder)
    assert connection.sessions == {session.session_id: session}
    heartbeat = session.heartbeat()
    event = heartbeat.next_event()
    assert isinstance(event, Send) and event.session_id == session.session_id
    assert event.request[:4] == session.session_id.to_bytes(4, "little")  # a secured record
    assert isinstance(heartbeat.receive(responder.respond(event.request, event.session_id)), Done)
    _drive(session.close(), responder)
    assert session.phase == "closed" and not connection.sessions


def test_response_not_ready_is_a_wait_event() -> None:
    responder, connection = _pair()
    _drive(connection.init_connection(), responder)
    responder.answer_not_ready(2, rd_exponent=12)
    waits: list[float] = []
    assert 0 in _drive(connection.get_digests(), responder, waits)
    assert waits == [(1 << 12) / 1e6] * 2


def test_misplaced_answers_are_refused() -> None:
    responder, connection = _pair()
    operation = connection.init_connection()
    with pytest.raises(RuntimeError, match="not waiting for a Wait"):
        operation.resume()
    _drive(operation, responder)
    with pytest.raises(RuntimeError, match="not waiting for a Send"):
        operation.receive(b"")


def test_a_driver_failure_discards_the_half_open_session() -> None:
    responder, connection = _pair()
    _drive(connection.init_connection(), responder)
    operation = connection.psk_exchange()
    event = operation.next_event()
    assert isinstance(event, Send)
    event = operation.receive(responder.respond(event.request, None))  # PSK_EXCHANGE_RSP: PSK_FINISH next
    assert isinstance(event, Send) and event.session_id is not None
    (session,) = connection.sessions.values()
    with pytest.raises(TransportError, match="link down"):
        operation.fail(TransportError("link down"))
    assert session.phase == "closed" and session.closed_reason == "the handshake failed" and not connection.sessions
    with pytest.raises(RuntimeError, match="has failed"):
        operation.next_event()


def test_an_error_answer_ends_the_operation() -> None:
    responder, connection = _pair()
    _drive(connection.init_connection(), responder)
    responder.answer_busy(4)  # one more than busy_retries
    with pytest.raises(PeerError) as refused:
        _drive(connection.get_digests(), responder)
    assert refused.value.error_code == ErrorCode.Busy

