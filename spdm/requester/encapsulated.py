"""Mutual authentication: the requester answers the responder's encapsulated requests.

The responder asks its questions (GET_DIGESTS, GET_CERTIFICATE, CHALLENGE; from 1.3 GET_ENDPOINT_INFO) inside
ENCAPSULATED_REQUEST and ENCAPSULATED_RESPONSE_ACK; the requester answers each with
DELIVER_ENCAPSULATED_RESPONSE from `RequesterConfig.identities`, until the ACK says done
(DSP0274 1.1, GET_ENCAPSULATED_REQUEST). It runs in a session during a KEY_EXCHANGE that asked for
mutual authentication, outside any session after a CHALLENGE_AUTH that asked for basic mutual
authentication, and when the requester asks for pending requests (`Connection` and `Session`
`serve_encapsulated_requests`), where the responder may also ask for a KEY_UPDATE of its own key
(in a session), for the requester's endpoint info (1.3, signed with the identity of the slot it
names, as libspdm_req_encap_endpoint_info.c does), or send its events (SEND_EVENT, 1.3, in a session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from spdm._checks import check_encapsulated_ack, invalid_response
from spdm.certs import certificate_portion
from spdm.crypto import AsymSuite, HashSuite, asym_suite, hash_suite
from spdm.endpoint_info import Signer, answer_endpoint_info
from spdm.errors import DecodeError, NegotiationError, PeerError, ProtocolError
from spdm.messages import encode
from spdm.messages.bounds import NONCE_SIZE
from spdm.messages.certificates import SLOT_COUNT, SLOT_ID_MASK, Digests, GetCertificate, GetDigests, slot_mask
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import CapabilityFlags, CertificateInfo, Code, ErrorCode, KeyUsage, SummaryHashType
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
    PayloadType,
    embedded_message,
    nothing_pending_code,
)
from spdm.messages.endpoint_info import GetEndpointInfo
from spdm.messages.error import ErrorResponse
from spdm.messages.events import EventAck, SendEvent
from spdm.messages.session_control import KeyUpdate, KeyUpdateAck
from spdm.negotiated import Negotiated, check_key_usage
from spdm.requester.channel import Transact
from spdm.requester.config import RequesterConfig
from spdm.requester.events import Steps
from spdm.requester.identity import RequesterIdentity
from spdm.signing import SigningContext, signature_input
from spdm.transcript import Transcript, mutual_challenge_transcript

__all__ = ["EncapsulatedAnswers", "basic_mutual_authentication", "check_mutual_authentication", "run_encapsulated"]

_MAX_REQUESTS_WITHOUT_PROGRESS = 16
"""The encapsulated requests of one flow that read nothing new of the requester's chains (GET_DIGESTS,
CHALLENGE, GET_ENDPOINT_INFO, KEY_UPDATE, SEND_EVENT, a portion read before, a refused request). The
others each read at least one new chain byte, so the chains' sizes bound them: a long chain is read in
as many portions as the responder needs (libspdm_req_encap_request.c loops until the ACK says done),
yet a responder cannot keep the requester answering forever."""


_CERT_MODEL = CertificateInfo.DEVICE_CERT
"""The model of the requester's chains on its multi-key connection (DIGESTS CertificateInfo, CERTIFICATE
Param2): a requester identity is a device certificate chain, as spdm-emu's requester states it."""


def _error(version: int, code: int, data: int = 0) -> bytes:
    return encode(ErrorResponse(version=version, error_code=code, error_data=data))


@dataclass(slots=True, kw_only=True)
class EncapsulatedAnswers:
    """The requester's answers to a responder's encapsulated GET_DIGESTS, GET_CERTIFICATE, CHALLENGE
    and, in an established session, KEY_UPDATE.

    The requester's CHALLENGE_AUTH signs Hash(mut_B || mut_C) (1.0/1.1; A || mut_B || mut_C from 1.2,
    `vca` being A), mut_B being the encapsulated digest/certificate exchanges answered so far.
    `key_update` applies an encapsulated KEY_UPDATE to the session's keys, or refuses it with a
    `ProtocolError` (its code goes back in the ERROR); without it KEY_UPDATE is unsupported.
    `send_event` takes the events of an encapsulated SEND_EVENT (SPDM 1.3), which is then
    acknowledged, or refuses them with a `ProtocolError`; without it SEND_EVENT is unsupported.
    `answered` counts the requests answered (an ERROR is an answer too), `chain_bytes_read` the bytes
    of its chains the responder has read, each counted once (the flow's progress); `first_digests` is
    the first DIGESTS answered (1.3 multi-key EncapD: `spdm.transcript.message_d`). A 1.3 GET_ENDPOINT_INFO is
    answered from `config.endpoint_info` when the requester offered EP_INFO_CAP; its signature covers
    IL, A being `vca`.
    """

    negotiated: Negotiated
    config: RequesterConfig
    max_padding: int
    vca: bytes = b""
    key_update: Callable[[KeyUpdate], None] | None = None
    send_event: Callable[[SendEvent], None] | None = None
    answered: int = 0
    chain_bytes_read: int = 0
    first_digests: bytes = b""
    _mut: Transcript | None = None
    _chains: dict[int, bytes] = field(default_factory=dict)
    _read_to: dict[int, int] = field(default_factory=dict)
    """How far into each slot's chain the responder has read."""

    @property
    def _hash(self) -> HashSuite:
        return hash_suite(self.negotiated.base_hash_algo)

    def _chain(self, slot: int) -> bytes | None:
        identity = self.config.identities.get(slot)
        if identity is None:
            return None
        if slot not in self._chains:
            self._chains[slot] = identity.chain_bytes(self._hash)
        return self._chains[slot]

    def _mut_transcript(self) -> Transcript:
        if self._mut is None:
            self._mut = mutual_challenge_transcript(self._hash.new, self.negotiated.version, self.vca)
        return self._mut

    def _slots(self) -> list[int]:
        """The requester's slots that hold an identity, in increasing order."""
        return sorted(s for s in self.config.identities if 0 <= s < SLOT_COUNT)

    def answer(self, payload: bytes, version: int) -> bytes:
        """The response (SPDM bytes) to one encapsulated request."""
        self.answered += 1
        try:
            request, exact = embedded_message(payload, self.negotiated.codec_context(), self.max_padding)
        except DecodeError:
            return _error(version, ErrorCode.InvalidRequest)
        if request.version != version:
            return _error(version, ErrorCode.VersionMismatch)
        if isinstance(request, KeyUpdate) and self.key_update is not None:
            return self._key_update_ack(request, self.key_update)
        if isinstance(request, SendEvent) and self.send_event is not None:
            return self._event_ack(request, self.send_event)
        if isinstance(request, GetDigests):
            response = self._digests(request)
            if response[1] == Code.DIGESTS:
                self.first_digests = self.first_digests or response
        elif isinstance(request, GetCertificate):
            response = self._certificate(request)
        elif isinstance(request, Challenge):
            return self._challenge_auth(request, exact)
        elif isinstance(request, GetEndpointInfo):
            return self._endpoint_info(request, exact)
        else:
            return _error(version, ErrorCode.UnsupportedRequest, request.code)
        if response[1] != Code.ERROR:
            self._mut_transcript().append(exact, response)
        return response

    def _key_update_ack(self, request: KeyUpdate, apply: Callable[[KeyUpdate], None]) -> bytes:
        try:
            apply(request)
        except ProtocolError as error:
            return _error(request.version, error.error_code, error.error_data)
        return encode(KeyUpdateAck(version=request.version, operation=request.operation, tag=request.tag))

    def _event_ack(self, request: SendEvent, take: Callable[[SendEvent], None]) -> bytes:
        try:
            take(request)
        except ProtocolError as error:
            return _error(request.version, error.error_code, error.error_data)
        return encode(EventAck(version=request.version))

    def _digests(self, request: GetDigests) -> bytes:
        slots = self._slots()
        if not slots:
            return _error(request.version, ErrorCode.UnsupportedRequest, request.code)
        hashes = self._hash
        digests = tuple(hashes.digest(self._chain(slot) or b"") for slot in slots)
        mask = slot_mask(slots)  # every slot the requester has holds its chain: 1.3 SupportedSlotMask is the same
        answer = Digests.for_version(request.version, supported_slot_mask=mask, slot_mask=mask, digests=digests)
        if self.negotiated.requester_multi_key:
            identities = [self.config.identities[slot] for slot in slots]
            answer = replace(
                answer,
                key_pair_ids=tuple(identity.key_pair_id for identity in identities),
                certificate_infos=(_CERT_MODEL,) * len(slots),
                key_usage_masks=tuple(identity.key_usage for identity in identities),
            )
        return encode(answer)

    def _certificate(self, request: GetCertificate) -> bytes:
        chain = self._chain(request.slot_id)
        if chain is None:
            return _error(request.version, ErrorCode.InvalidRequest)
        try:
            answer = certificate_portion(chain, request)
        except ValueError:
            return _error(request.version, ErrorCode.InvalidRequest)
        if answer.portion:
            end, before = request.offset + len(answer.portion), self._read_to.get(request.slot_id, 0)
            if end > before:
                self.chain_bytes_read += end - before
                self._read_to[request.slot_id] = end
        if self.negotiated.requester_multi_key:
            answer = replace(answer, param2=_CERT_MODEL)
        return encode(answer)

    def _endpoint_info(self, request: GetEndpointInfo, exact: bytes) -> bytes:
        negotiated = self.negotiated
        flags = negotiated.requester_flags
        ep_info = self.config.endpoint_info
        if negotiated.version < 0x13 or not flags & CapabilityFlags.EP_INFO_CAP_MASK or ep_info is None:
            return _error(request.version, ErrorCode.UnsupportedRequest, request.code)
        signers: dict[int, Signer] = {}
        if negotiated.req_base_asym_alg:
            suite = asym_suite(negotiated.req_base_asym_alg)
            identities = self.config.identities.items()
            signers = {slot: _identity_signer(identity, suite, self._hash) for slot, identity in identities}
        slot = request.slot_id
        try:
            if request.signature_requested and flags & CapabilityFlags.EP_INFO_CAP_SIG and slot in signers:
                # after the capability and slot checks, as libspdm_req_encap_endpoint_info.c orders them
                usage = self.config.identities[slot].key_usage
                check_key_usage(negotiated, usage, slot, KeyUsage.ENDPOINT_INFO, requester=True)
            return answer_endpoint_info(
                request,
                exact,
                ep_info=ep_info,
                flags=flags,
                signers=signers,
                hashes=self._hash,
                vca=self.vca,
                random=self.config.draw_random,
                requester_signs=True,
            )
        except ProtocolError as error:
            return _error(request.version, error.error_code, error.error_data)

    def _challenge_auth(self, request: Challenge, exact: bytes) -> bytes:
        negotiated = self.negotiated
        if request.summary_hash_type != SummaryHashType.NONE:  # a requester has no measurements to summarize
            return _error(request.version, ErrorCode.InvalidRequest)  # libspdm_req_encap_challenge_auth.c
        identity = self.config.identities.get(request.slot_id)
        chain = self._chain(request.slot_id)
        if identity is None or chain is None or negotiated.req_base_asym_alg == 0:
            return _error(request.version, ErrorCode.InvalidRequest)
        try:
            check_key_usage(negotiated, identity.key_usage, request.slot_id, KeyUsage.CHALLENGE, requester=True)
        except ProtocolError as error:
            return _error(request.version, error.error_code)
        hashes = self._hash
        suite = asym_suite(negotiated.req_base_asym_alg)
        auth = ChallengeAuth(
            version=request.version,
            attributes=request.slot_id & SLOT_ID_MASK,
            slot_mask=slot_mask(self._slots()),
            cert_chain_hash=hashes.digest(chain),
            nonce=self.config.draw_random(NONCE_SIZE),
            requester_context=request.requester_context,
            signature=bytes(suite.signature_size),
        )
        unsigned = encode(auth)[: -suite.signature_size]
        signed = signature_input(
            hashes,
            negotiated.version,
            SigningContext.MUT_CHALLENGE_AUTH,
            self._mut_transcript().digest(exact, unsigned),
        )
        self._mut = None
        return unsigned + identity.signature(suite, signed, hashes)


def _identity_signer(identity: RequesterIdentity, suite: AsymSuite, hashes: HashSuite) -> Signer:
    return lambda signed: identity.signature(suite, signed, hashes)


def run_encapsulated(
    transact: Transact,
    answers: EncapsulatedAnswers,
    *,
    version: int,
    implicit_digests: bool,
    slot: int | None,
    may_be_idle: bool = False,
) -> Steps[int | None]:
    """GET_ENCAPSULATED_REQUEST (or the implicit GET_DIGESTS), then each request answered with
    DELIVER_ENCAPSULATED_RESPONSE until the ACK says done; returns the requester slot (the ACK's
    ReqSlotNumber when it names one, else `slot`), which signs FINISH in a session's mutual
    authentication (`SessionCore.finish` checks it).

    With `may_be_idle` (the requester asked on its own) an ERROR NoPendingRequests (1.3) or
    UnexpectedRequest (before) to GET_ENCAPSULATED_REQUEST means the responder has nothing pending
    and ends the flow at once (libspdm_rsp_encap_response.c); each only at its versions, as
    libspdm_req_encap_request.c accepts them."""
    if implicit_digests:
        request_id, payload = 0, encode(GetDigests(version=version))
    else:
        try:
            encapsulated, _, _ = yield from transact(GetEncapsulatedRequest(version=version), EncapsulatedRequest)
        except PeerError as error:
            if may_be_idle and error.error_code == nothing_pending_code(version):
                return slot
            raise
        if not encapsulated.payload:
            raise invalid_response("ENCAPSULATED_REQUEST carries no request")
        request_id, payload = encapsulated.request_id, encapsulated.payload
    without_progress = 0
    while True:
        read = answers.chain_bytes_read
        deliver = DeliverEncapsulatedResponse(
            version=version, request_id=request_id, payload=answers.answer(payload, version)
        )
        if answers.chain_bytes_read == read:
            without_progress += 1
        ack, _, _ = yield from transact(deliver, EncapsulatedResponseAck)
        check_encapsulated_ack(ack, request_id)
        if ack.payload_type == PayloadType.ABSENT:
            return slot
        if ack.payload_type == PayloadType.REQ_SLOT_NUMBER:
            return ack.payload[0]
        if without_progress == _MAX_REQUESTS_WITHOUT_PROGRESS:
            raise invalid_response(
                f"more than {_MAX_REQUESTS_WITHOUT_PROGRESS} encapsulated requests that read nothing new of a chain"
            )
        request_id, payload = ack.request_id, ack.payload


def check_mutual_authentication(config: RequesterConfig, negotiated: Negotiated, what: str) -> None:
    """The responder asks for mutual authentication in `what` (KEY_EXCHANGE_RSP's MutAuthRequested,
    CHALLENGE_AUTH's BasicMutAuthReq): MUT_AUTH_CAP must be on both sides, else InvalidResponseCode
    (libspdm_req_key_exchange.c, libspdm_req_challenge.c); then the requester needs an identity and a
    negotiated ReqBaseAsymAlg to answer with, else `NegotiationError`."""
    if not negotiated.both(CapabilityFlags.MUT_AUTH_CAP):
        raise invalid_response(f"{what} asks for mutual authentication without MUT_AUTH_CAP on both sides")
    if not config.identities:
        raise NegotiationError("the responder asks for mutual authentication and no requester identity is configured")
    if negotiated.req_base_asym_alg == 0:
        raise NegotiationError("mutual authentication without a negotiated ReqBaseAsymAlg")


def basic_mutual_authentication(
    transact: Transact, negotiated: Negotiated, config: RequesterConfig, max_padding: int, vca: bytes
) -> Steps[None]:
    """CHALLENGE_AUTH asked for basic mutual authentication (1.1): answer the responder's
    encapsulated GET_DIGESTS, GET_CERTIFICATE and CHALLENGE outside any session."""
    if not negotiated.both(CapabilityFlags.ENCAP_CAP):
        raise NegotiationError("basic mutual authentication needs ENCAP_CAP on both sides")
    answers = EncapsulatedAnswers(negotiated=negotiated, config=config, max_padding=max_padding, vca=vca)
    yield from run_encapsulated(transact, answers, version=negotiated.version, implicit_digests=False, slot=None)
