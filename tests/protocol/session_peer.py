"""A minimal requester side of SPDM 1.1 sessions, for responder tests, on `spdm.session` primitives.

It does what a requester does and nothing more: VCA through `responder_peer.Peer`, then
KEY_EXCHANGE / PSK_EXCHANGE with the transcript, key schedule and secured messages of
`spdm.session` (the primitives proven against libspdm's captures), the encapsulated mutual
authentication flow from a test PKI identity, FINISH / PSK_FINISH, and in-session requests.
Every signature and verify data the responder sends is checked; every key change follows the
libspdm requester. Helpers for refusals (`expect_error`, `expect_clear_error`) assert the exact
ErrorCode and that the answer came in the right form (inside the session, or in the clear).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from responder_peer import NONCE, Peer

from spdm.certs import CertChain
from spdm.crypto import asym_suite, dhe_suite, hash_suite
from spdm.crypto.aead import aead_suite
from spdm.errors import PeerError
from spdm.messages import Message, decode, decode_prefix, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.codes import (
    AeadAlgorithm,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    Code,
    DheGroup,
    KeyUpdateOperation,
    MeasurementSpecification,
)
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
)
from spdm.messages.error import ErrorResponse
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchange, KeyExchangeRsp
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.messages.negotiation import AlgStruct, NegotiateAlgorithms
from spdm.messages.opaque import decode_opaque, selected_secured_message_version, version_list_opaque
from spdm.messages.psk import PskExchange, PskExchangeRsp, PskFinish, PskFinishRsp
from spdm.messages.session_control import EndSession, EndSessionAck, Heartbeat, HeartbeatAck, KeyUpdate, KeyUpdateAck
from spdm.negotiated import Negotiated
from spdm.responder import Responder
from spdm.session import KeySchedule, SecuredSession, SessionTranscript
from spdm.session.keys import HandshakeSecrets
from spdm.testing.pki import IssuedChain
from spdm.transcript import ConnectionTranscript

F = CapabilityFlags

SESSION_REQUESTER_FLAGS = int(
    F.CERT_CAP
    | F.CHAL_CAP
    | F.ENCRYPT_CAP
    | F.MAC_CAP
    | F.KEY_EX_CAP
    | F.PSK_CAP_NO_CONTEXT
    | F.HBEAT_CAP
    | F.KEY_UPD_CAP
)
"""A session requester without mutual authentication or the handshake in the clear."""
MUTUAL_FLAGS = int(F.MUT_AUTH_CAP | F.ENCAP_CAP)
CLEAR_FLAG = int(F.HANDSHAKE_IN_THE_CLEAR_CAP)

PSK = b"TestPskData\x00"
PSK_HINT = b"TestPskHint\x00"


def session_offer(
    *,
    dhe: int = DheGroup.SECP_384_R1,
    aead: int = AeadAlgorithm.AES_256_GCM,
    hashes: int = BaseHashAlgo.SHA_384,
    asym: int = BaseAsymAlgo.ECDSA_P384,
    req_asym: int = 0x1FF,
) -> NegotiateAlgorithms:
    """NEGOTIATE_ALGORITHMS offering exactly one DHE group, AEAD and hash (so the matrix picks them)."""
    return NegotiateAlgorithms(
        version=0x11,
        measurement_specification=MeasurementSpecification.DMTF,
        base_asym_algo=asym,
        base_hash_algo=hashes,
        alg_structs=(
            AlgStruct(alg_type=AlgType.DHE, alg_supported=dhe),
            AlgStruct(alg_type=AlgType.AEAD, alg_supported=aead),
            AlgStruct(alg_type=AlgType.REQ_BASE_ASYM_ALG, alg_supported=req_asym),
            AlgStruct(alg_type=AlgType.KEY_SCHEDULE, alg_supported=1),
        ),
    )


class SessionPeer:
    """One requester, with a connection to `responder` negotiated for sessions."""

    def __init__(
        self,
        responder: Responder,
        *,
        flags: int = SESSION_REQUESTER_FLAGS,
        algorithms: NegotiateAlgorithms | None = None,
    ) -> None:
        self.peer = Peer(responder)
        self.responder = responder
        self.negotiated: Negotiated = self.peer.vca(algorithms or session_offer(), flags=flags)
        self.next_req_session_id = 0x0001

    @property
    def version(self) -> int:
        return self.negotiated.version

    def raw(self, request: bytes, session_id: int | None = None) -> bytes:
        return self.responder.respond(request, session_id)

    def decode(self, response: bytes, **context: object) -> Message:
        message, size = decode_prefix(response, self.negotiated.codec_context(**context))  # type: ignore[arg-type]
        assert size == len(response), f"{message.name}: {len(response) - size} bytes follow it"
        return message

    def _req_session_id(self, requested: int | None) -> int:
        if requested is not None:
            return requested
        value = self.next_req_session_id
        self.next_req_session_id += 1
        return value

    def responder_chain(self, slot: int = 0) -> bytes:
        """Ct as the responder's slot holds it (what GET_CERTIFICATE would return)."""
        identity = self.responder.config.slots[slot]
        suite = hash_suite(self.negotiated.base_hash_algo)
        return CertChain.build(identity.certificates, suite, root_certificate_der=identity.root_certificate).to_bytes()

    # --- KEY_EXCHANGE ----------------------------------------------------------------------

    def key_exchange_request(
        self,
        *,
        slot: int = 0,
        summary: int = 0,
        req_session_id: int | None = None,
        opaque: bytes | None = None,
        exchange_data: bytes | None = None,
    ) -> tuple[KeyExchange, object]:
        dhe = dhe_suite(self.negotiated.dhe_group)
        private_key = dhe.generate()
        ask = KeyExchange(
            version=self.version,
            summary_hash_type=summary,
            slot_id=slot,
            req_session_id=self._req_session_id(req_session_id),
            random_data=bytes(range(32)),
            exchange_data=dhe.public_bytes(private_key) if exchange_data is None else exchange_data,
            opaque_data=version_list_opaque((0x1000, 0x1100)) if opaque is None else opaque,
        )
        return ask, private_key

    def key_exchange(self, *, slot: int = 0, summary: int = 0, req_session_id: int | None = None) -> RequesterSession:
        """KEY_EXCHANGE, KEY_EXCHANGE_RSP checked (signature, verify data, version selection); handshake keys ready."""
        negotiated = self.negotiated
        ask, private_key = self.key_exchange_request(slot=slot, summary=summary, req_session_id=req_session_id)
        request = encode(ask)
        response = self.raw(request)
        answer = self.decode(response, summary_hash_type=summary)
        if isinstance(answer, ErrorResponse):
            raise PeerError(answer)
        assert isinstance(answer, KeyExchangeRsp), answer
        suite = hash_suite(negotiated.base_hash_algo)
        chain = self.responder_chain(slot)
        transcript = SessionTranscript(
            suite, bytes(self.peer.transcript.vca), responder_chain_hash=suite.digest(chain), spdm_version=0x11
        )
        transcript.add_exchange_request(request)
        digests = transcript.add_key_exchange_rsp(response, answer)
        assert digests.signed is not None
        leaf = x509.load_der_x509_certificate(CertChain.from_bytes(chain, suite.size).leaf).public_key()
        asym_suite(negotiated.base_asym_algo).verify(leaf, digests.signed, answer.signature, suite)
        assert selected_secured_message_version(decode_opaque(answer.opaque_data)) == 0x1100
        secret = dhe_suite(negotiated.dhe_group).shared_secret(private_key, answer.exchange_data)  # type: ignore[arg-type]
        schedule = KeySchedule(suite, aead_suite(negotiated.aead_suite), secret, spdm_version=negotiated.version)
        handshake = schedule.handshake(digests.th1)
        in_the_clear = negotiated.both(F.HANDSHAKE_IN_THE_CLEAR_CAP)
        if in_the_clear:
            assert answer.responder_verify_data is None
        else:
            assert answer.responder_verify_data is not None
            schedule.check_verify_data(handshake.response_finished_key, digests.th1, answer.responder_verify_data)
        self.peer.transcript.before_request(Code.KEY_EXCHANGE)
        session_id = answer.rsp_session_id << 16 | ask.req_session_id
        return RequesterSession(
            self,
            session_id=session_id,
            psk=False,
            in_the_clear=in_the_clear,
            schedule=schedule,
            handshake=handshake,
            transcript=transcript,
            channel=self._channel(session_id, schedule, handshake),
            mut_auth=answer.mut_auth_requested,
            req_slot_id=answer.req_slot_id_param,
            heartbeat_period=answer.heartbeat_period,
            exchange=answer,
        )

    def _channel(self, session_id: int, schedule: KeySchedule, handshake: HandshakeSecrets) -> SecuredSession:
        return SecuredSession.from_keys(
            role="requester",
            session_id=session_id,
            aead=schedule.aead,
            request=handshake.request,
            response=handshake.response,
            transport=self.responder.config.secured_transport,
            encrypt=self.negotiated.both(F.ENCRYPT_CAP),
        )

    # --- PSK_EXCHANGE ----------------------------------------------------------------------

    def psk_exchange(
        self,
        *,
        hint: bytes = PSK_HINT,
        psk: bytes = PSK,
        summary: int = 0,
        context: bytes = bytes(range(64)),
        req_session_id: int | None = None,
    ) -> RequesterSession:
        negotiated = self.negotiated
        ask = PskExchange(
            version=self.version,
            summary_hash_type=summary,
            req_session_id=self._req_session_id(req_session_id),
            psk_hint=hint,
            requester_context=context,
            opaque_data=version_list_opaque((0x1100,)),
        )
        request = encode(ask)
        response = self.raw(request)
        answer = self.decode(response, summary_hash_type=summary)
        if isinstance(answer, ErrorResponse):
            raise PeerError(answer)
        assert isinstance(answer, PskExchangeRsp), answer
        suite = hash_suite(negotiated.base_hash_algo)
        transcript = SessionTranscript.for_psk(suite, bytes(self.peer.transcript.vca))
        transcript.add_exchange_request(request)
        digests = transcript.add_psk_exchange_rsp(response, answer)
        schedule = KeySchedule(suite, aead_suite(negotiated.aead_suite), psk, spdm_version=negotiated.version, psk=True)
        handshake = schedule.handshake(digests.th1)
        schedule.check_verify_data(handshake.response_finished_key, digests.th1, answer.responder_verify_data)
        with_context = bool(negotiated.responder_flags & F.PSK_CAP_WITH_CONTEXT)
        assert (len(answer.responder_context) == 64) is with_context
        self.peer.transcript.before_request(Code.PSK_EXCHANGE)
        session_id = answer.rsp_session_id << 16 | ask.req_session_id
        session = RequesterSession(
            self,
            session_id=session_id,
            psk=True,
            in_the_clear=False,
            schedule=schedule,
            handshake=handshake,
            transcript=transcript,
            channel=self._channel(session_id, schedule, handshake),
            heartbeat_period=answer.heartbeat_period,
            exchange=answer,
        )
        if not with_context:
            session.enter_data_phase(transcript.mark_th2())
        return session


@dataclass(eq=False)
class RequesterSession:
    """One session from the requester's side."""

    peer: SessionPeer
    session_id: int
    psk: bool
    in_the_clear: bool
    schedule: KeySchedule
    handshake: HandshakeSecrets
    transcript: SessionTranscript
    channel: SecuredSession
    mut_auth: int = 0
    req_slot_id: int = 0
    heartbeat_period: int = 0
    requester_chain: bytes | None = None
    exchange: Message | None = None
    """The KEY_EXCHANGE_RSP or PSK_EXCHANGE_RSP that opened the session."""
    established: bool = False
    measurements: ConnectionTranscript = field(default_factory=ConnectionTranscript)

    @property
    def version(self) -> int:
        return self.peer.version

    @property
    def suite(self):  # type: ignore[no-untyped-def]
        return self.transcript.hash_suite

    def enter_data_phase(self, th2: bytes) -> None:
        data = self.schedule.data(th2)
        self.channel.rekey_request(data.request)
        self.channel.rekey_response(data.response)
        self.measurements.set_hash(self.suite, 0x11)
        self.established = True

    # --- plumbing ---------------------------------------------------------------------------

    def seal(self, message: Message | bytes) -> bytes:
        return self.channel.seal(message if isinstance(message, bytes) else encode(message))

    def send(self, message: Message | bytes) -> bytes:
        """Seal, send, open: the SPDM response bytes (an AssertionError if the answer came in the clear)."""
        data = message if isinstance(message, bytes) else encode(message)
        if len(data) > 1 and data[1] != Code.GET_VERSION:  # the responder refuses GET_VERSION in a session
            self.measurements.before_request(data[1])
        response = self.peer.raw(self.seal(data), self.session_id)
        assert response[:4] == self.session_id.to_bytes(4, "little"), f"a clear answer: {response.hex()}"
        answer = self.channel.open(response)
        if answer[1] != Code.ERROR:  # an accepted request follows the connection's B and C reset rule
            self.peer.peer.transcript.before_session_request(data[1])
        return answer

    def request(self, message: Message | bytes, **context: object) -> Message:
        return self.peer.decode(self.send(message), **context)

    def handshake_request(self, message: Message | bytes) -> Message:
        """A handshake request: in the clear if the handshake is, else under the handshake keys."""
        if self.in_the_clear:
            data = message if isinstance(message, bytes) else encode(message)
            answer = self.peer.decode(self.peer.raw(data))
            if not isinstance(answer, ErrorResponse):
                self.peer.peer.transcript.before_request(data[1])
            return answer
        return self.request(message)

    def expect_error(self, message: Message | bytes, code: int, data: int | None = None) -> ErrorResponse:
        """A refusal answered inside the session."""
        answer = self.request(message)
        assert isinstance(answer, ErrorResponse), f"expected ERROR 0x{code:02x}, got {answer.name}"
        assert answer.error_code == code, f"ERROR 0x{answer.error_code:02x}, expected 0x{code:02x}"
        if data is not None:
            assert answer.error_data == data
        return answer

    def expect_clear_error(
        self, record: bytes, code: int, session_id: int | None = None, *, version: int | None = None
    ) -> ErrorResponse:
        """A record the responder cannot open: a 4-byte clear ERROR."""
        response = self.peer.raw(record, self.session_id if session_id is None else session_id)
        assert len(response) == 4, response.hex()
        answer = decode(response)
        assert isinstance(answer, ErrorResponse), answer
        assert (answer.error_code, answer.version) == (code, version or self.version), answer
        return answer

    # --- the handshake ----------------------------------------------------------------------

    def encapsulated_flow(
        self, identity: IssuedChain, *, slot: int = 0, portion: int = 0x200
    ) -> EncapsulatedResponseAck:
        """Answer the responder's encapsulated GET_DIGESTS / GET_CERTIFICATE with `identity` in `slot`."""
        chain = identity.spdm_chain(self.suite).to_bytes()
        answer = self.handshake_request(GetEncapsulatedRequest(version=self.version))
        assert isinstance(answer, EncapsulatedRequest), answer
        request_id, embedded = answer.request_id, decode(answer.payload)
        while True:
            if isinstance(embedded, GetDigests):
                reply: Message = Digests(version=self.version, slot_mask=1 << slot, digests=(self.suite.digest(chain),))
            else:
                assert isinstance(embedded, GetCertificate), embedded
                size = min(embedded.length, portion, len(chain) - embedded.offset)
                reply = Certificate(
                    version=self.version,
                    slot_param=embedded.slot_id,
                    remainder_length=len(chain) - embedded.offset - size,
                    portion=chain[embedded.offset : embedded.offset + size],
                )
            ack = self.handshake_request(DeliverEncapsulatedResponse(request_id=request_id, payload=encode(reply)))
            assert isinstance(ack, EncapsulatedResponseAck), ack
            if ack.payload_type != 1:
                self.requester_chain = chain
                return ack
            request_id, embedded = ack.request_id, decode(ack.payload)

    def finish_request(
        self, *, identity: IssuedChain | None = None, slot: int | None = None, tamper: bool = False
    ) -> tuple[Finish, bytes]:
        """FINISH (signed under mutual authentication), built on a copy of the transcript with Hash(CM)
        first: `finish` adds them to the transcript itself once the responder took the request."""
        req_slot = self.req_slot_id if slot is None else slot
        attributes = 1 if self.mut_auth else 0
        header = bytes([self.version, Code.FINISH, attributes, req_slot])
        transcript = self.transcript.copy()
        sign = None
        cm_hash = b""
        if self.mut_auth:
            assert identity is not None
            chain = self.requester_chain or identity.spdm_chain(self.suite).to_bytes()
            cm_hash = self.suite.digest(chain)
            transcript.add_requester_chain_hash(cm_hash)
            req_asym = asym_suite(self.peer.negotiated.req_base_asym_alg)
            leaf_key = identity.leaf_key

            def sign(digest: bytes) -> bytes:
                return req_asym.sign(leaf_key, digest, self.suite)

        request = transcript.build_finish(header, finished_key=self.handshake.request_finished_key, sign=sign)
        verify_at = len(request) - self.suite.size
        verify = request[verify_at:]
        if tamper:
            verify = bytes([verify[0] ^ 1]) + verify[1:]
        finish = Finish(
            version=self.version,
            attributes=attributes,
            req_slot_id=req_slot,
            signature=request[len(header) : verify_at] or None,
            requester_verify_data=verify,
        )
        return finish, cm_hash

    def finish(self, *, identity: IssuedChain | None = None, slot: int | None = None) -> FinishRsp:
        finish, cm_hash = self.finish_request(identity=identity, slot=slot)
        request = encode(finish)
        answer = self.handshake_request(request)
        assert isinstance(answer, FinishRsp), answer
        if cm_hash:
            self.transcript.add_requester_chain_hash(cm_hash)
        self.transcript.add_finish(request, finish)
        response = encode(answer)
        digest = self.transcript.add_finish_rsp(response, answer)
        if self.in_the_clear:
            assert digest is not None and answer.responder_verify_data is not None
            self.schedule.check_verify_data(self.handshake.response_finished_key, digest, answer.responder_verify_data)
        else:
            assert answer.responder_verify_data is None
        th2 = self.transcript.th2
        assert th2 is not None
        self.enter_data_phase(th2)
        return answer

    def psk_finish_request(self, *, tamper: bool = False) -> PskFinish:
        header = bytes([self.version, Code.PSK_FINISH, 0, 0])
        request = self.transcript.copy().build_psk_finish(header, finished_key=self.handshake.request_finished_key)
        verify = request[len(header) :]
        if tamper:
            verify = bytes([verify[0] ^ 1]) + verify[1:]
        return PskFinish(version=self.version, requester_verify_data=verify)

    def psk_finish(self) -> PskFinishRsp:
        finish = self.psk_finish_request()
        request = encode(finish)
        answer = self.request(request)
        assert isinstance(answer, PskFinishRsp), answer
        self.transcript.add_psk_finish(request, finish)
        self.transcript.add_finish_rsp(encode(answer))
        th2 = self.transcript.th2
        assert th2 is not None
        self.enter_data_phase(th2)
        return answer

    # --- in-session requests ----------------------------------------------------------------

    def heartbeat(self) -> None:
        assert isinstance(self.request(Heartbeat(version=self.version)), HeartbeatAck)

    def key_update(self, operation: int, tag: int = 0x5A) -> None:
        """KEY_UPDATE then VerifyNewKey, switching keys where the libspdm requester does."""
        channel, schedule = self.channel, self.schedule
        assert channel.request.keys is not None and channel.response.keys is not None
        if operation == KeyUpdateOperation.UPDATE_ALL_KEYS:
            record = self.seal(KeyUpdate(version=self.version, operation=operation, tag=tag))
            response = self.peer.raw(record, self.session_id)
            channel.rekey_response(schedule.update(channel.response.keys))  # the ACK is under the new key
            ack = self.peer.decode(channel.open(response))
        else:
            ack = self.request(KeyUpdate(version=self.version, operation=operation, tag=tag))
        assert isinstance(ack, KeyUpdateAck) and (ack.operation, ack.tag) == (operation, tag), ack
        channel.rekey_request(schedule.update(channel.request.keys))
        verify = self.request(KeyUpdate(version=self.version, operation=KeyUpdateOperation.VERIFY_NEW_KEY, tag=tag + 1))
        assert isinstance(verify, KeyUpdateAck) and verify.operation == KeyUpdateOperation.VERIFY_NEW_KEY, verify

    def end_session(self) -> None:
        assert isinstance(self.request(EndSession(version=self.version)), EndSessionAck)

    def signed_measurements(self, operation: int = 0xFF, *, slot: int = 0) -> Measurements:
        """Signed GET_MEASUREMENTS inside the session; the signature checked over the session's own M."""
        ask = GetMeasurements(version=self.version, attributes=1, operation=operation, nonce=NONCE, slot_id_param=slot)
        request = encode(ask)
        response = self.send(request)
        answer = self.peer.decode(response, signature_requested=True)
        assert isinstance(answer, Measurements) and answer.signature is not None, answer
        unsigned = response[: len(response) - len(answer.signature)]
        digest = self.measurements.measurements_digest(request, unsigned)
        key = self.peer.responder.config.slots[slot].public_key
        negotiated = self.peer.negotiated
        asym_suite(negotiated.base_asym_algo).verify(key, digest, answer.signature, self.suite)
        return answer

    def unsigned_measurements(self, operation: int = 0xFF) -> Measurements:
        ask = GetMeasurements(version=self.version, operation=operation)
        request = encode(ask)
        response = self.send(request)
        answer = self.peer.decode(response)
        assert isinstance(answer, Measurements), answer
        self.measurements.add_measurements(request, response)
        return answer
