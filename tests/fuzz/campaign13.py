"""The SPDM 1.3 scenarios of the responder campaign (`campaign.py`): a responder at 1.3 with every 1.3
capability (MEL_CAP with a log read in two portions, EP_INFO_CAP_SIG, GET/SET_KEY_PAIR_INFO_CAP,
MULTI_KEY_CAP negotiated, EVENT_CAP, CSR and SET_CERTIFICATE), driven by the library's own `Requester`
through the oracle.

Valid 1.3 requests are not written out by hand: a full 1.3 flow is run once per process against a
responder of its own (connection, multi-key DIGESTS, CHALLENGE and signed MEASUREMENTS with
RequesterContext, the MEL in portions, ENDPOINT_INFO signed and unsigned, KEY_PAIR_INFO, SET_KEY_PAIR_INFO,
GET_CSR; a DHE session with the same plus event types, a subscription, an event fetched with
GET_ENCAPSULATED_REQUEST and acknowledged, a key update; a PSK session) and every request it sent is
kept, clear ones and the plaintext of sealed ones, as seeds. The scenarios rebuild the states those
requests are asked in and send mutations of them; in-session ones sealed with the session's keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache

from oracle import Checked, code_name, shadow
from session_peer import PSK, PSK_HINT

from spdm.events import DMTF_EVENT_GROUP, DmtfEventType, subscribe_all
from spdm.messages import encode
from spdm.messages.codes import CapabilityFlags, Code, KeyPairOperation, KeyUsage
from spdm.messages.events import EventAck
from spdm.messages.measurements import DmtfMeasurement
from spdm.messages.mel import MelLog
from spdm.messages.negotiation import GetVersion
from spdm.requester import Requester, RequesterConfig, Session
from spdm.responder import (
    KEY_PAIR_CAPABILITIES,
    Responder,
    ResponderConfig,
    SessionState,
    State,
    demo_config,
    key_pairs_for_slots,
)
from spdm.responder.demo import demo_measurements, demo_mel
from spdm.transport.loopback import LoopbackTransport


def _large_mel() -> MelLog:
    """The demo's log and three 2000-byte entries more: over the requester's largest portion, so it
    is read in two GET_MEASUREMENT_EXTENSION_LOG portions."""
    demo = demo_mel()
    more = tuple(
        replace(
            demo.entries[0],
            mel_index=len(demo.entries) + n,
            measurement=DmtfMeasurement(value_type=0x80, value=bytes([n]) * 2000),
        )
        for n in range(1, 4)
    )
    return MelLog(entries=demo.entries + more)


_BASE = demo_config(sessions=True, psks={PSK_HINT: PSK}, provisioning=True, mel=True, events=True)
_MEL = _large_mel()
CONFIG_13: ResponderConfig = replace(
    _BASE,
    capabilities=_BASE.capabilities | KEY_PAIR_CAPABILITIES,
    key_pairs=key_pairs_for_slots(_BASE.slots),
    measurement_extension_log=_MEL,
    measurements=demo_measurements(_MEL),
)
REQUESTER_EP_INFO = b"fuzzed requester"
MEASUREMENT_CHANGED = bytes(32)  # a DMTF MeasurementChanged detail: no index set


def requester_config() -> RequesterConfig:
    """The model requester: sessions (DHE, and PSK with the responder's key), multi-key, and the 1.3
    capabilities that let the responder send it encapsulated requests."""
    anchors = {0: CONFIG_13.slots[0].certificates[0]}
    config = RequesterConfig.with_sessions(
        trust_anchors=anchors, psk=PSK, psk_hint=PSK_HINT, multi_key=True, sleep=lambda _: None
    )
    # ENCAP_CAP to fetch events; EP_INFO_CAP_NO_SIG to answer the responder's GET_ENDPOINT_INFO
    asked = CapabilityFlags.ENCAP_CAP | CapabilityFlags.EP_INFO_CAP_NO_SIG
    return replace(config, capabilities=config.capabilities | asked, endpoint_info=REQUESTER_EP_INFO)


def _requester(checked: Checked) -> Requester:
    return Requester(LoopbackTransport(checked.respond), requester_config())


def _connect(checked: Checked) -> Requester:
    requester = _requester(checked)
    negotiated = requester.init_connection()
    if negotiated.version != 0x13 or not negotiated.responder_multi_key:
        raise RuntimeError(f"the 1.3 scenarios need a 1.3 multi-key connection, got {negotiated}")
    requester.get_digests()
    return requester


def _event_session(checked: Checked, requester: Requester) -> Session:
    """A DHE session subscribed to every DMTF event, with one event waiting to be fetched."""
    session = requester.key_exchange()
    session.get_supported_event_types()
    session.subscribe_event_types(subscribe_all(DMTF_EVENT_GROUP))
    checked.responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, MEASUREMENT_CHANGED)
    return session


class _Recorder(Checked):
    """The oracle, keeping each request it saw (plaintext of sealed ones) by where it was asked."""

    def __init__(self, responder: Responder) -> None:
        super().__init__(responder)
        self.clear: list[tuple[str, bytes]] = []
        self.sealed: list[tuple[str, bytes]] = []

    def respond(self, request: bytes, session_id: int | None = None, *, label: str | None = None) -> bytes:
        response = super().respond(request, session_id, label=label)
        seen = self.last
        if seen is not None and seen.request is not None and len(seen.request) > 1:
            name = code_name(seen.request[1])
            (self.sealed if session_id is not None else self.clear).append((name, seen.request))
        return response


@cache
def seeds() -> tuple[tuple[tuple[str, bytes], ...], tuple[tuple[str, bytes], ...]]:
    """(clear, in-session) 1.3 requests of one full flow, each once per distinct bytes."""
    recorder = _Recorder(Responder(CONFIG_13))
    requester = _connect(recorder)
    requester.authenticate()
    recorder.responder.ask_endpoint_info()
    requester.serve_encapsulated_requests()  # GET_ENCAPSULATED_REQUEST, DELIVER_ENCAPSULATED_RESPONSE (ENDPOINT_INFO)
    requester.get_measurement_extension_log()
    requester.get_endpoint_info(signed=True)
    requester.get_endpoint_info(signed=False)
    requester.get_key_pair_info(1)
    requester.set_key_pair_info(1, KeyPairOperation.CHANGE, key_usage=KeyUsage.KEY_EXCHANGE, slots=(0,))
    session = _event_session(recorder, requester)
    session.poll_events()
    recorder.responder.ask_endpoint_info(session.session_id)
    session.serve_encapsulated_requests()
    session.get_measurements(signed=True)
    session.get_measurement_extension_log()
    session.get_endpoint_info(signed=True)
    session.get_key_pair_info(1)
    session.get_csr(key_pair_id=1)
    session.heartbeat()
    session.key_update(all_keys=True)
    session.close()
    psk = requester.psk_exchange()
    psk.heartbeat()
    psk.close()
    clear = list(dict.fromkeys(recorder.clear))
    sealed = list(dict.fromkeys(recorder.sealed))
    # requests only a responder sends, or answers only a requester gives: a responder must refuse them
    stray = [
        ("SEND_EVENT", bytes([0x13, Code.SEND_EVENT, 0, 0])),
        ("EVENT_ACK", encode(EventAck(version=0x13))),
        ("GET_VERSION", encode(GetVersion())),
    ]
    # every clear request sealed too: what a session must refuse (CHALLENGE, GET_VERSION, ...) or serve
    return tuple(clear + stray), tuple(dict.fromkeys(sealed + clear + stray))


def negotiated_13(*, asked: bool = False) -> tuple[Checked, list[tuple[str, bytes]], Callable[[], bool]]:
    """A 1.3 multi-key connection after DIGESTS (`asked`: with the responder's GET_ENDPOINT_INFO armed for
    the requester's next GET_ENCAPSULATED_REQUEST); mutated clear 1.3 requests."""
    checked = Checked(Responder(CONFIG_13))
    _connect(checked)
    responder = checked.responder
    if asked:
        responder.ask_endpoint_info()

    def still() -> bool:
        return responder.state in (State.NEGOTIATED, State.AUTHENTICATED) and len(responder.sessions) < 3

    return checked, list(seeds()[0]), still


def session_13(kind: str) -> tuple[Checked, list[tuple[str, bytes]], Callable[[], bool], int]:
    """An established 1.3 session: DHE with a subscription and an event waiting ("dhe-events"), the
    same with the event fetched and its EVENT_ACK awaited ("dhe-event-ack"), the same with the
    responder's GET_ENDPOINT_INFO armed too, which goes first ("dhe-asked"), or PSK ("psk")."""
    checked = Checked(Responder(CONFIG_13))
    requester = _connect(checked)
    session = requester.psk_exchange() if kind == "psk" else _event_session(checked, requester)
    sid = session.session_id
    responder = checked.responder
    if kind == "dhe-asked":
        responder.ask_endpoint_info(sid)
    if kind == "dhe-event-ack":
        ask = next(data for label, data in seeds()[1] if label == "GET_ENCAPSULATED_REQUEST")
        checked.respond(seal(checked, sid, ask), sid)
        expected = {SessionState.EXPECT_EVENT_ACK}
    else:
        expected = {SessionState.ESTABLISHED, SessionState.EXPECT_EVENT_ACK}

    def still() -> bool:
        return responder.sessions.get(sid) in expected

    return checked, list(seeds()[1]), still, sid


def seal(checked: Checked, session_id: int, request: bytes) -> bytes:
    """`request` sealed with the session's current request key, without moving it."""
    session = checked.responder._sessions.get(session_id)
    assert session is not None
    return shadow(session.channel.request).seal(request)
