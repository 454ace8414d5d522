"""One session of the requester without I/O: `SessionCore`, and `SessionView`, the read-only face
the drivers' sessions (`spdm.requester.Session`, `spdm.aio.AsyncSession`) share.

A session holds its keys, sequence numbers, transcripts and phase; each operation (`send`,
`heartbeat`, `key_update`, `serve_encapsulated_requests`, `get_measurements`, the 1.3 events
`get_supported_event_types`, `subscribe_event_types`, `poll_events`, `close`) is an
`Operation` that seals its request,
opens the response and applies the session's rules. Of its connection it holds only a
`SessionLink`: the channel requests travel, the table of open sessions it leaves when it closes,
the validated certificate chains, and the connection-transcript rule for in-session requests.

The rules, in the order libspdm's requester keeps them (and `spdm.verify.sessions`, proven on
libspdm's captures):

* FINISH travels under the request handshake key (in the clear with HANDSHAKE_IN_THE_CLEAR);
  FINISH_RSP ends TH2, which gives the data keys. Under mutual authentication the responder's
  encapsulated requests run first (MutAuthRequested 0x02, or 0x04 starting from the DIGESTS of an
  implicit GET_DIGESTS; 0x01 has none), then Hash(CM) enters TH and FINISH is signed.
* PSK_FINISH only when the responder has PSK context, else TH2 = A || K at once.
* KEY_UPDATE as `spdm.session.key_update.SentKeyUpdate` says: UpdateKey changes the request key
  after the ACK; UpdateAllKeys expects the ACK under the responder's new key and, like libspdm,
  falls back to its old key when the ACK does not open with the new one (the responder did not
  update). VerifyNewKey follows either.
* The responder's own KEY_UPDATE comes as an encapsulated request (`serve_encapsulated_requests`),
  answered as `spdm.session.key_update.AnsweredKeyUpdate` says with the responder as initiator:
  UpdateKey changes the response key before the DELIVER_ENCAPSULATED_RESPONSE carrying the ACK
  goes out, and its old key still opens responses until VerifyNewKey drops it (libspdm's
  `libspdm_get_encap_response_key_update`). An encapsulated UpdateAllKeys is InvalidRequest, as
  libspdm's requester answers it (libspdm_req_encap_key_update_ack.c): a responder updates its own key.
* A response that does not open tears the session down (`SessionDecryptError`), as libspdm frees
  a session on a decrypt failure; so does an ERROR DecryptError from the responder. Any other
  answer in the clear (InvalidSession and DecryptError are the only ones a responder sends for a
  record) counts as a response that does not open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

from spdm._checks import invalid_response
from spdm.certs import VerifiedChain
from spdm.crypto import AsymSuite, HashSuite, asym_suite, hash_suite
from spdm.errors import DecodeError, NegotiationError, ProtocolError, VerificationError
from spdm.messages import Message, encode
from spdm.messages.codes import (
    CapabilityFlags,
    Code,
    ErrorCode,
    KeyPairOperation,
    KeyUpdateOperation,
    KeyUsage,
    MutAuthRequest,
)
from spdm.messages.context import CodecContext
from spdm.messages.endpoint_info import EndpointInfo, GetEndpointInfo
from spdm.messages.error import ErrorResponse
from spdm.messages.events import Event, EventGroup
from spdm.messages.key_exchange import Finish, FinishRsp
from spdm.messages.measurements import ALL_MEASUREMENTS, GetMeasurements, Measurements
from spdm.messages.psk import PskFinish, PskFinishRsp
from spdm.messages.session_control import EndSession, EndSessionAck, Heartbeat, HeartbeatAck, KeyUpdate, KeyUpdateAck
from spdm.negotiated import Negotiated, check_key_usage
from spdm.requester.channel import Channel
from spdm.requester.encapsulated import EncapsulatedAnswers, run_encapsulated
from spdm.requester.endpoint_info import EndpointInfoResult, get_endpoint_info
from spdm.requester.errors import SessionClosedError, SessionDecryptError
from spdm.requester.event_recipient import (
    MAX_POLL_FLOWS,
    EventInbox,
    get_supported_event_types,
    subscribe_event_types,
)
from spdm.requester.events import Operation, Steps, send
from spdm.requester.identity import RequesterIdentity
from spdm.requester.key_pairs import (
    KeyPairInfoResult,
    SetKeyPairInfoResult,
    SlotKey,
    choose_slot,
    get_key_pair_info,
    set_key_pair_info,
)
from spdm.requester.measurements import get_measurements
from spdm.requester.mel import get_measurement_extension_log
from spdm.requester.provisioning import ChainSource, get_csr, set_certificate
from spdm.requester.results import MeasurementResult, MelResult, SetCertificateResult
from spdm.requester.support import require_support, supports
from spdm.session.key_update import AnsweredKeyUpdate, SentKeyUpdate, answer_key_update
from spdm.session.keys import HandshakeSecrets, KeySchedule
from spdm.session.secured import SecuredSession, SequenceNumberExhausted, session_id_of
from spdm.session.transcript import SessionTranscript, Signer
from spdm.transcript import ConnectionTranscript, message_d

__all__ = ["SessionCore", "SessionLink", "SessionPhase", "SessionView"]

M = TypeVar("M", bound=Message)
T = TypeVar("T")
SessionPhase = Literal["handshake", "established", "closed"]

# The ERRORs a responder answers in the clear to a record it cannot open (DSP0277 secured messages:
# no such session, or framing, sequence number or tag); no other answer to a record travels in the clear
_UNOPENED_RECORD_ERRORS = frozenset({ErrorCode.InvalidSession, ErrorCode.DecryptError})

F = CapabilityFlags
# Requests that change the session's state: only through their own methods
_RESERVED_REQUESTS = frozenset(
    {
        Code.KEY_EXCHANGE,
        Code.FINISH,
        Code.PSK_EXCHANGE,
        Code.PSK_FINISH,
        Code.KEY_UPDATE,
        Code.END_SESSION,
        Code.GET_ENCAPSULATED_REQUEST,
        Code.DELIVER_ENCAPSULATED_RESPONSE,
        Code.GET_VERSION,
        Code.RESPOND_IF_READY,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionLink:
    """All a session holds of its connection.

    `channel` carries its requests; `sessions` is the connection's table of open sessions, which
    a session enters when its handshake starts and leaves when it closes; `verified` are the
    connection's validated chains (signed measurements are checked with them);
    `transcript` is the connection's: a request sent in a session applies its rule
    (`spdm.transcript.ConnectionTranscript.before_session_request`), and in-session measurements
    start their own M from its A (`for_session`); `forget_slot` drops the connection's copies of a
    certificate slot that SET_CERTIFICATE changed; `slot_keys` what a 1.3 multi-key DIGESTS said of
    each slot's key (signed measurements in the session keep to its usages).
    """

    channel: Channel
    sessions: dict[int, SessionCore]
    verified: Mapping[int, VerifiedChain]
    transcript: ConnectionTranscript
    forget_slot: Callable[[int], None]
    slot_keys: Mapping[int, SlotKey]


class SessionCore:
    """One SPDM session of a requester connection, without I/O (made by `spdm.requester.handshake`).

    Requests travel as DSP0277 secured messages under the session's data keys; each direction
    counts its own sequence numbers from 0 per key and never reuses one. After `close`, a
    teardown (`SessionDecryptError`, ERROR DecryptError) or a new GET_VERSION on the connection,
    every operation raises `SessionClosedError`.

    Attributes: `session_id` (RspSessionID << 16 | ReqSessionID), `psk` (a PSK session), `slot`
    (the responder's certificate slot, None for PSK), `requester_slot` (the requester's slot under
    mutual authentication, else None), `mut_auth_requested` (KEY_EXCHANGE_RSP's value),
    `heartbeat_period` (seconds, 0 for none: the requester does not send heartbeats by itself),
    `measurement_summary_hash` (from the exchange response, when asked for),
    `secured_message_version` (the DSP0277 version selected), `encrypted` (ENC+AUTH, else AUTH
    only), `closed_reason`; properties `phase`, `th1`/`th2` (the transcript hashes that derived
    the keys) and `sequence_numbers`.
    """

    def __init__(
        self,
        link: SessionLink,
        *,
        negotiated: Negotiated,
        session_id: int,
        psk: bool,
        slot: int | None,
        schedule: KeySchedule,
        handshake: HandshakeSecrets,
        transcript: SessionTranscript,
        heartbeat_period: int,
        measurement_summary_hash: bytes | None,
        secured_message_version: int,
        mut_auth_requested: int = 0,
        in_the_clear: bool = False,
    ) -> None:
        self.session_id = session_id
        self.psk = psk
        self.slot = slot
        self.requester_slot: int | None = None
        self.mut_auth_requested = mut_auth_requested
        self.heartbeat_period = heartbeat_period
        self.measurement_summary_hash = measurement_summary_hash
        self.secured_message_version = secured_message_version
        self.encrypted = negotiated.encrypts_records
        self.closed_reason: str | None = None
        self._link = link
        self._negotiated = negotiated
        self._version = negotiated.version
        self._schedule: KeySchedule | None = schedule
        self._handshake: HandshakeSecrets | None = handshake
        self._transcript = transcript
        self._in_the_clear = in_the_clear
        self._phase: SessionPhase = "handshake"
        # the decode context of its responses (all but a signed MEASUREMENTS): the connection's
        # negotiation cannot change under a live session (GET_VERSION discards it first)
        self._codec = negotiated.codec_context()
        self._secured: SecuredSession | None = SecuredSession.from_keys(
            role="requester",
            session_id=session_id,
            aead=schedule.aead,
            request=handshake.request,
            response=handshake.response,
            transport=link.channel.config.secured_transport,
            encrypt=self.encrypted,
            padding=link.channel.config.secured_padding,
            random=link.channel.config.draw_random,
        )
        # the session's own L1/L2 (only the M part of the transcript is used), under the connection's reset
        # rules, from its first GET_MEASUREMENTS on: until then there is nothing for a request or an ERROR to restart
        self._measurements: ConnectionTranscript | None = None
        self._pending_update: SentKeyUpdate | None = None
        # the responder's encapsulated KEY_UPDATE awaiting VerifyNewKey
        self._answered_update: AnsweredKeyUpdate | None = None
        self._inbox = EventInbox(negotiated)

    # --- state ------------------------------------------------------------------------------

    @property
    def phase(self) -> SessionPhase:
        """The session's phase: handshake until FINISH_RSP (PSK_FINISH_RSP), then established, finally closed."""
        return self._phase

    @property
    def th1(self) -> bytes | None:
        return self._transcript.th1

    @property
    def th2(self) -> bytes | None:
        return self._transcript.th2

    @property
    def sequence_numbers(self) -> tuple[int, int]:
        """(request, response) sequence numbers the next records use; (0, 0) once closed."""
        secured = self._secured
        if secured is None:
            return 0, 0
        return secured.request.sequence_number, secured.response.sequence_number

    def discard(self, reason: str) -> None:
        """Forget the session and its keys without telling the responder (it is gone or unusable)."""
        if self._phase == "closed":
            return
        self._phase = "closed"
        self.closed_reason = reason
        self._secured = None
        self._schedule = None
        self._handshake = None
        self._pending_update = None
        self._answered_update = None
        self._link.sessions.pop(self.session_id, None)

    def _require_phase(self, phase: SessionPhase) -> None:
        if self._phase == "closed":
            raise SessionClosedError(self.session_id, self.closed_reason or "closed")
        if self._phase != phase:
            raise ProtocolError(ErrorCode.UnexpectedRequest, f"session 0x{self.session_id:08x} is in its {self._phase}")

    # --- carrying messages ------------------------------------------------------------------

    def _transact(
        self, request: Message, expect: type[M], *, signature_requested: bool = False, data: bytes | None = None
    ) -> Steps[tuple[M, bytes, bytes]]:
        """One request of this session: the session's transcript rules, then the shared exchange.

        `data` is the request's encoding when the caller already holds it (the bytes it put in the transcript).
        """
        data = encode(request) if data is None else data
        codec = self._negotiated.codec_context(signature_requested=True) if signature_requested else self._codec
        channel = self._link.channel
        return (
            yield from channel.exchange(
                request, data, expect, self._carry, self._on_error, codec, lambda: self._before_sending(request.code)
            )
        )

    def _before_sending(self, code: int) -> None:
        """The session's M and the connection's B and C follow their reset rules for a request of the session."""
        if self._measurements is not None:
            self._measurements.before_request(code)
        self._link.transcript.before_session_request(code)

    def _on_error(self, error_code: int) -> None:
        if self._measurements is not None:
            self._measurements.after_error(error_code)
        if error_code == ErrorCode.DecryptError:
            self.discard("the responder answered ERROR DecryptError")

    def _carry(self, data: bytes, timeout: float, codec: CodecContext | None) -> Steps[tuple[Message, bytes]]:
        """One request as a record of the session (in the clear during a HANDSHAKE_IN_THE_CLEAR
        handshake) and its decoded response."""
        secured = self._secured
        if secured is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "closed")
        channel = self._link.channel
        if self._in_the_clear and self._phase == "handshake":
            return (yield from channel.clear(data, timeout, codec))
        try:
            record = secured.request.seal(data)
        except SequenceNumberExhausted as error:  # the session is over, as libspdm_req_send_receive.c frees it
            self.discard(str(error))
            raise SessionClosedError(self.session_id, str(error)) from None
        raw = yield from send(record, session_id=self.session_id, timeout=timeout)
        if not self._is_record(raw):
            return self._clear_answer(raw, codec)
        update = self._pending_update or self._answered_update
        try:
            app = secured.response.open(raw) if update is None else update.open(raw)
        except (VerificationError, DecodeError, ProtocolError) as error:
            self.discard(f"a response did not open: {error}")
            raise SessionDecryptError(self.session_id, f"a response did not open ({error})") from None
        return channel.decode(app, codec, 0)

    def _is_record(self, raw: bytes) -> bool:
        """Whether a response is a record of this session (it starts with the SessionID), not a clear answer."""
        try:
            return session_id_of(raw) == self.session_id
        except DecodeError:  # not even the 4 bytes of a SessionID
            return False

    def _clear_answer(self, raw: bytes, codec: CodecContext | None) -> tuple[Message, bytes]:
        """A response that is not a record of this session: only the ERROR a responder answers a
        record it cannot open with (InvalidSession, DecryptError) is understood. Anything else in
        the clear is unauthenticated, so it is taken as a record that does not open: a forged
        Busy, ResponseNotReady or LargeResponse must not make the requester resend, wait or fetch
        chunks (libspdm_req_send_receive.c libspdm_receive_response fails when a secured message
        was expected and the answer is not one)."""
        channel = self._link.channel
        try:
            message, exact = channel.decode(raw, codec, channel.max_padding)
        except DecodeError:
            message = None
        if isinstance(message, ErrorResponse) and message.error_code in _UNOPENED_RECORD_ERRORS:
            return message, exact
        self.discard("the responder answered a secured request with something else than a record of the session")
        raise SessionDecryptError(self.session_id, "the response is not a secured message of this session")

    # --- the application phase -------------------------------------------------------------

    def send(self, request: Message) -> Operation[Message]:
        """Send one SPDM request in the session; the operation returns its decoded response.

        An ERROR answer raises `PeerError` (after Busy retries and ResponseNotReady handling).
        KEY_UPDATE, END_SESSION and the handshake requests have their own methods; a
        GET_MEASUREMENTS sent here is recorded in the session's measurement transcript but its
        signature is not checked (use `get_measurements`).
        """
        return Operation(self._send(request))

    def _send(self, request: Message) -> Steps[Message]:
        if request.code in _RESERVED_REQUESTS:
            raise ValueError(f"{request.name} is not sent through Session.send: use the session's own methods")
        self._require_phase("established")
        signed = isinstance(request, GetMeasurements) and request.signature_requested
        response, data, exact = yield from self._transact(request, Message, signature_requested=signed)
        if isinstance(response, Measurements):
            if response.signature is None:
                self._measurement_transcript().add_measurements(data, exact)
            else:  # L1/L2 ends with it; its signature is not checked here (get_measurements checks it)
                self._measurement_transcript().measurements_digest(data, exact[: len(exact) - len(response.signature)])
        return response

    def heartbeat(self) -> Operation[None]:
        """HEARTBEAT: keeps the session alive (the responder's watchdog is twice `heartbeat_period`);
        `NegotiationError` when the period is 0 (the responder asked for no heartbeats)."""
        return Operation(self._heartbeat())

    def _heartbeat(self) -> Steps[None]:
        self._require_phase("established")
        require_support(self._negotiated, Code.HEARTBEAT)
        if not self.heartbeat_period:  # libspdm_req_heartbeat.c does not send it; libspdm_rsp_heartbeat.c refuses it
            raise NegotiationError("HEARTBEAT: the session's HeartbeatPeriod is 0, the responder expects none")
        yield from self._transact(Heartbeat(version=self._version), HeartbeatAck)

    def key_update(self, all_keys: bool = False) -> Operation[bool]:
        """KEY_UPDATE UpdateKey (the request key) or UpdateAllKeys (both), then VerifyNewKey.

        The operation returns whether the responder's key changed too. With UpdateAllKeys the ACK
        is expected under the responder's new key; when it opens only with the old one the
        responder did not update and the old key stays (libspdm's fallback): False. An ERROR
        answer leaves both keys as they were.
        """
        return Operation(self._key_update(all_keys))

    def _key_update(self, all_keys: bool) -> Steps[bool]:
        self._require_phase("established")
        require_support(self._negotiated, Code.KEY_UPDATE)
        secured, schedule = self._secured, self._schedule
        if secured is None or schedule is None or secured.request.keys is None or secured.response.keys is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "no keys")
        operation = KeyUpdateOperation.UPDATE_ALL_KEYS if all_keys else KeyUpdateOperation.UPDATE_KEY
        update = self._pending_update = SentKeyUpdate(secured, schedule, operation)
        try:
            yield from self._key_update_step(operation)  # its responses open with `update.open`
        except BaseException:
            update.refused()  # an ERROR (or nothing) came back: the responder's key stays as it was
            raise
        finally:
            self._pending_update = None
        update.acknowledged()
        yield from self._key_update_step(KeyUpdateOperation.VERIFY_NEW_KEY)
        return update.answerer_keys is not None

    def _key_update_step(self, operation: int) -> Steps[None]:
        tag = self._link.channel.config.draw_random(1)[0]
        ask = KeyUpdate(version=self._version, operation=operation, tag=tag)
        ack, _, _ = yield from self._transact(ask, KeyUpdateAck)
        if ack.operation != operation or ack.tag != tag:
            raise invalid_response(
                f"KEY_UPDATE_ACK echoes operation {ack.operation} tag 0x{ack.tag:02x}, "
                f"sent operation {operation} tag 0x{tag:02x}"
            )

    def serve_encapsulated_requests(self) -> Operation[int]:
        """GET_ENCAPSULATED_REQUEST in the session, then each of the responder's requests answered
        (GET_DIGESTS, GET_CERTIFICATE, its own KEY_UPDATE, GET_ENDPOINT_INFO) until it is done.

        The responder cannot send a request of its own; the transport's alert that it has one is
        the cue. The operation returns the number of requests answered: 0 when the responder
        answered ERROR UnexpectedRequest, having none pending.
        """
        return Operation(self._serve_encapsulated_requests())

    def _serve_encapsulated_requests(self) -> Steps[int]:
        self._require_phase("established")
        require_support(self._negotiated, Code.GET_ENCAPSULATED_REQUEST)
        answers = EncapsulatedAnswers(
            negotiated=self._negotiated,
            config=self._link.channel.config,
            max_padding=0,
            vca=bytes(self._link.transcript.vca),
            key_update=self._answer_key_update,
            send_event=self._inbox.deliver,
        )
        yield from run_encapsulated(
            self._transact, answers, version=self._version, implicit_digests=False, slot=None, may_be_idle=True
        )
        return answers.answered

    def get_supported_event_types(self) -> Operation[tuple[EventGroup, ...]]:
        """GET_SUPPORTED_EVENT_TYPES (SPDM 1.3, the responder's EVENT_CAP): the event groups the
        responder can notify, each with its event types."""
        return Operation(self._established(get_supported_event_types(self._transact, self._negotiated)))

    def subscribe_event_types(self, *groups: EventGroup) -> Operation[None]:
        """SUBSCRIBE_EVENT_TYPES: from now on the responder keeps the events of `groups` for this
        session (an entry from `get_supported_event_types` takes the types it lists;
        `spdm.events.subscribe_all` every type of its group). No group unsubscribes from all."""
        return Operation(self._established(subscribe_event_types(self._transact, self._negotiated, groups)))

    def poll_events(self) -> Operation[tuple[Event, ...]]:
        """The responder's events: GET_ENCAPSULATED_REQUEST, each SEND_EVENT answered with EVENT_ACK
        (and any other encapsulated request as `serve_encapsulated_requests` answers it), asked
        again while a flow brings new events, since a responder sends one SEND_EVENT a flow (libspdm's
        does, ours too) and one SEND_EVENT may not carry every waiting event (a gap in their IDs, the
        requester's MaxSPDMmsgSize); at most `MAX_POLL_FLOWS` flows, the rest waits for the next
        poll. The operation returns the events received since the last poll, in EventInstanceID
        order within each SEND_EVENT, () when none was waiting.

        The responder cannot send them by itself (on DOE the device never initiates): poll when the
        transport signals it, or from time to time. Needs ENCAP_CAP on both sides (NegotiationError).
        """
        return Operation(self._poll_events())

    def _poll_events(self) -> Steps[tuple[Event, ...]]:
        for _ in range(MAX_POLL_FLOWS):
            received = len(self._inbox)
            yield from self._serve_encapsulated_requests()
            if len(self._inbox) == received:
                break
        return self._inbox.take()

    def _established(self, steps: Steps[T]) -> Steps[T]:
        self._require_phase("established")
        return (yield from steps)

    def _answer_key_update(self, request: KeyUpdate) -> None:
        """The responder's encapsulated KEY_UPDATE: the keys change now, before the ACK is delivered."""
        secured, schedule = self._secured, self._schedule
        if not supports(self._negotiated, Code.KEY_UPDATE):
            raise ProtocolError(ErrorCode.UnsupportedRequest, "KEY_UPD_CAP is not set by both sides", request.code)
        if secured is None or schedule is None:
            raise ProtocolError(ErrorCode.InvalidRequest, "the session has no keys")
        if request.operation == KeyUpdateOperation.UPDATE_ALL_KEYS:
            # libspdm_req_encap_key_update_ack.c refuses it: a responder asks to update its own key only
            raise ProtocolError(ErrorCode.InvalidRequest, "an encapsulated KEY_UPDATE asks for UpdateAllKeys")
        self._answered_update = answer_key_update(
            secured, schedule, self._answered_update, request.operation, sender="response"
        )

    def get_measurements(
        self, operation: int = ALL_MEASUREMENTS, *, signed: bool = True, slot: int | None = None
    ) -> Operation[MeasurementResult]:
        """GET_MEASUREMENTS in the session: the session keeps its own L1/L2 transcript.

        A signed response is checked with the verified chain of `slot` (default: the session's
        slot, 0 for a PSK session), which the connection must hold; on a multi-key connection that
        slot's key must be one that may sign measurements (`KeyUsageError`), and a PSK session's
        default is the lowest slot whose key may.
        """
        if signed:
            asked = self.slot if slot is None else slot
            slot = choose_slot(self._negotiated, self._link.slot_keys, KeyUsage.MEASUREMENT, asked)
        return Operation(self._get_measurements(operation, signed, slot or 0))

    def _get_measurements(self, operation: int, signed: bool, slot: int) -> Steps[MeasurementResult]:
        self._require_phase("established")
        return (
            yield from get_measurements(
                self._measurement_exchange,
                self._measurement_transcript(),
                negotiated=self._negotiated,
                verified=self._link.verified,
                random=self._link.channel.config.draw_random,
                operation=operation,
                signed=signed,
                slot=slot,
            )
        )

    def _measurement_exchange(self, ask: GetMeasurements, signed: bool) -> Steps[tuple[Measurements, bytes, bytes]]:
        return self._transact(ask, Measurements, signature_requested=signed)

    def _measurement_transcript(self) -> ConnectionTranscript:
        """The session's L1/L2, made when GET_MEASUREMENTS first needs it."""
        if self._measurements is None:
            self._measurements = self._link.transcript.for_session()
        return self._measurements

    def get_measurement_extension_log(self) -> Operation[MelResult]:
        """GET_MEASUREMENT_EXTENSION_LOG in the session (see `Connection.get_measurement_extension_log`)."""
        return Operation(self._get_measurement_extension_log())

    def get_endpoint_info(self, *, signed: bool = True, slot: int | None = None) -> Operation[EndpointInfoResult]:
        """GET_ENDPOINT_INFO in the session (see `Connection.get_endpoint_info`); a signed answer is
        checked with the verified chain of `slot` (default: the session's slot, 0 for a PSK session)."""
        return Operation(self._get_endpoint_info(signed, (self.slot or 0) if slot is None else slot))

    def _get_endpoint_info(self, signed: bool, slot: int) -> Steps[EndpointInfoResult]:
        self._require_phase("established")
        return (
            yield from get_endpoint_info(
                self._endpoint_info_exchange,
                negotiated=self._negotiated,
                vca=bytes(self._link.transcript.vca),
                verified=self._link.verified,
                random=self._link.channel.config.draw_random,
                signed=signed,
                slot=slot,
            )
        )

    def _endpoint_info_exchange(self, ask: GetEndpointInfo, signed: bool) -> Steps[tuple[EndpointInfo, bytes, bytes]]:
        return self._transact(ask, EndpointInfo, signature_requested=signed)

    def _get_measurement_extension_log(self) -> Steps[MelResult]:
        self._require_phase("established")
        config = self._link.channel.config
        return (yield from get_measurement_extension_log(self._transact, self._negotiated, config))

    def get_csr(
        self,
        requester_info: bytes = b"",
        opaque_data: bytes = b"",
        *,
        key_pair_id: int = 0,
        cert_model: int | None = None,
        csr_tracking_tag: int = 0,
        overwrite: bool = False,
    ) -> Operation[bytes]:
        """GET_CSR in the session: the device's DER CSR; `CsrResetRequired` when the device makes it
        only after a reset (see `Connection.get_csr`)."""
        return Operation(
            self._get_csr(requester_info, opaque_data, key_pair_id, cert_model, csr_tracking_tag, overwrite)
        )

    def _get_csr(
        self,
        requester_info: bytes,
        opaque_data: bytes,
        key_pair_id: int,
        model: int | None,
        csr_tracking_tag: int,
        overwrite: bool,
    ) -> Steps[bytes]:
        self._require_phase("established")
        return (
            yield from get_csr(
                self._transact,
                self._negotiated,
                requester_info,
                opaque_data,
                key_pair_id,
                model,
                csr_tracking_tag,
                overwrite,
            )
        )

    def set_certificate(
        self, slot: int, chain: ChainSource, *, key_pair_id: int = 0, cert_model: int | None = None
    ) -> Operation[SetCertificateResult]:
        """SET_CERTIFICATE in the session, where slots other than 0 may be written (see
        `Connection.set_certificate`)."""
        return Operation(self._set_certificate(slot, chain, key_pair_id, cert_model))

    def _set_certificate(
        self, slot: int, chain: ChainSource, key_pair_id: int, cert_model: int | None
    ) -> Steps[SetCertificateResult]:
        self._require_phase("established")
        result = yield from set_certificate(self._transact, self._negotiated, slot, chain, key_pair_id, cert_model)
        self._link.forget_slot(slot)
        return result

    def get_key_pair_info(self, key_pair_id: int) -> Operation[KeyPairInfoResult]:
        """GET_KEY_PAIR_INFO in the session (see `Connection.get_key_pair_info`)."""
        return Operation(self._get_key_pair_info(key_pair_id))

    def _get_key_pair_info(self, key_pair_id: int) -> Steps[KeyPairInfoResult]:
        self._require_phase("established")
        return (yield from get_key_pair_info(self._transact, self._negotiated, key_pair_id))

    def set_key_pair_info(
        self,
        key_pair_id: int,
        operation: KeyPairOperation = KeyPairOperation.CHANGE,
        *,
        key_usage: int = 0,
        asym_algo: int = 0,
        slots: Iterable[int] = (),
    ) -> Operation[SetKeyPairInfoResult]:
        """SET_KEY_PAIR_INFO in the session (see `Connection.set_key_pair_info`)."""
        return Operation(self._set_key_pair_info(key_pair_id, operation, key_usage, asym_algo, tuple(slots)))

    def _set_key_pair_info(
        self, key_pair_id: int, operation: KeyPairOperation, key_usage: int, asym_algo: int, slots: tuple[int, ...]
    ) -> Steps[SetKeyPairInfoResult]:
        self._require_phase("established")
        return (
            yield from set_key_pair_info(
                self._transact,
                self._negotiated,
                key_pair_id,
                operation,
                key_usage=key_usage,
                asym_algo=asym_algo,
                slots=slots,
            )
        )

    def close(self, *, clear_negotiated_state: bool = False) -> Operation[None]:
        """END_SESSION, then the keys are discarded (also when END_SESSION fails). Closing a
        closed session does nothing. `clear_negotiated_state` sets END_SESSION's bit 0, which asks
        a CACHE_CAP responder to drop its cached VCA state (it is never set for other responders)."""
        return Operation(self._close(clear_negotiated_state))

    def _close(self, clear_negotiated_state: bool) -> Steps[None]:
        if self._phase == "closed":
            return
        if self._phase != "established":
            self.discard("closed during the handshake")
            return
        clear = clear_negotiated_state and self._negotiated.responder_has(F.CACHE_CAP)
        try:
            yield from self._transact(EndSession(version=self._version, attributes=1 if clear else 0), EndSessionAck)
        finally:
            self.discard("ended")

    def describe(self) -> str:
        """The session in a few words: its ID, kind and phase."""
        kind = "PSK" if self.psk else f"DHE slot {self.slot}"
        return f"0x{self.session_id:08x} {kind} {self._phase}"

    def __repr__(self) -> str:
        return f"<SessionCore {self.describe()}>"

    # --- the handshake's last steps (run by spdm.requester.handshake) ------------------------

    def _enter_data_phase(self) -> None:
        """TH2 is complete: derive the data keys; the session is established."""
        th2 = self._transcript.th2
        secured, schedule = self._secured, self._schedule
        if th2 is None or secured is None or schedule is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "no handshake")
        data = schedule.data(th2)
        secured.rekey(data.request, data.response)
        self._handshake = None
        self._phase = "established"

    def finish(self, requester_slot: int | None) -> Steps[None]:
        """(Mutual authentication,) FINISH and FINISH_RSP: the data keys."""
        negotiated = self._negotiated
        hashes = hash_suite(negotiated.base_hash_algo)
        config = self._link.channel.config
        schedule, handshake = self._schedule, self._handshake
        if schedule is None or handshake is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "no handshake")
        identity: RequesterIdentity | None = None
        encap_d = b""
        if self.mut_auth_requested:
            if self.mut_auth_requested != MutAuthRequest.MUT_AUTH_REQUESTED:
                # in the clear, an embedded request may keep the transport's padding (a CHUNK_SEND_ACK's)
                padding = self._link.channel.max_padding if self._in_the_clear else 0
                answers = EncapsulatedAnswers(negotiated=negotiated, config=config, max_padding=padding)
                requester_slot = yield from run_encapsulated(
                    self._transact,
                    answers,
                    version=self._version,
                    implicit_digests=self.mut_auth_requested == MutAuthRequest.WITH_GET_DIGESTS,
                    slot=requester_slot,
                )
                encap_d = message_d(b"", answers.first_digests, multi_key=negotiated.requester_multi_key)
            requester_slot, identity = _finish_identity(config.identities, negotiated, requester_slot)
            self.requester_slot = requester_slot
            self._transcript.add_requester_chain_hash(
                hashes.digest(identity.chain_bytes(hashes)), requester_digests=encap_d
            )
        req_asym = asym_suite(negotiated.req_base_asym_alg) if identity is not None else None
        template = Finish(
            version=self._version,
            attributes=1 if identity is not None else 0,
            req_slot_id=requester_slot if identity is not None and requester_slot is not None else 0,
            signature=bytes(req_asym.signature_size) if req_asym is not None else None,
            requester_verify_data=bytes(hashes.size),
        )
        sign = _signer(identity, req_asym, hashes) if identity is not None and req_asym is not None else None
        # the request goes out exactly as the transcript took it in
        data = self._transcript.build_finish(
            encode(template)[:4], finished_key=handshake.request_finished_key, sign=sign
        )
        verify_at = len(data) - hashes.size
        ask = replace(template, signature=data[4:verify_at] or None, requester_verify_data=data[verify_at:])
        answer, _, response = yield from self._transact(ask, FinishRsp, data=data)
        verify_digest = self._transcript.add_finish_rsp(response, answer)
        if self._in_the_clear:
            if verify_digest is None or answer.responder_verify_data is None:
                raise invalid_response(
                    "FINISH_RSP carries no ResponderVerifyData although the handshake is in the clear"
                )
            schedule.check_verify_data(handshake.response_finished_key, verify_digest, answer.responder_verify_data)
        self._enter_data_phase()

    def psk_finish(self) -> Steps[None]:
        """PSK_FINISH and PSK_FINISH_RSP for a responder with PSK context, else none (TH2 = A || K):
        the data keys.

        The request sent is exactly the bytes the transcript took in.
        """
        schedule, handshake, transcript = self._schedule, self._handshake, self._transcript
        if schedule is None or handshake is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "no handshake")
        if transcript.mark_th2_after_psk_exchange(self._negotiated.responder_flags) is not None:
            self._enter_data_phase()
            return
        header = encode(PskFinish(version=self._version, requester_verify_data=bytes(schedule.hash_suite.size)))[:4]
        data = transcript.build_psk_finish(header, finished_key=handshake.request_finished_key)
        ask = PskFinish(version=self._version, requester_verify_data=data[len(header) :])
        _, _, response = yield from self._transact(ask, PskFinishRsp, data=data)
        transcript.add_finish_rsp(response)
        self._enter_data_phase()


def _finish_identity(
    identities: Mapping[int, RequesterIdentity], negotiated: Negotiated, slot: int | None
) -> tuple[int, RequesterIdentity]:
    """The requester slot that signs FINISH and its identity, whether KEY_EXCHANGE_RSP (MutAuthRequested
    0x01) or the encapsulated flow's ENCAPSULATED_RESPONSE_ACK named it: `NegotiationError` when it holds
    none; on the requester's multi-key connection its KeyUsageMask must allow KEY_EXCHANGE, else
    InvalidResponseCode (libspdm_req_key_exchange.c, libspdm_req_encap_request.c)."""
    identity = None if slot is None else identities.get(slot)
    if identity is None or slot is None:
        raise NegotiationError(f"the responder asks for the requester's slot {slot}, which holds no identity")
    try:
        check_key_usage(negotiated, identity.key_usage, slot, KeyUsage.KEY_EXCHANGE, requester=True)
    except ProtocolError as error:
        raise invalid_response(f"the responder names requester slot {slot} to sign FINISH: {error}") from None
    return slot, identity


def _signer(identity: RequesterIdentity, suite: AsymSuite, hashes: HashSuite) -> Signer:
    """FINISH's signature under mutual authentication: the requester's, with the negotiated ReqBaseAsymAlg."""
    return lambda digest: identity.signature(suite, digest, hashes)


class SessionView:
    """The read-only face of a `SessionCore` that the drivers' sessions share: every attribute
    reads the core, which stays reachable as `core` for a driver of its own."""

    __slots__ = ("core",)

    def __init__(self, core: SessionCore) -> None:
        self.core = core

    @property
    def session_id(self) -> int:
        return self.core.session_id

    @property
    def psk(self) -> bool:
        return self.core.psk

    @property
    def slot(self) -> int | None:
        return self.core.slot

    @property
    def requester_slot(self) -> int | None:
        return self.core.requester_slot

    @property
    def mut_auth_requested(self) -> int:
        return self.core.mut_auth_requested

    @property
    def heartbeat_period(self) -> int:
        return self.core.heartbeat_period

    @property
    def measurement_summary_hash(self) -> bytes | None:
        return self.core.measurement_summary_hash

    @property
    def secured_message_version(self) -> int:
        return self.core.secured_message_version

    @property
    def encrypted(self) -> bool:
        return self.core.encrypted

    @property
    def closed_reason(self) -> str | None:
        return self.core.closed_reason

    @property
    def phase(self) -> SessionPhase:
        return self.core.phase

    @property
    def established(self) -> bool:
        return self.core.phase == "established"

    @property
    def closed(self) -> bool:
        return self.core.phase == "closed"

    @property
    def th1(self) -> bytes | None:
        return self.core.th1

    @property
    def th2(self) -> bytes | None:
        return self.core.th2

    @property
    def sequence_numbers(self) -> tuple[int, int]:
        return self.core.sequence_numbers

    def discard(self, reason: str) -> None:
        """Forget the session and its keys without telling the responder (it is gone or unusable)."""
        self.core.discard(reason)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.core.describe()}>"
