"""Stateful fuzzing of one responder: valid, invalid and mutated requests in any interleaving.

A hypothesis `RuleBasedStateMachine` drives ONE responder through the test-side requesters of
tests/protocol (`Peer`, `SessionPeer`, whose every signature and verify data is checked) wrapped
by the oracle (`oracle.Checked`), which checks each answer: `respond` never raises, the answer
decodes (secured ones after opening them with the responder's response keys), it answers the
request, and states move only along the transition tables (an ERROR moves nothing; a record that
does not open moves no sequence number, and DecryptError ends its session). Rules: reconnect
(VCA), digests, certificate portions, CHALLENGE, measurements, KEY_EXCHANGE/FINISH,
PSK_EXCHANGE/PSK_FINISH, HEARTBEAT, KEY_UPDATE, END_SESSION, in-session measurements; requests
out of order, with a wrong version or an unknown code; `mutations` of valid requests in the clear
and inside a live session (correctly sealed);
tampered, replayed and misaddressed secured records. Teardown: a fresh, fully checked flow
(GET_VERSION, authentication, a DHE and a PSK session) still succeeds on the same responder.
"""

from __future__ import annotations

import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, precondition, rule
from oracle import Checked, shadow
from responder_peer import NONCE
from session_peer import PSK, PSK_HINT, RequesterSession, SessionPeer, session_offer

from spdm.errors import ErrorCode
from spdm.messages import Message, encode
from spdm.messages.certificates import GetCertificate, GetDigests
from spdm.messages.challenge import Challenge
from spdm.messages.codes import Code, KeyUpdateOperation
from spdm.messages.error import ErrorResponse
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import GetCapabilities, GetVersion
from spdm.messages.session_control import EndSession, Heartbeat, KeyUpdate
from spdm.messages.vendor import VendorDefinedRequest
from spdm.responder import Responder, ResponderConfig, SessionState, demo_config
from spdm.testing.strategies import mutations

CONFIG: ResponderConfig = demo_config(sessions=True, psks={PSK_HINT: PSK})
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
STEPS = {"ci": 8, "dev": 30}.get(PROFILE, 60)

_CONNECTION_CODES = frozenset({Code.GET_VERSION, Code.GET_CAPABILITIES, Code.NEGOTIATE_ALGORITHMS})
_HARMLESS_IN_SESSION = frozenset({Code.HEARTBEAT, Code.GET_DIGESTS, Code.GET_CERTIFICATE, Code.VENDOR_DEFINED_REQUEST})

CLEAR_REQUESTS: tuple[Message, ...] = (
    GetVersion(),
    GetCapabilities(version=0x11, flags=0xF7C6),
    session_offer(),
    GetDigests(version=0x11),
    GetCertificate(version=0x11, offset=0, length=0x200),
    GetCertificate(version=0x11, offset=0x200, length=0xFFFF),
    Challenge(version=0x11, summary_hash_type=0xFF, nonce=NONCE),
    GetMeasurements(version=0x11, operation=0),
    GetMeasurements(version=0x11, attributes=1, operation=0xFF, nonce=NONCE, slot_id_param=0),
    VendorDefinedRequest(version=0x11, standard_id=3, vendor_id=b"\x01\x00", payload=b"\x00"),
    Heartbeat(version=0x11),
    EndSession(version=0x11),
)
SESSION_REQUESTS: tuple[Message, ...] = (
    Heartbeat(version=0x11),
    GetDigests(version=0x11),
    GetCertificate(version=0x11, offset=0, length=0x100),
    GetMeasurements(version=0x11, operation=1),
    GetMeasurements(version=0x11, attributes=1, operation=0xFF, nonce=NONCE, slot_id_param=0),
    KeyUpdate(version=0x11, operation=KeyUpdateOperation.UPDATE_KEY, tag=7),
    KeyUpdate(version=0x11, operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=7),
    EndSession(version=0x11),
    GetVersion(),
    Challenge(version=0x11, nonce=NONCE),
)


class ResponderMachine(RuleBasedStateMachine):
    """One responder, one model requester (reconnected at will), the model's live sessions."""

    handshaking = Bundle("handshaking")

    def __init__(self) -> None:
        super().__init__()
        self.device = Checked(Responder(CONFIG))
        self.peer: SessionPeer | None = None
        self.synced = False
        """The model's connection transcript matches the responder's (signatures can be checked)."""
        self.sessions: dict[int, RequesterSession] = {}
        """Model sessions that are established and in step with the responder."""

    # --- helpers ----------------------------------------------------------------------------

    def _lose_connection(self) -> None:
        self.peer, self.synced = None, False
        self.sessions.clear()

    def _after_clear(self, request: bytes) -> None:
        """A request sent in the clear outside the model's flow: follow what it did to the responder."""
        answer = self.device.last
        assert answer is not None
        if answer.error:
            if self.peer is not None:
                error = answer.message
                assert isinstance(error, ErrorResponse)
                self.peer.peer.transcript.after_error(error.error_code)
            return
        if request[1] in _CONNECTION_CODES:
            self._lose_connection()
        else:
            self.synced = False  # it went into the responder's transcript, not the model's

    def _room(self) -> bool:
        return self.peer is not None and len(self.device.responder.sessions) < CONFIG.limits.max_sessions

    # --- the connection ---------------------------------------------------------------------

    @rule()
    def connect(self) -> None:
        self.peer = SessionPeer(self.device)  # type: ignore[arg-type]
        self.synced = True
        self.sessions.clear()

    @precondition(lambda self: self.peer is not None and self.synced)
    @rule(portion=st.sampled_from([0x40, 0x200, 0x400, 0xFFFF]))
    def certificate(self, portion: int) -> None:
        assert self.peer is not None
        self.peer.peer.digests()
        chain = self.peer.peer.certificate(0, portion)
        assert chain == self.peer.responder_chain(0)

    @precondition(lambda self: self.peer is not None and self.synced)
    @rule(summary=st.sampled_from([0, 1, 0xFF]))
    def challenge(self, summary: int) -> None:
        assert self.peer is not None
        self.peer.peer.challenge(0, summary)

    @precondition(lambda self: self.peer is not None and self.synced)
    @rule(operation=st.sampled_from([0, 1, 2, 0xFF]), signed=st.booleans())
    def measurements(self, operation: int, signed: bool) -> None:
        assert self.peer is not None
        self.peer.peer.measurements(operation, signed=signed)

    # --- sessions ---------------------------------------------------------------------------

    @precondition(_room)
    @rule(target=handshaking)
    def key_exchange(self) -> RequesterSession:
        assert self.peer is not None
        return self.peer.key_exchange()

    @precondition(_room)
    @rule(target=handshaking)
    def psk_exchange(self) -> RequesterSession:
        assert self.peer is not None
        return self.peer.psk_exchange()

    @rule(session=consumes(handshaking))
    def finish(self, session: RequesterSession) -> None:
        if session.peer is not self.peer or self.device.responder.sessions.get(session.session_id) not in (
            SessionState.EXPECT_FINISH,
            SessionState.EXPECT_PSK_FINISH,
        ):
            return  # the connection restarted (its SessionID may be reused) or a mutation finished it since
        if session.psk:
            session.psk_finish()
        else:
            session.finish()
        self.sessions[session.session_id] = session

    def _session(self, data: st.DataObject) -> RequesterSession:
        live = sorted(s for s in self.sessions if s in self.device.responder.sessions)
        return self.sessions[data.draw(st.sampled_from(live))]

    def _has_session(self) -> bool:
        return any(s in self.device.responder.sessions for s in self.sessions)

    @precondition(_has_session)
    @rule(data=st.data(), what=st.sampled_from(["heartbeat", "measurements", "signed", "update", "update-all"]))
    def in_session(self, data: st.DataObject, what: str) -> None:
        session = self._session(data)
        if what == "heartbeat":
            session.heartbeat()
        elif what == "measurements":
            session.unsigned_measurements(data.draw(st.sampled_from([0, 1, 0xFF])))
        elif what == "signed":
            session.signed_measurements(data.draw(st.sampled_from([1, 0xFF])))
        else:
            all_keys = what == "update-all"
            session.key_update(KeyUpdateOperation.UPDATE_ALL_KEYS if all_keys else KeyUpdateOperation.UPDATE_KEY)

    @precondition(_has_session)
    @rule(data=st.data())
    def end_session(self, data: st.DataObject) -> None:
        session = self._session(data)
        session.end_session()
        del self.sessions[session.session_id]
        assert session.session_id not in self.device.responder.sessions

    # --- invalid and mutated requests -------------------------------------------------------

    @rule(request=st.sampled_from(CLEAR_REQUESTS).map(encode).flatmap(mutations))
    def mutated(self, request: bytes) -> None:
        self.device.respond(request)
        self._after_clear(request)

    @rule(
        version=st.sampled_from([0x10, 0x11, 0x12, 0x00, 0xFF]),
        code=st.one_of(st.sampled_from(list(Code)).map(int), st.integers(0, 255)),
        rest=st.binary(max_size=40),
    )
    def header(self, version: int, code: int, rest: bytes) -> None:
        """Any header: wrong version, unknown or out-of-order code, odd body."""
        request = bytes([version, code]) + rest
        self.device.respond(request)
        self._after_clear(request)

    @precondition(_has_session)
    @rule(data=st.data(), request=st.sampled_from(SESSION_REQUESTS).map(encode))
    def mutated_in_session(self, data: st.DataObject, request: bytes) -> None:
        """A mutated request sealed correctly: the responder opens it and parses the mutation."""
        session = self._session(data)
        mutated = data.draw(mutations(request) | st.just(request))
        response = self.device.respond(session.seal(mutated), session.session_id)
        answer = self.device.last
        assert answer is not None and answer.sealed, response[:4].hex()
        # as `SessionPeer.send`: the connection's B and C follow the reset rule of a request sent in a
        # session, whatever its answer
        if len(mutated) >= 2:
            session.peer.peer.transcript.before_session_request(mutated[1])
        if answer.error:
            error = answer.message
            assert isinstance(error, ErrorResponse)
            session.channel.open(response)
            session.measurements.after_error(error.error_code)
        elif mutated[1] in _HARMLESS_IN_SESSION:
            session.channel.open(response)
            session.measurements.before_request(mutated[1])
        else:
            del self.sessions[session.session_id]  # keys, transcript or state moved: forget it

    @precondition(lambda self: bool(self.device.responder.sessions))
    @rule(data=st.data(), how=st.sampled_from(["mutate", "replay", "other-session", "no-session"]))
    def tampered_record(self, data: st.DataObject, how: str) -> None:
        """A record that must not open: an ERROR in the clear; DecryptError ends its session and nothing
        else moves (the oracle checks)."""
        responder = self.device.responder
        session_id = data.draw(st.sampled_from(sorted(responder.sessions)))
        live = responder._sessions.get(session_id)
        assert live is not None
        direction = live.channel.request
        record = shadow(direction).seal(encode(Heartbeat(version=0x11)))
        if how == "mutate":
            # no filter: the record's bytes differ from run to run (fresh keys), and a filter over them
            # would make the draws differ too (hypothesis's FlakyStrategyDefinition)
            tampered = data.draw(mutations(record))
            if tampered[: len(record)] == record:  # unchanged, or only bytes appended: change the tag
                tampered = record[:-1] + bytes([record[-1] ^ 0x01]) + tampered[len(record) :]
            response = self.device.respond(tampered, session_id)
        elif how == "replay":
            old = shadow(direction, max(direction.sequence_number - 1, 0))
            if direction.sequence_number == 0:
                return
            response = self.device.respond(old.seal(encode(Heartbeat(version=0x11))), session_id)
        elif how == "other-session":
            response = self.device.respond(record, session_id ^ 0x0001_0000)
        else:
            response = self.device.respond(record, data.draw(st.integers(0, 0xFFFF_FFFF)))
        if how != "no-session" or len(response) == 4:
            assert len(response) == 4 and response[1] == Code.ERROR, response.hex()
            if response[2] == ErrorCode.DecryptError:  # the session ended with it
                self.sessions.pop(session_id, None)
        else:  # the draw hit the very session: it served a valid heartbeat
            self.sessions.pop(session_id, None)

    # --- invariants and the final check -----------------------------------------------------

    @invariant()
    def sessions_are_bounded(self) -> None:
        live = self.device.responder.sessions
        assert len(live) <= CONFIG.limits.max_sessions
        assert SessionState.ENDED not in live.values()

    def teardown(self) -> None:
        """A well-formed flow started now still succeeds: GET_VERSION, authentication, both sessions."""
        peer = SessionPeer(self.device)  # type: ignore[arg-type]
        assert not self.device.responder.sessions
        peer.peer.full_flow()
        dhe = peer.key_exchange()
        dhe.finish()
        dhe.heartbeat()
        dhe.signed_measurements()
        psk = peer.psk_exchange()
        psk.psk_finish()
        psk.key_update(KeyUpdateOperation.UPDATE_ALL_KEYS)
        psk.end_session()
        dhe.end_session()
        assert not self.device.responder.sessions


ResponderMachine.TestCase.settings = settings(
    stateful_step_count=STEPS,
    max_examples=min(settings.default.max_examples, 40) if PROFILE == "ci" else settings.default.max_examples,
)
TestResponderMachine = ResponderMachine.TestCase
