"""Property tests: whatever arrives, the responder answers one decodable message and keeps its state.

Sequences mix valid requests, mutations of them (`spdm.testing.strategies.mutations`), raw bytes
and the Busy/ResponseNotReady knobs. Invariants: `respond` never raises; an ERROR decodes and
leaves the state and the negotiation as they were; any other answer decodes exactly, with the
sizes the negotiation so far implies, and answers the request it was given; and afterwards a
complete, signature-checked flow still succeeds on the same responder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from responder_peer import LIBSPDM_STRUCTS, NONCE, Peer, offer

from spdm.flow import Direction, FlowDecoder
from spdm.messages import decode, decode_prefix, encode
from spdm.messages.certificates import GetCertificate, GetDigests
from spdm.messages.challenge import Challenge
from spdm.messages.codes import CapabilityFlags, Code
from spdm.messages.error import ErrorResponse, RespondIfReady
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import GetCapabilities, GetVersion
from spdm.messages.vendor import VendorDefinedRequest
from spdm.responder import Responder, ResponderConfig, demo_config
from spdm.responder.state import TRANSITIONS, State
from spdm.testing.strategies import mutations

CONFIG: ResponderConfig = dataclasses.replace(demo_config(), max_padding=3)

FLAGS = int(CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP)
VALID_11 = (
    encode(GetVersion()),
    encode(GetCapabilities(version=0x11, flags=FLAGS)),
    encode(offer(structs=LIBSPDM_STRUCTS)),
    encode(GetDigests(version=0x11)),
    encode(GetCertificate(version=0x11, offset=0, length=0x200)),
    encode(GetCertificate(version=0x11, offset=0x200, length=0xFFFF)),
    encode(Challenge(version=0x11, summary_hash_type=0xFF, nonce=NONCE)),
    encode(GetMeasurements(version=0x11, operation=0)),
    encode(GetMeasurements(version=0x11, operation=2)),
    encode(GetMeasurements(version=0x11, attributes=1, operation=0xFF, nonce=NONCE, slot_id_param=0)),
    encode(RespondIfReady(version=0x11, request_code=Code.GET_DIGESTS, token=0)),
    encode(VendorDefinedRequest(version=0x11, standard_id=3, vendor_id=b"\x01\x00", payload=b"\x00")),
)
VALID_10 = (
    encode(GetCapabilities(version=0x10, reserved=None, ct_exponent=None, reserved2=None, flags=None)),
    encode(offer(0x10)),
    encode(GetDigests(version=0x10)),
    encode(Challenge(version=0x10, nonce=NONCE)),
    encode(GetMeasurements(version=0x10, attributes=1, operation=1, nonce=NONCE)),
)
VALID = VALID_11 + VALID_10


@dataclass
class Knob:
    busy: int = 0
    not_ready: int = 0


Step = bytes | Knob

requests = st.one_of(
    st.sampled_from(VALID),
    st.sampled_from(VALID).flatmap(mutations),
    st.binary(max_size=48),
    st.tuples(st.sampled_from([0x10, 0x11, 0x12]), st.integers(0, 255), st.binary(max_size=8)).map(
        lambda t: bytes([t[0], t[1]]) + t[2]
    ),
)
knobs = st.builds(Knob, busy=st.integers(0, 2), not_ready=st.integers(0, 2))
steps = st.lists(st.one_of(requests, requests, requests, knobs), max_size=12)


@dataclass
class Observer:
    """The requester-side view of what went by: which sizes the next response must be decoded with."""

    flow: FlowDecoder = field(default_factory=FlowDecoder)
    pending: bytes | None = None

    def check(self, responder: Responder, request: bytes, response: bytes, before: tuple[object, ...]) -> None:
        assert isinstance(response, bytes) and len(response) >= 4
        if response[1] == Code.ERROR:
            error = decode(response)
            assert isinstance(error, ErrorResponse)
            assert (responder.state, responder.negotiated) == before, "an ERROR changed the state"
            if error.error_code == 0x42 and request[1] != Code.RESPOND_IF_READY:
                self.pending = request
            return
        served = request
        if request[1] == Code.RESPOND_IF_READY:
            assert self.pending is not None, "RESPOND_IF_READY answered with nothing pending"
            served, self.pending = self.pending, None
        message, _ = decode_prefix(served, self.flow.context(Direction.REQUEST))
        self.flow.observe(message)
        answer, exact = self.flow.decode(response)
        assert exact == response
        assert answer.code == served[1] & 0x7F
        assert answer.version == served[0]


def run(responder: Responder, sequence: list[Step]) -> None:
    observer = Observer()
    for step in sequence:
        if isinstance(step, Knob):
            responder.answer_busy(step.busy)
            responder.answer_not_ready(step.not_ready)
            continue
        before = (responder.state, responder.negotiated)
        response = responder.respond(step)
        observer.check(responder, step, response, before)


def still_works(responder: Responder) -> None:
    responder.answer_busy(0)
    responder.answer_not_ready(0)
    peer = Peer(responder)
    peer.vca()
    peer.full_flow()


@given(steps)
def test_any_sequence_is_answered_and_the_state_survives(sequence: list[Step]) -> None:
    responder = Responder(CONFIG)
    run(responder, sequence)
    still_works(responder)


@given(steps)
def test_after_negotiation_any_sequence_is_answered(sequence: list[Step]) -> None:
    responder = Responder(CONFIG)
    run(responder, [*VALID_11[:5], *sequence])
    still_works(responder)


@given(st.lists(st.sampled_from(VALID), max_size=20))
def test_valid_requests_in_any_order(sequence: list[bytes]) -> None:
    responder = Responder(CONFIG)
    run(responder, list(sequence))
    still_works(responder)


def _reach(state: State) -> Responder:
    responder = Responder(CONFIG)
    peer = Peer(responder)
    if state is not State.EXPECT_GET_VERSION:
        peer.get_version()
    if state in (State.EXPECT_NEGOTIATE_ALGORITHMS, State.NEGOTIATED, State.AUTHENTICATED):
        peer.capabilities()
    if state in (State.NEGOTIATED, State.AUTHENTICATED):
        peer.algorithms(offer())
    if state is State.AUTHENTICATED:
        peer.challenge()
    assert responder.state is state
    return responder


@pytest.mark.parametrize("state", list(State))
def test_every_header_in_every_state(state: State) -> None:
    """state x (version, code): a bare header always gets an answer; an ERROR keeps the state, a
    success moves it as the transition table says."""
    responder = _reach(state)
    for version in (0x10, 0x11, 0x12, 0xFF):
        for code in range(256):
            before = (responder.state, responder.negotiated)
            response = responder.respond(bytes([version, code, 0, 0]))
            message = decode(response, responder.negotiated.codec_context() if responder.negotiated else None)
            if isinstance(message, ErrorResponse):
                assert (responder.state, responder.negotiated) == before
                continue
            assert message.code == code & 0x7F
            assert responder.state is TRANSITIONS[(state, Code(code))]
            if responder.state is not state:
                responder = _reach(state)
    still_works(responder)
