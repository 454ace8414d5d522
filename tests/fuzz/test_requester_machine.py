"""The requester fed one mutated response: it succeeds with exactly the unmutated results, or fails
with a typed `SpdmError`; it never returns unverified data as verified.

A transport hands each request to a real responder and mutates ONE of its answers, at a message
hypothesis chooses, with `mutations` or a single-byte XOR. Answers inside a session are mutated
either as records (the tag breaks) or inside them: opened with the responder's response key,
mutated, and sealed again with the same key and sequence number, so that the requester's own
parsing and checks meet the mutation. Three flows: the connection (`authenticate`: VCA, digests,
the validated chain, CHALLENGE, signed measurements), a DHE session and a PSK session (each with
signed measurements, HEARTBEAT, KEY_UPDATE and END_SESSION). A successful run must report the same
negotiation, digests, chain, measurement blocks and session parameters as the unmutated run; the
one exception is an unsigned in-session measurement mutated inside a record resealed with the
session's key (what the device itself may say: `signed` is False there), which is still compared
when the record itself was mutated.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import pytest
from campaign13 import CONFIG_13 as CAMPAIGN_CONFIG_13
from campaign13 import MEASUREMENT_CHANGED, requester_config
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import shadow

from spdm.errors import SpdmError
from spdm.events import DMTF_EVENT_GROUP, DmtfEventType, subscribe_all
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, ResponderConfig, demo_config
from spdm.testing.strategies import mutations
from spdm.transport.base import Transport

PSK = b"fuzzing pre-shared key"
HINT = b"fuzz-hint"
CONFIG: ResponderConfig = demo_config(sessions=True, psks={HINT: PSK})
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
EXAMPLES = min(settings.default.max_examples, 25) if PROFILE == "ci" else settings.default.max_examples

Mutate = Callable[[bytes], bytes]


class MutatingTransport(Transport):
    """Carries requests to `responder` and mutates the answer to request number `target` with `mutate`."""

    def __init__(self, responder: Responder, target: int = -1, mutate: Mutate | None = None, inner: bool = False):
        self.responder = responder
        self.target = target
        self.mutate = mutate
        self.inner = inner
        self.count = 0
        self.hit: tuple[bytes, bytes] | None = None

    def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        prior = None
        live = self.responder._sessions.get(session_id) if session_id is not None else None
        if live is not None:
            prior = shadow(live.channel.response)
        response = self.responder.respond(request, session_id)
        index, self.count = self.count, self.count + 1
        if index != self.target or self.mutate is None:
            return response
        if self.inner and session_id is not None and len(response) > 4:
            response = self._mutate_inside(session_id, response, prior)
        else:
            response = self.mutate(response)
        self.hit = (request, response)
        return response

    def _mutate_inside(self, session_id: int, record: bytes, prior: Any) -> bytes:
        assert self.mutate is not None
        candidates = []
        session = self.responder._sessions.get(session_id)
        if session is not None and session.channel.response.sequence_number > 0:
            candidates.append(session.channel.response.sequence_number - 1)
        for seq in candidates:
            direction = shadow(session.channel.response, seq)  # type: ignore[union-attr]
            try:
                plain = shadow(direction).open(record)
            except SpdmError:
                continue
            return shadow(direction, seq).seal(self.mutate(plain))
        if prior is not None:
            plain = shadow(prior).open(record)
            return shadow(prior).seal(self.mutate(plain))
        return self.mutate(record)


def _requester(transport: Transport) -> Requester:
    config = RequesterConfig.with_sessions(
        trust_anchors={0: CONFIG.slots[0].certificates[0]}, psk=PSK, psk_hint=HINT, sleep=lambda _: None
    )
    return Requester(transport, config)


def _measurements(result: Any) -> tuple[object, ...]:
    return (result.operation, result.blocks, result.total_indices, result.signed, result.slot, result.opaque_data)


def connection_flow(transport: Transport) -> tuple[object, ...]:
    requester = _requester(transport)
    result = requester.authenticate(summary_hash_type=0xFF)
    assert result.measurements is not None
    return (
        result.negotiated,
        dict(result.digests),
        result.slot,
        result.chain_bytes,
        result.challenge.measurement_summary_hash,
        result.challenge.opaque_data,
        _measurements(result.measurements),
        None,
    )


def _session_results(requester: Requester, session: Any) -> tuple[object, ...]:
    measured = session.get_measurements(0xFF, signed=True)
    session.heartbeat()
    updated = session.key_update(all_keys=True)
    unsigned = session.get_measurements(1, signed=False)
    session.close()
    return (
        requester.negotiated,
        session.psk,
        session.slot,
        session.heartbeat_period,
        session.secured_message_version,
        session.encrypted,
        session.measurement_summary_hash,
        _measurements(measured),
        updated,
        session.closed,
        _measurements(unsigned),  # last: unsigned, so only as good as the record that carried it
    )


def dhe_flow(transport: Transport) -> tuple[object, ...]:
    requester = _requester(transport)
    requester.init_connection()
    session = requester.key_exchange(0, summary_hash_type=0xFF)
    return (requester.chains[0], *_session_results(requester, session))


def psk_flow(transport: Transport) -> tuple[object, ...]:
    requester = _requester(transport)
    requester.init_connection()
    requester.get_digests()
    requester.get_certificate(0)
    requester.verify_certificate(0)  # for the signed measurements in the session
    session = requester.psk_exchange()
    return (requester.chains[0], *_session_results(requester, session))


FLOWS = {"connection": connection_flow, "dhe": dhe_flow, "psk": psk_flow}


@functools.cache
def reference(name: str) -> tuple[tuple[object, ...], int]:
    """The unmutated run's results and how many responses it took."""
    transport = MutatingTransport(Responder(CONFIG))
    results = FLOWS[name](transport)
    return results, transport.count


def _xor(data: bytes, index: int, mask: int) -> bytes:
    index %= max(len(data), 1)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :] if data else data


def _mutation(data: st.DataObject) -> Mutate:
    """The one change to make: `mutations` of the answer, or one byte XOR a mask."""
    if data.draw(st.sampled_from(["mutations", "xor"]), label="how") == "xor":
        index = data.draw(st.integers(0, 0xFFFF), label="byte")
        mask = data.draw(st.integers(1, 255), label="mask")
        return lambda blob: _xor(blob, index, mask)
    return lambda blob: data.draw(mutations(blob), label="mutated")


@pytest.mark.parametrize("name", sorted(FLOWS))
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_one_mutated_response(name: str, data: st.DataObject) -> None:
    expected, count = reference(name)
    target = data.draw(st.integers(0, count - 1), label="response")
    mutate = _mutation(data)
    inner = data.draw(st.booleans(), label="inside the record")
    transport = MutatingTransport(Responder(CONFIG), target, mutate, inner)
    try:
        results = FLOWS[name](transport)
    except SpdmError:
        return  # a typed refusal
    assert transport.hit is not None
    assert results[:-1] == expected[:-1], "a mutated response changed what the requester reports as verified"
    if not inner:  # a record mutated on the way never opens: even unsigned data must be the device's
        assert results[-1] == expected[-1], "a mutated record's content was accepted"


# --- SPDM 1.3 -------------------------------------------------------------------------------------
# The same rule for the 1.3 flows, whose answers are partly authenticated: what a signature, MAC or AEAD
# tag covers (the multi-key connection and its authentication, signed ENDPOINT_INFO) must come out exactly
# as unmutated; what nothing covers in the clear (the MEL portions, KEY_PAIR_INFO) only has to be refused
# with a typed error when malformed; in a session a mutated record never opens, so when the mutation was
# not resealed inside the record everything must come out exactly, the events of SEND_EVENT included.

CONFIG_13 = CAMPAIGN_CONFIG_13


def _requester_13(transport: Transport) -> Requester:
    return Requester(transport, requester_config())


def _endpoint_info(result: Any) -> tuple[object, ...]:
    return (result.ep_info, result.signed, result.slot)


def _key_pair(result: Any) -> tuple[object, ...]:
    return (result.key_pair_id, result.current_key_usage, result.current_asym_algo, result.assoc_cert_slot_mask)


def connection_13_flow(transport: Transport) -> tuple[tuple[object, ...], tuple[object, ...]]:
    requester = _requester_13(transport)
    result = requester.authenticate(summary_hash_type=0xFF)
    assert isinstance(transport, MutatingTransport)
    transport.responder.ask_endpoint_info()
    served = requester.serve_encapsulated_requests()  # the responder's GET_ENDPOINT_INFO, in the clear
    assert result.measurements is not None
    verified = (
        result.negotiated,
        dict(result.digests),
        dict(requester.connection.slot_keys),
        result.chain_bytes,
        _measurements(result.measurements),
        _endpoint_info(requester.get_endpoint_info(signed=True)),
    )
    unauthenticated = (
        served,
        requester.get_measurement_extension_log().raw,
        _key_pair(requester.get_key_pair_info(1)),
        _endpoint_info(requester.get_endpoint_info(signed=False)),
    )
    return verified, unauthenticated


def events_13_flow(transport: Transport) -> tuple[tuple[object, ...], tuple[object, ...]]:
    assert isinstance(transport, MutatingTransport)
    requester = _requester_13(transport)
    requester.init_connection()
    session = requester.key_exchange(0)
    groups = session.get_supported_event_types()
    session.subscribe_event_types(subscribe_all(DMTF_EVENT_GROUP))
    transport.responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, MEASUREMENT_CHANGED)
    events = session.poll_events()
    transport.responder.ask_endpoint_info(session.session_id)
    served = session.serve_encapsulated_requests()  # ENCAPSULATED_REQUEST carrying GET_ENDPOINT_INFO
    verified = (requester.negotiated, _endpoint_info(session.get_endpoint_info(signed=True)))
    device_word = (
        groups,
        events,
        served,
        session.get_measurement_extension_log().raw,
        _key_pair(session.get_key_pair_info(1)),
    )
    session.close()
    return verified, device_word


FLOWS_13 = {"connection-1.3": connection_13_flow, "events-1.3": events_13_flow}


@functools.cache
def reference_13(name: str) -> tuple[tuple[tuple[object, ...], tuple[object, ...]], int]:
    transport = MutatingTransport(Responder(CONFIG_13))
    results = FLOWS_13[name](transport)
    return results, transport.count


@pytest.mark.parametrize("name", sorted(FLOWS_13))
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_one_mutated_13_response(name: str, data: st.DataObject) -> None:
    (verified, device_word), count = reference_13(name)
    target = data.draw(st.integers(0, count - 1), label="response")
    mutate = _mutation(data)
    inner = data.draw(st.booleans(), label="inside the record")
    transport = MutatingTransport(Responder(CONFIG_13), target, mutate, inner)
    try:
        got, got_word = FLOWS_13[name](transport)
    except SpdmError:
        return  # a typed refusal
    assert transport.hit is not None
    assert got == verified, "a mutated response changed what the requester reports as verified"
    if name == "events-1.3" and not inner:
        assert got_word == device_word, "a mutated record's content was accepted"
