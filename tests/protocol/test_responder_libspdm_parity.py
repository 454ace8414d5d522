"""The responder's answers where libspdm's responder (spdm-emu's spdm_responder_emu) was seen to answer
otherwise: request bytes in, the ERROR code out, then a valid exchange that still works. Each case
names the libspdm file whose answer it follows."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from spdm.certs import CertChain
from spdm.crypto import dhe_suite, hash_suite
from spdm.errors import NegotiationError
from spdm.events import DmtfEventType
from spdm.messages import decode, encode
from spdm.messages.certificates import GetDigests
from spdm.messages.chunk import ChunkGet, ChunkSend
from spdm.messages.codes import BaseHashAlgo, CapabilityFlags, Code, DheGroup, ErrorCode
from spdm.messages.encapsulated import DeliverEncapsulatedResponse, GetEncapsulatedRequest
from spdm.messages.error import ErrorResponse, RespondIfReady
from spdm.messages.key_exchange import Finish, KeyExchange
from spdm.messages.negotiation import AlgStruct, GetCapabilities, GetVersion, NegotiateAlgorithms
from spdm.messages.opaque import version_list_opaque
from spdm.messages.provisioning import GetCsr, SetCertificate
from spdm.messages.psk import PskExchange, PskFinish
from spdm.messages.session_control import EndSession, Heartbeat, KeyUpdate
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.responder.config import ResponderConfig
from spdm.transport.loopback import LoopbackTransport

F = CapabilityFlags
E = ErrorCode
SHA384 = hash_suite(BaseHashAlgo.SHA_384)
DHE = dhe_suite(DheGroup.SECP_384_R1)
PSK_HINT = b"hint"
SESSION_FLAGS = F.CERT_CAP | F.CHAL_CAP | F.ENCRYPT_CAP | F.MAC_CAP | F.KEY_EX_CAP | F.HBEAT_CAP | F.KEY_UPD_CAP
REQUESTER_FLAGS = SESSION_FLAGS | F.ENCAP_CAP | F.MUT_AUTH_CAP
FMT_1 = 2  # OtherParamsSupport OpaqueDataFmt1


def _capabilities(version: int, flags: int = REQUESTER_FLAGS) -> bytes:
    sizes = 0x1200 if version >= 0x12 else None
    return encode(
        GetCapabilities(version=version, ct_exponent=12, flags=flags, data_transfer_size=sizes, max_spdm_msg_size=sizes)
    )


def _algorithms(version: int, other_params: int = FMT_1) -> bytes:
    return encode(
        NegotiateAlgorithms(
            version=version,
            measurement_specification=1,
            other_params_support=other_params if version >= 0x12 else 0,
            base_asym_algo=0x80,
            base_hash_algo=0x02,
            mel_specification=1 if version >= 0x13 else None,
            alg_structs=(
                AlgStruct(alg_type=2, alg_supported=0x10),
                AlgStruct(alg_type=3, alg_supported=0x02),
                AlgStruct(alg_type=4, alg_supported=0x80),
                AlgStruct(alg_type=5, alg_supported=0x01),
            ),
        )
    )


def _code(answer: bytes) -> int:
    return answer[1]


def _error(answer: bytes) -> int:
    """The ErrorCode of an answer that must be an ERROR."""
    message = decode(answer)
    assert isinstance(message, ErrorResponse), message
    return int(message.error_code)


def _connected(
    config: ResponderConfig, version: int, *, flags: int = REQUESTER_FLAGS, other_params: int = FMT_1
) -> Responder:
    responder = Responder(config)
    for request in (encode(GetVersion()), _capabilities(version, flags), _algorithms(version, other_params)):
        answer = responder.respond(request)
        assert _code(answer) != Code.ERROR, decode(answer)
    return responder


def _digests_work(responder: Responder, version: int) -> None:
    assert _code(responder.respond(encode(GetDigests(version=version)))) == Code.DIGESTS


def _key_exchange(version: int, *, policy: int = 0, exchange_data: bytes | None = None) -> bytes:
    if exchange_data is None:
        exchange_data = DHE.public_bytes(DHE.generate())
    ask = KeyExchange(
        version=version,
        req_session_id=0x1234,
        session_policy=policy,
        random_data=bytes(32),
        exchange_data=exchange_data,
        opaque_data=version_list_opaque([0x1100], general=version >= 0x12),
    )
    return encode(ask)


# --- GET_CAPABILITIES: libspdm_rsp_capabilities.c libspdm_check_request_flag_compatibility, by version -----

_BASE = SESSION_FLAGS | F.ENCAP_CAP
_CAPABILITY_CASES = [
    # (name, flags, versions that accept them)
    ("MUT_AUTH_CAP without ENCAP_CAP", (_BASE & ~F.ENCAP_CAP) | F.MUT_AUTH_CAP, (0x12, 0x13)),
    ("EP_INFO_CAP 11b", _BASE | F.EP_INFO_CAP_MASK, (0x11, 0x12)),
    ("MULTI_KEY_CAP 11b", _BASE | F.MULTI_KEY_CAP_MASK, (0x11, 0x12)),
    ("MULTI_KEY_CAP without CERT_CAP", (_BASE & ~(F.CERT_CAP | F.CHAL_CAP)) | F.MULTI_KEY_CAP_NEG, (0x11, 0x12)),
    ("MULTI_KEY_CAP with PUB_KEY_ID_CAP", (_BASE & ~F.CERT_CAP) | F.PUB_KEY_ID_CAP | F.MULTI_KEY_CAP_NEG, (0x11, 0x12)),
    ("EVENT_CAP without KEY_EX_CAP or PSK_CAP", F.CERT_CAP | F.CHAL_CAP | F.EVENT_CAP, (0x11, 0x12)),
    ("EP_INFO_CAP_SIG without a certificate", F.EP_INFO_CAP_SIG, (0x11, 0x12)),
    ("CERT_CAP with only EP_INFO_CAP_SIG", F.CERT_CAP | F.EP_INFO_CAP_SIG, (0x13,)),
    ("CERT_CAP with only EP_INFO_CAP_NO_SIG", F.CERT_CAP | F.EP_INFO_CAP_NO_SIG, ()),
]


@pytest.mark.parametrize("version", [0x11, 0x12, 0x13])
@pytest.mark.parametrize(
    ("flags", "accepted"), [c[1:] for c in _CAPABILITY_CASES], ids=[c[0] for c in _CAPABILITY_CASES]
)
def test_requester_flags_are_checked_per_version(version: int, flags: int, accepted: tuple[int, ...]) -> None:
    responder = Responder(demo_config(sessions=True))
    responder.respond(encode(GetVersion()))
    answer = responder.respond(_capabilities(version, flags))
    if version in accepted:
        assert _code(answer) == Code.CAPABILITIES
    else:
        assert _error(answer) == E.InvalidRequest
        assert _code(responder.respond(_capabilities(version))) == Code.CAPABILITIES
    assert _code(responder.respond(_algorithms(version))) == Code.ALGORITHMS


def test_a_12_requester_with_mut_auth_cap_and_no_encap_cap_connects() -> None:
    """MUT_AUTH_CAP without ENCAP_CAP (mutual authentication without the encapsulated flow) is refused at 1.1 only."""
    config = demo_config(sessions=True)
    requester_config = RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]})
    requester_config = dataclasses.replace(
        requester_config,
        versions=(0x12,),
        capabilities=(requester_config.capabilities | F.MUT_AUTH_CAP | F.CERT_CAP) & ~F.ENCAP_CAP,
    )
    requester = Requester(LoopbackTransport(Responder(config).respond), requester_config)
    negotiated = requester.init_connection()
    assert negotiated.version == 0x12 and negotiated.requester_has(F.MUT_AUTH_CAP)
    assert requester.get_digests()


# --- sessions at 1.2 and 1.3 need OpaqueDataFmt1 (Negotiated.session_refusal) ---------------------------------


@pytest.mark.parametrize("version", [0x12, 0x13])
@pytest.mark.parametrize("other_params", [0, 1], ids=["no-format", "OpaqueDataFmt0"])
def test_sessions_need_opaque_data_format_1(version: int, other_params: int) -> None:
    """libspdm_rsp_key_exchange.c and libspdm_rsp_psk_exchange_rsp.c answer InvalidRequest."""
    config = demo_config(sessions=True, psks={PSK_HINT: bytes(32)})
    flags = SESSION_FLAGS | F.PSK_CAP_NO_CONTEXT
    responder = _connected(config, version, flags=flags, other_params=other_params)
    psk = PskExchange(
        version=version,
        req_session_id=0x1234,
        psk_hint=PSK_HINT,
        requester_context=bytes(32),
        opaque_data=version_list_opaque([0x1100]),
    )
    for request in (_key_exchange(version), encode(psk)):
        assert _error(responder.respond(request)) == E.InvalidRequest
    assert not responder.sessions
    _digests_work(responder, version)
    fmt_1 = _connected(config, version, flags=flags)
    assert _code(fmt_1.respond(_key_exchange(version))) == Code.KEY_EXCHANGE_RSP


def test_our_requester_refuses_a_session_without_opaque_data_format_1() -> None:
    """As libspdm_req_key_exchange.c does (LIBSPDM_STATUS_INVALID_STATE_PEER), before sending anything."""
    config = demo_config(sessions=True)
    responder = Responder(config)
    sent: list[int] = []

    def no_format(request: bytes, session_id: int | None = None) -> bytes:
        sent.append(request[1])
        answer = responder.respond(request, session_id)
        if answer[1] == Code.ALGORITHMS:  # OtherParamsSelection: no opaque data format
            answer = answer[:7] + b"\x00" + answer[8:]
        return answer

    requester_config = RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]})
    requester = Requester(LoopbackTransport(no_format), dataclasses.replace(requester_config, versions=(0x12,)))
    requester.init_connection()
    with pytest.raises(NegotiationError, match="OpaqueDataFmt1"):
        requester.key_exchange(0)
    assert Code.KEY_EXCHANGE not in sent
    assert requester.get_digests()


# --- KEY_EXCHANGE SessionPolicy EventAllPolicy (libspdm_rsp_key_exchange.c) ---------------------------------


def test_event_all_policy_needs_event_cap() -> None:
    responder = _connected(demo_config(sessions=True), 0x13)
    assert _error(responder.respond(_key_exchange(0x13, policy=0x02))) == E.InvalidRequest
    assert not responder.sessions
    assert _code(responder.respond(_key_exchange(0x13))) == Code.KEY_EXCHANGE_RSP
    # before 1.3 the bit is not read (libspdm reads it from 1.3)
    assert _code(_connected(demo_config(sessions=True), 0x12).respond(_key_exchange(0x12, policy=0x02))) == (
        Code.KEY_EXCHANGE_RSP
    )


def test_psk_exchange_does_not_read_event_all_policy() -> None:
    """libspdm_rsp_psk_exchange_rsp.c keeps Param2 as the session policy and neither refuses nor subscribes."""
    config = demo_config(sessions=True, psks={PSK_HINT: bytes(32)})
    responder = _connected(config, 0x13, flags=SESSION_FLAGS | F.PSK_CAP_NO_CONTEXT)
    psk = PskExchange(
        version=0x13,
        session_policy=0x02,
        req_session_id=0x1234,
        psk_hint=PSK_HINT,
        requester_context=bytes(32),
        opaque_data=version_list_opaque([0x1100], general=True),
    )
    assert _code(responder.respond(encode(psk))) == Code.PSK_EXCHANGE_RSP


def test_event_all_policy_subscribes_the_session_to_every_event() -> None:
    config = demo_config(sessions=True, events=True)
    responder = Responder(config)
    requester_config = RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]})
    requester_config = dataclasses.replace(
        requester_config, capabilities=requester_config.capabilities | F.ENCAP_CAP, session_policy=0x02
    )
    requester = Requester(LoopbackTransport(responder.respond), requester_config)
    requester.authenticate(0)
    with requester.key_exchange(0) as session:
        detail = bytes([0b110]) + bytes(31)
        queued = responder.raise_event(DmtfEventType.MEASUREMENT_CHANGED, detail)
        assert list(queued) == [session.session_id]
        (event,) = session.poll_events()
        assert event.event_type_id == DmtfEventType.MEASUREMENT_CHANGED and event.event_detail == detail
        session.heartbeat()


# --- GET_CSR OpaqueData in the general format (libspdm_rsp_csr.c, libspdm_process_general_opaque_data_check) --

_ELEMENT = bytes([0, 0]) + struct.pack("<H", 4) + b"abcd"


@pytest.mark.parametrize("version", [0x12, 0x13])
@pytest.mark.parametrize(
    "opaque",
    [b"\xff" * 4, bytes([2, 0, 0, 0]) + _ELEMENT, bytes([1, 0, 0]), bytes([1, 0, 0, 0, 0, 0, 1, 0, 0x41])],
    ids=["garbage", "fewer-elements-than-total", "short-header", "unpadded-element"],
)
def test_csr_opaque_data_must_be_a_general_table(version: int, opaque: bytes) -> None:
    responder = _connected(demo_config(provisioning=True), version, flags=F.CERT_CAP | F.CHAL_CAP)
    assert _error(responder.respond(encode(GetCsr(version=version, opaque_data=opaque)))) == E.InvalidRequest
    good = bytes([1, 0, 0, 0]) + _ELEMENT
    assert _code(responder.respond(encode(GetCsr(version=version, opaque_data=good)))) == Code.CSR


# --- ERROR codes (each named after the libspdm file that answers it) ---------------------------------------------


def _set_certificate(version: int, chain: bytes) -> bytes:
    return encode(SetCertificate(version=version, slot_param=0, cert_chain=chain))


def test_set_certificate_with_certificates_that_do_not_parse_or_verify_is_unspecified() -> None:
    """libspdm_rsp_set_certificate_rsp.c: Unspecified once the chain's Length is sound."""
    responder = _connected(demo_config(provisioning=True), 0x12, flags=F.CERT_CAP | F.CHAL_CAP)
    certificates = responder.slots[0].certificates
    garbage = struct.pack("<HH", 4 + 48 + 5, 0) + bytes(48) + b"\x30\x03\x02\x01\x01"
    truncated = struct.pack("<HH", 4 + 48 + len(certificates[0]) + 20, 0) + SHA384.digest(certificates[0])
    truncated += certificates[0] + certificates[1][:20]
    for chain in (garbage, truncated):
        assert _error(responder.respond(_set_certificate(0x12, chain))) == E.Unspecified
    # a Length that runs past the request stays InvalidRequest
    assert _error(responder.respond(_set_certificate(0x12, struct.pack("<HH", 4000, 0) + bytes(60)))) == (
        E.InvalidRequest
    )
    whole = CertChain.build(certificates, SHA384).to_bytes()
    assert _code(responder.respond(_set_certificate(0x12, whole))) == Code.SET_CERTIFICATE_RSP


@pytest.mark.parametrize("exchange_data", [bytes(96), bytes([1]) * 96], ids=["zero", "off-curve"])
def test_key_exchange_with_an_invalid_dhe_value_is_unspecified(exchange_data: bytes) -> None:
    """libspdm_rsp_key_exchange.c: the DHE computation fails, Unspecified."""
    responder = _connected(demo_config(sessions=True), 0x12)
    assert _error(responder.respond(_key_exchange(0x12, exchange_data=exchange_data))) == E.Unspecified
    assert not responder.sessions
    assert _code(responder.respond(_key_exchange(0x12))) == Code.KEY_EXCHANGE_RSP


@pytest.mark.parametrize(("version", "expected"), [(0x11, E.Unspecified), (0x12, E.SessionRequired)])
def test_session_requests_outside_a_session(version: int, expected: int) -> None:
    """libspdm_rsp_finish_rsp.c, _psk_finish_rsp.c, _heartbeat.c, _key_update_ack.c, _end_session_ack.c:
    SessionRequired from 1.2, Unspecified before; libspdm_rsp_encap_response.c: UnexpectedRequest."""
    config = demo_config(sessions=True, psks={PSK_HINT: bytes(32)})
    responder = _connected(config, version, flags=REQUESTER_FLAGS | F.PSK_CAP_NO_CONTEXT)
    needing_a_session = (
        Finish(version=version, requester_verify_data=bytes(48)),
        PskFinish(version=version, requester_verify_data=bytes(48)),
        Heartbeat(version=version),
        KeyUpdate(version=version, operation=1, tag=0x5A),
        EndSession(version=version),
    )
    for message in needing_a_session:
        assert _error(responder.respond(encode(message))) == expected, message.name
    encapsulated = (
        GetEncapsulatedRequest(version=version),
        DeliverEncapsulatedResponse(version=version, request_id=1, payload=encode(GetDigests(version=version))),
    )
    for message in encapsulated:
        assert _error(responder.respond(encode(message))) == E.UnexpectedRequest, message.name
    _digests_work(responder, version)


@pytest.mark.parametrize("version", [0x11, 0x12, 0x13])
def test_respond_if_ready_with_nothing_pending_is_invalid_request(version: int) -> None:
    """libspdm_rsp_respond_if_ready.c: the RequestCode is not the pending request's."""
    responder = _connected(demo_config(), version, flags=F.CERT_CAP | F.CHAL_CAP)
    ask = RespondIfReady(version=version, request_code=Code.GET_DIGESTS, token=0)
    assert _error(responder.respond(encode(ask))) == E.InvalidRequest
    _digests_work(responder, version)


@pytest.mark.parametrize("version", [0x12, 0x13])
def test_chunk_requests_from_a_requester_without_chunk_cap_are_unexpected(version: int) -> None:
    """libspdm_rsp_chunk_send_ack.c and libspdm_rsp_chunk_response.c: UnexpectedRequest."""
    config = demo_config()
    responder = _connected(
        dataclasses.replace(config, capabilities=config.capabilities | F.CHUNK_CAP),
        version,
        flags=F.CERT_CAP | F.CHAL_CAP,
    )
    chunk_send = ChunkSend(version=version, handle=1, chunk_seq_no=0, large_message_size=100, chunk=b"x" * 8)
    for message in (ChunkGet(version=version, handle=1, chunk_seq_no=0), chunk_send):
        assert _error(responder.respond(encode(message))) == E.UnexpectedRequest, message.name
    _digests_work(responder, version)


def test_our_requester_does_not_ask_all_events_of_a_responder_without_event_cap() -> None:
    """libspdm_req_key_exchange.c asserts EventAllPolicy only with the responder's EVENT_CAP: ours refuses
    before sending, where the responder would answer InvalidRequest."""
    config = demo_config(sessions=True)
    responder = Responder(config)
    sent: list[bytes] = []

    def respond(request: bytes, session_id: int | None) -> bytes:
        sent.append(request)
        return responder.respond(request, session_id)

    requester_config = dataclasses.replace(
        RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]}), session_policy=0x02
    )
    requester = Requester(LoopbackTransport(respond), requester_config)
    requester.authenticate(0)
    before = len(sent)
    with pytest.raises(NegotiationError, match="EventAllPolicy, but the responder has no EVENT_CAP"):
        requester.key_exchange(0)
    assert len(sent) == before
