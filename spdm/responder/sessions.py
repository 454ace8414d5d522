"""The session half of the responder: handshakes, secured messages and in-session control.

`SessionHandlers` is mixed into `spdm.responder.Responder`; it holds the handlers of
KEY_EXCHANGE/FINISH, PSK_EXCHANGE/PSK_FINISH, the encapsulated mutual-authentication flow,
HEARTBEAT, KEY_UPDATE and END_SESSION, and the two ends of every secured message: `_secured`
opens a record and `_seal` closes the answer. One `Session` per live SessionID holds what
libspdm keeps per session: the key schedule, the transcript (TH1, TH2), the per-direction AEAD
contexts, the session's own measurement transcript (L1/L2) and its state.

The order of operations follows libspdm (and `spdm.verify.sessions`, which was proven against
every libspdm session capture):

* KEY_EXCHANGE_RSP is signed over A || Hash(Ct) || K up to OpaqueData; TH1 follows the signature;
  ResponderVerifyData (absent when the handshake is in the clear) is HMAC(rsp finished key, TH1).
* Under MutAuthRequested 0x02 the encapsulated GET_DIGESTS / GET_CERTIFICATE run under the
  handshake keys; they enter no transcript, only Hash(CM) does, before FINISH.
* FINISH, FINISH_RSP and PSK_FINISH(_RSP) travel under the handshake keys (or in the clear), and
  the data keys (from TH2) take over once FINISH_RSP / PSK_FINISH_RSP is out.
* KEY_UPDATE UpdateKey derives the next request key at once and keeps the old one as a fallback
  until VerifyNewKey; UpdateAllKeys also replaces the response key before the ACK is sealed, so
  the ACK travels under the new response key.

A record that does not open (unknown session, framing, stale or replayed sequence number, bad
tag) is answered in the clear (ERROR InvalidSession or DecryptError) and changes nothing: no
sequence number moves, no session ends. A refused request inside a session is answered inside
it, under the session's current response key.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from spdm.certs import SPDM_REQUESTER_AUTH_OID, CertChain, ChainPolicy, verify_chain
from spdm.crypto import DhePrivateKey, DheSuite, HashSuite, asym_suite, dhe_suite
from spdm.errors import DecodeError, NegotiationError, ProtocolError, SpdmError, VerificationError
from spdm.measurements import summary_hash
from spdm.messages import Message, decode_prefix, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.codes import (
    CapabilityFlags,
    Code,
    ErrorCode,
    KeyUpdateOperation,
    MutAuthRequest,
    SummaryHashType,
)
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
)
from spdm.messages.error import ErrorResponse
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchange, KeyExchangeRsp
from spdm.messages.opaque import decode_opaque, secured_message_versions, version_selection_opaque
from spdm.messages.psk import PskExchange, PskExchangeRsp, PskFinish, PskFinishRsp
from spdm.messages.session_control import EndSession, EndSessionAck, Heartbeat, HeartbeatAck, KeyUpdate, KeyUpdateAck
from spdm.negotiated import Negotiated
from spdm.responder._common import Connection, SessionTerms, expect, invalid, session_terms, unexpected
from spdm.responder.config import ResponderConfig
from spdm.responder.state import SessionState
from spdm.session.keys import DataSecrets, HandshakeSecrets, KeySchedule
from spdm.session.secured import DirectionState, SecuredSession, session_id_of
from spdm.session.transcript import SessionTranscript
from spdm.transcript import ConnectionTranscript

__all__ = ["EncapsulatedFlow", "Session", "SessionHandlers"]

F = CapabilityFlags

_RANDOM_SIZE = 32
_PSK_CONTEXT_SIZE = 64  # libspdm's LIBSPDM_PSK_CONTEXT_LENGTH
_PUBLIC_KEY_SLOT = 0xFF
_MAX_RSP_SESSION_ID = 0xFFFF
_ENCAP_CERTIFICATE_LENGTH = 0x400  # libspdm's default certificate block
_RECORD_OVERHEAD = 64  # header, sequence number, AppDataLength, MCTP type, random padding, MAC
_HEADER_SIZE = 4
_PAYLOAD_PRESENT = 1
_PAYLOAD_REQ_SLOT = 2
# Read per session, as plain values: an enum member read is a descriptor call.
_PSK_EXCHANGE = int(Code.PSK_EXCHANGE)
_NO_SUMMARY = int(SummaryHashType.NONE)
_ENDED = SessionState.ENDED


@dataclass(frozen=True, slots=True, kw_only=True)
class EncapsulatedFlow:
    """Where the encapsulated GET_DIGESTS / GET_CERTIFICATE flow of one handshake stands.

    `request_id` is the RequestID of the request the requester must answer next; `expecting`
    what that request was; `slot`, `digest` the requester slot being fetched and its digest from
    DIGESTS; `chain` the bytes of the chain so far and `total` its length as CERTIFICATE announced.
    """

    request_id: int
    expecting: Literal["digests", "certificate"] = "digests"
    slot: int = 0
    digest: bytes = b""
    chain: bytes = b""
    total: int | None = None


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
    channel: SecuredSession
    heartbeat_period: int
    secured_message_version: int | None
    mut_auth: int = 0
    req_slot_id: int = 0
    requester_chain: bytes | None = None
    """CM: the requester's chain in SPDM slot format, once known (mutual authentication)."""
    requester_key: PublicKeyTypes | None = None
    encapsulated: EncapsulatedFlow | None = None
    data: DataSecrets | None = None
    enter_data_phase: bool = False
    """Set by FINISH / PSK_FINISH: the data keys take over once the response is out."""
    update: int | None = None
    """The KEY_UPDATE operation awaiting VerifyNewKey (its old request key is `request_backup`)."""
    request_backup: DirectionState | None = None
    chosen: SessionState | None = None
    """The state a handler chose among the ones its transition allows (None: the usual one)."""
    measurements: ConnectionTranscript | None = None
    """The session's own L1/L2 (only its M part is used), from its first GET_MEASUREMENTS on: until
    then there is nothing for a request or an ERROR to restart."""

    @property
    def handshaking(self) -> bool:
        return self.state not in (SessionState.ESTABLISHED, SessionState.ENDED)

    def open(self, record: bytes) -> bytes:
        """The SPDM message of a record from the requester; raises (and changes nothing) when it does not open.

        While a KEY_UPDATE awaits VerifyNewKey, a record under the old request key still opens (the
        requester may not have seen the ACK); the update then stays pending and the new key starts
        again at sequence number 0, as libspdm rolls back and re-creates it.
        """
        channel = self.channel
        try:
            return channel.request.open(record)
        except VerificationError:
            backup = self.request_backup
            if backup is None:
                raise
        message = backup.open(record)
        keys = channel.request.keys
        if keys is not None:
            channel.request = channel.request.rekeyed(keys)
        return message

    def measurement_transcript(self) -> ConnectionTranscript:
        """`measurements`, made when GET_MEASUREMENTS first needs it."""
        if self.measurements is None:
            self.measurements = ConnectionTranscript()
            self.measurements.set_hash(self.transcript.hash_suite.new)
        return self.measurements

    def switch_to_data_keys(self) -> None:
        data = self.data
        if data is None:
            raise SpdmError("no data keys to switch to")
        self.channel.rekey(data.request, data.response)
        self.enter_data_phase = False


@functools.lru_cache(maxsize=16)
def _select_secured_version(opaque: bytes, ours: tuple[int, ...]) -> int:
    """The highest of `ours` whose major.minor the request's OpaqueData offers, worked out once per
    distinct OpaqueData and configuration (a requester sends the same bytes every handshake; a
    decode error or a refusal is raised again each time, never cached)."""
    try:
        offered = secured_message_versions(decode_opaque(opaque))
    except DecodeError as error:
        raise invalid(f"OpaqueData: {error}") from None
    common = [v for v in ours if any(v >> 8 == o >> 8 for o in offered)]
    if not common:
        listed = ", ".join(f"0x{v:04x}" for v in offered)
        raise invalid(f"no common secured-message version: the requester offers {listed}")
    return max(common)


@functools.lru_cache(maxsize=32)
def _header_only(cls: type[PskFinishRsp | HeartbeatAck | EndSessionAck], version: int) -> bytes:
    """A response that is its header alone: the same bytes for every session of a version, encoded once."""
    return encode(cls(version=version))


def _fail_response(reason: str) -> ProtocolError:
    """A bad encapsulated response: the requester answered the encapsulated request wrongly."""
    return ProtocolError(ErrorCode.InvalidResponseCode, reason)


def _decrypt_error(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.DecryptError, reason)


class SessionHandlers:
    """The session half of `spdm.responder.Responder` (a mixin over the connection half's state)."""

    config: ResponderConfig
    transcript: ConnectionTranscript
    _connection: Connection | None
    _sessions: dict[int, Session]

    # --- shared helpers --------------------------------------------------------------------

    def _random(self, size: int) -> bytes:
        data = bytes(self.config.random(size))
        if len(data) != size:
            raise ProtocolError(ErrorCode.Unspecified, f"the random source gave {len(data)} bytes, not {size}")
        return data

    def _session_terms(self) -> tuple[Connection, SessionTerms]:
        """The connection and what its sessions share; a connection that can hold none refuses the request."""
        connection = self._connection
        if connection is None:
            raise unexpected("no hash algorithm was negotiated")
        # No terms were settled with the algorithms: working them out again raises why.
        terms = connection.sessions or session_terms(
            connection.negotiated, connection.hash, self.config.heartbeat_period
        )
        return connection, terms

    def _session_summary(self, connection: Connection, suite: HashSuite, summary_type: int) -> bytes | None:
        """The MeasurementSummaryHash of KEY_EXCHANGE_RSP / PSK_EXCHANGE_RSP (libspdm's checks)."""
        if summary_type == _NO_SUMMARY:
            return None
        if summary_type not in (SummaryHashType.TCB, SummaryHashType.ALL):
            raise invalid(f"MeasurementSummaryHashType 0x{summary_type:02x} is reserved")
        negotiated = connection.negotiated
        provider = self.config.measurements
        if (
            provider is None
            or not negotiated.responder_measurement_cap
            or not negotiated.measurement_hash_algo
            or not negotiated.measurement_specification
        ):
            raise invalid("a measurement summary hash was asked of a device without measurements")
        return summary_hash(provider, summary_type, suite.digest)

    def _selected_secured_version(self, opaque: bytes) -> int | None:
        """The DSP0277 version to select from the request's OpaqueData (None when it carries none)."""
        if not opaque:
            return None
        return _select_secured_version(bytes(opaque), tuple(self.config.secured_message_versions))

    def _allocate_session_id(self, req_session_id: int) -> int:
        """SessionID = RspSessionID << 16 | ReqSessionID, with libspdm's RspSessionIDs: 0xFFFF, 0xFFFE, ..."""
        if len(self._sessions) >= self.config.limits.max_sessions:
            raise ProtocolError(ErrorCode.SessionLimitExceeded, f"{len(self._sessions)} sessions are open already")
        used = {session_id >> 16 for session_id in self._sessions} if self._sessions else ()
        for index in range(self.config.limits.max_sessions):
            rsp_session_id = _MAX_RSP_SESSION_ID - index
            if rsp_session_id not in used:
                return rsp_session_id << 16 | req_session_id
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
        return SecuredSession.from_keys(
            role="responder",
            session_id=session_id,
            aead=terms.aead,
            request=handshake.request,
            response=handshake.response,
            transport=self.config.secured_transport,
            encrypt=terms.encrypt,
        )

    def _clear_handshake_session(self) -> Session | None:
        """The latest session whose handshake is in the clear and not finished (libspdm's latest_session_id)."""
        for session in reversed(self._sessions.values()):
            if session.in_the_clear and session.handshaking:
                return session
        return None

    def _after_response(self, session: Session) -> None:
        """What happens once the answer is out: the session ends, or its data keys take over."""
        if session.state is _ENDED:
            self._sessions.pop(session.session_id, None)
        elif session.enter_data_phase:
            session.switch_to_data_keys()

    # --- secured messages ------------------------------------------------------------------

    def _open_record(self, record: bytes, session_id: int) -> tuple[Session, bytes]:
        """The session of a secured record and its SPDM message; a ProtocolError (answered in the clear) if none."""
        if len(record) > self.config.limits.max_request_bytes + _RECORD_OVERHEAD:
            raise invalid(f"a {len(record)}-byte secured message is over the limit")
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
            raise _decrypt_error(f"session 0x{session_id:08x}: {error}") from None
        return session, message

    def _seal(self, session: Session, response: bytes) -> bytes:
        try:
            sealed = session.channel.response.seal(response)
        except SpdmError as error:
            # Only the 2^64 sequence-number limit gets here: the session cannot answer any more.
            self._sessions.pop(session.session_id, None)
            raise ProtocolError(ErrorCode.Unspecified, f"session 0x{session.session_id:08x} ended: {error}") from None
        self._after_response(session)
        return sealed

    # --- KEY_EXCHANGE ----------------------------------------------------------------------

    def _key_exchange(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, KeyExchange)
        connection, terms = self._session_terms()
        negotiated, suite = connection.negotiated, terms.hash
        asym = connection.asym
        if asym is None:
            raise invalid("no signature algorithm was negotiated")
        slot = ask.slot_id
        if slot == _PUBLIC_KEY_SLOT:
            raise invalid("slot 0xFF: no pre-provisioned public key (PUB_KEY_ID_CAP)")
        chain = connection.chains.get(slot)
        if chain is None:
            raise invalid(f"slot {slot} holds no certificate chain")
        summary = self._session_summary(connection, suite, ask.summary_hash_type)
        version = self._selected_secured_version(ask.opaque_data)
        session_id = self._allocate_session_id(ask.req_session_id)
        try:
            dhe = dhe_suite(negotiated.dhe_group)
        except NegotiationError:
            raise invalid("no DHE group was negotiated") from None
        private_key = self._dhe_key(dhe)
        try:
            shared_secret = dhe.shared_secret(private_key, ask.exchange_data)
        except VerificationError as error:
            raise invalid(f"ExchangeData: {error}") from None
        mut_auth, req_slot_param, requester = self._mutual_auth_request(negotiated, suite)
        in_the_clear = terms.in_the_clear

        self.transcript.before_request(Code.KEY_EXCHANGE)
        unsigned = encode(
            KeyExchangeRsp(
                version=ask.version,
                heartbeat_period=terms.heartbeat_period,
                rsp_session_id=session_id >> 16,
                mut_auth_requested=mut_auth,
                req_slot_id_param=req_slot_param,
                random_data=self._random(_RANDOM_SIZE),
                exchange_data=dhe.public_bytes(private_key),
                measurement_summary_hash=summary,
                opaque_data=b"" if version is None else version_selection_opaque(version),
                signature=b"",
                responder_verify_data=None,
            )
        )
        transcript = SessionTranscript(suite, self.transcript.vca_hash(), responder_chain_hash=suite.digest(chain))
        transcript.add_exchange_request(request)
        signature = asym.sign(self.config.slots[slot].private_key, transcript.digest(unsigned), suite)
        transcript.append(unsigned, signature)
        th1 = transcript.mark_th1()
        schedule = KeySchedule(suite, terms.aead, shared_secret, spdm_version=negotiated.version)
        handshake = schedule.handshake(th1)
        response = unsigned + signature
        if not in_the_clear:
            verify = schedule.verify_data(handshake.response_finished_key, th1)
            transcript.append(verify)
            response += verify
        encapsulated = mut_auth == MutAuthRequest.WITH_ENCAP_REQUEST
        self._sessions[session_id] = Session(
            session_id=session_id,
            psk=False,
            in_the_clear=in_the_clear,
            state=SessionState.EXPECT_GET_ENCAPSULATED_REQUEST if encapsulated else SessionState.EXPECT_FINISH,
            schedule=schedule,
            handshake=handshake,
            transcript=transcript,
            channel=self._channel(terms, session_id, handshake),
            heartbeat_period=terms.heartbeat_period,
            secured_message_version=version,
            mut_auth=mut_auth,
            req_slot_id=req_slot_param,
            requester_chain=None if requester is None else requester[0],
            requester_key=None if requester is None else requester[1],
        )
        if self.config.on_dhe_secret is not None:
            self.config.on_dhe_secret(session_id, shared_secret)
        return response

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
        if mode == "encapsulated":
            if not negotiated.both(F.ENCAP_CAP) or not negotiated.requester_has(F.CERT_CAP):
                return 0, 0, None
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
        )
        return verified.leaf_public_key

    # --- PSK_EXCHANGE ----------------------------------------------------------------------

    def _psk_exchange(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, PskExchange)
        connection, terms = self._session_terms()
        suite = terms.hash
        psk = self.config.psk.get(ask.psk_hint)
        if psk is None:
            raise invalid(f"no pre-shared key for PSKHint {ask.psk_hint.hex() or '(none)'}")
        summary = self._session_summary(connection, suite, ask.summary_hash_type)
        version = self._selected_secured_version(ask.opaque_data)
        session_id = self._allocate_session_id(ask.req_session_id)
        with_context = terms.psk_with_context

        self.transcript.before_request(_PSK_EXCHANGE)
        unsigned = encode(
            PskExchangeRsp(
                version=ask.version,
                heartbeat_period=terms.heartbeat_period,
                rsp_session_id=session_id >> 16,
                measurement_summary_hash=summary,
                responder_context=self._random(_PSK_CONTEXT_SIZE) if with_context else b"",
                opaque_data=b"" if version is None else version_selection_opaque(version),
                responder_verify_data=b"",
            )
        )
        transcript = SessionTranscript(suite, self.transcript.vca_hash())  # PSK: no Hash(Ct)
        transcript.append(request, unsigned)
        th1 = transcript.mark_th1()
        schedule = KeySchedule(suite, terms.aead, psk, spdm_version=connection.negotiated.version)
        handshake = schedule.handshake(th1)
        verify = schedule.verify_data(handshake.response_finished_key, th1)
        transcript.append(verify)
        established = Session(
            session_id=session_id,
            psk=True,
            in_the_clear=False,
            state=SessionState.EXPECT_PSK_FINISH if with_context else SessionState.ESTABLISHED,
            schedule=schedule,
            handshake=handshake,
            transcript=transcript,
            channel=self._channel(terms, session_id, handshake),
            heartbeat_period=terms.heartbeat_period,
            secured_message_version=version,
        )
        if not with_context:
            # PSK_CAP 01b: no PSK_FINISH; the session is established with TH2 = TH1 || verify data.
            established.data = schedule.data(transcript.mark_th2())
            established.switch_to_data_keys()
        self._sessions[session_id] = established
        return unsigned + verify

    # --- FINISH and PSK_FINISH -------------------------------------------------------------

    def _finish(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, Finish)
        if session is None:
            raise unexpected("FINISH outside a session")
        if ask.signature_included != bool(session.mut_auth):
            raise invalid(
                f"FINISH SignatureIncluded={int(ask.signature_included)} but MutAuthRequested=0x{session.mut_auth:02x}"
            )
        suite = session.transcript.hash_suite
        header = request[:_HEADER_SIZE]
        signature = ask.signature or b""
        chain_hash = b""
        if session.mut_auth:
            if ask.req_slot_id != session.req_slot_id:
                raise invalid(f"FINISH names requester slot {ask.req_slot_id}, not {session.req_slot_id}")
            chain, key = session.requester_chain, session.requester_key
            connection = self._connection
            if chain is None or key is None or connection is None:
                raise unexpected("the requester's certificate chain is not known")
            chain_hash = suite.digest(chain)
            digest = session.transcript.digest(chain_hash, header)
            try:
                asym_suite(connection.negotiated.req_base_asym_alg).verify(key, digest, signature, suite)
            except (VerificationError, NegotiationError) as error:
                raise _decrypt_error(f"the FINISH signature does not verify: {error}") from None
        verify_digest = session.transcript.digest(chain_hash, header, signature)
        try:
            session.schedule.check_verify_data(
                session.handshake.request_finished_key, verify_digest, ask.requester_verify_data
            )
        except VerificationError as error:
            raise _decrypt_error(f"FINISH: {error}") from None

        if chain_hash:
            session.transcript.add_requester_chain_hash(chain_hash)
        session.transcript.append(request)
        response = encode(FinishRsp(version=ask.version, responder_verify_data=None))
        if session.in_the_clear:
            th = session.transcript.digest(response)
            response += session.schedule.verify_data(session.handshake.response_finished_key, th)
        session.transcript.append(response)
        session.data = session.schedule.data(session.transcript.mark_th2())
        session.enter_data_phase = True
        return response

    def _psk_finish(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, PskFinish)
        if session is None:
            raise unexpected("PSK_FINISH outside a session")
        transcript, schedule = session.transcript, session.schedule
        verify_digest = transcript.digest(request[:_HEADER_SIZE])
        try:
            schedule.check_verify_data(session.handshake.request_finished_key, verify_digest, ask.requester_verify_data)
        except VerificationError as error:
            raise _decrypt_error(f"PSK_FINISH: {error}") from None
        response = _header_only(PskFinishRsp, ask.version)
        transcript.append(request, response)
        session.data = schedule.data(transcript.mark_th2())
        session.enter_data_phase = True
        return response

    # --- the encapsulated mutual-authentication flow --------------------------------------

    def _get_encapsulated_request(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, GetEncapsulatedRequest)
        if session is None:
            raise unexpected("GET_ENCAPSULATED_REQUEST with no encapsulated request pending")
        flow = EncapsulatedFlow(request_id=1)
        session.encapsulated = flow
        embedded = encode(GetDigests(version=ask.version))
        return encode(EncapsulatedRequest(version=ask.version, request_id=flow.request_id, payload=embedded))

    def _deliver_encapsulated_response(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, DeliverEncapsulatedResponse)
        flow = None if session is None else session.encapsulated
        connection = self._connection
        if session is None or flow is None or connection is None:
            raise unexpected("DELIVER_ENCAPSULATED_RESPONSE with no encapsulated request pending")
        if ask.request_id != flow.request_id:
            raise invalid(f"RequestID {ask.request_id}, the pending encapsulated request is {flow.request_id}")
        # In the clear, the DOE object's DW padding ends the carrier and so the embedded response.
        padding = self.config.transport_padding if session.in_the_clear else 0
        inner = self._encapsulated_response(ask.payload, connection.negotiated, padding)
        version = ask.version
        next_flow: EncapsulatedFlow | None
        if flow.expecting == "digests":
            next_flow = self._after_digests(flow, inner)
        else:
            next_flow = self._after_certificate(flow, inner, session, connection.negotiated)
        if next_flow is None:
            # The chain is in and valid: the flow is done (PayloadType 2 names a slot other than 0, as libspdm).
            session.encapsulated = None
            session.chosen = SessionState.EXPECT_FINISH
            if session.req_slot_id:
                return encode(
                    EncapsulatedResponseAck(
                        version=version,
                        request_id=0,
                        payload_type=_PAYLOAD_REQ_SLOT,
                        payload=bytes([session.req_slot_id]),
                    )
                )
            return encode(EncapsulatedResponseAck(version=version, request_id=0))
        session.encapsulated = next_flow
        embedded = encode(
            GetCertificate(
                version=version,
                slot_param=next_flow.slot,
                offset=len(next_flow.chain),
                length=_ENCAP_CERTIFICATE_LENGTH,
            )
        )
        return encode(
            EncapsulatedResponseAck(
                version=version, request_id=next_flow.request_id, payload_type=_PAYLOAD_PRESENT, payload=embedded
            )
        )

    @staticmethod
    def _encapsulated_response(payload: bytes, negotiated: Negotiated, padding: int) -> Message:
        """The requester's embedded response: exactly one SPDM message of the negotiated version."""
        try:
            inner, size = decode_prefix(payload, negotiated.codec_context())
        except DecodeError as error:
            raise _fail_response(f"the encapsulated response does not decode: {error}") from None
        tail = payload[size:]
        if any(tail) or len(tail) > padding:
            raise _fail_response(f"{len(tail)} bytes follow the encapsulated {inner.name}")
        if isinstance(inner, ErrorResponse):
            raise _fail_response(f"the requester answered the encapsulated request with ERROR 0x{inner.error_code:02x}")
        if inner.version != negotiated.version:
            raise _fail_response(f"the encapsulated {inner.name} has version 0x{inner.version:02x}")
        return inner

    def _after_digests(self, flow: EncapsulatedFlow, inner: Message) -> EncapsulatedFlow:
        if not isinstance(inner, Digests):
            raise _fail_response(f"{inner.name} answers the encapsulated GET_DIGESTS")
        slots = [slot for slot in range(8) if inner.slot_mask >> slot & 1]
        if not slots or len(inner.digests) != len(slots):
            raise _fail_response("the requester's DIGESTS lists no certificate slot")
        digests = dict(zip(slots, inner.digests, strict=True))
        slot = self.config.requester_slot if self.config.requester_slot in digests else slots[0]
        return EncapsulatedFlow(
            request_id=(flow.request_id + 1) & 0xFF or 1, expecting="certificate", slot=slot, digest=digests[slot]
        )

    def _after_certificate(
        self, flow: EncapsulatedFlow, inner: Message, session: Session, negotiated: Negotiated
    ) -> EncapsulatedFlow | None:
        """The flow after a CERTIFICATE portion (None once the chain is complete and valid)."""
        if not isinstance(inner, Certificate):
            raise _fail_response(f"{inner.name} answers the encapsulated GET_CERTIFICATE")
        portion, remainder = inner.portion, inner.remainder_length
        if inner.slot_id != flow.slot:
            raise _fail_response(f"CERTIFICATE for slot {inner.slot_id}, slot {flow.slot} was asked for")
        if not 0 < len(portion) <= _ENCAP_CERTIFICATE_LENGTH:
            raise _fail_response(f"a {len(portion)}-byte portion for a {_ENCAP_CERTIFICATE_LENGTH}-byte request")
        chain = flow.chain + portion
        total = len(chain) + remainder
        if (flow.total is not None and total != flow.total) or total > self.config.limits.max_chain_bytes:
            raise _fail_response(f"the chain's length changes or is too long ({total} bytes)")
        if remainder:
            return dataclasses.replace(flow, request_id=(flow.request_id + 1) & 0xFF or 1, chain=chain, total=total)
        suite = session.transcript.hash_suite
        if not hmac.compare_digest(suite.digest(chain), flow.digest):
            raise _fail_response(f"the chain of slot {flow.slot} does not match its digest in DIGESTS")
        try:
            parsed = CertChain.from_bytes(chain, suite.size)
            anchor = self._requester_anchor(parsed, flow.slot, suite)
            key = self._verify_requester_chain(parsed, anchor, suite, negotiated)
        except (SpdmError, ValueError) as error:
            raise _fail_response(f"the requester's chain does not validate: {error}") from None
        session.requester_chain = chain
        session.requester_key = key
        session.req_slot_id = flow.slot
        return None

    def _requester_anchor(self, chain: CertChain, slot: int, suite: HashSuite) -> bytes:
        """The trust anchor of the requester's slot, else any configured one whose hash is the chain's RootHash."""
        anchors = self.config.requester_trust_anchors
        if slot in anchors:
            return anchors[slot]
        for anchor in anchors.values():
            if hmac.compare_digest(suite.digest(anchor), chain.root_hash):
                return anchor
        raise VerificationError(f"no trust anchor is configured for requester slot {slot}")

    # --- in-session control ---------------------------------------------------------------

    def _heartbeat(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, Heartbeat)
        if session is None or not session.heartbeat_period:
            raise unexpected("no heartbeat period was agreed for this session")
        return _header_only(HeartbeatAck, ask.version)

    def _key_update(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, KeyUpdate)
        if session is None:
            raise unexpected("KEY_UPDATE outside a session")
        operation = ask.operation
        channel, schedule = session.channel, session.schedule
        if operation in (KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS):
            if session.update is not None:
                raise invalid("a key update is already waiting for VerifyNewKey")
            request_keys, response_keys = channel.request.keys, channel.response.keys
            if request_keys is None or response_keys is None:
                raise SpdmError("the session's traffic keys are not known")
            new_request = schedule.update(request_keys)
            new_response = schedule.update(response_keys) if operation == KeyUpdateOperation.UPDATE_ALL_KEYS else None
            session.request_backup = channel.request
            channel.rekey_request(new_request)
            if new_response is not None:
                channel.rekey_response(new_response)  # the ACK already travels under the new response key
            session.update = operation
        elif operation == KeyUpdateOperation.VERIFY_NEW_KEY:
            if session.update is None:
                raise invalid("VerifyNewKey with no key update pending")
            session.request_backup = None
            session.update = None
        else:
            raise invalid(f"KeyOperation {operation} is reserved")
        return encode(KeyUpdateAck(version=ask.version, operation=operation, tag=ask.tag))

    def _end_session(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, EndSession)
        if session is None:
            raise unexpected("END_SESSION outside a session")
        return _header_only(EndSessionAck, ask.version)
