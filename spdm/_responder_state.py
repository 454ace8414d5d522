"""The responder's connection states and the table of which request moves it where.

States are named for what the responder expects next. `TRANSITIONS` is the whole state machine:
a (state, request code) pair that is in it is allowed, and its value is the state after a
successful answer; a pair that is not in it is an UnexpectedRequest. An ERROR answer never
changes the state. The table also draws the README's diagram (`state_diagram`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from spdm.messages.codes import CapabilityFlags, Code

__all__ = [
    "CAPABILITY_OF",
    "HANDLED",
    "TRANSITIONS",
    "State",
    "allowed",
    "next_state",
    "state_diagram",
]


class State(enum.Enum):
    """Where the connection stands, named for the request the responder waits for."""

    EXPECT_GET_VERSION = "expect GET_VERSION"
    EXPECT_GET_CAPABILITIES = "expect GET_CAPABILITIES"
    EXPECT_NEGOTIATE_ALGORITHMS = "expect NEGOTIATE_ALGORITHMS"
    NEGOTIATED = "negotiated: expect certificate, challenge, measurement or vendor requests"
    AUTHENTICATED = "authenticated: CHALLENGE_AUTH was signed"


# Requests served once the algorithms are negotiated; none of them changes the state except
# CHALLENGE, which authenticates the connection.
_AFTER_NEGOTIATION = (
    Code.GET_DIGESTS,
    Code.GET_CERTIFICATE,
    Code.CHALLENGE,
    Code.GET_MEASUREMENTS,
    Code.VENDOR_DEFINED_REQUEST,
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


TRANSITIONS: Mapping[tuple[State, Code], State] = _build()
"""(state, request) -> the state after a successful answer. Absent pairs are out of order."""

HANDLED: frozenset[Code] = frozenset(code for _, code in TRANSITIONS) | {Code.RESPOND_IF_READY}
"""Every request this responder implements; any other code is an UnsupportedRequest."""

CAPABILITY_OF: Mapping[Code, CapabilityFlags] = {
    Code.GET_DIGESTS: CapabilityFlags.CERT_CAP,
    Code.GET_CERTIFICATE: CapabilityFlags.CERT_CAP,
    Code.CHALLENGE: CapabilityFlags.CHAL_CAP,
    Code.GET_MEASUREMENTS: CapabilityFlags.MEAS_CAP_MASK,
}
"""The capability a request needs: without it the request is unsupported, whatever the state."""


def allowed(state: State, code: int) -> bool:
    return (state, code) in TRANSITIONS


def next_state(state: State, code: int) -> State:
    """The state after a successful answer to `code` in `state` (KeyError when it is not allowed)."""
    return TRANSITIONS[(state, Code(code))]


def state_diagram() -> str:
    """The state machine as a Mermaid state diagram (GET_VERSION, allowed everywhere, drawn once)."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.EXPECT_GET_VERSION.name}"]
    for (state, code), target in TRANSITIONS.items():
        if code == Code.GET_VERSION and state is not State.EXPECT_GET_VERSION:
            continue
        lines.append(f"    {state.name} --> {target.name}: {code.name}")
    lines.append(f"    note right of {State.EXPECT_GET_VERSION.name}: GET_VERSION restarts from any state")
    return "\n".join(lines)
