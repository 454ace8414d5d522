"""Stateful fuzzing of one SPDM 1.3 responder: the library's own requester and mutated 1.3 requests, in any
interleaving, in the clear and inside sessions.

The responder has every 1.3 capability (`campaign13.CONFIG_13`: MEL_CAP, EP_INFO_CAP_SIG, GET/SET_KEY_PAIR_INFO_CAP,
MULTI_KEY_CAP negotiated, EVENT_CAP) and is wrapped by the oracle (`oracle.Checked`), which checks each answer:
`respond` never raises, the answer decodes and answers the request, and states move only along the
transition tables (an ERROR moves nothing). A model `Requester` connects at 1.3 (multi-key), authenticates,
reads the MEL, endpoint info (signed and not) and key-pair info, opens DHE and PSK sessions and in them
subscribes to events and fetches one through GET_ENCAPSULATED_REQUEST / SEND_EVENT / EVENT_ACK. Between its
steps: `mutations` of every 1.3 request the library sends (`campaign13.seeds`) in the clear and sealed in a
live session, and any header at version 1.3. Teardown: a fresh, fully checked 1.3 flow still succeeds on the
same responder.
"""

from __future__ import annotations

import os

import pytest
from campaign13 import CONFIG_13, MEASUREMENT_CHANGED, _connect, seal, seeds, session_13
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from oracle import Checked

from spdm.events import DMTF_EVENT_GROUP, DmtfEventType, subscribe_all
from spdm.messages.codes import Code
from spdm.requester import Requester, Session
from spdm.responder import Responder, SessionState, State
from spdm.testing.strategies import mutations

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


def mutations_or_same(request: bytes) -> st.SearchStrategy[bytes]:
    """A mutation of a valid request, or (sometimes) the request itself, out of the model's flow."""
    return mutations(request) | st.just(request)


STEPS = {"ci": 8, "dev": 30}.get(PROFILE, 60)


class Responder13Machine(RuleBasedStateMachine):
    """One 1.3 responder, one model requester (reconnected at will), the model's live sessions."""

    def __init__(self) -> None:
        super().__init__()
        self.device = Checked(Responder(CONFIG_13))
        self.requester: Requester | None = None
        """In step with the responder's connection (transcripts, negotiation), else None."""
        self.sessions: dict[int, Session] = {}
        """Model sessions that are established and in step with the responder."""

    def _connected(self) -> bool:
        return self.requester is not None

    def _live(self) -> list[int]:
        live = self.device.responder.sessions
        return sorted(s for s in self.sessions if live.get(s) is SessionState.ESTABLISHED)

    def _has_session(self) -> bool:
        return bool(self._live())

    def _room(self) -> bool:
        return self.requester is not None and len(self.device.responder.sessions) < CONFIG_13.limits.max_sessions

    # --- the model requester ------------------------------------------------------------------

    @rule()
    def connect(self) -> None:
        self.requester = _connect(self.device)
        self.requester.get_certificate(0)
        self.requester.verify_certificate(0)  # for signed endpoint info
        self.sessions.clear()

    @precondition(_connected)
    @rule()
    def authenticate(self) -> None:
        assert self.requester is not None
        result = self.requester.authenticate()
        assert result.measurements is not None and result.measurements.signed

    @precondition(_connected)
    @rule(what=st.sampled_from(["mel", "asked", "signed-info", "info", "key-pair"]))
    def read(self, what: str) -> None:
        requester = self.requester
        assert requester is not None
        if what == "mel":
            assert requester.get_measurement_extension_log().log.entries
        elif what == "key-pair":
            assert requester.get_key_pair_info(1).key_pair_id == 1  # the one key pair: slot 0's
        elif what == "asked":  # the responder's GET_ENDPOINT_INFO, encapsulated in the clear
            self.device.responder.ask_endpoint_info()
            assert requester.serve_encapsulated_requests() == 1
        else:
            assert requester.get_endpoint_info(signed=what == "signed-info").signed is (what == "signed-info")

    @precondition(_room)
    @rule(psk=st.booleans())
    def open_session(self, psk: bool) -> None:
        assert self.requester is not None
        session = self.requester.psk_exchange() if psk else self.requester.key_exchange()
        self.sessions[session.session_id] = session

    @precondition(_has_session)
    @rule(
        data=st.data(),
        what=st.sampled_from(["events", "asked", "signed-info", "mel", "key-pair", "heartbeat", "update"]),
    )
    def in_session(self, data: st.DataObject, what: str) -> None:
        session = self.sessions[data.draw(st.sampled_from(self._live()))]
        if what == "events":
            session.subscribe_event_types(subscribe_all(DMTF_EVENT_GROUP))
            raised = self.device.responder.raise_event(
                DmtfEventType.MEASUREMENT_CHANGED, MEASUREMENT_CHANGED, session_id=session.session_id
            )
            assert raised and len(session.poll_events()) >= 1
        elif what == "asked":
            self.device.responder.ask_endpoint_info(session.session_id)
            assert session.serve_encapsulated_requests() == 1
        elif what == "signed-info":
            assert session.get_endpoint_info(signed=True).signed
        elif what == "mel":
            session.get_measurement_extension_log()
        elif what == "key-pair":
            session.get_key_pair_info(1)
        elif what == "heartbeat":
            session.heartbeat()
        else:
            session.key_update(all_keys=data.draw(st.booleans()))

    @precondition(_has_session)
    @rule(data=st.data())
    def close_session(self, data: st.DataObject) -> None:
        session = self.sessions.pop(data.draw(st.sampled_from(self._live())))
        session.close()
        assert session.session_id not in self.device.responder.sessions

    # --- mutated and stray requests -----------------------------------------------------------

    def _after_clear(self) -> None:
        """A request outside the model's flow: an ERROR moved nothing (the oracle checked); anything
        else moved the responder's transcripts or connection away from the model's."""
        answer = self.device.last
        assert answer is not None
        if not answer.error:
            self.requester = None
            self.sessions.clear()

    @rule(request=st.sampled_from(seeds()[0]).map(lambda seed: seed[1]).flatmap(mutations_or_same))
    def mutated(self, request: bytes) -> None:
        self.device.respond(request)
        self._after_clear()

    @rule(
        code=st.one_of(st.sampled_from(list(Code)).map(int), st.integers(0, 255)),
        rest=st.binary(max_size=40),
    )
    def header(self, code: int, rest: bytes) -> None:
        """A 1.3 header with any code, out of order or unknown, and any body."""
        self.device.respond(bytes([0x13, code]) + rest)
        self._after_clear()

    @precondition(_has_session)
    @rule(data=st.data(), request=st.sampled_from(seeds()[1]).map(lambda seed: seed[1]).flatmap(mutations_or_same))
    def mutated_in_session(self, data: st.DataObject, request: bytes) -> None:
        """A mutated 1.3 request sealed correctly: the responder opens it and parses the mutation."""
        session_id = data.draw(st.sampled_from(self._live()))
        self.device.respond(seal(self.device, session_id, request), session_id)
        answer = self.device.last
        assert answer is not None and answer.sealed
        del self.sessions[session_id]  # its sequence numbers moved past the model's

    # --- invariants and the final check -------------------------------------------------------

    @invariant()
    def sessions_are_bounded(self) -> None:
        live = self.device.responder.sessions
        assert len(live) <= CONFIG_13.limits.max_sessions
        assert SessionState.ENDED not in live.values()

    def teardown(self) -> None:
        """A well-formed 1.3 flow started now still succeeds: connection, authentication, both sessions."""
        requester = _connect(self.device)
        assert not self.device.responder.sessions
        requester.authenticate()
        requester.get_endpoint_info(signed=True)
        dhe = requester.key_exchange()
        dhe.subscribe_event_types(subscribe_all(DMTF_EVENT_GROUP))
        self.device.responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, MEASUREMENT_CHANGED)
        assert dhe.poll_events()
        dhe.get_measurement_extension_log()
        psk = requester.psk_exchange()
        psk.key_update(all_keys=True)
        psk.close()
        dhe.close()
        assert not self.device.responder.sessions


Responder13Machine.TestCase.settings = settings(
    stateful_step_count=STEPS,
    max_examples=min(settings.default.max_examples, 30) if PROFILE == "ci" else settings.default.max_examples,
)
TestResponder13Machine = Responder13Machine.TestCase


# --- every code in every state ----------------------------------------------------------------------


def _reach(state: State) -> Checked:
    """A 1.3 responder in connection state `state`, reached with the 1.3 flow's own requests."""
    checked = Checked(Responder(CONFIG_13))
    if state is State.AUTHENTICATED:
        _connect(checked).authenticate()
    else:
        vca = dict(seeds()[0][:3])  # GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS, as sent
        for request in list(vca.values())[: list(State).index(state)]:
            checked.respond(request)
    assert checked.responder.state is state
    return checked


def _asks(code: int, valid: tuple[tuple[str, bytes], ...]) -> list[bytes]:
    """A bare 1.3 header with `code`, and every valid request of the flow with that code."""
    return [bytes([0x13, code, 0, 0]), *(data for _, data in valid if data[1] == code)]


@pytest.mark.parametrize("state", list(State))
def test_every_13_request_code_in_every_connection_state(state: State) -> None:
    """state x code at 1.3, in the clear: the oracle checks each answer (an ERROR moves nothing, a
    success moves the state as the table says); a success rebuilds the state."""
    checked = _reach(state)
    answered = 0
    for code in range(256):
        for request in _asks(code, seeds()[0]):
            checked.respond(request)
            answered += 1
            if checked.responder.state is not state or not (checked.last and checked.last.error):
                checked = _reach(state)
    assert answered > 256


@pytest.mark.parametrize("kind", ["dhe-events", "dhe-event-ack", "dhe-asked", "psk"])
def test_every_13_request_code_in_every_session_state(kind: str) -> None:
    """Session state x code at 1.3, sealed with the session's keys: likewise, and a refused request
    leaves the session where it was."""
    checked, _, still, session_id = session_13(kind)
    for code in range(256):
        for request in _asks(code, seeds()[1]):
            checked.respond(seal(checked, session_id, request), session_id)
            if not still() or not (checked.last and checked.last.error):
                checked, _, still, session_id = session_13(kind)
