"""The responder's sessions: a table of them, their handshakes, secured messages and in-session control.

`SessionTable` is a component of `spdm.responder.Responder`: it owns every live `Session` by
SessionID and serves the session requests (KEY_EXCHANGE/FINISH, PSK_EXCHANGE/PSK_FINISH, the
encapsulated mutual-authentication flow, HEARTBEAT, KEY_UPDATE and END_SESSION) through one door,
`serve`, which is handed what the request may read of its connection: the `Connection` VCA settled
and the connection transcript (A, and the reset rules of KEY_EXCHANGE and PSK_EXCHANGE). The two
ends of every secured message are `open_record` and `seal`. One `Session` per live SessionID holds
what libspdm keeps per session: the key schedule, the transcript (TH1, TH2), the per-direction AEAD
contexts, a KEY_UPDATE in flight, the session's own measurement transcript (L1/L2) and its state.

Every byte range of the handshake is `spdm.session.transcript.SessionTranscript`'s (the `build_*`
methods for the responses made here, `add_finish`/`add_psk_finish` for the requests checked), and
every KEY_UPDATE step `spdm.session.key_update.AnsweredKeyUpdate`'s: the requester and capture
replay go through the same ones. In order:

* KEY_EXCHANGE_RSP is signed over A || Hash(Ct) || K up to OpaqueData; TH1 follows the signature;
  ResponderVerifyData (absent when the handshake is in the clear) is HMAC(rsp finished key, TH1).
* Under MutAuthRequested 0x02 the encapsulated GET_DIGESTS / GET_CERTIFICATE run under the
  handshake keys; they enter no transcript, only Hash(CM) does, before FINISH.
* FINISH, FINISH_RSP and PSK_FINISH(_RSP) travel under the handshake keys (or in the clear), and
  the data keys (from TH2) take over once FINISH_RSP / PSK_FINISH_RSP is out. A FINISH that does
  not verify is refused and leaves the transcript as it was.

A record that does not open is answered in the clear: an unknown session with ERROR InvalidSession,
which changes nothing; framing, a stale or replayed sequence number or a bad tag with ERROR
DecryptError, which ends that session (libspdm frees it, and a requester drops its own on that
answer). A refused request inside a session is answered inside it, under the session's current
response key.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from spdm._checks import check_certificate_info, check_slot_masks, invalid_response
from spdm.certs import (
    DEFAULT_CERTIFICATE_PORTION,
    SPDM_REQUESTER_AUTH_OID,
    CertChain,
    ChainPolicy,
    ChainPortions,
    verify_chain,
)
from spdm.crypto import DhePrivateKey, DheSuite, HashSuite, asym_suite, dhe_suite
from spdm.errors import DecodeError, NegotiationError, ProtocolError, SpdmError, VerificationError
from spdm.events import supported_types
from spdm.messages import Message, encode
from spdm.messages.certificates import CERT_MODEL_MASK, Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode, KeyUsage, MutAuthRequest
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    GetEncapsulatedRequest,
    PayloadType,
)
from spdm.messages.error import ErrorResponse
from spdm.messages.events import EventAck, GetSupportedEventTypes, SubscribeEventTypes
from spdm.messages.key_exchange import RANDOM_SIZE, Finish, FinishRsp, KeyExchange, KeyExchangeRsp, asks_all_events
from spdm.messages.opaque import (
    decode_opaque,
    has_secured_message_version,
    secured_message_versions,
    version_selection_opaque,
)
from spdm.messages.psk import PSK_CONTEXT_SIZE, PskExchange, PskExchangeRsp, PskFinish, PskFinishRsp
from spdm.messages.session_control import EndSession, EndSessionAck, Heartbeat, HeartbeatAck, KeyUpdate, KeyUpdateAck
from spdm.negotiated import Negotiated, check_key_usage
from spdm.responder._common import (
    Connection,
    SessionTerms,
    check_request_id,
    embedded_response,
    ends_encapsulated_flow,
    expect,
    invalid_request,
    measurement_summary,
    next_request_id,
    nothing_pending,
    random_bytes,
    refuse_public_key_slot,
    response_ack,
    session_terms,
    unexpected,
)
from spdm.responder.config import ResponderConfig
from spdm.responder.events import SessionEvents, send_event_room, subscribe, supported_event_types
from spdm.responder.state import DHE_HANDSHAKE_START, SessionState
from spdm.session.key_update import AnsweredKeyUpdate, answer_key_update
from spdm.session.keys import DataSecrets, HandshakeSecrets, KeySchedule
from spdm.session.secured import SecuredSession, joined_session_id, session_id_halves, session_id_of
from spdm.session.transcript import SessionTranscript
from spdm.transcript import ConnectionTranscript, message_d

__all__ = ["SESSION_REQUESTS", "EncapsulatedFlow", "Session", "SessionTable"]

F = CapabilityFlags

_MAX_RSP_SESSION_ID = 0xFFFF


@dataclass(slots=True, kw_only=True)
class EncapsulatedFlow:
    """Where the encapsulated GET_DIGESTS / GET_CERTIFICATE flow of one handshake stands.

    `request_id` is the RequestID of the request the requester must answer next; `expecting`
    what that request was; `slot`, `digest` the requester slot being fetched and its digest from
    DIGESTS, `cert_model` its certificate model there (1.3 multi-key; None otherwise); `asked` the
    GET_CERTIFICATE awaiting its CERTIFICATE and `portions` the chain so far.
    """

    request_id: int
    expecting: Literal["digests", "certificate"] = "digests"
    slot: int = 0
    digest: bytes = b""
    cert_model: int | None = None
    asked: GetCertificate | None = None
    portions: ChainPortions | None = None

    def next_request_id(self) -> int:
        """RequestID of the next encapsulated request (`next_request_id`)."""
        self.request_id = next_request_id(self.request_id)
        return self.request_id


@dataclass(slots=True, eq=False, kw_only=True)
class Session:
    """One session as the responder keeps it, from *_EXCHANGE_RSP to END_SESSION_ACK."""

    session_id: int
    psk: bool
    in_the_clear: bool
    """HANDSHAKE_IN_THE_CLEAR is in effect: FINISH (and the encapsulated flow) travel in the clear."""
    state: SessionState
    schedule: KeySchedule
    handshake: HandshakeSecrets
    transcript: SessionTranscript
    connection_transcript: ConnectionTranscript
    """The connection's A, B, C and M: a session's own M starts from its A (`for_session`)."""
    channel: SecuredSession
    heartbeat_period: int
    secured_message_version: int | None
    mut_auth_requested: int = 0
    """KEY_EXCHANGE_RSP's MutAuthRequested (0: no mutual authentication)."""
    requester_slot: int = 0
    """The requester slot FINISH is signed with: KEY_EXCHANGE_RSP's ReqSlotIDParam, or the slot the
    encapsulated flow read."""
    requester_chain: bytes | None = None
    """CM: the requester's chain in SPDM slot format, once known (mutual authentication)."""
    requester_key: PublicKeyTypes | None = None
    requester_digests: bytes = b""
    """EncapD: the requester's first DIGESTS of the encapsulated flow on its multi-key connection (`message_d`)."""
    encapsulated: EncapsulatedFlow | None = None
    data: DataSecrets | None = None
    enter_data_phase: bool = False
    """Set by FINISH / PSK_FINISH: the data keys take over once the response is out."""
    key_update: AnsweredKeyUpdate | None = None
    """The KEY_UPDATE (UpdateKey or UpdateAllKeys) awaiting VerifyNewKey."""
    chosen: SessionState | None = None
    """The state a handler chose among the ones its transition allows (None: the usual one)."""
    measurements: ConnectionTranscript | None = None
    """The session's own L1/L2 (only its M part is used), from its first GET_MEASUREMENTS on: until
    then there is nothing for a request or an ERROR to restart."""
    events: SessionEvents = field(default_factory=SessionEvents)
    """The session's event subscription and the events waiting for it (SPDM 1.3)."""

    @property
    def handshaking(self) -> bool:
        return self.state not in (SessionState.ESTABLISHED, SessionState.EXPECT_EVENT_ACK, SessionState.ENDED)

    def open(self, record: bytes) -> bytes:
        """The SPDM message of a record from the requester; raises (and changes no key or sequence
        number) when it does not open. While a KEY_UPDATE awaits VerifyNewKey, its rules say which keys
        open it."""
        if self.key_update is not None:
            return self.key_update.open(record)
        return self.channel.request.open(record)

    def measurement_transcript(self) -> ConnectionTranscript:
        """`measurements`, made when GET_MEASUREMENTS first needs it."""
        if self.measurements is None:
            self.measurements = self.connection_transcript.for_session()
        return self.measurements

    def derive_data_keys(self) -> None:
        """TH2 is in the transcript: the data keys, which take over once the response is out."""
        th2 = self.transcript.th2
        if th2 is None:
            raise SpdmError("TH2 is not in the session transcript yet")
        self.data = self.schedule.data(th2)
        self.enter_data_phase = True

    def switch_to_data_keys(self) -> None:
        data = self.data
        if data is None:
            raise SpdmError("no data keys to switch to")
        self.channel.rekey(data.request, data.response)
        self.enter_data_phase = False


def _select_secured_version(opaque: bytes, ours: tuple[int, ...], general: bool) -> int | None:
    """The DSP0277 version to select: the highest of `ours` whose major.minor the request's OpaqueData
    offers (None when it carries no OpaqueData); `general` is its table format."""
    if not opaque:
        return None
    try:
        offered = secured_message_versions(decode_opaque(opaque, general=general))
    except DecodeError as error:
        raise invalid_request(f"OpaqueData: {error}") from None
    common = [v for v in ours if has_secured_message_version(offered, v)]
    if not common:
        listed = ", ".join(f"0x{v:04x}" for v in offered)
        raise invalid_request(f"no common secured-message version: the requester offers {listed}")
    return max(common)


def _decrypt_error(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.DecryptError, reason)


_Handler = Callable[
    ["SessionTable", Message, bytes, "Session | None", "Connection | None", ConnectionTranscript], bytes
]


class SessionTable:
    """The responder's live sessions by SessionID, and the handlers of every session request."""

    def __init__(self, config: ResponderConfig) -> None:
        self.config = config
        self._sessions: dict[int, Session] = {}
        self._version_selections = {
            (v, general): version_selection_opaque(v, general=general)
            for v in config.secured_message_versions
            for general in (False, True)
        }
        """The OpaqueData that selects each secured-message version we offer, in each table format
        (`Negotiated.general_opaque_data`): the same bytes every handshake."""

    # --- the table -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(tuple(self._sessions.values()))

    def get(self, session_id: int) -> Session | None:
        return self._sessions.get(session_id)

    def states(self) -> Mapping[int, SessionState]:
        """Where each live session (handshaking or established) stands, by SessionID."""
        return MappingProxyType({session_id: s.state for session_id, s in self._sessions.items()})

    def clear(self) -> None:
        """GET_VERSION: every session of the connection is gone."""
        self._sessions.clear()

    def clear_handshake_session(self) -> Session | None:
        """The latest session whose handshake is in the clear and not finished (libspdm's latest_session_id)."""
        for session in reversed(self._sessions.values()):
            if session.in_the_clear and session.handshaking:
                return session
        return None

    def after_response(self, session: Session) -> None:
        """What happens once the answer is out: the session ends, or its data keys take over."""
        if session.state is SessionState.ENDED:
            self._sessions.pop(session.session_id, None)
        elif session.enter_data_phase:
            session.switch_to_data_keys()

    # --- secured messages ------------------------------------------------------------------

    def open_record(self, record: bytes, session_id: int) -> tuple[Session, bytes]:
        """The session of a secured record and its SPDM message; a ProtocolError (answered in the clear) if none.

        A record is not refused for its size: the message it carries is, once opened, by
        `limits.max_request_bytes` with a sealed InvalidRequest like any other refusal in the session. A
        clear answer to an authentic record would leave the requester, which takes only InvalidSession
        and DecryptError in the clear, dropping a session the responder keeps (libspdm answers no
        record in the clear with anything else: libspdm_rsp_receive_send.c)."""
        try:
            record_id = session_id_of(record)
        except DecodeError as error:
            raise ProtocolError(ErrorCode.InvalidSession, str(error)) from None
        if record_id != session_id:
            raise ProtocolError(
                ErrorCode.InvalidSession, f"the record names session 0x{record_id:08x}, not 0x{session_id:08x}"
            )
        session = self._sessions.get(session_id)
        if session is None:
            raise ProtocolError(ErrorCode.InvalidSession, f"no session 0x{session_id:08x}")
        try:
            message = session.open(record)
        except (DecodeError, VerificationError, ProtocolError) as error:
            # the session ends with DecryptError, on both sides (libspdm_rsp_receive_send.c frees it, and
            # a requester that receives DecryptError drops its own: libspdm_req_handle_error_response.c)
            self._sessions.pop(session_id, None)
            raise _decrypt_error(f"session 0x{session_id:08x}: {error}") from None
        return session, message

    def seal(self, session: Session, response: bytes) -> bytes:
        """The answer as a record of `session`; then `after_response`."""
        try:
            sealed = session.channel.response.seal(response)
        except SpdmError as error:
            # Only the 2^64 sequence-number limit gets here: the session cannot answer any more.
            self._sessions.pop(session.session_id, None)
            raise ProtocolError(ErrorCode.Unspecified, f"session 0x{session.session_id:08x} ended: {error}") from None
        self.after_response(session)
        return sealed

    # --- the session requests ----------------------------------------------------------------

    def serve(
        self,
        code: Code,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        """The response to a session request (one of `SESSION_REQUESTS`) that passed the responder's
        header and permission checks; `session` is the one it came in (None for KEY_EXCHANGE and
        PSK_EXCHANGE), `connection` what VCA settled and `transcript` the connection's."""
        return _HANDLERS[code](self, message, request, session, connection, transcript)

    # --- helpers -------------------------------------------------------------------------------

    def _session_terms(self, connection: Connection | None) -> tuple[Connection, SessionTerms]:
        """The connection and what its sessions share; a connection that can hold none refuses the request."""
        if connection is None:
            raise unexpected("no hash algorithm was negotiated")
        # No terms were settled with the algorithms: working them out again raises why.
        terms = connection.sessions or session_terms(
            connection.negotiated, connection.hash, self.config.heartbeat_period, self.config.psks
        )
        return connection, terms

    def _session_summary(self, connection: Connection, suite: HashSuite, summary_type: int) -> bytes | None:
        """The MeasurementSummaryHash of KEY_EXCHANGE_RSP / PSK_EXCHANGE_RSP."""
        return measurement_summary(self.config.measurements, connection.negotiated, summary_type, suite.digest)

    def _allocate_session_id(self, req_session_id: int) -> int:
        """SessionID = RspSessionID << 16 | ReqSessionID, with libspdm's RspSessionIDs: 0xFFFF, 0xFFFE, ..."""
        limit = self.config.limits.max_sessions
        if len(self._sessions) >= limit:
            raise ProtocolError(ErrorCode.SessionLimitExceeded, f"{len(self._sessions)} sessions are open already")
        used = {session_id_halves(session_id)[0] for session_id in self._sessions}
        for index in range(limit):
            rsp_session_id = _MAX_RSP_SESSION_ID - index
            if rsp_session_id not in used:
                return joined_session_id(rsp_session_id, req_session_id)
        raise ProtocolError(ErrorCode.SessionLimitExceeded, "no free RspSessionID")

    def _dhe_key(self, suite: DheSuite) -> DhePrivateKey:
        value = self.config.dhe_private_value
        if value is None:
            return suite.generate()
        try:
            return suite.from_private_value(value(suite))
        except ValueError as error:
            raise ProtocolError(ErrorCode.Unspecified, f"the configured DHE private value: {error}") from None

    def _channel(self, terms: SessionTerms, session_id: int, handshake: HandshakeSecrets) -> SecuredSession:
        """The session's records; MCTP's random padding comes from the configured `random`, like every draw."""
        source = self.config.random
        return SecuredSession.from_keys(
            role="responder",
            session_id=session_id,
            aead=terms.aead,
            request=handshake.request,
            response=handshake.response,
            transport=self.config.secured_transport,
            encrypt=terms.encrypt,
            random=lambda size: random_bytes(source, size),
        )

    # --- KEY_EXCHANGE ----------------------------------------------------------------------

    def _key_exchange(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, KeyExchange)
        connection, terms = self._session_terms(connection)
        negotiated, suite = connection.negotiated, terms.hash
        asym = connection.asym
        if asym is None:
            raise invalid_request("no signature algorithm was negotiated")
        slot = ask.slot_id
        refuse_public_key_slot(slot)
        chain = connection.chains.get(slot)
        if chain is None:
            raise invalid_request(f"slot {slot} holds no certificate chain")
        check_key_usage(negotiated, self.config.slots[slot].key_usage, slot, KeyUsage.KEY_EXCHANGE)
        events = self._policy_events(ask, negotiated)
        summary = self._session_summary(connection, suite, ask.summary_hash_type)
        general = negotiated.general_opaque_data
        version = _select_secured_version(ask.opaque_data, self.config.secured_message_versions, general)
        session_id = self._allocate_session_id(ask.req_session_id)
        try:
            dhe = dhe_suite(negotiated.dhe_group)
        except NegotiationError:
            raise invalid_request("no DHE group was negotiated") from None
        private_key = self._dhe_key(dhe)
        try:
            shared_secret = dhe.shared_secret(private_key, ask.exchange_data)
        except VerificationError as error:  # libspdm_rsp_key_exchange.c: the DHE computation failed
            raise ProtocolError(ErrorCode.Unspecified, f"ExchangeData: {error}") from None
        mut_auth, req_slot_param, requester = self._mutual_auth_request(negotiated, suite)

        transcript.before_request(Code.KEY_EXCHANGE)
        unsigned = encode(
            KeyExchangeRsp(
                version=ask.version,
                heartbeat_period=terms.heartbeat_period,
                rsp_session_id=session_id_halves(session_id)[0],
                mut_auth_requested=mut_auth,
                req_slot_id_param=req_slot_param,
                random_data=random_bytes(self.config.random, RANDOM_SIZE),
                exchange_data=dhe.public_bytes(private_key),
                measurement_summary_hash=summary,
                opaque_data=b"" if version is None else self._version_selections[version, general],
                signature=b"",
                responder_verify_data=None,
            )
        )
        th = SessionTranscript(
            suite,
            transcript.key_exchange_hash(),
            responder_chain_hash=suite.digest(chain),
            spdm_version=negotiated.version,
        )
        th.add_exchange_request(request)
        schedule = KeySchedule(suite, terms.aead, shared_secret, spdm_version=negotiated.version)
        signing_key = self.config.slots[slot].private_key
        response, handshake = th.build_key_exchange_rsp(
            unsigned,
            sign=lambda digest: asym.sign(signing_key, digest, suite),
            schedule=schedule,
            verify_data=not terms.in_the_clear,
        )
        self._sessions[session_id] = Session(
            session_id=session_id,
            psk=False,
            in_the_clear=terms.in_the_clear,
            state=DHE_HANDSHAKE_START.get(mut_auth, SessionState.EXPECT_FINISH),
            # 0x04: the encapsulated GET_DIGESTS counts as asked, RequestID 0 (libspdm_init_mut_auth_encap_state)
            encapsulated=EncapsulatedFlow(request_id=0) if mut_auth == MutAuthRequest.WITH_GET_DIGESTS else None,
            schedule=schedule,
            handshake=handshake,
            transcript=th,
            connection_transcript=transcript,
            channel=self._channel(terms, session_id, handshake),
            heartbeat_period=terms.heartbeat_period,
            secured_message_version=version,
            mut_auth_requested=mut_auth,
            requester_slot=req_slot_param,
            requester_chain=None if requester is None else requester[0],
            requester_key=None if requester is None else requester[1],
            events=events,
        )
        if self.config.on_dhe_secret is not None:
            self.config.on_dhe_secret(session_id, shared_secret)
        return response

    def _policy_events(self, ask: KeyExchange, negotiated: Negotiated) -> SessionEvents:
        """The new session's events: subscribed to every supported event type under 1.3's EventAllPolicy,
        which a responder without EVENT_CAP refuses (libspdm_rsp_key_exchange.c; PSK_EXCHANGE's
        SessionPolicy subscribes to nothing there, libspdm_rsp_psk_exchange_rsp.c)."""
        events = SessionEvents()
        if asks_all_events(ask.version, ask.session_policy):
            if not negotiated.responder_has(F.EVENT_CAP):
                raise invalid_request("SessionPolicy EventAllPolicy, but this responder has no EVENT_CAP")
            events.subscribe(supported_types(self.config.event_groups))
        return events

    def _mutual_auth_request(
        self, negotiated: Negotiated, suite: HashSuite
    ) -> tuple[int, int, tuple[bytes, PublicKeyTypes] | None]:
        """(MutAuthRequested, SlotIDParam, the out-of-band CM and its leaf key) for a new handshake.

        Mutual authentication is asked only of a requester that offered it: MUT_AUTH_CAP on both
        sides (and ENCAP_CAP and the requester's CERT_CAP for the encapsulated flow), and a
        negotiated ReqBaseAsymAlg.
        """
        mode = self.config.mutual_auth
        if mode is None or not negotiated.both(F.MUT_AUTH_CAP) or not negotiated.req_base_asym_alg:
            return 0, 0, None
        if mode != "basic":
            if not negotiated.both(F.ENCAP_CAP) or not negotiated.requester_has(F.CERT_CAP):
                return 0, 0, None
            if mode == "digests":
                return MutAuthRequest.WITH_GET_DIGESTS, 0, None
            return MutAuthRequest.WITH_ENCAP_REQUEST, 0, None
        slot = self.config.requester_slot
        return MutAuthRequest.MUT_AUTH_REQUESTED, slot, self._known_requester_chain(negotiated, suite, slot)

    def _known_requester_chain(
        self, negotiated: Negotiated, suite: HashSuite, slot: int
    ) -> tuple[bytes, PublicKeyTypes]:
        """CM built from the configured requester certificates, validated when a trust anchor is configured."""
        certificates = self.config.requester_chain
        anchor = self.config.requester_trust_anchors.get(slot)
        root = anchor if anchor is not None and anchor != certificates[0] else None
        try:
            chain = CertChain.build(certificates, suite, root_certificate_der=root)
            req_asym = asym_suite(negotiated.req_base_asym_alg)
            if anchor is None:
                key: PublicKeyTypes = x509.load_der_x509_certificate(chain.leaf).public_key()
            else:
                key = self._verify_requester_chain(chain, anchor, suite, negotiated)
        except (SpdmError, ValueError) as error:
            raise ProtocolError(ErrorCode.Unspecified, f"the configured requester chain is unusable: {error}") from None
        if not req_asym.accepts(key):
            raise ProtocolError(ErrorCode.Unspecified, f"the requester's key cannot verify {req_asym.name}")
        return chain.to_bytes(), key

    def _verify_requester_chain(
        self, chain: CertChain, anchor: bytes, suite: HashSuite, negotiated: Negotiated
    ) -> PublicKeyTypes:
        verified = verify_chain(
            chain,
            trust_anchor=anchor,
            hash_suite=suite,
            asym_suite=asym_suite(negotiated.req_base_asym_alg),
            now=self.config.clock(),
            policy=ChainPolicy(expected_spdm_eku=SPDM_REQUESTER_AUTH_OID),
            version=negotiated.version,
        )
        return verified.leaf_public_key

    # --- PSK_EXCHANGE ----------------------------------------------------------------------

    def _psk_exchange(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, PskExchange)
        connection, terms = self._session_terms(connection)
        suite = terms.hash
        schedule = terms.psk_schedules.get(ask.psk_hint)
        if schedule is None:
            raise invalid_request(f"no pre-shared key for PSKHint {ask.psk_hint.hex() or '(none)'}")
        summary = self._session_summary(connection, suite, ask.summary_hash_type)
        general = connection.negotiated.general_opaque_data
        version = _select_secured_version(ask.opaque_data, self.config.secured_message_versions, general)
        session_id = self._allocate_session_id(ask.req_session_id)
        with_context = terms.psk_with_context

        transcript.before_request(Code.PSK_EXCHANGE)
        unsigned = encode(
            PskExchangeRsp(
                version=ask.version,
                heartbeat_period=terms.heartbeat_period,
                rsp_session_id=session_id_halves(session_id)[0],
                measurement_summary_hash=summary,
                responder_context=random_bytes(self.config.random, PSK_CONTEXT_SIZE) if with_context else b"",
                opaque_data=b"" if version is None else self._version_selections[version, general],
                responder_verify_data=b"",
            )
        )
        th = SessionTranscript.for_psk(suite, transcript.vca_hash())
        th.add_exchange_request(request)
        response, handshake = th.build_psk_exchange_rsp(unsigned, schedule=schedule)
        established = Session(
            session_id=session_id,
            psk=True,
            in_the_clear=False,
            state=SessionState.EXPECT_PSK_FINISH if with_context else SessionState.ESTABLISHED,
            schedule=schedule,
            handshake=handshake,
            transcript=th,
            connection_transcript=transcript,
            channel=self._channel(terms, session_id, handshake),
            heartbeat_period=terms.heartbeat_period,
            secured_message_version=version,
        )
        if th.mark_th2_after_psk_exchange(connection.negotiated.responder_flags) is not None:
            # PSK_CAP 01b: no PSK_FINISH; the session is established with TH2 = TH1 || verify data.
            established.derive_data_keys()
            established.switch_to_data_keys()
        self._sessions[session_id] = established
        return response

    # --- FINISH and PSK_FINISH -------------------------------------------------------------

    def _finish(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, Finish)
        if session is None:
            raise unexpected("FINISH outside a session")
        mismatch = ask.signature_mismatch(session.mut_auth_requested)
        if mismatch is not None:
            raise invalid_request(f"FINISH {mismatch}")
        suite = session.transcript.hash_suite
        th = session.transcript.copy()  # kept only once FINISH verifies
        signer: tuple[PublicKeyTypes, int] | None = None  # the requester's key and ReqBaseAsymAlg
        if session.mut_auth_requested:
            if ask.req_slot_id != session.requester_slot:
                raise invalid_request(f"FINISH names requester slot {ask.req_slot_id}, not {session.requester_slot}")
            chain, key = session.requester_chain, session.requester_key
            if chain is None or key is None or connection is None:
                # the encapsulated flow ended without it; libspdm_rsp_finish_rsp.c then fails to verify
                raise _decrypt_error("the FINISH signature cannot be verified: the requester's chain is not known")
            th.add_requester_chain_hash(suite.digest(chain), requester_digests=session.requester_digests)
            signer = key, connection.negotiated.req_base_asym_alg
        digests = th.add_finish(request, ask)
        if signer is not None:
            key, algorithm = signer
            try:
                if digests.signed is None:  # add_finish covers a signed FINISH, and one is required here
                    raise VerificationError("FINISH carries no signature")
                asym_suite(algorithm).verify(key, digests.signed, ask.signature or b"", suite)
            except (VerificationError, NegotiationError) as error:
                raise _decrypt_error(f"the FINISH signature does not verify: {error}") from None
        try:
            session.schedule.check_verify_data(
                session.handshake.request_finished_key, digests.verify_digest, ask.requester_verify_data
            )
        except VerificationError as error:
            raise _decrypt_error(f"FINISH: {error}") from None
        session.transcript = th
        header = encode(FinishRsp(version=ask.version, responder_verify_data=None))
        finished_key = session.handshake.response_finished_key if session.in_the_clear else None
        response = th.build_finish_rsp(header, finished_key=finished_key)
        session.derive_data_keys()
        return response

    def _psk_finish(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, PskFinish)
        if session is None:
            raise unexpected("PSK_FINISH outside a session")
        th = session.transcript.copy()  # kept only once PSK_FINISH verifies
        digests = th.add_psk_finish(request, ask)
        try:
            session.schedule.check_verify_data(
                session.handshake.request_finished_key, digests.verify_digest, ask.requester_verify_data
            )
        except VerificationError as error:
            raise _decrypt_error(f"PSK_FINISH: {error}") from None
        session.transcript = th
        response = th.build_finish_rsp(encode(PskFinishRsp(version=ask.version)))
        session.derive_data_keys()
        return response

    # --- the encapsulated mutual-authentication flow --------------------------------------

    def _get_encapsulated_request(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, GetEncapsulatedRequest)
        if session is None:
            raise unexpected("GET_ENCAPSULATED_REQUEST with no encapsulated request pending")
        if session.state is SessionState.ESTABLISHED:
            return self._send_event(ask, session, connection)
        flow = EncapsulatedFlow(request_id=1)
        session.encapsulated = flow
        embedded = encode(GetDigests(version=ask.version))
        return encode(EncapsulatedRequest(version=ask.version, request_id=flow.request_id, payload=embedded))

    def _deliver_encapsulated_response(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, DeliverEncapsulatedResponse)
        if session is not None and connection is not None and session.state is SessionState.EXPECT_EVENT_ACK:
            return self._event_ack(ask, session, connection.negotiated)
        flow = None if session is None else session.encapsulated
        if session is None or flow is None or connection is None:
            raise unexpected("DELIVER_ENCAPSULATED_RESPONSE with no encapsulated request pending")
        check_request_id(ask, flow.request_id, "encapsulated request")
        # In the clear, the DOE object's DW padding ends the carrier and so the embedded response.
        padding = self.config.max_padding if session.in_the_clear else 0
        inner, exact = embedded_response(ask, connection.negotiated, padding)
        if ends_encapsulated_flow(inner):
            # Ended without the requester's chain: FINISH then has no key to verify (DecryptError in `_finish`).
            session.encapsulated = None
            session.chosen = SessionState.EXPECT_FINISH
            return response_ack(ask)
        if isinstance(inner, ErrorResponse):
            code = inner.error_code
            raise invalid_response(f"the requester answered the encapsulated request with ERROR 0x{code:02x}")
        if flow.expecting == "digests":
            self._after_digests(flow, inner)
            session.requester_digests = message_d(
                session.requester_digests, exact, multi_key=connection.negotiated.requester_multi_key
            )
        elif self._after_certificate(flow, inner, session, connection.negotiated):
            # The chain is in and valid: the flow is done (REQ_SLOT_NUMBER names a slot other than 0, as libspdm).
            session.encapsulated = None
            session.chosen = SessionState.EXPECT_FINISH
            if session.requester_slot:
                return response_ack(ask, 0, PayloadType.REQ_SLOT_NUMBER, bytes([session.requester_slot]))
            return response_ack(ask)
        if flow.portions is None:
            raise SpdmError("the encapsulated flow reads no chain")
        flow.asked = GetCertificate(
            version=ask.version, slot_param=flow.slot, offset=flow.portions.offset, length=DEFAULT_CERTIFICATE_PORTION
        )
        return response_ack(ask, flow.next_request_id(), PayloadType.PRESENT, encode(flow.asked))

    def _after_digests(self, flow: EncapsulatedFlow, inner: Message) -> None:
        """The requester's DIGESTS: the slot to read next (the configured one when listed, else the first)."""
        if not isinstance(inner, Digests):
            raise invalid_response(f"{inner.name} answers the encapsulated GET_DIGESTS")
        check_slot_masks(inner)  # libspdm_rsp_encap_get_digests.c, as our requester checks a responder's
        digests = inner.by_slot()
        if not digests:
            raise invalid_response("the requester's DIGESTS lists no certificate slot")
        slot = self.config.requester_slot if self.config.requester_slot in digests else min(digests)
        flow.expecting, flow.slot, flow.digest = "certificate", slot, digests[slot]
        models = dict(zip(digests, inner.certificate_infos or (), strict=False))
        flow.cert_model = models[slot] & CERT_MODEL_MASK if slot in models else None
        flow.portions = ChainPortions(slot, max_size=self.config.limits.max_chain_bytes)

    def _after_certificate(
        self, flow: EncapsulatedFlow, inner: Message, session: Session, negotiated: Negotiated
    ) -> bool:
        """A CERTIFICATE portion taken; True once the chain is complete and valid (the session then has CM)."""
        if not isinstance(inner, Certificate):
            raise invalid_response(f"{inner.name} answers the encapsulated GET_CERTIFICATE")
        if flow.portions is None or flow.asked is None:
            raise SpdmError("the encapsulated flow reads no chain")
        if inner.version >= 0x13:  # the requester's model, as a requester checks a responder's
            try:
                check_certificate_info(inner, negotiated.requester_multi_key, flow.cert_model)
            except ProtocolError as error:
                raise invalid_response(f"the requester's {error}") from None
        try:
            chain = flow.portions.add(flow.asked, inner)
        except ValueError as error:
            raise invalid_response(f"the requester's CERTIFICATE: {error}") from None
        if chain is None:
            return False
        suite = session.transcript.hash_suite
        if not hmac.compare_digest(suite.digest(chain), flow.digest):
            raise invalid_response(f"the chain of slot {flow.slot} does not match its digest in DIGESTS")
        try:
            parsed = CertChain.from_bytes(chain, suite.size)
            anchor = self._requester_anchor(parsed, flow.slot, suite)
            key = self._verify_requester_chain(parsed, anchor, suite, negotiated)
        except (SpdmError, ValueError) as error:
            raise invalid_response(f"the requester's chain does not validate: {error}") from None
        session.requester_chain = chain
        session.requester_key = key
        session.requester_slot = flow.slot
        return True

    def _requester_anchor(self, chain: CertChain, slot: int, suite: HashSuite) -> bytes:
        """The trust anchor of the requester's slot, else any configured one whose hash is the chain's RootHash."""
        anchors = self.config.requester_trust_anchors
        if slot in anchors:
            return anchors[slot]
        for anchor in anchors.values():
            if hmac.compare_digest(suite.digest(anchor), chain.root_hash):
                return anchor
        raise VerificationError(f"no trust anchor is configured for requester slot {slot}")

    # --- events (SPDM 1.3; the rules are spdm.events', the queue spdm.responder.events') -----

    def _supported_event_types(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, GetSupportedEventTypes)
        return supported_event_types(self.config.event_groups, ask.version)

    def _subscribe_event_types(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, SubscribeEventTypes)
        if session is None:
            raise unexpected("SUBSCRIBE_EVENT_TYPES outside a session")
        return subscribe(session.events, self.config.event_groups, ask)

    def _send_event(self, ask: GetEncapsulatedRequest, session: Session, connection: Connection | None) -> bytes:
        """The waiting events as an encapsulated SEND_EVENT, as many as the requester takes; none
        waiting is NoPendingRequests (UnexpectedRequest before 1.3, as libspdm_rsp_encap_response.c answers)."""
        room = None if connection is None else send_event_room(connection.negotiated)
        request = session.events.send_event(ask.version, room)
        if request is None:
            raise nothing_pending(ask.version, "no event or request is pending")
        return request

    def _event_ack(self, ask: DeliverEncapsulatedResponse, session: Session, negotiated: Negotiated) -> bytes:
        """EVENT_ACK delivers the SEND_EVENT's events; an ERROR leaves them waiting. Either ends the flow."""
        events = session.events
        check_request_id(ask, events.request_id, "SEND_EVENT")
        inner, _ = embedded_response(ask, negotiated, 0)  # inside the session: no transport padding
        if isinstance(inner, EventAck):
            events.acknowledged()
        elif isinstance(inner, ErrorResponse):
            events.refused()
        else:
            raise invalid_response(f"{inner.name} answers SEND_EVENT")
        return response_ack(ask)

    def raise_event(
        self, group: tuple[int, bytes], event_type_id: int, detail: bytes, session_id: int | None
    ) -> dict[int, int]:
        """Queue an event in each established session subscribed to it (`session_id`: that one only);
        the EventInstanceID it got in each, by SessionID."""
        queued: dict[int, int] = {}
        for session in self:
            if session_id is not None and session.session_id != session_id:
                continue
            if session.state in (SessionState.ESTABLISHED, SessionState.EXPECT_EVENT_ACK):
                instance_id = session.events.queue(group, event_type_id, detail)
                if instance_id is not None:
                    queued[session.session_id] = instance_id
        return queued

    # --- in-session control ---------------------------------------------------------------

    def _heartbeat(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, Heartbeat)
        if session is None or not session.heartbeat_period:
            raise unexpected("no heartbeat period was agreed for this session")
        return encode(HeartbeatAck(version=ask.version))

    def _key_update(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        """The answerer's step (`answer_key_update`); the keys change as `AnsweredKeyUpdate` says
        (UpdateAllKeys: the ACK already goes under the new response key)."""
        ask = expect(message, KeyUpdate)
        if session is None:
            raise unexpected("KEY_UPDATE outside a session")
        session.key_update = answer_key_update(session.channel, session.schedule, session.key_update, ask.operation)
        return encode(KeyUpdateAck(version=ask.version, operation=ask.operation, tag=ask.tag))

    def _end_session(
        self,
        message: Message,
        request: bytes,
        session: Session | None,
        connection: Connection | None,
        transcript: ConnectionTranscript,
    ) -> bytes:
        ask = expect(message, EndSession)
        if session is None:
            raise unexpected("END_SESSION outside a session")
        return encode(EndSessionAck(version=ask.version))


_HANDLERS: Mapping[Code, _Handler] = {
    Code.KEY_EXCHANGE: SessionTable._key_exchange,
    Code.FINISH: SessionTable._finish,
    Code.PSK_EXCHANGE: SessionTable._psk_exchange,
    Code.PSK_FINISH: SessionTable._psk_finish,
    Code.GET_ENCAPSULATED_REQUEST: SessionTable._get_encapsulated_request,
    Code.DELIVER_ENCAPSULATED_RESPONSE: SessionTable._deliver_encapsulated_response,
    Code.HEARTBEAT: SessionTable._heartbeat,
    Code.KEY_UPDATE: SessionTable._key_update,
    Code.END_SESSION: SessionTable._end_session,
    Code.GET_SUPPORTED_EVENT_TYPES: SessionTable._supported_event_types,
    Code.SUBSCRIBE_EVENT_TYPES: SessionTable._subscribe_event_types,
}

SESSION_REQUESTS: frozenset[Code] = frozenset(_HANDLERS)
"""The requests `SessionTable.serve` answers; the responder serves every other one itself."""
