"""The SPDM requester: authenticate a device and read its signed measurements.

`Requester` runs the connection flow over any `Transport` (DOE over a socket, a DOE mailbox,
an in-memory loopback): VCA, GET_DIGESTS, GET_CERTIFICATE, CHALLENGE, GET_MEASUREMENTS. Every
response is checked against what was asked, every signature against the transcript of the exact
bytes exchanged, and the certificate chain against the slot's trust anchor. The peer's ERROR
answers are handled as SPDM says (Busy: bounded retry; ResponseNotReady: wait, then
RESPOND_IF_READY) or raised as `PeerError`. Clock, sleep and randomness are injected.

Sessions: `Requester.key_exchange` (KEY_EXCHANGE/FINISH, with mutual authentication when the
responder asks for it) and `Requester.psk_exchange` (PSK_EXCHANGE/PSK_FINISH) return a `Session`
that carries application messages, HEARTBEAT, KEY_UPDATE, signed measurements and END_SESSION
as DSP0277 secured messages. `RequesterConfig.with_sessions` turns the session capabilities and
algorithm offer on. The session machinery lives in `spdm.requester.session`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from spdm._checks import check_measurements, check_responder_flags, check_selection, check_summary_hash, invalid
from spdm.certs import CertChain, ChainPolicy, VerifiedChain, verify_chain
from spdm.crypto import AsymSuite, DheSuite, HashSuite, asym_suite, hash_suite
from spdm.errors import NegotiationError, PeerError, ProtocolError, VerificationError
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.measurements import Appraisal, ReferenceValues, appraise
from spdm.messages import Message, decode_prefix, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import (
    AeadAlgorithm,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    Code,
    DheGroup,
    ErrorCode,
    KeyScheduleAlgo,
    MeasurementSpecification,
    SummaryHashType,
)
from spdm.messages.context import CodecContext
from spdm.messages.error import ErrorResponse, RespondIfReady, ResponseNotReady
from spdm.messages.measurements import GetMeasurements, MeasurementBlock, Measurements
from spdm.messages.negotiation import (
    Algorithms,
    AlgStruct,
    Capabilities,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
    Version,
)
from spdm.messages.vendor import VendorDefinedRequest, VendorDefinedResponse
from spdm.negotiated import Negotiated
from spdm.requester.session import (
    DheKeyShare,
    RequesterIdentity,
    Session,
    SessionClosedError,
    SessionDecryptError,
)
from spdm.requester.session import basic_mutual_authentication as _basic_mutual_authentication
from spdm.requester.session import check_key_exchange as _check_key_exchange
from spdm.requester.session import key_exchange as _key_exchange
from spdm.requester.session import psk_exchange as _psk_exchange
from spdm.session.secured import PCI_DOE, SecuredTransport
from spdm.transcript import ConnectionTranscript
from spdm.transport.base import Transport

__all__ = [
    "MUTUAL_AUTH_CAPABILITIES",
    "SECURED_MESSAGE_VERSIONS",
    "SESSION_CAPABILITIES",
    "AuthenticationResult",
    "ChallengeResult",
    "DheKeyShare",
    "MeasurementResult",
    "Requester",
    "RequesterConfig",
    "RequesterIdentity",
    "Session",
    "SessionClosedError",
    "SessionDecryptError",
    "session_alg_structs",
]

M = TypeVar("M", bound=Message)
_Carry = Callable[[bytes, float, "CodecContext | None"], tuple[Message, bytes]]
"""Moves one encoded request (with its timeout) and returns the decoded response and its exact bytes."""

_NONCE_SIZE = 32
_ALL_ASYM = sum(int(a) for a in BaseAsymAlgo)
_ALL_HASH = sum(int(h) for h in BaseHashAlgo)
_ST1 = 0.1  # seconds: SPDM's ST1, the time a responder has for a non-cryptographic response
_CRYPTO_REQUESTS = frozenset(
    {
        Code.CHALLENGE,
        Code.GET_MEASUREMENTS,
        Code.KEY_EXCHANGE,
        Code.FINISH,
        Code.PSK_EXCHANGE,
        Code.PSK_FINISH,
        Code.KEY_UPDATE,
        Code.GET_ENCAPSULATED_REQUEST,
        Code.DELIVER_ENCAPSULATED_RESPONSE,
    }
)

_F = CapabilityFlags
SESSION_CAPABILITIES = int(
    _F.ENCRYPT_CAP
    | _F.MAC_CAP
    | _F.KEY_EX_CAP
    | _F.PSK_CAP_NO_CONTEXT  # a requester's PSK_CAP is 01b
    | _F.HBEAT_CAP
    | _F.KEY_UPD_CAP
    | _F.HANDSHAKE_IN_THE_CLEAR_CAP
)
"""What a requester sets to open sessions: encryption and MAC, DHE and PSK handshakes, heartbeat, key update."""

MUTUAL_AUTH_CAPABILITIES = int(_F.MUT_AUTH_CAP | _F.ENCAP_CAP | _F.CERT_CAP | _F.CHAL_CAP)
"""What a requester with an identity adds: it can be authenticated (through encapsulated requests)."""

SECURED_MESSAGE_VERSIONS = (0x1000, 0x1100, 0x1200)
"""The DSP0277 versions offered in KEY_EXCHANGE/PSK_EXCHANGE (libspdm's offer; it selects 1.2 even at SPDM 1.1)."""

_DEFAULT_CAPABILITIES = int(_F.CERT_CAP | _F.CHAL_CAP)
_ALL_DHE = sum(int(g) for g in DheGroup)
_ALL_AEAD = sum(int(a) for a in AeadAlgorithm)


def session_alg_structs(req_base_asym_alg: int = _ALL_ASYM) -> tuple[AlgStruct, ...]:
    """The AlgStructs that offer every DHE group, AEAD suite and the SPDM key schedule, and
    `req_base_asym_alg` (the signature algorithms a requester identity can use) as ReqBaseAsymAlg."""
    return (
        AlgStruct(alg_type=AlgType.DHE, alg_supported=_ALL_DHE),
        AlgStruct(alg_type=AlgType.AEAD, alg_supported=_ALL_AEAD),
        AlgStruct(alg_type=AlgType.REQ_BASE_ASYM_ALG, alg_supported=req_base_asym_alg),
        AlgStruct(alg_type=AlgType.KEY_SCHEDULE, alg_supported=KeyScheduleAlgo.SPDM_KEY_SCHEDULE),
    )


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequesterConfig:
    """What the requester offers and how it checks the device.

    `trust_anchors` maps a slot to the DER root certificate its chain must lead to (one store per
    device: each requester instance has its own). `certificate_portion` is the Length asked per
    GET_CERTIFICATE. `rtt` is the transport's round-trip allowance added to the responder's
    CT/ST1 time to make each exchange's timeout. `limits` (`spdm.limits.Limits`) bounds what a
    response may make the requester hold: its size, a measurement record, a certificate chain,
    opaque data, a vendor payload, and the sessions held open at once.

    Sessions (see `with_sessions`, which sets the capabilities and AlgStructs they need):

    * `secured_message_versions`: the DSP0277 versions offered in KEY_EXCHANGE/PSK_EXCHANGE; the
      responder's selection must be one of them.
    * `psk`, `psk_hint`: the pre-shared key of PSK sessions and the hint that names it (may be empty).
    * `identities`: the requester's own certificate chains and keys by slot, for mutual
      authentication (answered through encapsulated GET_DIGESTS/GET_CERTIFICATE/CHALLENGE and a
      signed FINISH). Without one, a responder's request for mutual authentication is refused.
    * `dhe_private_value(suite)` returns the ephemeral DHE private value (deterministic tests);
      `dhe_key_share(suite)` replaces the whole ephemeral key agreement (a key held elsewhere, a
      capture replay). By default a fresh key is drawn for every KEY_EXCHANGE.
    * `random(n)` also supplies ReqSessionID (2 bytes, redrawn while zero or in use),
      KEY_EXCHANGE RandomData (32), the PSK RequesterContext (64), KEY_UPDATE tags (1) and nonces.
    * `secured_framing`: how the transport frames secured messages (PCI DOE by default).
    * `on_dhe_secret(session_id, secret)` is told each DHE session's shared secret as KEY_EXCHANGE_RSP
      arrives (sessions in capture order): what a capture's secrets sidecar needs
      (`spdm.capture.SecretsLog`). It reveals session keys: set it only with the user's consent.
    """

    versions: tuple[int, ...] = (0x10, 0x11)
    capabilities: int = _DEFAULT_CAPABILITIES
    ct_exponent: int = 0
    base_asym_algo: int = _ALL_ASYM
    base_hash_algo: int = _ALL_HASH
    measurement_specification: int = MeasurementSpecification.DMTF
    alg_structs: tuple[AlgStruct, ...] = ()
    trust_anchors: Mapping[int, bytes] = field(default_factory=dict)
    chain_policy: ChainPolicy = field(default_factory=ChainPolicy)
    certificate_portion: int = 0x400
    busy_retries: int = 3
    not_ready_retries: int = 3
    rtt: float = 1.0
    clock: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[int], bytes] = os.urandom
    secured_message_versions: tuple[int, ...] = SECURED_MESSAGE_VERSIONS
    psk: bytes | None = None
    psk_hint: bytes = b""
    identities: Mapping[int, RequesterIdentity] = field(default_factory=dict)
    dhe_private_value: Callable[[DheSuite], int] | None = None
    dhe_key_share: Callable[[DheSuite], DheKeyShare] | None = None
    secured_framing: SecuredTransport = PCI_DOE
    on_dhe_secret: Callable[[int, bytes], None] | None = None
    limits: Limits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        if not isinstance(self.limits, Limits):
            raise ValueError(f"limits {self.limits!r} is not a spdm.limits.Limits")

    @classmethod
    def with_sessions(cls, **settings: Any) -> RequesterConfig:
        """A configuration that can open sessions: `settings` as for the constructor, plus
        `SESSION_CAPABILITIES` (and `MUTUAL_AUTH_CAPABILITIES` when `identities` are given) in
        `capabilities`, and `session_alg_structs` (ReqBaseAsymAlg: what the identities' keys can
        sign with) unless `alg_structs` is given."""
        identities: Mapping[int, RequesterIdentity] = settings.get("identities") or {}
        capabilities = int(settings.get("capabilities", _DEFAULT_CAPABILITIES)) | SESSION_CAPABILITIES
        if identities:
            capabilities |= MUTUAL_AUTH_CAPABILITIES
        settings["capabilities"] = capabilities
        if not settings.get("alg_structs"):
            req_asym = 0
            for identity in identities.values():
                req_asym |= identity.signature_algorithms()
            settings["alg_structs"] = session_alg_structs(req_asym or _ALL_ASYM)
        return cls(**settings)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChallengeResult:
    slot: int
    requester_nonce: bytes
    responder_nonce: bytes
    measurement_summary_hash: bytes | None
    opaque_data: bytes
    basic_mut_auth_requested: bool
    requester_authenticated: bool = False
    """The requester answered the basic mutual authentication CHALLENGE_AUTH asked for (encapsulated
    GET_DIGESTS, GET_CERTIFICATE and CHALLENGE, with `RequesterConfig.identities`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasurementResult:
    """Measurement blocks as reported; `signed` means the signature over L1/L2 verified."""

    operation: int
    blocks: tuple[MeasurementBlock, ...]
    total_indices: int | None
    signed: bool
    slot: int | None
    requester_nonce: bytes | None
    responder_nonce: bytes
    opaque_data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationResult:
    """Everything `authenticate` established, each part verified."""

    negotiated: Negotiated
    digests: Mapping[int, bytes]
    slot: int
    chain: VerifiedChain
    chain_bytes: bytes
    challenge: ChallengeResult
    measurements: MeasurementResult | None
    appraisal: Appraisal | None


class Requester:
    """One SPDM connection to one device, driven over `transport`."""

    def __init__(self, transport: Transport, config: RequesterConfig | None = None) -> None:
        self.transport = transport
        self.config = config or RequesterConfig()
        self.transcript = ConnectionTranscript()
        self.version = 0x10
        self.negotiated: Negotiated | None = None
        self.digests: dict[int, bytes] = {}
        self.chains: dict[int, bytes] = {}
        self.verified: dict[int, VerifiedChain] = {}
        self.sessions: dict[int, Session] = {}
        """The open sessions by SessionID (`key_exchange`, `psk_exchange`); a session leaves when it ends."""

    # --- plumbing ------------------------------------------------------------------------

    @property
    def hash(self) -> HashSuite:
        return hash_suite(self._require_negotiated().base_hash_algo)

    @property
    def asym(self) -> AsymSuite:
        return asym_suite(self._require_negotiated().base_asym_algo)

    def _require_negotiated(self) -> Negotiated:
        if self.negotiated is None:
            raise NegotiationError("the connection is not negotiated yet: run init_connection() first")
        return self.negotiated

    def _transact(
        self, request: Message, expect: type[M], *, summary_hash_type: int = 0, signature_requested: bool = False
    ) -> tuple[M, bytes, bytes]:
        """Send `request`, follow Busy/ResponseNotReady, and return the response and both exact byte strings.

        `summary_hash_type` and `signature_requested` are what the request asked for: they size the response.
        """
        self.transcript.before_request(request.code)
        codec = self._codec(summary_hash_type, signature_requested)
        return self._exchange(request, encode(request), expect, self._carry_clear, self.transcript.after_error, codec)

    def _codec(self, summary_hash_type: int = 0, signature_requested: bool = False) -> CodecContext | None:
        """The decode context of a response, worked out once per request (None before ALGORITHMS)."""
        negotiated = self.negotiated
        if negotiated is None:
            return None
        return negotiated.codec_context(summary_hash_type=summary_hash_type, signature_requested=signature_requested)

    def _carry_clear(self, data: bytes, timeout: float, codec: CodecContext | None) -> tuple[Message, bytes]:
        """One request in the clear (outside any session) and its decoded response."""
        transport = self.transport
        return self._decode(transport.exchange(data, timeout=timeout), codec, transport.max_padding)

    def _exchange(
        self,
        request: Message,
        data: bytes,
        expect: type[M],
        carry: _Carry,
        on_error: Callable[[int], None],
        codec: CodecContext | None,
    ) -> tuple[M, bytes, bytes]:
        """The request/response exchange shared by the connection and its sessions.

        `data` is `request` encoded; `carry(data, timeout, codec)` moves one request and returns the
        decoded response with its exact bytes; `on_error(error_code)` is told of every ERROR answer
        (transcript resets).
        """
        # the responder's time (CT = 2^CTExponent us for a cryptographic request, else ST1) and the RTT
        if request.code in _CRYPTO_REQUESTS:
            negotiated = self.negotiated
            wait = (1 << (negotiated.responder_ct_exponent if negotiated else 0)) / 1e6
        else:
            wait = _ST1
        timeout = self.config.rtt + wait
        response, exact = carry(data, timeout, codec)
        if isinstance(response, ErrorResponse):
            response, exact = self._follow_errors(request, data, response, carry, on_error, timeout, codec)
        if response.code != request.code & 0x7F or not isinstance(response, expect):
            raise invalid(f"{request.name} was answered with {response.name}")
        if response.version != request.version:
            raise ProtocolError(
                ErrorCode.VersionMismatch,
                f"{response.name} carries version 0x{response.version:02x}, the request 0x{request.version:02x}",
            )
        return response, data, exact

    def _follow_errors(
        self,
        request: Message,
        data: bytes,
        error: ErrorResponse,
        carry: _Carry,
        on_error: Callable[[int], None],
        timeout: float,
        codec: CodecContext | None,
    ) -> tuple[Message, bytes]:
        """ERROR answers: Busy is retried and ResponseNotReady waited for (RESPOND_IF_READY), each a
        bounded number of times, until another answer comes; any other ERROR raises `PeerError`."""
        busy, not_ready = 0, 0
        while True:
            code = error.error_code
            on_error(code)
            if code == ErrorCode.Busy and busy < self.config.busy_retries:
                busy += 1
                sent = data
            elif code == ErrorCode.ResponseNotReady and not_ready < self.config.not_ready_retries:
                not_ready += 1
                sent = self._respond_if_ready(request, error)
            else:
                raise PeerError(error)
            response, exact = carry(sent, timeout, codec)
            if not isinstance(response, ErrorResponse):
                return response, exact
            error = response

    def _respond_if_ready(self, request: Message, error: ErrorResponse) -> bytes:
        extended = error.extended_data
        if not isinstance(extended, ResponseNotReady) or extended.request_code != request.code:
            raise invalid("ResponseNotReady names another request")
        if extended.rd_exponent > 31:
            raise invalid(f"RDExponent {extended.rd_exponent} is over 31")
        self.config.sleep((1 << extended.rd_exponent) / 1e6)
        return encode(RespondIfReady(version=request.version, request_code=request.code, token=extended.token))

    def _decode(self, raw: bytes, codec: CodecContext | None, max_padding: int) -> tuple[Message, bytes]:
        """Decode a response with the negotiated sizes; only padding (at most `max_padding` zero
        bytes) may follow it."""
        limits = self.config.limits
        limits.check_response(raw)
        message, size = decode_prefix(raw, codec)
        if size != len(raw):
            tail = raw[size:]
            if len(tail) > max_padding or any(tail):
                raise invalid(f"{message.name} is followed by {len(tail)} unexpected bytes")
            raw = raw[:size]
        limits.check_response_opaque(message)
        return message, bytes(raw)

    # --- VCA -----------------------------------------------------------------------------

    def init_connection(self) -> Negotiated:
        """GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS: the highest common version and the algorithms."""
        for session in tuple(self.sessions.values()):
            session.discard("GET_VERSION restarts the connection, which ends every session")
        self.sessions.clear()
        self.negotiated = None
        self.digests.clear()
        self.chains.clear()
        self.verified.clear()
        version, request, response = self._transact(GetVersion(), Version)
        self.transcript.add_vca(request, response)
        common = {v.major_minor for v in version.versions} & set(self.config.versions)
        if not common:
            offered = ", ".join(str(v) for v in version.versions)
            raise NegotiationError(f"no common SPDM version: the device offers {offered}")
        self.version = max(common)
        ask, answer = self._exchange_capabilities()
        return self._negotiate_algorithms(ask, answer)

    def _exchange_capabilities(self) -> tuple[GetCapabilities, Capabilities]:
        cfg = self.config
        if self.version >= 0x11:
            ask = GetCapabilities(version=self.version, ct_exponent=cfg.ct_exponent, flags=cfg.capabilities)
        else:
            ask = GetCapabilities(version=self.version, reserved=None, ct_exponent=None, reserved2=None, flags=None)
        answer, request, response = self._transact(ask, Capabilities)
        check_responder_flags(answer.flags, self.version)
        if answer.ct_exponent > 31:
            raise NegotiationError(f"CTExponent {answer.ct_exponent} is over 31")
        self.transcript.add_vca(request, response)
        return ask, answer

    def _negotiate_algorithms(self, asked: GetCapabilities, capabilities: Capabilities) -> Negotiated:
        cfg = self.config
        structs = cfg.alg_structs if self.version >= 0x11 else ()
        offer = NegotiateAlgorithms(
            version=self.version,
            measurement_specification=cfg.measurement_specification,
            base_asym_algo=cfg.base_asym_algo,
            base_hash_algo=cfg.base_hash_algo,
            alg_structs=structs,
        )
        chosen, request, response = self._transact(offer, Algorithms)
        negotiated = Negotiated.from_vca(self.version, asked, capabilities, chosen)
        check_selection(offer, chosen, negotiated)
        self.transcript.add_vca(request, response)
        self.transcript.set_hash(hash_suite(negotiated.base_hash_algo).new)
        self.negotiated = negotiated
        return negotiated

    # --- certificates --------------------------------------------------------------------

    def get_digests(self) -> dict[int, bytes]:
        """The digest of each populated slot's certificate chain."""
        self._require_responder(CapabilityFlags.CERT_CAP, "GET_DIGESTS")
        answer, request, response = self._transact(GetDigests(version=self.version), Digests)
        slots = [slot for slot in range(8) if answer.slot_mask >> slot & 1]
        self.transcript.add_certificate_exchange(request, response)
        self.digests = dict(zip(slots, answer.digests, strict=True))
        return dict(self.digests)

    def get_certificate(self, slot: int = 0) -> bytes:
        """The slot's whole SPDM-format certificate chain, read portion by portion."""
        self._require_responder(CapabilityFlags.CERT_CAP, "GET_CERTIFICATE")
        if not 0 <= slot <= 7:
            raise ValueError(f"slot {slot} is not 0..7")
        chain = bytearray()
        total: int | None = None
        while True:
            ask = GetCertificate(
                version=self.version, slot_param=slot, offset=len(chain), length=self.config.certificate_portion
            )
            answer, request, response = self._transact(ask, Certificate)
            portion = answer.portion
            if answer.slot_id != slot:
                raise invalid(f"CERTIFICATE for slot {answer.slot_id}, asked {slot}")
            if not 0 < len(portion) <= ask.length:
                raise invalid(f"PortionLength {len(portion)} for Length {ask.length}")
            size = len(chain) + len(portion) + answer.remainder_length
            if total is not None and size != total:
                raise invalid("the chain's total size changed between portions")
            self.config.limits.check_chain(size)
            total = size
            self.transcript.add_certificate_exchange(request, response)
            chain += portion
            if answer.remainder_length == 0:
                break
        data = bytes(chain)
        digest = self.digests.get(slot)
        if digest is not None and self.hash.digest(data) != digest:
            raise VerificationError(f"slot {slot}: the certificate chain does not match its DIGESTS digest")
        self.chains[slot] = data
        return data

    def verify_certificate(self, slot: int = 0) -> VerifiedChain:
        """Validate the slot's chain (fetched by `get_certificate`) against the slot's trust anchor."""
        anchor = self.config.trust_anchors.get(slot)
        if anchor is None:
            raise VerificationError(f"slot {slot}: no trust anchor configured")
        data = self.chains.get(slot)
        if data is None:
            raise VerificationError(f"slot {slot}: no certificate chain fetched")
        verified = verify_chain(
            CertChain.from_bytes(data, self.hash.size),
            trust_anchor=anchor,
            hash_suite=self.hash,
            asym_suite=self.asym,
            now=self.config.clock(),
            policy=self.config.chain_policy,
        )
        self.verified[slot] = verified
        return verified

    # --- challenge -----------------------------------------------------------------------

    def challenge(self, slot: int = 0, summary_hash_type: int = SummaryHashType.NONE) -> ChallengeResult:
        """CHALLENGE: the device proves it holds the slot's private key, over the whole transcript."""
        self._require_responder(CapabilityFlags.CHAL_CAP, "CHALLENGE")
        verified = self.verified.get(slot)
        if verified is None:
            raise VerificationError(f"slot {slot}: verify the certificate chain before CHALLENGE")
        nonce = self.config.random(_NONCE_SIZE)
        ask = Challenge(version=self.version, slot_id=slot, summary_hash_type=summary_hash_type, nonce=nonce)
        answer, request, response = self._transact(ask, ChallengeAuth, summary_hash_type=summary_hash_type)
        if answer.slot_id != slot:
            raise invalid(f"CHALLENGE_AUTH for slot {answer.slot_id}, asked {slot}")
        if answer.cert_chain_hash != self.hash.digest(self.chains[slot]):
            raise VerificationError(f"slot {slot}: CertChainHash does not match the certificate chain")
        signed = response[: len(response) - len(answer.signature)]
        digest = self.transcript.challenge_digest(request, signed)
        self.asym.verify(verified.leaf_public_key, digest, answer.signature, self.hash)
        self.transcript.challenge_done(True)
        mutual = bool(self.config.identities) and self._both(CapabilityFlags.MUT_AUTH_CAP)
        if answer.basic_mut_auth_requested and mutual:
            _basic_mutual_authentication(self)
        return ChallengeResult(
            slot=slot,
            requester_nonce=nonce,
            responder_nonce=answer.nonce,
            measurement_summary_hash=answer.measurement_summary_hash,
            opaque_data=answer.opaque_data,
            basic_mut_auth_requested=answer.basic_mut_auth_requested,
            requester_authenticated=answer.basic_mut_auth_requested and mutual,
        )

    # --- measurements --------------------------------------------------------------------

    def get_measurements(self, operation: int = 0xFF, *, signed: bool = True, slot: int = 0) -> MeasurementResult:
        """GET_MEASUREMENTS of one index (1..0xFE), all (0xFF) or just the count (0).

        A signed request is checked against the slot's verified chain over L1/L2.
        """
        negotiated = self._require_negotiated()
        cap = negotiated.responder_measurement_cap
        if cap == 0 or (signed and cap != 2):
            raise NegotiationError("the device does not offer " + ("signed " if signed else "") + "measurements")
        if signed and slot not in self.verified:
            raise VerificationError(f"slot {slot}: verify the certificate chain before signed measurements")
        nonce = self.config.random(_NONCE_SIZE) if signed else None
        ask = GetMeasurements(
            version=self.version,
            attributes=1 if signed else 0,
            operation=operation,
            nonce=nonce,
            slot_id_param=slot if signed and self.version >= 0x11 else None,
        )
        answer, request, response = self._transact(ask, Measurements, signature_requested=signed)
        check_measurements(ask, answer, negotiated)
        if answer.signature is not None:
            signed_part = response[: len(response) - len(answer.signature)]
            digest = self.transcript.measurements_digest(request, signed_part)
            self.asym.verify(self.verified[slot].leaf_public_key, digest, answer.signature, self.hash)
        else:
            self.transcript.add_measurements(request, response)
        return MeasurementResult(
            operation=operation,
            blocks=answer.blocks,
            total_indices=answer.total_indices if operation == 0 else None,
            signed=signed,
            slot=slot if signed else None,
            requester_nonce=nonce,
            responder_nonce=answer.nonce,
            opaque_data=answer.opaque_data,
        )

    # --- vendor-defined ------------------------------------------------------------------

    def vendor_defined(self, standard_id: int, vendor_id: bytes, payload: bytes) -> bytes:
        """VENDOR_DEFINED_REQUEST outside a session: the payload of the VENDOR_DEFINED_RESPONSE.

        Payloads are bounded by `config.limits` (`max_vendor_request_bytes` for what is sent,
        `max_vendor_response_bytes` for what is accepted, checked before the response is decoded).
        """
        self._require_negotiated()
        limit = self.config.limits.max_vendor_request_bytes
        if len(payload) > limit:
            raise ProtocolError(ErrorCode.InvalidRequest, f"a {len(payload)}-byte vendor payload is over {limit}")
        ask = VendorDefinedRequest(
            version=self.version, standard_id=standard_id, vendor_id=bytes(vendor_id), payload=bytes(payload)
        )
        answer, _, _ = self._transact(ask, VendorDefinedResponse)
        if answer.standard_id != ask.standard_id or answer.vendor_id != ask.vendor_id:
            raise invalid("VENDOR_DEFINED_RESPONSE names another StandardID or VendorID")
        return answer.payload

    # --- the whole job -------------------------------------------------------------------

    def authenticate(
        self,
        slot: int = 0,
        *,
        measurements: int | None = 0xFF,
        summary_hash_type: int = SummaryHashType.NONE,
        reference: ReferenceValues | None = None,
    ) -> AuthenticationResult:
        """VCA, digests, the slot's chain (validated), CHALLENGE, and signed measurements.

        `measurements`: 0xFF for all blocks, an index for one, None to skip. A RequestResynch
        answer restarts the flow once.
        """
        try:
            return self._authenticate(slot, measurements, summary_hash_type, reference)
        except PeerError as error:
            if error.error_code != ErrorCode.RequestResynch:
                raise
            return self._authenticate(slot, measurements, summary_hash_type, reference)

    def _authenticate(
        self, slot: int, measurements: int | None, summary_hash_type: int, reference: ReferenceValues | None
    ) -> AuthenticationResult:
        negotiated = self.init_connection()
        digests = self.get_digests()
        if slot not in digests:
            raise VerificationError(f"slot {slot} holds no certificate chain (populated: {sorted(digests)})")
        chain_bytes = self.get_certificate(slot)
        chain = self.verify_certificate(slot)
        challenge = self.challenge(slot, summary_hash_type)
        result = None
        if measurements is not None and negotiated.responder_measurement_cap:
            result = self.get_measurements(measurements, signed=negotiated.responder_measurement_cap == 2, slot=slot)
            summary = challenge.measurement_summary_hash
            if (
                summary_hash_type == SummaryHashType.ALL
                and summary is not None
                and result.signed
                and measurements == 0xFF
            ):
                check_summary_hash(summary, result.blocks, self.hash)
        verdict = appraise(result.blocks, reference) if reference is not None and result is not None else None
        return AuthenticationResult(
            negotiated=negotiated,
            digests=digests,
            slot=slot,
            chain=chain,
            chain_bytes=chain_bytes,
            challenge=challenge,
            measurements=result,
            appraisal=verdict,
        )

    # --- sessions ------------------------------------------------------------------------

    def key_exchange(
        self, slot: int = 0, *, summary_hash_type: int = SummaryHashType.NONE, fetch_certificate: bool = True
    ) -> Session:
        """KEY_EXCHANGE/FINISH with the certificate chain of `slot`: an established `Session`.

        KEY_EXCHANGE_RSP is signed by the slot's leaf key over A || Hash(Ct) || K, so the slot's
        chain must be validated first. Like libspdm, the requester uses the chain it already
        holds (`get_certificate` + `verify_certificate`); when it holds none and
        `fetch_certificate` is true (the default) it runs GET_DIGESTS, GET_CERTIFICATE and the
        validation itself (outside the session, before KEY_EXCHANGE), else it refuses with
        `VerificationError`. When the responder asks for mutual authentication the requester
        answers its encapsulated requests (or, for MutAuthRequested 0x01, just signs FINISH)
        with `config.identities`; with none configured it refuses (`NegotiationError`).
        """
        if not 0 <= slot <= 7:
            raise ValueError(f"slot {slot} is not 0..7 (provisioned public keys, slot 0xFF, are not supported)")
        _check_key_exchange(self._require_negotiated())
        self._check_session_room()
        if slot not in self.verified:
            if not fetch_certificate:
                raise VerificationError(f"slot {slot}: verify the certificate chain before KEY_EXCHANGE")
            digests = self.get_digests()
            if slot not in digests:
                raise VerificationError(f"slot {slot} holds no certificate chain (populated: {sorted(digests)})")
            self.get_certificate(slot)
            self.verify_certificate(slot)
        return _key_exchange(self, slot, summary_hash_type)

    def psk_exchange(self, *, summary_hash_type: int = SummaryHashType.NONE) -> Session:
        """PSK_EXCHANGE (and PSK_FINISH when the responder has PSK context) with `config.psk`: an established `Session`.

        ResponderVerifyData in PSK_EXCHANGE_RSP proves the responder holds the PSK; a responder
        with PSK_CAP "without context" sends no context and expects no PSK_FINISH.
        """
        negotiated = self._require_negotiated()
        self._check_session_room()
        return _psk_exchange(self, negotiated, summary_hash_type)

    def _check_session_room(self) -> None:
        limit = self.config.limits.max_requester_sessions
        if len(self.sessions) >= limit:
            reason = f"{len(self.sessions)} sessions are open, at most {limit}"
            raise ProtocolError(ErrorCode.SessionLimitExceeded, reason)

    def _both(self, flag: CapabilityFlags) -> bool:
        return self._require_negotiated().both(flag)

    def _require_responder(self, flag: CapabilityFlags, what: str) -> None:
        negotiated = self._require_negotiated()
        if not negotiated.responder_flags & flag:
            raise NegotiationError(f"the device does not set {flag.name}: no {what}")
