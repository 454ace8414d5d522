"""The invariant oracle of the fuzzers: a responder wrapper that checks every answer it gives.

`Checked(responder)` has the responder's `respond(request, session_id)` and `config`, so the
test-side requesters (`responder_peer.Peer`, `session_peer.SessionPeer`) drive it unchanged. For
every request it checks, independently of any model:

* `respond` never raises;
* the answer decodes exactly: a clear answer with the negotiation and the request's own
  context, a secured answer after opening it with the responder's response keys (those before
  the answer, or the ones it switched to: FINISH_RSP, the UpdateAllKeys ACK);
* it answers what was asked: the request's code and version (or ERROR);
* the state moves only along the tables: an ERROR (clear or sealed) changes neither the
  connection nor any session's state; a clear ERROR (a record that did not open) changes no
  sequence number or key either, except that DecryptError ends that record's session; a sealed
  one moves only its own session's numbers by one; a success moves the connection as
  `TRANSITIONS` says and its session as `SESSION_TRANSITIONS` says, and touches no other session
  (GET_VERSION ends them all; *_EXCHANGE adds exactly one).

`Checked.counts` counts inputs per label (the request's code name, or "raw").
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass

from spdm.errors import ErrorCode, SpdmError
from spdm.messages import Message, decode, decode_prefix
from spdm.messages.challenge import Challenge
from spdm.messages.codes import Code
from spdm.messages.endpoint_info import GetEndpointInfo
from spdm.messages.error import ErrorResponse
from spdm.messages.key_exchange import KeyExchange
from spdm.messages.measurements import GetMeasurements
from spdm.messages.psk import PskExchange
from spdm.negotiated import Negotiated
from spdm.responder import Responder, ResponderConfig
from spdm.responder.events import SessionEvents
from spdm.responder.state import SESSION_TRANSITIONS, TRANSITIONS, SessionState, State
from spdm.session.secured import DirectionState

__all__ = ["Answer", "Checked", "Snapshot", "code_name", "shadow", "snapshot"]

_EXCHANGES = frozenset({Code.KEY_EXCHANGE, Code.PSK_EXCHANGE})
_ENCAPSULATED = frozenset({Code.GET_ENCAPSULATED_REQUEST, Code.DELIVER_ENCAPSULATED_RESPONSE})
_FIRST_STATES = frozenset(
    {
        SessionState.EXPECT_FINISH,
        SessionState.EXPECT_PSK_FINISH,
        SessionState.ESTABLISHED,
        SessionState.EXPECT_GET_ENCAPSULATED_REQUEST,
    }
)


@dataclass(frozen=True)
class SessionView:
    state: SessionState
    request: tuple[int, object]
    response: tuple[int, object]
    events: tuple[object, ...]
    """SPDM 1.3: the subscription, the waiting events and where their acknowledgement stands."""


@dataclass(frozen=True)
class Snapshot:
    state: State
    negotiated: Negotiated | None
    sessions: dict[int, SessionView]
    key_pairs: tuple[object, ...]
    """SPDM 1.3: the key pairs as SET_KEY_PAIR_INFO left them."""
    asks: dict[int | None, tuple[object, ...]]
    """SPDM 1.3: the responder's armed GET_ENDPOINT_INFO asks and whether each went out."""


def _events(events: SessionEvents) -> tuple[object, ...]:
    subscribed = tuple(sorted(events.subscribed.items()))
    return (subscribed, tuple(events.pending), events.next_id, events.last_acked, events.in_flight, events.request_id)


def snapshot(responder: Responder) -> Snapshot:
    sessions = {
        s.session_id: SessionView(
            state=s.state,
            request=(s.channel.request.sequence_number, s.channel.request.keys),
            response=(s.channel.response.sequence_number, s.channel.response.keys),
            events=_events(s.events),
        )
        for s in responder._sessions
    }
    key_pairs = tuple(responder._key_pairs.key_pairs)
    asks = {k: (a.slot, a.signed, a.sent) for k, a in responder._asks.items()}
    return Snapshot(responder.state, responder.negotiated, sessions, key_pairs, asks)


def shadow(direction: DirectionState, sequence_number: int | None = None) -> DirectionState:
    """A copy of one direction (same keys, same or given sequence number) that seals or opens
    without moving the original."""
    keys = direction.keys
    assert keys is not None
    return DirectionState(
        session_id=direction.session_id,
        aead=direction.aead,
        key=keys.key,
        iv=keys.iv,
        transport=direction.transport,
        encrypt=direction.encrypt,
        sequence_number=direction.sequence_number if sequence_number is None else sequence_number,
        keys=keys,
    )


def code_name(code: int) -> str:
    try:
        return Code(code).name
    except ValueError:
        return f"0x{code:02x}"


def _response_context(negotiated: Negotiated | None, request: Message | None) -> object:
    if negotiated is None:
        return None
    summary = 0
    if isinstance(request, (Challenge, KeyExchange, PskExchange)):
        summary = request.summary_hash_type
    signed = isinstance(request, (GetMeasurements, GetEndpointInfo)) and request.signature_requested
    return negotiated.codec_context(summary_hash_type=summary, signature_requested=signed)


@dataclass
class Answer:
    """What the oracle saw: the SPDM request and response (plaintext for sealed ones), and whether it was sealed."""

    request: bytes | None
    response: bytes
    message: Message
    sealed: bool

    @property
    def error(self) -> bool:
        return isinstance(self.message, ErrorResponse)


class Checked:
    """A responder whose every answer is checked against the invariants (AssertionError otherwise)."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.counts: collections.Counter[str] = collections.Counter()
        self.accepted: collections.Counter[str] = collections.Counter()
        """Inputs answered with something else than ERROR, per label."""
        self.last: Answer | None = None

    @property
    def config(self) -> ResponderConfig:
        return self.responder.config

    def respond(self, request: bytes, session_id: int | None = None, *, label: str | None = None) -> bytes:
        responder = self.responder
        before = snapshot(responder)
        plain = None
        prior: DirectionState | None = None
        if session_id is not None:
            plain = self._peek(request, session_id)
            live = responder._sessions.get(session_id)
            prior = shadow(live.channel.response) if live is not None else None
        spdm = request if session_id is None else plain
        label = label or (code_name(spdm[1]) if spdm is not None and len(spdm) > 1 else "raw")
        self.counts[label] += 1
        response = responder.respond(request, session_id)  # any exception is a failure
        assert isinstance(response, bytes) and len(response) >= 4, response
        after = snapshot(responder)
        if session_id is None:
            self.last = self._check_clear(request, response, before, after)
        else:
            self.last = self._check_secured(session_id, plain, prior, response, before, after)
        if not self.last.error:
            self.accepted[label] += 1
        return response

    # --- clear ------------------------------------------------------------------------------

    def _check_clear(self, request: bytes, response: bytes, before: Snapshot, after: Snapshot) -> Answer:
        if response[1] == Code.ERROR:
            error = decode(response)
            assert isinstance(error, ErrorResponse), error
            assert after == before, f"ERROR 0x{error.error_code:02x} changed the state"
            return Answer(request, response, error, sealed=False)
        ask, _ = decode_prefix(request, before.negotiated.codec_context() if before.negotiated else None)
        answer = decode(response, _response_context(before.negotiated, ask))  # type: ignore[arg-type]
        code = request[1]
        assert answer.code == code & 0x7F, f"{code_name(code)} answered with {answer.name}"
        assert answer.version == (0x10 if code == Code.GET_VERSION else request[0]), answer
        if code == Code.FINISH:  # HANDSHAKE_IN_THE_CLEAR: it finishes one session, the connection stays
            assert (after.state, after.negotiated) == (before.state, before.negotiated), "FINISH moved the connection"
            moved = {k for k in before.sessions if after.sessions.get(k) != before.sessions[k]}
            assert set(after.sessions) == set(before.sessions) and len(moved) == 1, "FINISH did not finish one session"
            (finished,) = moved
            assert before.sessions[finished].state is SessionState.EXPECT_FINISH
            assert after.sessions[finished].state is SessionState.ESTABLISHED
            return Answer(request, response, answer, sealed=False)
        if code in _ENCAPSULATED:  # the responder's GET_ENDPOINT_INFO asked outside sessions: the connection stays
            assert after.state is before.state, (before.state, code_name(code), after.state)
        else:
            assert after.state is TRANSITIONS[(before.state, Code(code))], (before.state, code_name(code), after.state)
        if code == Code.GET_VERSION:
            assert not after.sessions, "GET_VERSION left sessions behind"
        elif code in _EXCHANGES:
            new = set(after.sessions) - set(before.sessions)
            assert len(new) == 1 and set(before.sessions) <= set(after.sessions), "an exchange opened no session"
            assert after.sessions[new.pop()].state in _FIRST_STATES
            assert {k: after.sessions[k] for k in before.sessions} == before.sessions
        else:
            assert after.sessions == before.sessions, f"{code_name(code)} in the clear touched a session"
            assert after.negotiated == before.negotiated or before.negotiated is None
        return Answer(request, response, answer, sealed=False)

    # --- secured ----------------------------------------------------------------------------

    def _peek(self, record: bytes, session_id: int) -> bytes | None:
        """The SPDM message in a record, opened with the responder's own request key (None if it does not open)."""
        session = self.responder._sessions.get(session_id)
        if session is None:
            return None
        candidates = [session.channel.request]
        if session.key_update is not None:  # a KEY_UPDATE awaits VerifyNewKey: the old key still opens
            candidates.append(session.key_update.fallback)
        for direction in candidates:
            try:
                return shadow(direction).open(record)
            except SpdmError:
                continue
        return None

    def _check_secured(
        self,
        session_id: int,
        plain: bytes | None,
        prior: DirectionState | None,
        response: bytes,
        before: Snapshot,
        after: Snapshot,
    ) -> Answer:
        if len(response) == 4:  # a record that did not open: a clear ERROR
            error = decode(response)
            assert isinstance(error, ErrorResponse), error
            if error.error_code == ErrorCode.DecryptError:  # it ends its session (as libspdm), nothing else
                assert session_id in before.sessions, "DecryptError for a session that is not open"
                before = dataclasses.replace(
                    before, sessions={k: v for k, v in before.sessions.items() if k != session_id}
                )
            assert after == before, "a record that did not open changed more than its session's end"
            return Answer(plain, response, error, sealed=False)
        assert plain is not None, "a record the responder's keys do not open was answered in the session"
        assert int.from_bytes(response[:4], "little") == session_id, "a sealed answer names another session"
        opened = self._open_answer(session_id, response, prior, after)
        ask: Message | None
        try:
            ask, _ = decode_prefix(plain, before.negotiated.codec_context() if before.negotiated else None)
        except SpdmError:
            ask = None
        answer = decode(opened, _response_context(before.negotiated, ask))  # type: ignore[arg-type]
        old = before.sessions[session_id]
        new = after.sessions.get(session_id)
        moved = (after.state, after.negotiated) != (before.state, before.negotiated)
        assert not moved, "a session request moved the connection"
        others = {k: v for k, v in before.sessions.items() if k != session_id}
        assert {k: v for k, v in after.sessions.items() if k != session_id} == others, "another session moved"
        if isinstance(answer, ErrorResponse):
            assert new is not None and new.state is old.state, "a sealed ERROR changed the session's state"
            assert new.events == old.events, "a sealed ERROR changed the session's events"
            assert (after.key_pairs, after.asks) == (before.key_pairs, before.asks), "a sealed ERROR changed 1.3 state"
            assert new.response[0] == old.response[0] + 1 and new.response[1] == old.response[1]
            return Answer(plain, opened, answer, sealed=True)
        code = plain[1]
        assert answer.code == code & 0x7F, f"{code_name(code)} answered with {answer.name}"
        assert answer.version == plain[0], answer
        targets = SESSION_TRANSITIONS.get((old.state, Code(code)), ())
        if code in _ENCAPSULATED and old.state is SessionState.ESTABLISHED:
            targets = (*targets, SessionState.ESTABLISHED)  # the responder's armed GET_ENDPOINT_INFO (Responder._asked)
        state = SessionState.ENDED if new is None else new.state
        assert state in targets, (old.state, code_name(code), state)
        return Answer(plain, opened, answer, sealed=True)

    def _open_answer(self, session_id: int, response: bytes, prior: DirectionState | None, after: Snapshot) -> bytes:
        """Open a sealed answer with the response key the responder used: the one it switched to on
        the way out (FINISH_RSP, the UpdateAllKeys ACK), else the one before."""
        candidates: list[DirectionState] = []
        session = self.responder._sessions.get(session_id)
        new = after.sessions.get(session_id)
        if session is not None and new is not None and new.response[0] > 0:
            candidates.append(shadow(session.channel.response, new.response[0] - 1))
        if prior is not None:
            candidates.append(prior)
        for direction in candidates:
            try:
                return direction.open(response)
            except SpdmError:
                continue
        raise AssertionError("the sealed answer does not open with the responder's response keys")
