"""GET_ENDPOINT_INFO / ENDPOINT_INFO (SPDM 1.3): our requester against our responder, in memory.

Both directions: the requester reads the responder's endpoint info (signed with a slot's key, or
not), in the clear, in a session and through the asyncio driver; and the responder asks the
requester for its own through encapsulated requests, which the requester answers signed with its
identity. Real chains (spdm.testing.pki), real signatures; every refusal is the spec's ERROR (or a
typed error on the requester's side) and changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spdm.aio import AsyncDoeTransport, AsyncRequester, ThreadedDoeLink
from spdm.capture import CaptureSecrets, CaptureWriter, RecordingLink, read_pcap
from spdm.crypto import asym_suite, hash_suite
from spdm.errors import NegotiationError, PeerError, VerificationError
from spdm.events import DmtfEventType
from spdm.messages import decode, encode
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, Code, ErrorCode, KeyUsage
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
    PayloadType,
)
from spdm.messages.endpoint_info import EndpointInfo, GetEndpointInfo
from spdm.messages.error import ErrorResponse, ResponseNotReady
from spdm.requester import EndpointInfoResult, Requester, RequesterConfig, RequesterIdentity
from spdm.responder import (
    DEMO_ENDPOINT_INFO,
    KEY_PAIR_CAPABILITIES,
    Responder,
    ResponderConfig,
    SlotIdentity,
    demo_config,
    key_pairs_for_slots,
)
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import IssuedChain, cached_key, make_chain
from spdm.transport.doe import DoeTransport
from spdm.verify import verify_capture

F = CapabilityFlags
P384 = BaseAsymAlgo.ECDSA_P384
V13 = 0x13
REQUESTER_EP_INFO = b"\x01\x00\x00\x00requester"


def _chain(name: str, first_key: int) -> IssuedChain:
    keys = [cached_key(P384, first_key + i) for i in range(3)]
    return make_chain(P384, hash_algo=BaseHashAlgo.SHA_384, keys=keys, name=name)


SLOT0 = _chain("ep slot 0", 140)
SLOT1 = _chain("ep slot 1", 150)
REQUESTER = _chain("ep requester", 160)


def _responder_config(**changes: Any) -> ResponderConfig:
    settings: dict[str, Any] = {
        "versions": (0x12, V13),
        "slots": {
            0: SlotIdentity(certificates=SLOT0.certificates_der, private_key=SLOT0.leaf_key),
            1: SlotIdentity(certificates=SLOT1.certificates_der, private_key=SLOT1.leaf_key),
        },
        "base_hash_priority": (BaseHashAlgo.SHA_384,),
        "max_padding": 3,
        "requester_chain": REQUESTER.certificates_der,
        **changes,
    }
    return dataclasses.replace(demo_config(sessions=True), **settings)


def _requester_config(capabilities: int = F.EP_INFO_CAP_SIG, **changes: Any) -> RequesterConfig:
    identity = RequesterIdentity(certificates=REQUESTER.certificates_der, private_key=REQUESTER.leaf_key)
    base = RequesterConfig.with_sessions(
        versions=(0x12, V13),
        trust_anchors={0: SLOT0.root_der, 1: SLOT1.root_der},
        identities={0: identity},
        endpoint_info=REQUESTER_EP_INFO,
    )
    return dataclasses.replace(base, capabilities=base.capabilities | capabilities, **changes)


def _connect(responder: Responder, config: RequesterConfig | None = None) -> Requester:
    requester = Requester(DoeTransport(MemoryDoeLink(responder.respond)), config or _requester_config())
    requester.init_connection()
    return requester


def _verified(requester: Requester, *slots: int) -> Requester:
    requester.get_digests()
    for slot in slots:
        requester.get_certificate(slot)
        requester.verify_certificate(slot)
    return requester


def _error(response: bytes) -> tuple[int, int]:
    answer = decode(response)
    assert isinstance(answer, ErrorResponse)
    return answer.error_code, answer.error_data


# --- the requester reads the responder's endpoint info ------------------------------------------


@pytest.mark.parametrize("slot", [0, 1])
def test_signed_endpoint_info_in_the_clear(slot: int) -> None:
    requester = _verified(_connect(Responder(_responder_config())), slot)
    assert requester.negotiated is not None and requester.negotiated.version == V13
    result = requester.get_endpoint_info(signed=True, slot=slot)
    assert result.ep_info == DEMO_ENDPOINT_INFO and result.signed and result.slot == slot
    assert result.requester_nonce is not None and result.responder_nonce is not None
    assert result.requester_nonce != result.responder_nonce


def test_unsigned_endpoint_info_needs_no_chain() -> None:
    result = _connect(Responder(_responder_config())).get_endpoint_info(signed=False)
    assert result == EndpointInfoResult(
        ep_info=DEMO_ENDPOINT_INFO, signed=False, slot=None, requester_nonce=None, responder_nonce=None
    )


def test_signed_endpoint_info_in_a_session() -> None:
    requester = _verified(_connect(Responder(_responder_config())), 0)
    with requester.key_exchange(slot=0) as session:
        result = session.get_endpoint_info()
        assert result.signed and result.slot == 0 and result.ep_info == DEMO_ENDPOINT_INFO
        assert not session.get_endpoint_info(signed=False).signed


def test_async_requester_and_session() -> None:
    responder = Responder(_responder_config())

    async def run() -> tuple[EndpointInfoResult, EndpointInfoResult]:
        transport = AsyncDoeTransport(ThreadedDoeLink(MemoryDoeLink(responder.respond)))
        requester = AsyncRequester(transport, _requester_config())
        await requester.init_connection()
        await requester.get_digests()
        await requester.get_certificate(1)
        requester.verify_certificate(1)
        clear = await requester.get_endpoint_info(slot=1)
        async with await requester.key_exchange(slot=1) as session:
            inside = await session.get_endpoint_info()
        return clear, inside

    clear, inside = asyncio.run(run())
    assert (clear.signed, clear.slot, inside.signed, inside.slot) == (True, 1, True, 1)


class _Tamper:
    """Flips one byte of the first ENDPOINT_INFO that goes by (over DOE, in the clear)."""

    def __init__(self, respond: Callable[[bytes], bytes], offset_from_end: int) -> None:
        self.respond = respond
        self.offset = offset_from_end
        self.done = False

    def __call__(self, request: bytes, session_id: int | None = None) -> bytes:
        response = self.respond(request) if session_id is None else self.respond(request, session_id)  # type: ignore[call-arg]
        if not self.done and session_id is None and len(response) > 2 and response[1] == Code.ENDPOINT_INFO:
            self.done = True
            data = bytearray(response)
            data[-self.offset] ^= 0x01
            return bytes(data)
        return response


@pytest.mark.parametrize("offset", [1, 97], ids=["signature", "ep_info"])
def test_a_tampered_answer_fails_verification(offset: int) -> None:
    responder = Responder(_responder_config(max_padding=0))
    tamper = _Tamper(responder.respond, offset)
    requester = Requester(DoeTransport(MemoryDoeLink(tamper)), _requester_config())
    requester.init_connection()
    _verified(requester, 0)
    with pytest.raises(VerificationError):
        requester.get_endpoint_info()
    assert tamper.done
    assert requester.get_endpoint_info().signed  # the next one, untouched, verifies


def test_the_requester_refuses_what_it_cannot_check() -> None:
    requester = _connect(Responder(_responder_config()))
    with pytest.raises(VerificationError, match="slot 0: verify the certificate chain"):
        requester.get_endpoint_info()
    with pytest.raises(ValueError, match="slot 8"):
        requester.get_endpoint_info(slot=8)
    no_sig = _connect(
        Responder(
            _responder_config(capabilities=demo_config().capabilities & ~F.EP_INFO_CAP_SIG | F.EP_INFO_CAP_NO_SIG)
        )
    )
    with pytest.raises(NegotiationError, match="EP_INFO_CAP_SIG"):
        no_sig.get_endpoint_info()
    assert no_sig.get_endpoint_info(signed=False).ep_info == DEMO_ENDPOINT_INFO
    none = _connect(Responder(_responder_config(capabilities=demo_config().capabilities & ~F.EP_INFO_CAP_MASK)))
    with pytest.raises(NegotiationError, match="EP_INFO_CAP"):
        none.get_endpoint_info(signed=False)


def test_at_spdm_1_2_there_is_no_endpoint_info() -> None:
    responder = Responder(_responder_config())
    requester = _connect(responder, _requester_config(versions=(0x12,)))
    with pytest.raises(NegotiationError, match=r"SPDM 1\.3"):
        requester.get_endpoint_info(signed=False)
    raw = encode(GetEndpointInfo(version=0x12))
    assert _error(responder.respond(raw)) == (ErrorCode.UnsupportedRequest, Code.GET_ENDPOINT_INFO)


# --- the responder's refusals -------------------------------------------------------------------


def _signed_request(slot: int, **changes: Any) -> bytes:
    return encode(GetEndpointInfo(version=V13, slot_param=slot, request_attributes=1, nonce=bytes(32), **changes))


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (_signed_request(3), (ErrorCode.InvalidRequest, 0)),  # no chain in slot 3
        (_signed_request(0xF), (ErrorCode.InvalidRequest, 0)),  # no provisioned public key
        (_signed_request(0, sub_code=2), (ErrorCode.InvalidRequest, 0)),
        (_signed_request(0)[:-1], (ErrorCode.InvalidRequest, 0)),  # the nonce cut short
        (encode(GetEndpointInfo(version=0x12)), (ErrorCode.VersionMismatch, 0)),
    ],
    ids=["empty-slot", "slot-F", "subcode", "truncated", "version"],
)
def test_bad_requests_get_the_spec_error_and_change_nothing(request_bytes: bytes, expected: tuple[int, int]) -> None:
    responder = Responder(_responder_config())
    requester = _verified(_connect(responder), 0)
    state, vca = responder.state, bytes(responder.transcript.vca)
    assert _error(responder.respond(request_bytes)) == expected
    assert (responder.state, bytes(responder.transcript.vca)) == (state, vca)
    assert requester.get_endpoint_info().signed


@pytest.mark.parametrize("multi_key", [True, False])
def test_a_slot_signs_only_if_its_key_usage_allows_it(multi_key: bool) -> None:
    """libspdm_rsp_endpoint_info.c: on a multi-key connection a slot whose KeyUsageMask lacks
    ENDPOINT_INFO is InvalidRequest; on another connection the mask is not consulted."""
    slots = {
        0: SlotIdentity(
            certificates=SLOT0.certificates_der,
            private_key=SLOT0.leaf_key,
            key_usage=KeyUsage.CHALLENGE | KeyUsage.KEY_EXCHANGE,
        ),
        1: SlotIdentity(
            certificates=SLOT1.certificates_der, private_key=SLOT1.leaf_key, key_usage=KeyUsage.ENDPOINT_INFO
        ),
    }
    capabilities = demo_config(sessions=True).capabilities | KEY_PAIR_CAPABILITIES
    config = _responder_config(capabilities=capabilities, slots=slots, key_pairs=key_pairs_for_slots(slots))
    responder = Responder(config)
    requester = _verified(_connect(responder, _requester_config(multi_key=multi_key)), 0, 1)
    assert requester.negotiated is not None and requester.negotiated.responder_multi_key is multi_key
    if multi_key:
        with pytest.raises(PeerError) as refused:
            requester.get_endpoint_info(signed=True, slot=0)
        assert refused.value.error_code == ErrorCode.InvalidRequest
        assert _error(responder.respond(_signed_request(0))) == (ErrorCode.InvalidRequest, 0)
    else:
        assert requester.get_endpoint_info(signed=True, slot=0).signed
    assert requester.get_endpoint_info(signed=True, slot=1).signed
    assert not requester.get_endpoint_info(signed=False).signed  # unsigned: no key, no usage


def test_without_ep_info_sig_a_signature_is_unsupported() -> None:
    capabilities = demo_config(sessions=True).capabilities & ~F.EP_INFO_CAP_SIG | F.EP_INFO_CAP_NO_SIG
    responder = Responder(_responder_config(capabilities=capabilities))
    _connect(responder)
    assert _error(responder.respond(_signed_request(0))) == (ErrorCode.UnsupportedRequest, Code.GET_ENDPOINT_INFO)
    assert responder.negotiated is not None
    answer = decode(responder.respond(encode(GetEndpointInfo(version=V13))), responder.negotiated.codec_context())
    assert isinstance(answer, EndpointInfo) and answer.ep_info == DEMO_ENDPOINT_INFO


def test_without_ep_info_cap_the_request_is_unsupported() -> None:
    responder = Responder(_responder_config(capabilities=demo_config(sessions=True).capabilities & ~F.EP_INFO_CAP_MASK))
    _connect(responder)
    assert _error(responder.respond(encode(GetEndpointInfo(version=V13)))) == (
        ErrorCode.UnsupportedRequest,
        Code.GET_ENDPOINT_INFO,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"capabilities": demo_config().capabilities | F.EP_INFO_CAP_NO_SIG}, "11b is reserved"),
        ({"endpoint_info": None}, "needs the EPInfo"),
        ({"endpoint_info": bytes(1025)}, "at most 1024"),
    ],
)
def test_config_checks(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _responder_config(**changes)


# --- the responder asks the requester (encapsulated) --------------------------------------------


def test_the_responder_asks_in_the_clear() -> None:
    responder = Responder(_responder_config())
    requester = _connect(responder)
    assert requester.serve_encapsulated_requests() == 0  # nothing pending: NoPendingRequests
    responder.ask_endpoint_info()
    assert requester.serve_encapsulated_requests() == 1
    result = responder.requester_endpoint_info
    assert result is not None and (result.ep_info, result.signed, result.slot) == (REQUESTER_EP_INFO, True, 0)
    assert requester.serve_encapsulated_requests() == 0  # answered: nothing pending any more


def test_the_responder_asks_in_a_session() -> None:
    responder = Responder(_responder_config())
    requester = _verified(_connect(responder), 0)
    with requester.key_exchange(slot=0) as session:
        responder.ask_endpoint_info(session.session_id)
        assert requester.serve_encapsulated_requests() == 0  # the ask is the session's, not the connection's
        assert session.serve_encapsulated_requests() == 1
    result = responder.requester_endpoint_info
    assert result is not None and result.signed and result.ep_info == REQUESTER_EP_INFO


def test_an_ask_and_the_sessions_events_share_its_encapsulated_flow() -> None:
    """In an established session an armed ask goes first; the session's events wait for the next fetch."""
    config = _responder_config()
    responder = Responder(dataclasses.replace(config, capabilities=config.capabilities | F.EVENT_CAP))
    requester_config = _requester_config()
    requester_config = dataclasses.replace(requester_config, capabilities=requester_config.capabilities | F.ENCAP_CAP)
    requester = _verified(_connect(responder, requester_config), 0)
    with requester.key_exchange(slot=0) as session:
        session.subscribe_event_types(*session.get_supported_event_types())
        assert responder.raise_event(DmtfEventType.CERTIFICATE_CHANGED, b"\x01") == {session.session_id: 0}
        responder.ask_endpoint_info(session.session_id)
        assert session.serve_encapsulated_requests() == 1
        assert [event.event_type_id for event in session.poll_events()] == [DmtfEventType.CERTIFICATE_CHANGED]
        assert session.poll_events() == ()
    result = responder.requester_endpoint_info
    assert result is not None and result.ep_info == REQUESTER_EP_INFO


def test_an_unsigned_ask_when_the_requester_cannot_sign() -> None:
    responder = Responder(_responder_config(requester_chain=()))
    requester = _connect(responder, _requester_config(capabilities=F.EP_INFO_CAP_NO_SIG))
    responder.ask_endpoint_info()
    assert requester.serve_encapsulated_requests() == 1
    result = responder.requester_endpoint_info
    assert result is not None and (result.signed, result.slot, result.ep_info) == (False, None, REQUESTER_EP_INFO)


def test_a_bad_requester_signature_is_refused_and_the_ask_stays() -> None:
    responder = Responder(_responder_config())
    suite, hashes = asym_suite(P384), hash_suite(BaseHashAlgo.SHA_384)
    wrong = RequesterIdentity(  # REQUESTER's chain, another key signing
        certificates=REQUESTER.certificates_der, sign=lambda signed: suite.sign(SLOT0.leaf_key, signed, hashes)
    )
    config = _requester_config()
    requester = _connect(responder, dataclasses.replace(config, identities={0: wrong}))
    responder.ask_endpoint_info()
    with pytest.raises(PeerError) as refused:
        requester.serve_encapsulated_requests()
    assert refused.value.error_code == ErrorCode.InvalidResponseCode
    assert responder.requester_endpoint_info is None
    requester.connection.config = config  # the right key now: the ask was still armed
    assert requester.serve_encapsulated_requests() == 1
    assert responder.requester_endpoint_info is not None and responder.requester_endpoint_info.signed


def test_the_responder_cannot_ask_what_the_requester_does_not_offer() -> None:
    responder = Responder(_responder_config())
    _connect(responder, _requester_config(capabilities=0))
    with pytest.raises(NegotiationError, match="EP_INFO_CAP"):
        responder.ask_endpoint_info()
    with pytest.raises(ValueError, match="no established session"):
        responder.ask_endpoint_info(0x12345678)


def test_a_requester_with_nothing_to_tell_answers_unsupported() -> None:
    """Without `endpoint_info` the requester answers ERROR UnsupportedRequest, which the responder refuses."""
    responder = Responder(_responder_config())
    requester = _connect(responder)
    responder.ask_endpoint_info()
    requester.connection.config = dataclasses.replace(requester.config, endpoint_info=None)
    with pytest.raises(PeerError) as refused:
        requester.serve_encapsulated_requests()
    assert refused.value.error_code == ErrorCode.InvalidResponseCode  # the responder refuses the ERROR it got


def test_a_response_not_ready_from_the_requester_ends_the_ask() -> None:
    """DSP0274: to an encapsulated ERROR ResponseNotReady the responder ends the flow with an
    ENCAPSULATED_RESPONSE_ACK carrying no request (libspdm_rsp_encap_response.c); nothing was told."""
    responder = Responder(_responder_config())
    version = _connect(responder).negotiated.version
    responder.ask_endpoint_info()
    asked = decode(responder.respond(encode(GetEncapsulatedRequest(version=version))))
    assert isinstance(asked, EncapsulatedRequest)
    waiting = ResponseNotReady(rd_exponent=1, request_code=Code.GET_ENDPOINT_INFO, token=0, rdtm=2)
    error = encode(ErrorResponse(version=version, error_code=ErrorCode.ResponseNotReady, extended_data=waiting))
    deliver = DeliverEncapsulatedResponse(version=version, request_id=asked.request_id, payload=error)
    ack = decode(responder.respond(encode(deliver)))
    assert isinstance(ack, EncapsulatedResponseAck) and ack.payload_type == PayloadType.ABSENT
    assert responder.requester_endpoint_info is None
    idle = decode(responder.respond(encode(GetEncapsulatedRequest(version=version))))
    assert isinstance(idle, ErrorResponse) and idle.error_code == ErrorCode.NoPendingRequests


def test_spdm_verify_checks_our_own_capture_both_ways(tmp_path: Path) -> None:
    """A recorded 1.3 connection of our two roles: every ENDPOINT_INFO signature, in the clear and in the
    session, both directions, is found and verified by `verify_capture` (the session replayed with its
    DHE secret, the requester's chain given as it never crossed the wire)."""
    secrets: list[bytes] = []
    responder = Responder(_responder_config())
    buffer = io.BytesIO()
    with CaptureWriter(buffer, clock=lambda: 1.8e9) as writer:  # 2027, within the test chains
        link = RecordingLink(MemoryDoeLink(responder.respond), writer)
        config = _requester_config(on_dhe_secret=lambda _, secret: secrets.append(secret))
        requester = Requester(DoeTransport(link), config)
        requester.init_connection()
        _verified(requester, 0)
        requester.get_endpoint_info()
        responder.ask_endpoint_info()
        requester.serve_encapsulated_requests()
        with requester.key_exchange(slot=0) as session:
            session.get_endpoint_info()
            responder.ask_endpoint_info(session.session_id)
            session.serve_encapsulated_requests()
    pcap = read_pcap(buffer.getvalue())
    replay = CaptureSecrets(dhe_secrets=tuple(secrets), requester_chain=REQUESTER.certificates_der)
    result = verify_capture(pcap, {0: SLOT0.root_der}, secrets=replay)
    assert result.ok, result.first_failure
    signatures = [check for check in result.checks if "ENDPOINT_INFO signature" in check.name]
    names = [check.name for check in signatures]
    assert sorted(names) == sorted(
        ["ENDPOINT_INFO signature over IL (A, GET_ENDPOINT_INFO, ENDPOINT_INFO)"] * 2
        + ["encapsulated ENDPOINT_INFO signature by the requester over IL"] * 2
    )
    assert all(check.passed for check in signatures)
