"""The requester's sessions in memory: against our responder (every handshake variant), against a
scripted responder built from the session building blocks (libspdm's UpdateAllKeys fallback, Busy
and ResponseNotReady inside a session, ERROR DecryptError, the responder's own KEY_UPDATE through
encapsulated requests), and through `spdm requester --session`."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from spdm import cli
from spdm.aio import AsyncRequester, AsyncTransport
from spdm.certs import CertChain
from spdm.crypto import aead_suite, asym_suite, hash_suite
from spdm.errors import NegotiationError, PeerError, ProtocolError
from spdm.limits import DEFAULT_LIMITS
from spdm.messages import Message, decode, decode_prefix, encode
from spdm.messages.certificates import Certificate, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import (
    AeadAlgorithm,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    Code,
    ErrorCode,
    KeyScheduleAlgo,
    KeyUpdateOperation,
    KeyUsage,
    MutAuthRequest,
)
from spdm.messages.context import CodecContext
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
)
from spdm.messages.error import ErrorResponse, RespondIfReady, ResponseNotReady
from spdm.messages.key_exchange import KeyExchange
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import Algorithms, AlgStruct, Capabilities, Version
from spdm.messages.opaque import version_selection_opaque
from spdm.messages.psk import PskExchange, PskExchangeRsp
from spdm.messages.session_control import (
    EndSession,
    EndSessionAck,
    Heartbeat,
    HeartbeatAck,
    KeyUpdate,
    KeyUpdateAck,
)
from spdm.messages.vendor import VendorDefinedRequest
from spdm.requester import (
    MUTUAL_AUTH_CAPABILITIES,
    REQUESTER_SESSION_CAPABILITIES,
    Connection,
    Done,
    Operation,
    Requester,
    RequesterConfig,
    RequesterIdentity,
    Send,
    SessionClosedError,
    SessionDecryptError,
    session_alg_structs,
)
from spdm.requester.encapsulated import EncapsulatedAnswers, basic_mutual_authentication
from spdm.responder import Responder, ResponderConfig, demo_config
from spdm.session import KeySchedule, SecuredSession
from spdm.session.key_update import SentKeyUpdate
from spdm.session.secured import MAX_SEQUENCE_NUMBER
from spdm.testing import MemoryDoeLink
from spdm.testing.pki import make_chain
from spdm.transport.doe import DoeMailboxResponder, DoeTransport, DoeType, decode_object
from spdm.transport.loopback import LoopbackTransport
from spdm.transport.socket import SocketServer

PSK = b"in-memory test pre-shared key"
HINT = b"test-hint"
DOE_PADDING = 3
F = CapabilityFlags


@pytest.fixture(scope="module")
def requester_chain() -> Any:
    return make_chain(BaseAsymAlgo.ECDSA_P256, hash_algo=BaseHashAlgo.SHA_256)


def _pair(
    requester_chain: Any, *, mutual: str | None = None, in_the_clear: bool = True, **requester: Any
) -> tuple[Requester, MemoryDoeLink, ResponderConfig]:
    extra: dict[str, Any] = {}
    if mutual is not None:
        extra = {"mutual_auth": mutual, "requester_trust_anchors": {0: requester_chain.root_der}}
        if mutual == "basic":
            extra["requester_chain"] = requester_chain.certificates_der
    responder_config = dataclasses.replace(
        demo_config(sessions=True, psks={HINT: PSK}), max_padding=DOE_PADDING, **extra
    )
    if not in_the_clear:
        responder_config = dataclasses.replace(
            responder_config, capabilities=responder_config.capabilities & ~F.HANDSHAKE_IN_THE_CLEAR_CAP
        )
    identities = {}
    if mutual is not None:
        identity = RequesterIdentity(
            certificates=requester_chain.certificates_der, private_key=requester_chain.leaf_key
        )
        identities = {0: identity}
    settings: dict[str, Any] = {"psk": PSK, "psk_hint": HINT, "identities": identities, **requester}
    config = RequesterConfig.with_sessions(trust_anchors={0: responder_config.slots[0].certificates[0]}, **settings)
    link = MemoryDoeLink(Responder(responder_config).respond)
    return Requester(DoeTransport(link), config), link, responder_config


# --- against our responder --------------------------------------------------------------------------


@pytest.mark.parametrize("in_the_clear", [True, False], ids=["in-the-clear", "encrypted-handshake"])
@pytest.mark.parametrize("mutual", [None, "encapsulated", "digests", "basic"])
@pytest.mark.parametrize("kind", ["dhe", "psk"])
def test_session_with_our_responder(requester_chain: Any, kind: str, mutual: str | None, in_the_clear: bool) -> None:
    requester, _, _ = _pair(requester_chain, mutual=mutual, in_the_clear=in_the_clear)
    requester.authenticate(0)
    session = requester.key_exchange(0, summary_hash_type=0xFF) if kind == "dhe" else requester.psk_exchange()
    assert requester.sessions == {session.session_id: session}
    assert session.established and session.encrypted and session.secured_message_version == 0x1200
    if kind == "dhe" and mutual is not None:
        assert session.mut_auth_requested == {"encapsulated": 0x02, "digests": 0x04, "basic": 0x01}[mutual]
        assert session.requester_slot == 0
    else:
        assert session.mut_auth_requested == 0 and session.requester_slot is None
    assert (session.measurement_summary_hash is not None) == (kind == "dhe")
    with session:
        session.heartbeat()
        assert isinstance(session.send(Heartbeat(version=requester.version)), HeartbeatAck)
        assert session.sequence_numbers == (2, 2)
        assert not session.key_update()
        assert session.sequence_numbers == (1, 4)  # new request key; the response key went on
        assert session.key_update(all_keys=True)
        assert session.sequence_numbers == (1, 2)
        measured = session.get_measurements(0xFF)
        assert measured.signed and measured.blocks
        unsigned = session.get_measurements(1, signed=False)
        assert not unsigned.signed and [b.index for b in unsigned.blocks] == [1]
    assert session.closed and session.closed_reason == "ended" and not requester.sessions
    with pytest.raises(SessionClosedError):
        session.heartbeat()


def test_measurements_through_send_keep_the_sessions_l1l2_in_step(requester_chain: Any) -> None:
    """GET_MEASUREMENTS through `send` goes into the session's L1/L2 as the responder keeps it: an
    unsigned pair joins it, a signed MEASUREMENTS ends it, any other request restarts it; each signed
    `get_measurements` after them verifies over what the responder signed."""
    requester, _, _ = _pair(requester_chain)
    requester.authenticate(0)
    context = bytes(8)
    unsigned = GetMeasurements(version=0x13, operation=1, requester_context=context)
    signed = GetMeasurements(
        version=0x13, attributes=1, operation=1, nonce=bytes(32), slot_id_param=0, requester_context=context
    )
    with requester.key_exchange(0) as session:
        session.send(unsigned)
        assert session.get_measurements(2).signed  # over the unsigned pair and itself
        session.send(unsigned)
        session.send(signed)
        assert session.get_measurements(2).signed  # over itself alone
        session.send(unsigned)
        session.heartbeat()
        assert session.get_measurements(2).signed  # over itself alone


def test_an_oversized_request_in_a_session_keeps_both_roles_in_step(requester_chain: Any) -> None:
    """At 1.1 nothing tells the requester the responder's limit: its oversized request is refused inside
    the session, and the session goes on for both sides (a clear InvalidRequest made ours drop it)."""
    requester, _, _ = _pair(requester_chain, versions=(0x11,))
    requester.init_connection()
    with requester.psk_exchange() as session:
        oversized = VendorDefinedRequest(version=0x11, standard_id=0, vendor_id=b"", payload=bytes(8192))
        with pytest.raises(PeerError) as refused:
            session.send(oversized)
        assert refused.value.error_code == ErrorCode.InvalidRequest
        session.heartbeat()


@pytest.mark.parametrize("version", [0x12, 0x13])
def test_mutual_authentication_in_the_clear_through_chunks(requester_chain: Any, version: int) -> None:
    """In the clear, the last CHUNK_SEND_ACK of a chunked DELIVER_ENCAPSULATED_RESPONSE is DOE-padded and
    its embedded GET_CERTIFICATE keeps the padding: the requester answered it InvalidRequest, and the
    handshake failed (libspdm_req_encap_certificate.c checks only a minimum size)."""
    chunked = {"data_transfer_size": 64, "max_spdm_msg_size": 4096}
    responder_config = dataclasses.replace(
        demo_config(sessions=True),
        capabilities=demo_config(sessions=True).capabilities | F.CHUNK_CAP,
        max_padding=DOE_PADDING,
        mutual_auth="encapsulated",
        requester_trust_anchors={0: requester_chain.root_der},
        **chunked,
    )
    identity = RequesterIdentity(certificates=requester_chain.certificates_der, private_key=requester_chain.leaf_key)
    plain = RequesterConfig.with_sessions(identities={0: identity})
    config = RequesterConfig.with_sessions(
        trust_anchors={0: responder_config.slots[0].certificates[0]},
        identities={0: identity},
        versions=(version,),
        capabilities=plain.capabilities | F.CHUNK_CAP,
        **chunked,
    )
    requester = Requester(DoeTransport(MemoryDoeLink(Responder(responder_config).respond)), config)
    requester.init_connection()
    assert requester.negotiated is not None and requester.negotiated.handshake_in_the_clear
    with requester.key_exchange(0) as session:
        assert session.mut_auth_requested == MutAuthRequest.WITH_ENCAP_REQUEST
        session.heartbeat()


def test_a_session_whose_sequence_numbers_ran_out_is_closed(requester_chain: Any) -> None:
    """Sealing at 2^64-1 fails for good (a KEY_UPDATE would need that key too): the session is gone,
    as libspdm_req_send_receive.c frees it, and no longer counts as open."""
    requester, _, _ = _pair(requester_chain)
    requester.authenticate(0)
    session = requester.key_exchange(0)
    session.core._secured.request._sequence_number = MAX_SEQUENCE_NUMBER  # type: ignore[union-attr]
    with pytest.raises(SessionClosedError, match="the sequence number reached 2"):
        session.heartbeat()
    assert session.phase == "closed" and session.session_id not in requester.sessions


def test_key_exchange_fetches_an_unverified_chain(requester_chain: Any) -> None:
    requester, _, _ = _pair(requester_chain)
    requester.init_connection()
    with pytest.raises(Exception, match="verify the certificate chain"):
        requester.key_exchange(0, fetch_certificate=False)
    with requester.key_exchange(0) as session:  # GET_DIGESTS, GET_CERTIFICATE, validation, then KEY_EXCHANGE
        assert 0 in requester.verified
        session.heartbeat()


def test_several_sessions_and_get_version_ends_them(requester_chain: Any) -> None:
    requester, _, _ = _pair(requester_chain)
    requester.authenticate(0)
    first = requester.key_exchange(0)
    second = requester.psk_exchange()
    assert len(requester.sessions) == 2 and first.session_id != second.session_id
    first.heartbeat()
    second.heartbeat()
    first.close()
    second.heartbeat()
    requester.init_connection()  # GET_VERSION: the responder drops its sessions, and so does the requester
    assert second.closed and not requester.sessions
    with pytest.raises(SessionClosedError, match="GET_VERSION"):
        second.heartbeat()


def test_a_tampered_response_tears_the_session_down(requester_chain: Any) -> None:
    requester, link, _ = _pair(requester_chain)
    requester.authenticate(0)
    session = requester.key_exchange(0)

    def flip(request: bytes, answer: bytes) -> bytes:
        return answer[:-5] + bytes([answer[-5] ^ 0x40]) + answer[-4:] if answer[2] == 2 else answer

    link.alter = flip  # type-2 (secured) DOE objects only
    with pytest.raises(SessionDecryptError, match="torn down"):
        session.heartbeat()
    assert session.closed and not requester.sessions
    link.alter = None
    with pytest.raises(SessionClosedError):
        session.get_measurements()


def test_send_refuses_the_session_control_requests(requester_chain: Any) -> None:
    requester, _, _ = _pair(requester_chain)
    requester.authenticate(0)
    with requester.key_exchange(0) as session:
        for request in (KeyUpdate(operation=1, tag=0), EndSession()):
            with pytest.raises(ValueError, match="own methods"):
                session.send(request)


def test_the_context_manager_keeps_the_original_error(requester_chain: Any) -> None:
    requester, link, _ = _pair(requester_chain)
    requester.authenticate(0)
    with pytest.raises(KeyError), requester.key_exchange(0) as session:
        link.alter = lambda request, answer: b"\x00" * 8  # END_SESSION's answer will not even decode
        raise KeyError("the caller's own error")
    assert session.closed


def test_preset_capabilities_and_structs(requester_chain: Any) -> None:
    plain = RequesterConfig.with_sessions()
    assert plain.capabilities == F.CERT_CAP | F.CHAL_CAP | REQUESTER_SESSION_CAPABILITIES
    assert {s.alg_type for s in plain.alg_structs} == {AlgType.DHE, AlgType.AEAD, AlgType.REQ_BASE_ASYM_ALG, 5}
    identity = RequesterIdentity(certificates=requester_chain.certificates_der, private_key=requester_chain.leaf_key)
    mutual = RequesterConfig.with_sessions(identities={0: identity})
    assert mutual.capabilities & MUTUAL_AUTH_CAPABILITIES == MUTUAL_AUTH_CAPABILITIES
    req_asym = next(s.alg_supported for s in mutual.alg_structs if s.alg_type == AlgType.REQ_BASE_ASYM_ALG)
    assert req_asym == BaseAsymAlgo.ECDSA_P256
    other = make_chain(BaseAsymAlgo.ECDSA_P384)
    with pytest.raises(ValueError, match="does not belong"):
        RequesterIdentity(certificates=requester_chain.certificates_der, private_key=other.leaf_key)
    with pytest.raises(ValueError, match="private_key or a sign"):
        RequesterIdentity(certificates=requester_chain.certificates_der)
    key = requester_chain.leaf_key
    for bad in ({"key_pair_id": 0}, {"key_pair_id": 256}, {"key_usage": 1 << 4}, {"key_usage": KeyUsage.VENDOR_KEY}):
        with pytest.raises(ValueError, match=r"^key_(pair_id|usage) "):
            RequesterIdentity(certificates=requester_chain.certificates_der, private_key=key, **bad)


def test_the_encapsulated_certificate_answers_slot_size_requested(requester_chain: Any) -> None:
    """The requester's encapsulated CERTIFICATE follows the responder's rule (libspdm_req_encap_certificate.c):
    from 1.3, SlotSizeRequested gets an empty portion and the whole chain as RemainderLength."""
    identity = RequesterIdentity(certificates=requester_chain.certificates_der, private_key=requester_chain.leaf_key)
    requester = Requester(
        LoopbackTransport(Responder(demo_config(sessions=True)).respond),
        RequesterConfig.with_sessions(identities={0: identity}),
    )
    negotiated = requester.init_connection()
    assert negotiated.version == 0x13
    chain = identity.chain_bytes(hash_suite(negotiated.base_hash_algo))
    answers = EncapsulatedAnswers(negotiated=negotiated, config=requester.config, max_padding=0)
    for param2, portion, remainder in ((1, b"", len(chain)), (0, chain[5:21], len(chain) - 21)):
        request = GetCertificate(version=0x13, param2=param2, offset=5, length=16)
        answer = decode(answers.answer(encode(request), 0x13), negotiated.codec_context())
        assert isinstance(answer, Certificate)
        assert (answer.portion, answer.remainder_length) == (portion, remainder)


def test_with_sessions_takes_every_field_with_its_default() -> None:
    """`with_sessions` spells out the constructor's fields as typed keywords: the same names, in the
    same order, with the same defaults (None standing for a field's default factory)."""
    parameters = inspect.signature(RequesterConfig.with_sessions).parameters
    fields = dataclasses.fields(RequesterConfig)
    assert list(parameters) == [f.name for f in fields]
    for f in fields:
        default = parameters[f.name].default
        assert default == (None if f.default is dataclasses.MISSING else f.default), f.name
    changed = RequesterConfig.with_sessions(rtt=0.25, certificate_portion=0x200, limits=DEFAULT_LIMITS)
    assert (changed.rtt, changed.certificate_portion) == (0.25, 0x200)


def test_deterministic_dhe_private_value(requester_chain: Any) -> None:
    """The injected private value fixes KEY_EXCHANGE's ExchangeData: same value, same bytes."""

    def exchange_data(private_value: int) -> bytes:
        requester, link, _ = _pair(requester_chain, dhe_private_value=lambda suite: private_value)
        requester.authenticate(0)
        link.record = True
        with requester.key_exchange(0) as session:
            session.heartbeat()
        assert requester.negotiated is not None
        context = requester.negotiated.codec_context()
        objects = [decode_object(obj) for obj in link.sent]
        requests = [decode_prefix(o.payload, context)[0] for o in objects if o.object_type == DoeType.CMA_SPDM]
        (key_exchange,) = [request for request in requests if isinstance(request, KeyExchange)]
        return key_exchange.exchange_data

    first = exchange_data(0x1234567)
    assert exchange_data(0x1234567) == first
    assert exchange_data(0x7654321) != first


def test_psk_without_a_configured_key(requester_chain: Any) -> None:
    requester, _, _ = _pair(requester_chain, psk=None)
    requester.init_connection()
    with pytest.raises(NegotiationError, match="pre-shared key"):
        requester.psk_exchange()


def test_psk_sessions_share_the_key_schedule_not_the_keys(requester_chain: Any) -> None:
    """A PSK's handshake and master secrets are made once per negotiation; each session's transcript
    (its random contexts) still gives it keys of its own, and a new GET_VERSION a new schedule."""
    requester, _, _ = _pair(requester_chain)
    requester.init_connection()
    first, second = requester.psk_exchange(), requester.psk_exchange()
    assert first.core._schedule is not None and first.core._schedule is second.core._schedule
    assert first.th1 != second.th1 and first.th2 != second.th2
    first_secured, second_secured = first.core._secured, second.core._secured
    assert first_secured is not None and second_secured is not None
    assert first_secured.request.keys != second_secured.request.keys
    assert first_secured.response.keys != second_secured.response.keys
    shared = first.core._schedule
    second.close()
    requester.init_connection()
    third = requester.psk_exchange()
    assert third.core._schedule is not shared
    assert third.core._schedule is not None and third.core._schedule.handshake_secret == shared.handshake_secret
    third.close()


# --- a scripted responder ----------------------------------------------------------------------------


class ScriptedResponder:
    """A PSK responder without PSK context, written from the session building blocks.

    Misbehaviour on request: `keep_key` answers UpdateAllKeys under its old response key (the
    requester must fall back, as libspdm's does); `errors` are answered (sealed) to the next
    in-session requests instead of the real response; `reject_record` answers the next record with
    ERROR DecryptError in the clear; `encapsulated` are its own KEY_UPDATEs, asked one by one through
    GET_ENCAPSULATED_REQUEST (ERROR UnexpectedRequest when there are none), its keys following
    `SentKeyUpdate` with the responder as initiator; `delivered` are the requester's answers.
    """

    FLAGS = F.ENCRYPT_CAP | F.MAC_CAP | F.PSK_CAP_NO_CONTEXT | F.HBEAT_CAP | F.KEY_UPD_CAP | F.ENCAP_CAP
    SESSION_ID = 0xBEEF0000
    HEARTBEAT_PERIOD = 5

    def __init__(self) -> None:
        self.hash = hash_suite(BaseHashAlgo.SHA_256)
        self.aead = aead_suite(AeadAlgorithm.AES_256_GCM)
        self.context = CodecContext(hash_size=32, signature_size=64)
        self.vca = b""
        self.channel: SecuredSession | None = None
        self.schedule: KeySchedule | None = None
        self.keep_key = False
        self.reject_record = False
        self.errors: list[ErrorResponse] = []
        self.seen: list[tuple[Message, int]] = []
        self.encapsulated: list[KeyUpdate] = []
        self.delivered: list[Message] = []
        self.update: SentKeyUpdate | None = None

    def respond(self, request: bytes, session_id: int | None) -> bytes:
        if session_id is None:
            return self._clear(request)
        channel = self.channel
        assert channel is not None and session_id == channel.session_id
        sequence = channel.request.sequence_number
        if self.reject_record:
            self.reject_record = False
            return encode(ErrorResponse(error_code=ErrorCode.DecryptError))
        message = decode(channel.open(request) if self.update is None else self.update.open(request), self.context)
        self.seen.append((message, sequence))
        if self.errors:
            return channel.seal(encode(self.errors.pop(0)))
        if isinstance(message, RespondIfReady):
            message = next(m for m, _ in reversed(self.seen) if not isinstance(m, RespondIfReady))
        return self._in_session(channel, message)

    def _clear(self, request: bytes) -> bytes:
        code = request[1]
        if code == Code.GET_VERSION:
            response = encode(Version(entries=(0x1100,)))
            self.vca = request + response
            return response
        if code == Code.GET_CAPABILITIES:
            response = encode(Capabilities(ct_exponent=0, flags=self.FLAGS))
        elif code == Code.NEGOTIATE_ALGORITHMS:
            structs = (
                AlgStruct(alg_type=AlgType.AEAD, alg_supported=AeadAlgorithm.AES_256_GCM),
                AlgStruct(alg_type=AlgType.KEY_SCHEDULE, alg_supported=KeyScheduleAlgo.SPDM_KEY_SCHEDULE),
            )
            response = encode(
                Algorithms(
                    measurement_specification_sel=0,
                    measurement_hash_algo=0,
                    base_asym_sel=BaseAsymAlgo.ECDSA_P256,
                    base_hash_sel=BaseHashAlgo.SHA_256,
                    alg_structs=structs,
                )
            )
        elif code == Code.PSK_EXCHANGE:
            return self._psk_exchange(request)
        else:
            raise AssertionError(f"unexpected clear request {request.hex()}")
        self.vca += request + response
        return response

    def _psk_exchange(self, request: bytes) -> bytes:
        ask = decode(request, self.context)
        assert isinstance(ask, PskExchange) and ask.psk_hint == HINT
        answer = PskExchangeRsp(
            heartbeat_period=self.HEARTBEAT_PERIOD,
            rsp_session_id=self.SESSION_ID >> 16,
            opaque_data=version_selection_opaque(0x1100),
            responder_verify_data=bytes(32),
        )
        unverified = encode(answer)[:-32]
        th1 = self.hash.digest(self.vca + request + unverified)
        schedule = self.schedule = KeySchedule(self.hash, self.aead, PSK, spdm_version=0x11)
        verify_data = schedule.verify_data(schedule.handshake(th1).response_finished_key, th1)
        data = schedule.data(self.hash.digest(self.vca + request + unverified + verify_data))  # no PSK_FINISH
        self.channel = SecuredSession.from_keys(
            role="responder",
            session_id=self.SESSION_ID | ask.req_session_id,
            aead=self.aead,
            request=data.request,
            response=data.response,
        )
        return unverified + verify_data

    def _in_session(self, channel: SecuredSession, message: Message) -> bytes:
        schedule = self.schedule
        assert schedule is not None
        if isinstance(message, Heartbeat):
            return channel.seal(encode(HeartbeatAck()))
        if isinstance(message, EndSession):
            sealed = channel.seal(encode(EndSessionAck()))
            self.channel = None
            return sealed
        if isinstance(message, GetEncapsulatedRequest | DeliverEncapsulatedResponse):
            return channel.seal(self._encapsulated(channel, schedule, message))
        assert isinstance(message, KeyUpdate)
        ack = encode(KeyUpdateAck(operation=message.operation, tag=message.tag))
        if message.operation == KeyUpdateOperation.UPDATE_ALL_KEYS and not self.keep_key:
            assert channel.response.keys is not None
            channel.rekey_response(schedule.update(channel.response.keys))
        sealed = channel.seal(ack)
        if message.operation != KeyUpdateOperation.VERIFY_NEW_KEY:
            assert channel.request.keys is not None
            channel.rekey_request(schedule.update(channel.request.keys))
        return sealed

    def _encapsulated(
        self,
        channel: SecuredSession,
        schedule: KeySchedule,
        message: GetEncapsulatedRequest | DeliverEncapsulatedResponse,
    ) -> bytes:
        """The next KEY_UPDATE asked (its keys as the initiator's), or the end of the flow."""
        if isinstance(message, DeliverEncapsulatedResponse):
            answer = decode(message.payload, self.context)
            self.delivered.append(answer)
            if self.update is not None and isinstance(answer, KeyUpdateAck):
                self.update.acknowledged()
            elif self.update is not None:
                self.update.refused()
            self.update = None
        if not self.encapsulated:
            if isinstance(message, GetEncapsulatedRequest):
                return encode(ErrorResponse(error_code=ErrorCode.UnexpectedRequest))
            return encode(EncapsulatedResponseAck(payload_type=0))
        ask = self.encapsulated.pop(0)
        if ask.operation in (KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS):
            self.update = SentKeyUpdate(channel, schedule, ask.operation, sender="response")
        if isinstance(message, GetEncapsulatedRequest):
            return encode(EncapsulatedRequest(request_id=1, payload=encode(ask)))
        return encode(EncapsulatedResponseAck(request_id=message.request_id + 1, payload_type=1, payload=encode(ask)))


def _scripted(**config: Any) -> tuple[Requester, ScriptedResponder, list[float]]:
    responder = ScriptedResponder()
    slept: list[float] = []
    requester = Requester(
        LoopbackTransport(responder.respond),
        RequesterConfig.with_sessions(psk=PSK, psk_hint=HINT, sleep=slept.append, **config),
    )
    requester.init_connection()
    return requester, responder, slept


def test_psk_without_context_needs_no_psk_finish() -> None:
    requester, responder, _ = _scripted()
    with requester.psk_exchange() as session:
        assert session.session_id >> 16 == ScriptedResponder.SESSION_ID >> 16
        assert session.heartbeat_period == ScriptedResponder.HEARTBEAT_PERIOD
        assert session.secured_message_version == 0x1100
        session.heartbeat()
    assert [type(m).__name__ for m, _ in responder.seen] == ["Heartbeat", "EndSession"]


def test_update_all_keys_falls_back_to_the_responders_old_key() -> None:
    requester, responder, _ = _scripted()
    session = requester.psk_exchange()
    session.heartbeat()
    responder.keep_key = True
    assert session.key_update(all_keys=True) is False  # the ACK opened only with the old key: kept
    assert session.sequence_numbers == (1, 3)  # the old response key goes on counting
    session.heartbeat()
    responder.keep_key = False
    assert session.key_update(all_keys=True) is True
    session.heartbeat()
    session.close()


@pytest.mark.parametrize("keep_key", [False, True])
def test_busy_answer_to_update_all_keys(keep_key: bool) -> None:
    """The Busy ERROR comes under the responder's old key; the retried request's ACK under its new
    one (or, when it keeps its key, the old one again): both keys stay candidates until the end."""
    requester, responder, _ = _scripted()
    session = requester.psk_exchange()
    responder.keep_key = keep_key
    responder.errors = [ErrorResponse(error_code=ErrorCode.Busy)]
    assert session.key_update(all_keys=True) is not keep_key
    session.heartbeat()
    session.close()


def test_the_responders_own_key_update_through_encapsulated_requests() -> None:
    """UpdateKey changes the response key (the ACKs after the KEY_UPDATE_ACK count from 0 under it)."""
    requester, responder, _ = _scripted(capabilities=F.ENCAP_CAP)
    session = requester.psk_exchange()
    session.heartbeat()
    assert session.serve_encapsulated_requests() == 0  # ERROR UnexpectedRequest: nothing pending
    responder.encapsulated = [
        KeyUpdate(operation=KeyUpdateOperation.UPDATE_KEY, tag=0x11),
        KeyUpdate(operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=0x22),
    ]
    assert session.serve_encapsulated_requests() == 2
    assert responder.delivered == [
        KeyUpdateAck(operation=KeyUpdateOperation.UPDATE_KEY, tag=0x11),
        KeyUpdateAck(operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=0x22),
    ]
    assert session.sequence_numbers == (5, 2)
    session.heartbeat()
    session.close()


@pytest.mark.parametrize(
    "asked",
    [
        [KeyUpdateOperation.VERIFY_NEW_KEY],  # nothing to verify
        [KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS],  # one update at a time
        [KeyUpdateOperation.UPDATE_KEY, 7],  # reserved
        [KeyUpdateOperation.UPDATE_ALL_KEYS],  # a responder updates its own key only (libspdm refuses it too)
    ],
    ids=["verify-alone", "two-updates", "reserved", "all-keys"],
)
def test_an_encapsulated_key_update_out_of_turn_is_refused(asked: list[int]) -> None:
    """The refusal is ERROR InvalidRequest inside DELIVER_ENCAPSULATED_RESPONSE; no key changes for it."""
    requester, responder, _ = _scripted(capabilities=F.ENCAP_CAP)
    session = requester.psk_exchange()
    responder.encapsulated = [KeyUpdate(operation=operation, tag=0x33) for operation in asked]
    assert session.serve_encapsulated_requests() == len(asked)
    refusal = responder.delivered[-1]
    assert isinstance(refusal, ErrorResponse) and refusal.error_code == ErrorCode.InvalidRequest
    session.heartbeat()  # both sides still agree on the keys
    session.close()


class _AsyncLoopback(AsyncTransport):
    """The scripted responder, awaited."""

    def __init__(self, responder: ScriptedResponder) -> None:
        self.responder = responder

    async def exchange(self, request: bytes, *, session_id: int | None = None, timeout: float | None = None) -> bytes:
        return self.responder.respond(request, session_id)


def test_the_async_session_serves_encapsulated_requests() -> None:
    responder = ScriptedResponder()
    responder.encapsulated = [
        KeyUpdate(operation=KeyUpdateOperation.UPDATE_KEY, tag=0x44),
        KeyUpdate(operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=0x55),
    ]

    async def main() -> None:
        config = RequesterConfig.with_sessions(psk=PSK, psk_hint=HINT, capabilities=F.ENCAP_CAP)
        requester = AsyncRequester(_AsyncLoopback(responder), config)
        await requester.init_connection()
        async with await requester.psk_exchange() as session:
            assert await session.serve_encapsulated_requests() == 2
            await session.heartbeat()

    asyncio.run(main())
    assert [type(answer).__name__ for answer in responder.delivered] == ["KeyUpdateAck", "KeyUpdateAck"]


def test_our_responder_has_no_encapsulated_request_of_its_own(requester_chain: Any) -> None:
    """Our responder asks encapsulated requests only during a mutual-authentication handshake (it
    cannot ask for a KEY_UPDATE of its own): in an established session it answers UnexpectedRequest."""
    requester, _, _ = _pair(requester_chain, mutual="encapsulated")
    requester.init_connection()
    with requester.key_exchange(0) as session:
        assert session.serve_encapsulated_requests() == 0
        session.heartbeat()


def test_serving_encapsulated_requests_needs_encap_cap_on_both_sides() -> None:
    requester, _, _ = _scripted()
    session = requester.psk_exchange()
    with pytest.raises(NegotiationError, match="ENCAP_CAP"):
        session.serve_encapsulated_requests()


def test_an_update_all_keys_ack_under_neither_key_tears_the_session_down() -> None:
    """While UpdateAllKeys is in flight a response may come under the responder's new key or its old
    one; one that opens under neither tears the session down like any record that does not open."""
    requester, responder, _ = _scripted()
    session = requester.psk_exchange()

    def damaged(request: bytes, session_id: int | None) -> bytes:
        answer = responder.respond(request, session_id)
        return answer[:-1] + bytes([answer[-1] ^ 1])  # the MAC's last byte

    requester.transport = LoopbackTransport(damaged)
    with pytest.raises(SessionDecryptError, match="torn down"):
        session.key_update(all_keys=True)
    assert session.closed and not requester.sessions


def test_busy_inside_a_session_resends_under_a_new_sequence_number() -> None:
    requester, responder, _ = _scripted()
    session = requester.psk_exchange()
    responder.errors = [ErrorResponse(error_code=ErrorCode.Busy)] * 2
    session.heartbeat()
    assert [(type(m).__name__, seq) for m, seq in responder.seen] == [
        ("Heartbeat", 0),
        ("Heartbeat", 1),
        ("Heartbeat", 2),
    ]
    responder.errors = [ErrorResponse(error_code=ErrorCode.Busy)] * 4  # more than busy_retries
    with pytest.raises(PeerError) as refused:
        session.heartbeat()
    assert refused.value.error_code == ErrorCode.Busy and session.established


def test_response_not_ready_inside_a_session() -> None:
    requester, responder, slept = _scripted()
    session = requester.psk_exchange()
    not_ready = ResponseNotReady(rd_exponent=3, request_code=Code.HEARTBEAT, token=7, rdtm=2)
    responder.errors = [ErrorResponse(error_code=ErrorCode.ResponseNotReady, extended_data=not_ready)]
    session.heartbeat()
    last, sequence = responder.seen[-1]
    assert isinstance(last, RespondIfReady) and last.token == 7 and sequence == 1
    assert slept == [8e-6]


def test_error_decrypt_error_from_the_responder_ends_the_session() -> None:
    requester, responder, _ = _scripted()
    session = requester.psk_exchange()
    responder.reject_record = True
    with pytest.raises(PeerError) as refused:
        session.heartbeat()
    assert refused.value.error_code == ErrorCode.DecryptError
    assert session.closed and not requester.sessions


def test_sessions_need_the_session_capabilities() -> None:
    responder = ScriptedResponder()
    config = RequesterConfig(psk=PSK, alg_structs=session_alg_structs())  # the offer, but no session flags
    requester = Requester(LoopbackTransport(responder.respond), config)
    requester.init_connection()
    with pytest.raises(NegotiationError, match="MAC_CAP"):
        requester.psk_exchange()
    with pytest.raises(NegotiationError, match="MAC_CAP"):
        requester.key_exchange(0)  # refused before any certificate is fetched


def test_a_version_of_the_peer_is_checked_in_the_session() -> None:
    requester, responder, _ = _scripted()
    session = requester.psk_exchange()
    responder.errors = [ErrorResponse(version=0x10, error_code=ErrorCode.Unspecified)]
    with pytest.raises(ProtocolError):
        session.heartbeat()


# --- the command line -------------------------------------------------------------------------------


@pytest.fixture
def served(requester_chain: Any, tmp_path: Path) -> Iterator[tuple[int, Path, Path, Path]]:
    """Our responder (sessions, PSK, encapsulated mutual auth) on 127.0.0.1, and the files the CLI reads."""
    config = dataclasses.replace(
        demo_config(sessions=True, psks={HINT: PSK}),
        max_padding=DOE_PADDING,
        mutual_auth="encapsulated",
        requester_trust_anchors={0: requester_chain.root_der},
    )
    root = tmp_path / "root.der"
    root.write_bytes(config.slots[0].certificates[0])
    chain = tmp_path / "requester_chain.der"
    chain.write_bytes(b"".join(requester_chain.certificates_der))
    key = tmp_path / "requester.key"
    key.write_bytes(requester_chain.leaf_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    server = SocketServer(DoeMailboxResponder(Responder(config).respond), host="127.0.0.1", port=0).start()
    try:
        yield server.port, root, chain, key
    finally:
        server.stop(timeout=2)


def test_cli_requester_sessions(served: tuple[int, Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    port, root, chain, key = served
    base = ["requester", "--connect", f"127.0.0.1:{port}", "--root-cert", str(root), "--exe-mode", "continue"]
    runs = [
        ["--session", "dhe"],
        ["--session", "psk", "--psk", PSK.hex(), "--psk-hint", HINT.hex()],
        ["--session", "dhe", "--mutual-auth", "--req-cert-chain", str(chain), "--req-key", str(key)],
    ]
    for extra in runs:
        assert cli.main(base + extra) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert "heartbeat: acknowledged" in out and "UpdateAllKeys" in out
        assert "measurements in the session" in out and "signature verified" in out
        assert "END_SESSION: acknowledged" in out and out.endswith("result: session completed\n")
        if "--mutual-auth" in extra:
            assert "mutual authentication: requester slot 0 (encapsulated requests)" in out


def test_a_mutual_authentication_in_the_clear_verifies(
    served: tuple[int, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found live against spdm_requester_emu: with HANDSHAKE_IN_THE_CLEAR the encapsulated flow travels
    outside the session, and `spdm verify` did not collect the requester's chain from it (nor cut the
    DOE padding after an ENCAPSULATED_RESPONSE_ACK's request), so FINISH failed to verify."""
    port, root, chain, key = served
    pcap, secrets = tmp_path / "mutual.pcap", tmp_path / "secrets.json"
    identity = ["--mutual-auth", "--req-cert-chain", str(chain), "--req-key", str(key)]
    recording = ["--pcap", str(pcap), "--secrets", str(secrets)]
    base = ["requester", "--connect", f"127.0.0.1:{port}", "--root-cert", str(root), "--exe-mode", "continue"]
    assert cli.main([*base, "--session", "dhe", *identity, *recording]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.count("HANDSHAKE_IN_THE_CLEAR_CAP") == 2  # both sides: the flow is in the clear
    sidecar = json.loads(secrets.read_text())
    sidecar["requester_chain"] = []  # as the responder's sidecar: the chain is read from the capture
    secrets.write_text(json.dumps(sidecar))
    assert cli.main(["verify", str(pcap), "--root-cert", str(root), "--secrets", str(secrets)]) == 0
    out = capsys.readouterr().out
    assert "ok   " in out and "FINISH signature" in out and "RequesterVerifyData" in out


@pytest.mark.parametrize(
    "extra",
    [
        ["--session", "psk"],  # no --psk
        ["--psk", "00"],  # --psk without --session psk
        ["--session", "psk", "--psk", "00", "--mutual-auth"],  # mutual auth is for DHE
        ["--session", "dhe", "--mutual-auth"],  # no identity files
        ["--req-key", "key.pem"],  # identity without --mutual-auth
    ],
)
def test_cli_requester_session_usage_errors(tmp_path: Path, extra: list[str]) -> None:
    root = tmp_path / "root.der"
    root.write_bytes(b"not read before the usage check")
    assert cli.main(["requester", "--connect", "127.0.0.1:1", "--root-cert", str(root), *extra]) == 2


# --- basic mutual authentication (encapsulated requests outside a session) ---------------------------


class EncapsulatingResponder(ScriptedResponder):
    """Asks the requester for its digests, its chain (in 0x200-byte portions) and a CHALLENGE_AUTH."""

    # MUT_AUTH_CAP needs a certificate and CHAL_CAP or KEY_EX_CAP (libspdm_req_get_capabilities.c)
    FLAGS = ScriptedResponder.FLAGS | F.CERT_CAP | F.CHAL_CAP | F.MUT_AUTH_CAP | F.ENCAP_CAP

    def __init__(self) -> None:
        super().__init__()
        self.mut: list[bytes] = []  # mut_B || mut_C as the responder sees it
        self.chain = b""
        self.auth: ChallengeAuth | None = None
        self.challenge = Challenge(slot_id=0, nonce=bytes(range(32)))
        self.context = CodecContext(hash_size=32, signature_size=64)

    def _clear(self, request: bytes) -> bytes:
        code = request[1]
        if code == Code.NEGOTIATE_ALGORITHMS:
            structs = (
                AlgStruct(alg_type=AlgType.AEAD, alg_supported=AeadAlgorithm.AES_256_GCM),
                AlgStruct(alg_type=AlgType.REQ_BASE_ASYM_ALG, alg_supported=BaseAsymAlgo.ECDSA_P256),
                AlgStruct(alg_type=AlgType.KEY_SCHEDULE, alg_supported=KeyScheduleAlgo.SPDM_KEY_SCHEDULE),
            )
            return encode(
                Algorithms(
                    measurement_specification_sel=0,
                    measurement_hash_algo=0,
                    base_asym_sel=BaseAsymAlgo.ECDSA_P256,
                    base_hash_sel=BaseHashAlgo.SHA_256,
                    alg_structs=structs,
                )
            )
        if code == Code.GET_ENCAPSULATED_REQUEST:
            return self._ask(1, GetDigests())
        if code == Code.DELIVER_ENCAPSULATED_RESPONSE:
            deliver = decode(request, self.context)
            assert isinstance(deliver, DeliverEncapsulatedResponse)
            return self._next(deliver.request_id, deliver.payload)
        return super()._clear(request)

    def _ask(self, request_id: int, inner: Message) -> bytes:
        self.mut.append(encode(inner))
        payload = encode(inner)
        if request_id == 1:
            return encode(EncapsulatedRequest(request_id=1, payload=payload))
        return encode(EncapsulatedResponseAck(request_id=request_id, payload_type=1, payload=payload))

    def _next(self, request_id: int, payload: bytes) -> bytes:
        answer = decode(payload, dataclasses.replace(self.context, signature_size=64))
        if isinstance(answer, ChallengeAuth):
            self.auth = answer
            self.mut.append(payload[:-64])
            return encode(EncapsulatedResponseAck(payload_type=0))
        self.mut.append(payload)
        if isinstance(answer, Certificate):
            self.chain += answer.portion
            if answer.remainder_length == 0:
                return self._ask(request_id + 1, self.challenge)
        return self._ask(request_id + 1, GetCertificate(offset=len(self.chain), length=0x200))


def _drive(operation: Operation[Any], respond: Callable[[bytes, int | None], bytes]) -> Any:
    """Run a sans-IO operation straight against a responder's `respond`: no transport at all."""
    event = operation.next_event()
    while not isinstance(event, Done):
        assert isinstance(event, Send)
        event = operation.receive(respond(event.request, event.session_id))
    return event.result


def test_basic_mutual_authentication_signs_mut_b_and_mut_c(requester_chain: Any) -> None:
    responder = EncapsulatingResponder()
    identity = RequesterIdentity(certificates=requester_chain.certificates_der, private_key=requester_chain.leaf_key)
    config = RequesterConfig.with_sessions(identities={0: identity}, random=lambda size: bytes(size))
    connection = Connection(config)
    negotiated = _drive(connection.init_connection(), responder.respond)
    channel = connection.channel

    def transact(request: Message, expect: type[Message]) -> Any:
        return channel.exchange(
            request, encode(request), expect, channel.clear, lambda code: None, channel.codec(), lambda: None
        )

    vca = bytes(connection.transcript.vca)
    _drive(Operation(basic_mutual_authentication(transact, negotiated, config, 0, vca)), responder.respond)
    hashes = hash_suite(BaseHashAlgo.SHA_256)
    assert responder.chain == CertChain.build(requester_chain.certificates_der, hashes).to_bytes()
    auth = responder.auth
    assert auth is not None and auth.slot_id == 0 and auth.slot_mask == 1
    assert auth.cert_chain_hash == hashes.digest(responder.chain) and auth.measurement_summary_hash is None
    # SPDM 1.1: the requester's CHALLENGE_AUTH signs Hash(mut_B || mut_C), without A
    digest = hashes.digest(b"".join(responder.mut))
    asym_suite(BaseAsymAlgo.ECDSA_P256).verify(identity.public_key(), digest, auth.signature, hashes)


def test_a_refused_request_in_a_session_drops_unfinished_b_and_c_on_both_sides() -> None:
    """A GET_MEASUREMENTS sent in a session drops the connection's unfinished B and C, whatever its
    answer: the requester before sending it (as libspdm's requester), so the responder on receiving it,
    even when it refuses it at once (a wrong version here); the CHALLENGE after it then verifies."""
    config = demo_config(sessions=True)
    responder = Responder(config)
    root = config.slots[0].certificates[0]
    requester = Requester(LoopbackTransport(responder.respond), RequesterConfig.with_sessions(trust_anchors={0: root}))
    version = requester.init_connection().version
    with requester.key_exchange(0) as session:
        requester.get_digests()
        requester.get_certificate(0)
        requester.verify_certificate(0)  # B holds them; no CHALLENGE yet
        with pytest.raises(PeerError) as refused:
            session.send(GetMeasurements(version=0x11 if version != 0x11 else 0x12, operation=1))
        assert refused.value.error_code == ErrorCode.VersionMismatch
        assert requester.challenge(0).slot == 0
