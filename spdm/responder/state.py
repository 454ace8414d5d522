"""The responder's connection and session states, and the tables of which request moves each where.

States are named for what the responder expects next. `TRANSITIONS` is the connection's state
machine: a (state, request code) pair that is in it is allowed, and its value is the state after
a successful answer; a pair that is not in it is an UnexpectedRequest. `SESSION_TRANSITIONS` is
the same for one session (each session has its own state): its value lists the states a
successful answer may lead to, the usual one first (DELIVER_ENCAPSULATED_RESPONSE either asks
for more or ends the encapsulated flow). An ERROR answer never changes any state. The tables also
draw the README's diagrams (`state_diagram`, `session_state_diagram`).

Where a request may travel: `SESSION_ONLY` requests need a session (outside one, before 1.3, the
encapsulated flow's are UnexpectedRequest; the others, `SESSION_REQUIRED`, are SessionRequired once a
1.2 or later connection is negotiated and Unspecified on a 1.1 one),
`NEVER_IN_SESSION` ones must not come inside one (UnexpectedRequest there),
and the handshake of a session negotiated HANDSHAKE_IN_THE_CLEAR (FINISH and the encapsulated
mutual-authentication flow) travels in the clear, `CLEAR_HANDSHAKE` (`spdm.session.secured`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from spdm.messages.codes import REQUEST_NEEDS, CapabilityFlags, Code, MutAuthRequest
from spdm.responder.chunks import CHUNK_REQUESTS
from spdm.session.secured import CLEAR_HANDSHAKE

__all__ = [
    "CAPABILITY_OF",
    "CLEAR_HANDSHAKE",
    "DHE_HANDSHAKE_START",
    "HANDLED",
    "NEVER_IN_SESSION",
    "REQUESTER_CAPABILITY_OF",
    "SESSION_ONLY",
    "SESSION_REQUIRED",
    "SESSION_TRANSITIONS",
    "TRANSITIONS",
    "SessionState",
    "State",
    "session_state_diagram",
    "state_diagram",
]


class State(enum.Enum):
    """Where the connection stands, named for the request the responder waits for."""

    EXPECT_GET_VERSION = "expect GET_VERSION"
    EXPECT_GET_CAPABILITIES = "expect GET_CAPABILITIES"
    EXPECT_NEGOTIATE_ALGORITHMS = "expect NEGOTIATE_ALGORITHMS"
    NEGOTIATED = "negotiated: expect certificate, challenge, measurement, vendor or session requests"
    AUTHENTICATED = "authenticated: CHALLENGE_AUTH was signed"


class SessionState(enum.Enum):
    """Where one session stands, named for the request the responder waits for in it."""

    EXPECT_GET_ENCAPSULATED_REQUEST = "handshake: expect GET_ENCAPSULATED_REQUEST (mutual authentication)"
    EXPECT_ENCAPSULATED_RESPONSE = "handshake: expect DELIVER_ENCAPSULATED_RESPONSE"
    EXPECT_FINISH = "handshake: expect FINISH"
    EXPECT_PSK_FINISH = "handshake: expect PSK_FINISH"
    ESTABLISHED = "established: expect in-session requests"
    EXPECT_EVENT_ACK = "established: expect DELIVER_ENCAPSULATED_RESPONSE (EVENT_ACK to SEND_EVENT)"
    ENDED = "ended: END_SESSION_ACK sent, the session is freed"


# Requests served once the algorithms are negotiated; none of them changes the state except
# CHALLENGE, which authenticates the connection. KEY_EXCHANGE and PSK_EXCHANGE start a session
# (whose state is in SESSION_TRANSITIONS) and leave the connection's state as it is.
_AFTER_NEGOTIATION = (
    Code.GET_DIGESTS,
    Code.GET_CERTIFICATE,
    Code.CHALLENGE,
    Code.GET_MEASUREMENTS,
    Code.VENDOR_DEFINED_REQUEST,
    Code.KEY_EXCHANGE,
    Code.PSK_EXCHANGE,
    Code.GET_CSR,
    Code.SET_CERTIFICATE,
    Code.GET_KEY_PAIR_INFO,
    Code.SET_KEY_PAIR_INFO,
    Code.GET_MEASUREMENT_EXTENSION_LOG,
    Code.GET_ENDPOINT_INFO,
)

# What an established session serves; none of it changes the session's state but END_SESSION.
_IN_ESTABLISHED_SESSION = (
    Code.GET_DIGESTS,
    Code.GET_CERTIFICATE,
    Code.GET_MEASUREMENTS,
    Code.VENDOR_DEFINED_REQUEST,
    Code.HEARTBEAT,
    Code.KEY_UPDATE,
    Code.GET_CSR,
    Code.SET_CERTIFICATE,
    Code.GET_KEY_PAIR_INFO,
    Code.SET_KEY_PAIR_INFO,
    Code.GET_MEASUREMENT_EXTENSION_LOG,
    Code.GET_ENDPOINT_INFO,
    Code.GET_SUPPORTED_EVENT_TYPES,
    Code.SUBSCRIBE_EVENT_TYPES,
)


def _build() -> dict[tuple[State, Code], State]:
    table: dict[tuple[State, Code], State] = {}
    for state in State:
        table[(state, Code.GET_VERSION)] = State.EXPECT_GET_CAPABILITIES
    table[(State.EXPECT_GET_CAPABILITIES, Code.GET_CAPABILITIES)] = State.EXPECT_NEGOTIATE_ALGORITHMS
    table[(State.EXPECT_NEGOTIATE_ALGORITHMS, Code.NEGOTIATE_ALGORITHMS)] = State.NEGOTIATED
    for state in (State.NEGOTIATED, State.AUTHENTICATED):
        for code in _AFTER_NEGOTIATION:
            table[(state, code)] = State.AUTHENTICATED if code == Code.CHALLENGE else state
    return table


def _build_session() -> dict[tuple[SessionState, Code], tuple[SessionState, ...]]:
    s = SessionState
    table: dict[tuple[SessionState, Code], tuple[SessionState, ...]] = {
        (s.EXPECT_GET_ENCAPSULATED_REQUEST, Code.GET_ENCAPSULATED_REQUEST): (s.EXPECT_ENCAPSULATED_RESPONSE,),
        (s.EXPECT_ENCAPSULATED_RESPONSE, Code.DELIVER_ENCAPSULATED_RESPONSE): (
            s.EXPECT_ENCAPSULATED_RESPONSE,
            s.EXPECT_FINISH,
        ),
        (s.EXPECT_FINISH, Code.FINISH): (s.ESTABLISHED,),
        (s.EXPECT_PSK_FINISH, Code.PSK_FINISH): (s.ESTABLISHED,),
        (s.ESTABLISHED, Code.END_SESSION): (s.ENDED,),
        # the Notifier's SEND_EVENT, fetched by the requester (spdm.responder.events)
        (s.ESTABLISHED, Code.GET_ENCAPSULATED_REQUEST): (s.EXPECT_EVENT_ACK,),
        (s.EXPECT_EVENT_ACK, Code.DELIVER_ENCAPSULATED_RESPONSE): (s.ESTABLISHED,),
    }
    for code in _IN_ESTABLISHED_SESSION:
        table[(s.ESTABLISHED, code)] = (s.ESTABLISHED,)
    return table


TRANSITIONS: Mapping[tuple[State, Code], State] = _build()
"""(state, request) -> the state after a successful answer. Absent pairs are out of order."""

DHE_HANDSHAKE_START: Mapping[int, SessionState] = {
    MutAuthRequest.WITH_ENCAP_REQUEST: SessionState.EXPECT_GET_ENCAPSULATED_REQUEST,
    MutAuthRequest.WITH_GET_DIGESTS: SessionState.EXPECT_ENCAPSULATED_RESPONSE,
}
"""Where a KEY_EXCHANGE session starts, by the MutAuthRequested its KEY_EXCHANGE_RSP sent: the encapsulated
flow first (0x02 waits for GET_ENCAPSULATED_REQUEST; 0x04 for the DIGESTS answering its GET_DIGESTS), any
other value at FINISH."""

SESSION_TRANSITIONS: Mapping[tuple[SessionState, Code], tuple[SessionState, ...]] = _build_session()
"""(session state, request) -> the states a successful answer may lead to, the usual one first."""

SESSION_ONLY: frozenset[Code] = frozenset(
    {Code.FINISH, Code.PSK_FINISH, Code.HEARTBEAT, Code.KEY_UPDATE, Code.END_SESSION}
    | {Code.GET_ENCAPSULATED_REQUEST, Code.DELIVER_ENCAPSULATED_RESPONSE}
    | {Code.GET_SUPPORTED_EVENT_TYPES, Code.SUBSCRIBE_EVENT_TYPES}
)
"""Requests that belong to a session: outside one (bar `CLEAR_HANDSHAKE`) they are refused."""

SESSION_REQUIRED: frozenset[Code] = SESSION_ONLY - {Code.GET_ENCAPSULATED_REQUEST, Code.DELIVER_ENCAPSULATED_RESPONSE}
"""The session requests refused outside a session for want of one: SessionRequired from 1.2, Unspecified
before (1.1 has no SessionRequired; libspdm_rsp_finish_rsp.c, _psk_finish_rsp.c, _heartbeat.c,
_key_update_ack.c, _end_session_ack.c). Before 1.3 the encapsulated flow's requests outside a session are
out of order instead, UnexpectedRequest (libspdm_rsp_encap_response.c: no encapsulated flow is running);
from 1.3 the responder serves them there (`Responder._encapsulated_ask`)."""

NEVER_IN_SESSION: frozenset[Code] = frozenset(
    {
        Code.GET_VERSION,
        Code.GET_CAPABILITIES,
        Code.NEGOTIATE_ALGORITHMS,
        Code.CHALLENGE,
        Code.KEY_EXCHANGE,
        Code.PSK_EXCHANGE,
    }
)
"""Connection requests the specification prohibits inside a session (UnexpectedRequest there)."""

HANDLED: frozenset[Code] = (
    frozenset(code for _, code in TRANSITIONS) | frozenset(code for _, code in SESSION_TRANSITIONS)
) | {Code.RESPOND_IF_READY, *CHUNK_REQUESTS}
"""Every request this responder implements; any other code is an UnsupportedRequest."""

CAPABILITY_OF: Mapping[Code, CapabilityFlags] = {
    code: needs.responder for code, needs in REQUEST_NEEDS.items() if needs.responder
}
"""The responder capability a request needs (`REQUEST_NEEDS`): without it the request is unsupported,
whatever the state."""

REQUESTER_CAPABILITY_OF: Mapping[Code, CapabilityFlags] = {
    code: needs.requester for code, needs in REQUEST_NEEDS.items() if needs.requester and code not in CHUNK_REQUESTS
}
"""Session requests also need the requester's capability (a feature is in effect only when both set it).
A chunk request from a requester without CHUNK_CAP is out of order instead, UnexpectedRequest (the
responder's chunk handling refuses it, as libspdm_rsp_chunk_send_ack.c and _chunk_response.c do)."""


def state_diagram() -> str:
    """The connection state machine as a Mermaid state diagram (GET_VERSION, allowed everywhere, drawn once)."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.EXPECT_GET_VERSION.name}"]
    for (state, code), target in TRANSITIONS.items():
        if code == Code.GET_VERSION and state is not State.EXPECT_GET_VERSION:
            continue
        lines.append(f"    {state.name} --> {target.name}: {code.name}")
    lines.append(f"    note right of {State.EXPECT_GET_VERSION.name}: GET_VERSION restarts from any state")
    return "\n".join(lines)


def session_state_diagram() -> str:
    """One session's state machine as a Mermaid state diagram, from KEY_EXCHANGE_RSP or PSK_EXCHANGE_RSP."""
    s = SessionState
    lines = [
        "stateDiagram-v2",
        *(
            f"    [*] --> {start.name}: KEY_EXCHANGE (MutAuthRequested 0x{mut_auth:02x})"
            for mut_auth, start in DHE_HANDSHAKE_START.items()
        ),
        f"    [*] --> {s.EXPECT_FINISH.name}: KEY_EXCHANGE",
        f"    [*] --> {s.EXPECT_PSK_FINISH.name}: PSK_EXCHANGE (PSK with context)",
        f"    [*] --> {s.ESTABLISHED.name}: PSK_EXCHANGE (PSK without context)",
    ]
    for (state, code), targets in SESSION_TRANSITIONS.items():
        for target in targets:
            lines.append(f"    {state.name} --> {target.name}: {code.name}")
    lines.append(f"    {s.ENDED.name} --> [*]")
    return "\n".join(lines)
