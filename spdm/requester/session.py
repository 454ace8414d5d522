"""The requester's sessions: KEY_EXCHANGE/FINISH, PSK_EXCHANGE/PSK_FINISH, and `Session`.

`key_exchange` and `psk_exchange` run a handshake for a `spdm.requester.Requester` and return an
established `Session`; `Session` then carries SPDM requests as DSP0277 secured messages. The
order of every step follows libspdm's requester (and `spdm.verify.sessions`, which was proven on
libspdm's captures):

* KEY_EXCHANGE_RSP: the signature over A || Hash(Ct) || K (up to OpaqueData) with the slot's
  verified leaf key, then the DHE secret, Hash(TH1), the handshake keys and ResponderVerifyData
  (which moves to FINISH_RSP when both sides set HANDSHAKE_IN_THE_CLEAR_CAP).
* Mutual authentication: MutAuthRequested 0x02 runs the responder's encapsulated requests
  (GET_DIGESTS, GET_CERTIFICATE, CHALLENGE) inside the session under the handshake keys, 0x04
  starts it with the DIGESTS of an implicit GET_DIGESTS, 0x01 has none; then Hash(CM) (the
  requester's chain in the slot the responder named) enters TH and FINISH is signed.
* FINISH travels under the request handshake key (in the clear with HANDSHAKE_IN_THE_CLEAR);
  FINISH_RSP ends TH2, which gives the data keys.
* PSK: ResponderVerifyData always in PSK_EXCHANGE_RSP; PSK_FINISH only when the responder has
  PSK context, else TH2 = A || K at once.
* KEY_UPDATE: UpdateKey changes the request key after the ACK. UpdateAllKeys expects the ACK
  under the responder's new key and, like libspdm, falls back to its old key when the ACK does
  not open with the new one (the responder did not update). VerifyNewKey follows either.
* A response that does not open tears the session down (`SessionDecryptError`), as libspdm frees
  a session on a decrypt failure; so does an ERROR DecryptError from the responder.
"""

from __future__ import annotations

import contextlib
import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spdm._checks import check_measurements, invalid
from spdm.certs import CertChain
from spdm.crypto import (
    ASYM_SUITES,
    AsymSuite,
    DhePrivateKey,
    DheSuite,
    HashSuite,
    SigningKey,
    aead_suite,
    asym_suite,
    dhe_suite,
    hash_suite,
)
from spdm.errors import DecodeError, EncodeError, NegotiationError, ProtocolError, SpdmError, VerificationError
from spdm.messages import Message, decode_prefix, encode
from spdm.messages.certificates import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.codes import CapabilityFlags, Code, ErrorCode, KeyScheduleAlgo, KeyUpdateOperation
from spdm.messages.context import CodecContext
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetEncapsulatedRequest,
)
from spdm.messages.error import ErrorResponse
from spdm.messages.key_exchange import Finish, FinishRsp, KeyExchange, KeyExchangeRsp
from spdm.messages.measurements import GetMeasurements, Measurements
from spdm.messages.opaque import decode_opaque, selected_secured_message_version, version_list_opaque
from spdm.messages.psk import PskExchange, PskExchangeRsp, PskFinish, PskFinishRsp
from spdm.messages.session_control import EndSession, EndSessionAck, Heartbeat, HeartbeatAck, KeyUpdate, KeyUpdateAck
from spdm.negotiated import Negotiated
from spdm.session.keys import HandshakeSecrets, KeySchedule
from spdm.session.secured import DirectionState, SecuredSession
from spdm.session.transcript import SessionTranscript
from spdm.transcript import Transcript

if TYPE_CHECKING:
    from spdm.requester.driver import MeasurementResult, Requester, RequesterConfig

__all__ = [
    "DheKeyShare",
    "RequesterIdentity",
    "Session",
    "SessionClosedError",
    "SessionDecryptError",
    "basic_mutual_authentication",
    "check_key_exchange",
    "key_exchange",
    "psk_exchange",
]

M = TypeVar("M", bound=Message)
SessionPhase = Literal["handshake", "established", "closed"]

F = CapabilityFlags
_RANDOM_SIZE = 32
_NONCE_SIZE = 32
_PSK_CONTEXT_SIZE = 64  # libspdm's RequesterContext size (at least 32)
_SESSION_ID = struct.Struct("<I")
_MAX_ENCAPSULATED_REQUESTS = 16
_SESSION_ID_ATTEMPTS = 64
_MUT_AUTH = 0x01
_MUT_AUTH_ENCAP = 0x02
_MUT_AUTH_DIGESTS = 0x04
_SLOT_COUNT = 8
# Read per session or per request, as plain ints: an enum member read is a descriptor call.
_GET_MEASUREMENTS = int(Code.GET_MEASUREMENTS)
_MAC_CAP, _ENCRYPT_CAP, _HBEAT_CAP = int(F.MAC_CAP), int(F.ENCRYPT_CAP), int(F.HBEAT_CAP)
_PSK_CAP_MASK, _PSK_CAP_WITH_CONTEXT = int(F.PSK_CAP_MASK), int(F.PSK_CAP_WITH_CONTEXT)
_SPDM_KEY_SCHEDULE = int(KeyScheduleAlgo.SPDM_KEY_SCHEDULE)
# In-session requests that drop an unfinished CHALLENGE transcript (B, C), as libspdm does
_DROPS_UNFINISHED_AUTH = frozenset(
    {
        Code.GET_MEASUREMENTS,
        Code.FINISH,
        Code.PSK_FINISH,
        Code.KEY_UPDATE,
        Code.HEARTBEAT,
        Code.GET_ENCAPSULATED_REQUEST,
        Code.DELIVER_ENCAPSULATED_RESPONSE,
        Code.END_SESSION,
    }
)
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


# --- errors -------------------------------------------------------------------------------------


class SessionClosedError(ProtocolError):
    """The session is closed (ended, torn down, or its connection restarted): nothing more travels in it."""

    def __init__(self, session_id: int, reason: str) -> None:
        super().__init__(ErrorCode.InvalidSession, f"session 0x{session_id:08x} is closed: {reason}")
        self.session_id = session_id


class SessionDecryptError(VerificationError):
    """A response of the session did not open (tag, framing, sequence number or SessionID): the
    session is torn down and its keys discarded, as libspdm's requester does."""

    def __init__(self, session_id: int, reason: str) -> None:
        super().__init__(f"session 0x{session_id:08x}: {reason}; the session is torn down")
        self.session_id = session_id


# --- DHE key agreement --------------------------------------------------------------------------


class DheKeyShare(Protocol):
    """One side of a DHE agreement: the ExchangeData sent and the secret agreed with the peer's."""

    @property
    def exchange_data(self) -> bytes:
        """The requester's ExchangeData for KEY_EXCHANGE (SPDM wire form)."""
        ...

    def shared_secret(self, peer_exchange_data: bytes) -> bytes:
        """The DHE shared secret with the responder's ExchangeData; `VerificationError` if it is invalid."""
        ...


@dataclass(frozen=True, slots=True)
class _EphemeralKeyShare:
    suite: DheSuite
    private_key: DhePrivateKey

    @property
    def exchange_data(self) -> bytes:
        return self.suite.public_bytes(self.private_key)

    def shared_secret(self, peer_exchange_data: bytes) -> bytes:
        return self.suite.shared_secret(self.private_key, peer_exchange_data)


def _key_share(config: RequesterConfig, suite: DheSuite) -> DheKeyShare:
    if config.dhe_key_share is not None:
        return config.dhe_key_share(suite)
    if config.dhe_private_value is not None:
        return _EphemeralKeyShare(suite, suite.from_private_value(config.dhe_private_value(suite)))
    return _EphemeralKeyShare(suite, suite.generate())


# --- the requester's identity -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RequesterIdentity:
    """A certificate chain of the requester (DER, root first, leaf last) and what signs with its leaf key.

    Give `private_key`, or `sign` (digest -> SPDM wire signature) for a key held elsewhere (an
    HSM, a capture replay); the algorithm is the negotiated ReqBaseAsymAlg and the digest is
    Hash(transcript) (SPDM 1.1 signs the hash directly).
    """

    certificates: tuple[bytes, ...]
    private_key: SigningKey | None = None
    sign: Callable[[bytes], bytes] | None = None

    def __post_init__(self) -> None:
        if not self.certificates:
            raise ValueError("a requester identity needs its certificate chain (root first, leaf last)")
        if self.private_key is None and self.sign is None:
            raise ValueError("a requester identity needs a private_key or a sign callable")
        if self.private_key is not None:
            mine = self.private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            leaf = self.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            if mine != leaf:
                raise ValueError("the private key does not belong to the leaf (last) certificate")

    def public_key(self) -> CertificatePublicKeyTypes:
        """The leaf certificate's public key."""
        return x509.load_der_x509_certificate(self.certificates[-1]).public_key()

    def signature_algorithms(self) -> int:
        """The BaseAsymAlgo bits the leaf key can sign with (what to offer as ReqBaseAsymAlg)."""
        key = self.public_key()
        return sum(suite.bit for suite in ASYM_SUITES if suite.accepts(key))

    def chain_bytes(self, hash_suite: HashSuite) -> bytes:
        """The chain in SPDM slot format (Length, Reserved, RootHash, certificates): CM."""
        return CertChain.build(self.certificates, hash_suite).to_bytes()

    def signature(self, suite: AsymSuite, digest: bytes, hash_suite: HashSuite) -> bytes:
        """The wire signature of `digest` with `suite` (the negotiated ReqBaseAsymAlg)."""
        if self.sign is not None:
            signature = bytes(self.sign(digest))
        elif self.private_key is not None:
            signature = suite.sign(self.private_key, digest, hash_suite)
        else:  # __post_init__ makes this unreachable
            raise NegotiationError("the requester identity cannot sign")
        if len(signature) != suite.signature_size:
            raise EncodeError(suite.name, "signature", f"{len(signature)} bytes, expected {suite.signature_size}")
        return signature


# --- helpers ------------------------------------------------------------------------------------


def _random(config: RequesterConfig, size: int) -> bytes:
    data = bytes(config.random(size))
    if len(data) != size:
        raise ValueError(f"config.random({size}) returned {len(data)} bytes")
    return data


def _new_req_session_id(requester: Requester) -> int:
    """A fresh ReqSessionID: non-zero and not the requester half of any open session."""
    sessions = requester.sessions
    used = {session_id & 0xFFFF for session_id in sessions} if sessions else ()
    for _ in range(_SESSION_ID_ATTEMPTS):
        value = int.from_bytes(_random(requester.config, 2), "little")
        if value and value not in used:
            return value
    raise ProtocolError(ErrorCode.SessionLimitExceeded, "no free ReqSessionID could be drawn")


def _require_session_caps(negotiated: Negotiated, handshake: str) -> None:
    if negotiated.version < 0x11:
        raise NegotiationError(
            f"{handshake} needs SPDM 1.1; the connection runs {negotiated.version >> 4}.{negotiated.version & 0xF}"
        )
    if not negotiated.both(_MAC_CAP):
        # DSP0277 secured messages are always authenticated: MAC_CAP on both sides (libspdm requires it too)
        raise NegotiationError(f"{handshake}: MAC_CAP is not set by both sides, so no secured message can be sent")
    if negotiated.aead_suite == 0 or negotiated.key_schedule != _SPDM_KEY_SCHEDULE:
        raise NegotiationError(f"{handshake}: ALGORITHMS selected no AEAD suite or no SPDM key schedule")


@functools.lru_cache(maxsize=16)
def _selected_version(opaque: bytes, offered: tuple[int, ...], what: str) -> int:
    """The DSP0277 version the responder selected; it must be one the requester offered.

    Worked out once per distinct OpaqueData and offer (a responder sends the same bytes every
    handshake); a refusal is raised again each time, never cached.
    """
    if not opaque:
        raise invalid(f"{what} carries no OpaqueData: no secured-message version was selected")
    try:
        version = selected_secured_message_version(decode_opaque(opaque))
    except DecodeError as error:
        raise invalid(f"{what}: {error}") from None
    if version >> 8 not in {v >> 8 for v in offered}:
        raise NegotiationError(
            f"{what} selects secured-message version {version >> 12}.{version >> 8 & 0xF}, which was not offered"
        )
    return version


@functools.lru_cache(maxsize=8)
def _end_session(version: int, attributes: int) -> tuple[EndSession, bytes]:
    """END_SESSION and its bytes, made once per version and attributes (it carries nothing else)."""
    ask = EndSession(version=version, attributes=attributes)
    return ask, encode(ask)


@functools.lru_cache(maxsize=8)
def _psk_finish_header(version: int, hash_size: int) -> bytes:
    """PSK_FINISH's 4-byte header (what the transcript takes before RequesterVerifyData), encoded once per version."""
    return encode(PskFinish(version=version, requester_verify_data=bytes(hash_size)))[:4]


def _check_heartbeat(negotiated: Negotiated, period: int, what: str) -> None:
    if period and not negotiated.both(_HBEAT_CAP):
        raise invalid(f"{what} sets HeartbeatPeriod {period} without HBEAT_CAP on both sides")


def _decode_embedded(payload: bytes, negotiated: Negotiated, max_padding: int, what: str) -> tuple[Message, bytes]:
    """A message carried inside an encapsulated one, with up to `max_padding` zero bytes after it."""
    message, size = decode_prefix(payload, negotiated.codec_context())
    tail = payload[size:]
    if len(tail) > max_padding or any(tail):
        raise DecodeError(what, "payload", f"{len(tail)} bytes follow the embedded {message.name}")
    return message, bytes(payload[:size])


# --- the session --------------------------------------------------------------------------------


class Session:
    """One established SPDM session of a `Requester` (from `key_exchange` or `psk_exchange`).

    Requests travel as DSP0277 secured messages under the session's data keys; each direction
    counts its own sequence numbers from 0 per key and never reuses one. `send` carries any
    request (application messages, VENDOR_DEFINED, GET_MEASUREMENTS...) and returns the decoded
    response (an ERROR raises `PeerError`); `heartbeat`, `key_update`, `get_measurements` and
    `close` are the session's own operations. As a context manager the session ends (END_SESSION)
    on exit. After `close`, a teardown (`SessionDecryptError`, ERROR DecryptError) or a new
    GET_VERSION on the connection, every call raises `SessionClosedError`.

    Attributes: `session_id` (RspSessionID << 16 | ReqSessionID), `psk` (a PSK session), `slot`
    (the responder's certificate slot, None for PSK), `requester_slot` (the requester's slot under
    mutual authentication, else None), `mut_auth_requested` (KEY_EXCHANGE_RSP's value),
    `heartbeat_period` (seconds, 0 for none: the requester does not send heartbeats by itself),
    `measurement_summary_hash` (from the exchange response, when asked for),
    `secured_message_version` (the DSP0277 version selected), `encrypted` (ENC+AUTH, else AUTH
    only), `th1`/`th2` (the transcript hashes that derived the keys).
    """

    def __init__(
        self,
        requester: Requester,
        *,
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
        in_clear: bool = False,
    ) -> None:
        negotiated = requester._require_negotiated()
        self.session_id = session_id
        self.psk = psk
        self.slot = slot
        self.requester_slot: int | None = None
        self.mut_auth_requested = mut_auth_requested
        self.heartbeat_period = heartbeat_period
        self.measurement_summary_hash = measurement_summary_hash
        self.secured_message_version = secured_message_version
        self.encrypted = negotiated.both(_ENCRYPT_CAP)
        self.closed_reason: str | None = None
        self._requester = requester
        self._version = negotiated.version
        self._schedule: KeySchedule | None = schedule
        self._handshake: HandshakeSecrets | None = handshake
        self._transcript = transcript
        self._in_clear = in_clear
        self._phase: SessionPhase = "handshake"
        self._record_prefix = _SESSION_ID.pack(session_id)  # every record of the session starts with its ID
        # the decode context of its responses (all but a signed MEASUREMENTS): the connection's
        # negotiation cannot change under a live session (GET_VERSION discards it first)
        self._codec = negotiated.codec_context()
        self._channel: SecuredSession | None = SecuredSession.from_keys(
            role="requester",
            session_id=session_id,
            aead=schedule.aead,
            request=handshake.request,
            response=handshake.response,
            transport=requester.config.secured_framing,
            encrypt=self.encrypted,
        )
        self._measurements: Transcript | None = None
        self._alternate: DirectionState | None = None

    # --- state ------------------------------------------------------------------------------

    @property
    def phase(self) -> SessionPhase:
        """The session's phase: handshake until FINISH_RSP (PSK_FINISH_RSP), then established, finally closed."""
        return self._phase

    @property
    def established(self) -> bool:
        return self._phase == "established"

    @property
    def closed(self) -> bool:
        return self._phase == "closed"

    @property
    def th1(self) -> bytes | None:
        return self._transcript.th1

    @property
    def th2(self) -> bytes | None:
        return self._transcript.th2

    @property
    def sequence_numbers(self) -> tuple[int, int]:
        """(request, response) sequence numbers the next records use; (0, 0) once closed."""
        channel = self._channel
        if channel is None:
            return 0, 0
        return channel.request.sequence_number, channel.response.sequence_number

    def discard(self, reason: str) -> None:
        """Forget the session and its keys without telling the responder (it is gone or unusable)."""
        if self._phase == "closed":
            return
        self._phase = "closed"
        self.closed_reason = reason
        self._channel = None
        self._schedule = None
        self._handshake = None
        self._alternate = None
        self._measurements = None
        self._requester.sessions.pop(self.session_id, None)

    def _require(self, phase: SessionPhase) -> None:
        if self._phase == "closed":
            raise SessionClosedError(self.session_id, self.closed_reason or "closed")
        if self._phase != phase:
            raise ProtocolError(ErrorCode.UnexpectedRequest, f"session 0x{self.session_id:08x} is in its {self._phase}")

    def _require_both(self, flag: CapabilityFlags, what: str) -> None:
        if not self._requester._require_negotiated().both(flag):
            raise NegotiationError(f"{flag.name} is not set by both sides: no {what}")

    # --- carrying messages ------------------------------------------------------------------

    def _transact(
        self, request: Message, expect: type[M], *, signature_requested: bool = False, data: bytes | None = None
    ) -> tuple[M, bytes, bytes]:
        """One request of this session: the session's transcript rules, then the shared exchange.

        `data` is the request's encoding when the caller already holds it (the bytes it put in the transcript).
        """
        code = request.code
        if code != _GET_MEASUREMENTS:
            self._measurements = None
        requester = self._requester
        if code in _DROPS_UNFINISHED_AUTH:
            # like libspdm: the connection's unfinished CHALLENGE transcript (B, C) goes, its M stays
            requester.transcript.drop_unfinished_authentication()
        data = encode(request) if data is None else data
        codec = requester._codec(0, True) if signature_requested else self._codec
        return requester._exchange(request, data, expect, self._carry, self._on_error, codec)

    def _on_error(self, error_code: int) -> None:
        if error_code != ErrorCode.ResponseNotReady:
            self._measurements = None
        if error_code == ErrorCode.DecryptError:
            self.discard("the responder answered ERROR DecryptError")

    def _carry(self, data: bytes, timeout: float, codec: CodecContext | None) -> tuple[Message, bytes]:
        """One request as a record of the session (in the clear during a HANDSHAKE_IN_THE_CLEAR
        handshake) and its decoded response."""
        channel = self._channel
        if channel is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "closed")
        requester = self._requester
        if self._in_clear and self._phase == "handshake":
            return requester._carry_clear(data, timeout, codec)
        raw = requester.transport.exchange(channel.request.seal(data), session_id=self.session_id, timeout=timeout)
        if not raw.startswith(self._record_prefix):
            return self._clear_answer(raw, codec)
        try:
            app = channel.response.open(raw)
        except (VerificationError, DecodeError, ProtocolError) as error:
            app = self._unopened(channel, raw, error)
        return requester._decode(app, codec, 0)

    def _clear_answer(self, raw: bytes, codec: CodecContext | None) -> tuple[Message, bytes]:
        """A response that is not a record of this session: only an ERROR in the clear is understood."""
        requester = self._requester
        try:
            message, exact = requester._decode(raw, codec, requester.transport.max_padding)
        except DecodeError:
            message = None
        if isinstance(message, ErrorResponse):
            return message, exact
        self.discard("the responder answered a secured request with something else than a record of the session")
        raise SessionDecryptError(self.session_id, "the response is not a secured message of this session")

    def _unopened(self, channel: SecuredSession, raw: bytes, error: SpdmError) -> bytes:
        """A response that did not open with the responder's key: during UpdateAllKeys it may be under
        the other one (libspdm's fallback); otherwise the session is torn down."""
        alternate = self._alternate
        if alternate is not None and isinstance(error, VerificationError):
            # both keys stay candidates until the exchange ends (a Busy retry may switch back)
            try:
                app = alternate.open(raw)
            except SpdmError:
                pass
            else:
                self._alternate, channel.response = channel.response, alternate
                return app
        self.discard(f"a response did not open: {error}")
        raise SessionDecryptError(self.session_id, f"a response did not open ({error})") from None

    # --- the application phase -------------------------------------------------------------

    def send(self, request: Message) -> Message:
        """Send one SPDM request in the session and return its decoded response.

        An ERROR answer raises `PeerError` (after Busy retries and ResponseNotReady handling).
        KEY_UPDATE, END_SESSION and the handshake requests have their own methods; a
        GET_MEASUREMENTS sent here is recorded in the session's measurement transcript but its
        signature is not checked (use `get_measurements`).
        """
        if request.code in _RESERVED_REQUESTS:
            raise ValueError(f"{request.name} is not sent through Session.send: use the session's own methods")
        self._require("established")
        signed = isinstance(request, GetMeasurements) and request.signature_requested
        response, data, exact = self._transact(request, Message, signature_requested=signed)
        if isinstance(request, GetMeasurements):
            if signed:
                self._measurements = None
            else:
                self._measurement_transcript().append(data, exact)
        return response

    def heartbeat(self) -> None:
        """HEARTBEAT: keeps the session alive (the responder's watchdog is twice `heartbeat_period`)."""
        self._require("established")
        self._require_both(F.HBEAT_CAP, "HEARTBEAT")
        self._transact(Heartbeat(version=self._version), HeartbeatAck)

    def key_update(self, all_keys: bool = False) -> bool:
        """KEY_UPDATE UpdateKey (the request key) or UpdateAllKeys (both), then VerifyNewKey.

        Returns whether the responder's key changed too. With UpdateAllKeys the ACK is expected
        under the responder's new key; when it opens only with the old one the responder did not
        update and the old key stays (libspdm's fallback): False. An ERROR answer leaves both keys
        as they were.
        """
        self._require("established")
        self._require_both(F.KEY_UPD_CAP, "KEY_UPDATE")
        channel, schedule = self._channel, self._schedule
        if channel is None or schedule is None or channel.request.keys is None or channel.response.keys is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "no keys")
        operation = KeyUpdateOperation.UPDATE_ALL_KEYS if all_keys else KeyUpdateOperation.UPDATE_KEY
        old = channel.response
        new = old.rekeyed(schedule.update(channel.response.keys)) if all_keys else old
        if all_keys:
            channel.response, self._alternate = new, old
        try:
            self._key_update_step(operation)
        except BaseException:
            channel.response = old  # an ERROR (or nothing) came back: the responder's key stays as it was
            raise
        finally:
            self._alternate = None
        channel.rekey_request(schedule.update(channel.request.keys))
        self._key_update_step(KeyUpdateOperation.VERIFY_NEW_KEY)
        return all_keys and channel.response is new

    def _key_update_step(self, operation: int) -> None:
        tag = _random(self._requester.config, 1)[0]
        ack, _, _ = self._transact(KeyUpdate(version=self._version, operation=operation, tag=tag), KeyUpdateAck)
        if ack.operation != operation or ack.tag != tag:
            raise invalid(
                f"KEY_UPDATE_ACK echoes operation {ack.operation} tag 0x{ack.tag:02x}, "
                f"sent operation {operation} tag 0x{tag:02x}"
            )

    def _measurement_transcript(self) -> Transcript:
        if self._measurements is None:
            self._measurements = Transcript(self._requester.hash.new)
        return self._measurements

    def get_measurements(
        self, operation: int = 0xFF, *, signed: bool = True, slot: int | None = None
    ) -> MeasurementResult:
        """GET_MEASUREMENTS in the session: the session keeps its own L1/L2 transcript.

        A signed response is checked with the verified chain of `slot` (default: the session's
        slot, 0 for a PSK session), which the requester must hold.
        """
        from spdm.requester.driver import MeasurementResult  # the requester imports this module

        self._require("established")
        requester = self._requester
        negotiated = requester._require_negotiated()
        cap = negotiated.responder_measurement_cap
        if cap == 0 or (signed and cap != 2):
            raise NegotiationError("the device does not offer " + ("signed " if signed else "") + "measurements")
        slot = (self.slot or 0) if slot is None else slot
        verified = requester.verified.get(slot)
        if signed and verified is None:
            raise VerificationError(f"slot {slot}: verify the certificate chain before signed measurements")
        nonce = _random(requester.config, _NONCE_SIZE) if signed else None
        ask = GetMeasurements(
            version=self._version,
            attributes=1 if signed else 0,
            operation=operation,
            nonce=nonce,
            slot_id_param=slot if signed else None,
        )
        answer, request, response = self._transact(ask, Measurements, signature_requested=signed)
        check_measurements(ask, answer, negotiated)
        transcript = self._measurement_transcript()
        if answer.signature is not None and verified is not None:
            signed_part = response[: len(response) - len(answer.signature)]
            digest = transcript.digest(request, signed_part)
            self._measurements = None
            requester.asym.verify(verified.leaf_public_key, digest, answer.signature, requester.hash)
        else:
            transcript.append(request, response)
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

    def close(self, *, clear_negotiated_state: bool = False) -> None:
        """END_SESSION, then the keys are discarded (also when END_SESSION fails). Closing a
        closed session does nothing. `clear_negotiated_state` sets END_SESSION's bit 0, which asks
        a CACHE_CAP responder to drop its cached VCA state (it is never set for other responders)."""
        if self._phase == "closed":
            return
        if self._phase != "established":
            self.discard("closed during the handshake")
            return
        clear = clear_negotiated_state and self._requester._require_negotiated().responder_has(F.CACHE_CAP)
        ask, data = _end_session(self._version, 1 if clear else 0)
        try:
            self._transact(ask, EndSessionAck, data=data)
        finally:
            self.discard("ended")

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
            return
        with contextlib.suppress(SpdmError):  # the error already on its way out is the one that matters
            self.close()

    def __repr__(self) -> str:
        kind = "PSK" if self.psk else f"DHE slot {self.slot}"
        return f"<Session 0x{self.session_id:08x} {kind} {self._phase}>"

    # --- the handshake ----------------------------------------------------------------------

    def _enter_data_phase(self) -> None:
        th2 = self._transcript.th2
        channel, schedule = self._channel, self._schedule
        if th2 is None or channel is None or schedule is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "no handshake")
        data = schedule.data(th2)
        channel.rekey(data.request, data.response)
        self._handshake = None
        self._phase = "established"

    def _finish(self, requester_slot: int | None) -> None:
        """(Mutual authentication,) FINISH and FINISH_RSP: the data keys."""
        requester = self._requester
        negotiated = requester._require_negotiated()
        hashes = requester.hash
        schedule, handshake = self._schedule, self._handshake
        if schedule is None or handshake is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "no handshake")
        identity: RequesterIdentity | None = None
        if self.mut_auth_requested:
            if self.mut_auth_requested != _MUT_AUTH:
                answers = _EncapsulatedAnswers(requester=requester, max_padding=0)
                requester_slot = _run_encapsulated(
                    self._transact,
                    answers,
                    version=self._version,
                    implicit_digests=self.mut_auth_requested == _MUT_AUTH_DIGESTS,
                    slot=requester_slot,
                )
            identity = requester.config.identities.get(requester_slot if requester_slot is not None else -1)
            if identity is None or requester_slot is None:
                raise NegotiationError(
                    f"the responder asks for the requester's slot {requester_slot}, which holds no identity"
                )
            self.requester_slot = requester_slot
            self._transcript.add_requester_chain_hash(hashes.digest(identity.chain_bytes(hashes)))
        req_asym = asym_suite(negotiated.req_base_asym_alg) if identity is not None else None
        template = Finish(
            version=self._version,
            attributes=1 if identity is not None else 0,
            req_slot_id=requester_slot if identity is not None and requester_slot is not None else 0,
            signature=bytes(req_asym.signature_size) if req_asym is not None else None,
            requester_verify_data=bytes(hashes.size),
        )
        header = encode(template)[:4]
        self._transcript.append(header)
        signature = None
        if identity is not None and req_asym is not None:
            signature = identity.signature(req_asym, self._transcript.digest(), hashes)
            self._transcript.append(signature)
        verify_data = schedule.verify_data(handshake.request_finished_key, self._transcript.digest())
        self._transcript.append(verify_data)
        ask = replace(template, signature=signature, requester_verify_data=verify_data)
        if encode(ask) != header + (signature or b"") + verify_data:
            raise EncodeError("FINISH", "", "the message does not encode to the bytes put in the transcript")
        answer, _, response = self._transact(ask, FinishRsp)
        verify_digest = self._transcript.add_finish_rsp(response, answer)
        if self._in_clear:
            if verify_digest is None or answer.responder_verify_data is None:
                raise invalid("FINISH_RSP carries no ResponderVerifyData although the handshake is in the clear")
            schedule.check_verify_data(handshake.response_finished_key, verify_digest, answer.responder_verify_data)
        self._enter_data_phase()

    def _psk_finish(self) -> None:
        """PSK_FINISH and PSK_FINISH_RSP (only for a responder with PSK context): the data keys.

        The request sent is the header and RequesterVerifyData exactly as they went into the transcript.
        """
        schedule, handshake, transcript = self._schedule, self._handshake, self._transcript
        if schedule is None or handshake is None:
            raise SessionClosedError(self.session_id, self.closed_reason or "no handshake")
        header = _psk_finish_header(self._version, schedule.hash_suite.size)
        transcript.append(header)
        verify_data = schedule.verify_data(handshake.request_finished_key, transcript.digest())
        transcript.append(verify_data)
        ask = PskFinish(version=self._version, requester_verify_data=verify_data)
        _, _, response = self._transact(ask, PskFinishRsp, data=header + verify_data)
        transcript.add_finish_rsp(response)
        self._enter_data_phase()


# --- the handshakes -----------------------------------------------------------------------------


def _check_mut_auth(requester: Requester, negotiated: Negotiated, answer: KeyExchangeRsp) -> int | None:
    """MutAuthRequested and SlotIDParam as libspdm checks them; the requester slot to start from."""
    mut = answer.mut_auth_requested
    slot_param = answer.req_slot_id_param & 0xF
    if mut == 0:
        if slot_param:
            raise invalid(
                f"KEY_EXCHANGE_RSP names requester slot {slot_param} without asking for mutual authentication"
            )
        return None
    if mut not in (_MUT_AUTH, _MUT_AUTH_ENCAP, _MUT_AUTH_DIGESTS):
        raise invalid(f"KEY_EXCHANGE_RSP MutAuthRequested 0x{mut:02x} is not 0x01, 0x02 or 0x04")
    if not negotiated.both(F.MUT_AUTH_CAP):
        raise invalid("KEY_EXCHANGE_RSP asks for mutual authentication without MUT_AUTH_CAP on both sides")
    if not requester.config.identities:
        raise NegotiationError("the responder asks for mutual authentication and no requester identity is configured")
    if negotiated.req_base_asym_alg == 0:
        raise NegotiationError("mutual authentication without a negotiated ReqBaseAsymAlg")
    if mut == _MUT_AUTH:
        if slot_param == 0xF:
            raise NegotiationError(
                "the responder asks for a provisioned requester public key (slot 0xF): not supported"
            )
        if slot_param >= _SLOT_COUNT:
            raise invalid(f"KEY_EXCHANGE_RSP names requester slot {slot_param}")
        return slot_param
    if not negotiated.both(F.ENCAP_CAP):
        raise invalid("KEY_EXCHANGE_RSP asks for encapsulated requests without ENCAP_CAP on both sides")
    return slot_param


def check_key_exchange(negotiated: Negotiated) -> None:
    """`NegotiationError` unless the connection can run KEY_EXCHANGE."""
    _require_session_caps(negotiated, "KEY_EXCHANGE")
    if not negotiated.both(F.KEY_EX_CAP):
        raise NegotiationError("KEY_EX_CAP is not set by both sides: no KEY_EXCHANGE")
    if negotiated.dhe_group == 0:
        raise NegotiationError("KEY_EXCHANGE: ALGORITHMS selected no DHE group")


def key_exchange(requester: Requester, slot: int, summary_hash_type: int) -> Session:
    """KEY_EXCHANGE, (mutual authentication,) FINISH: see `Requester.key_exchange`."""
    negotiated = requester._require_negotiated()
    check_key_exchange(negotiated)
    verified = requester.verified.get(slot)
    chain = requester.chains.get(slot)
    if verified is None or chain is None:
        raise VerificationError(f"slot {slot}: verify the certificate chain before KEY_EXCHANGE")
    config = requester.config
    hashes = requester.hash
    suite = dhe_suite(negotiated.dhe_group)
    share = _key_share(config, suite)
    ask = KeyExchange(
        version=negotiated.version,
        summary_hash_type=summary_hash_type,
        slot_id=slot,
        req_session_id=_new_req_session_id(requester),
        random_data=_random(config, _RANDOM_SIZE),
        exchange_data=share.exchange_data,
        opaque_data=version_list_opaque(config.secured_message_versions),
    )
    if len(ask.exchange_data) != suite.exchange_size:
        raise EncodeError("KEY_EXCHANGE", "exchange_data", f"{suite.name} ExchangeData is {suite.exchange_size} bytes")
    answer, request, response = requester._transact(ask, KeyExchangeRsp, summary_hash_type=summary_hash_type)
    _check_heartbeat(negotiated, answer.heartbeat_period, "KEY_EXCHANGE_RSP")
    requester_slot = _check_mut_auth(requester, negotiated, answer)
    secured_version = _selected_version(
        bytes(answer.opaque_data), tuple(config.secured_message_versions), "KEY_EXCHANGE_RSP"
    )
    session_id = answer.rsp_session_id << 16 | ask.req_session_id
    if session_id in requester.sessions:
        raise invalid(f"KEY_EXCHANGE_RSP makes SessionID 0x{session_id:08x}, which is already open")
    transcript = SessionTranscript(hashes, requester.transcript.vca_hash(), responder_chain_hash=hashes.digest(chain))
    transcript.add_exchange_request(request)
    digests = transcript.add_key_exchange_rsp(response, answer)
    if digests.signature_digest is None:  # always set for a certificate-based transcript
        raise VerificationError("KEY_EXCHANGE_RSP: no signature digest")
    requester.asym.verify(verified.leaf_public_key, digests.signature_digest, answer.signature, hashes)
    secret = share.shared_secret(answer.exchange_data)
    if config.on_dhe_secret is not None:
        config.on_dhe_secret(session_id, secret)
    schedule = KeySchedule(hashes, aead_suite(negotiated.aead_suite), secret, spdm_version=negotiated.version)
    handshake = schedule.handshake(digests.th1)
    in_clear = negotiated.both(F.HANDSHAKE_IN_THE_CLEAR_CAP)
    if not in_clear:
        if answer.responder_verify_data is None:
            raise invalid("KEY_EXCHANGE_RSP carries no ResponderVerifyData")
        schedule.check_verify_data(handshake.response_finished_key, digests.th1, answer.responder_verify_data)
    session = Session(
        requester,
        session_id=session_id,
        psk=False,
        slot=slot,
        schedule=schedule,
        handshake=handshake,
        transcript=transcript,
        heartbeat_period=answer.heartbeat_period,
        measurement_summary_hash=answer.measurement_summary_hash,
        secured_message_version=secured_version,
        mut_auth_requested=answer.mut_auth_requested,
        in_clear=in_clear,
    )
    requester.sessions[session_id] = session
    try:
        session._finish(requester_slot)
    except BaseException:
        session.discard("the handshake failed")
        raise
    return session


def psk_exchange(requester: Requester, negotiated: Negotiated, summary_hash_type: int) -> Session:
    """PSK_EXCHANGE (and PSK_FINISH) on the requester's `negotiated` connection: see `Requester.psk_exchange`."""
    _require_session_caps(negotiated, "PSK_EXCHANGE")
    if not negotiated.requester_flags & _PSK_CAP_MASK or not negotiated.responder_flags & _PSK_CAP_MASK:
        raise NegotiationError("PSK_CAP is not set by both sides: no PSK_EXCHANGE")
    config = requester.config
    if config.psk is None:
        raise NegotiationError("no pre-shared key is configured (RequesterConfig.psk)")
    hashes = hash_suite(negotiated.base_hash_algo)
    ask = PskExchange(
        version=negotiated.version,
        summary_hash_type=summary_hash_type,
        req_session_id=_new_req_session_id(requester),
        psk_hint=config.psk_hint,
        requester_context=_random(config, _PSK_CONTEXT_SIZE),
        opaque_data=version_list_opaque(config.secured_message_versions),
    )
    answer, request, response = requester._transact(ask, PskExchangeRsp, summary_hash_type=summary_hash_type)
    _check_heartbeat(negotiated, answer.heartbeat_period, "PSK_EXCHANGE_RSP")
    secured_version = _selected_version(
        bytes(answer.opaque_data), tuple(config.secured_message_versions), "PSK_EXCHANGE_RSP"
    )
    session_id = answer.rsp_session_id << 16 | ask.req_session_id
    if session_id in requester.sessions:
        raise invalid(f"PSK_EXCHANGE_RSP makes SessionID 0x{session_id:08x}, which is already open")
    transcript = SessionTranscript(hashes, requester.transcript.vca_hash())  # PSK: no Hash(Ct)
    transcript.add_exchange_request(request)
    digests = transcript.add_psk_exchange_rsp(response, answer)
    schedule = KeySchedule(hashes, aead_suite(negotiated.aead_suite), config.psk, spdm_version=negotiated.version)
    handshake = schedule.handshake(digests.th1)
    schedule.check_verify_data(handshake.response_finished_key, digests.th1, answer.responder_verify_data)
    session = Session(
        requester,
        session_id=session_id,
        psk=True,
        slot=None,
        schedule=schedule,
        handshake=handshake,
        transcript=transcript,
        heartbeat_period=answer.heartbeat_period,
        measurement_summary_hash=answer.measurement_summary_hash,
        secured_message_version=secured_version,
    )
    requester.sessions[session_id] = session
    try:
        if negotiated.responder_flags & _PSK_CAP_WITH_CONTEXT:
            session._psk_finish()
        else:
            transcript.mark_th2()  # no PSK_FINISH: TH2 = A || K
            session._enter_data_phase()
    except BaseException:
        session.discard("the handshake failed")
        raise
    return session


# --- encapsulated requests (mutual authentication) ----------------------------------------------


@dataclass(slots=True, kw_only=True)
class _EncapsulatedAnswers:
    """The requester's answers to a responder's encapsulated GET_DIGESTS, GET_CERTIFICATE and CHALLENGE.

    The requester's CHALLENGE_AUTH signs Hash(mut_B || mut_C) (SPDM 1.1: no A), mut_B being the
    encapsulated digest/certificate exchanges answered so far.
    """

    requester: Requester
    max_padding: int
    _mut: Transcript | None = None
    _chains: dict[int, bytes] = field(default_factory=dict)

    def _chain(self, slot: int) -> bytes | None:
        identity = self.requester.config.identities.get(slot)
        if identity is None:
            return None
        if slot not in self._chains:
            self._chains[slot] = identity.chain_bytes(self.requester.hash)
        return self._chains[slot]

    def _mut_transcript(self) -> Transcript:
        if self._mut is None:
            self._mut = Transcript(self.requester.hash.new)
        return self._mut

    def _error(self, version: int, code: ErrorCode, data: int = 0) -> bytes:
        return encode(ErrorResponse(version=version, error_code=code, error_data=data))

    def answer(self, payload: bytes, version: int) -> bytes:
        """The response (SPDM bytes) to one encapsulated request."""
        negotiated = self.requester._require_negotiated()
        try:
            request, exact = _decode_embedded(payload, negotiated, self.max_padding, "ENCAPSULATED_REQUEST")
        except DecodeError:
            return self._error(version, ErrorCode.InvalidRequest)
        if request.version != version:
            return self._error(version, ErrorCode.VersionMismatch)
        if isinstance(request, GetDigests):
            response = self._digests(request)
        elif isinstance(request, GetCertificate):
            response = self._certificate(request)
        elif isinstance(request, Challenge):
            return self._challenge_auth(request, exact)
        else:
            return self._error(version, ErrorCode.UnsupportedRequest, request.code)
        if response[1] != Code.ERROR:
            self._mut_transcript().append(exact, response)
        return response

    def _digests(self, request: GetDigests) -> bytes:
        slots = sorted(s for s in self.requester.config.identities if 0 <= s < _SLOT_COUNT)
        if not slots:
            return self._error(request.version, ErrorCode.UnsupportedRequest, request.code)
        hashes = self.requester.hash
        digests = tuple(hashes.digest(self._chain(slot) or b"") for slot in slots)
        return encode(Digests(version=request.version, slot_mask=sum(1 << s for s in slots), digests=digests))

    def _certificate(self, request: GetCertificate) -> bytes:
        chain = self._chain(request.slot_id)
        if chain is None or request.offset >= len(chain):
            return self._error(request.version, ErrorCode.InvalidRequest)
        portion = chain[request.offset : request.offset + request.length]
        remainder = len(chain) - request.offset - len(portion)
        return encode(
            Certificate(
                version=request.version, slot_param=request.slot_id, remainder_length=remainder, portion=portion
            )
        )

    def _challenge_auth(self, request: Challenge, exact: bytes) -> bytes:
        requester = self.requester
        negotiated = requester._require_negotiated()
        identity = requester.config.identities.get(request.slot_id)
        chain = self._chain(request.slot_id)
        if identity is None or chain is None or negotiated.req_base_asym_alg == 0:
            return self._error(request.version, ErrorCode.InvalidRequest)
        hashes = requester.hash
        suite = asym_suite(negotiated.req_base_asym_alg)
        auth = ChallengeAuth(
            version=request.version,
            attributes=request.slot_id & 0xF,
            slot_mask=sum(1 << s for s in requester.config.identities if 0 <= s < _SLOT_COUNT),
            cert_chain_hash=hashes.digest(chain),
            nonce=_random(requester.config, _NONCE_SIZE),
            signature=bytes(suite.signature_size),
        )
        unsigned = encode(auth)[: -suite.signature_size]
        digest = self._mut_transcript().digest(exact, unsigned)
        self._mut = None
        return unsigned + identity.signature(suite, digest, hashes)


def _run_encapsulated(
    transact: Callable[..., tuple[Message, bytes, bytes]],
    answers: _EncapsulatedAnswers,
    *,
    version: int,
    implicit_digests: bool,
    slot: int | None,
) -> int | None:
    """GET_ENCAPSULATED_REQUEST (or the implicit GET_DIGESTS), then each request answered with
    DELIVER_ENCAPSULATED_RESPONSE until the ACK says done; returns the requester slot (the ACK's
    ReqSlotNumber when it names one, else `slot`)."""
    if implicit_digests:
        request_id, payload = 0, encode(GetDigests(version=version))
    else:
        encapsulated, _, _ = transact(GetEncapsulatedRequest(version=version), EncapsulatedRequest)
        if not isinstance(encapsulated, EncapsulatedRequest) or not encapsulated.payload:
            raise invalid("ENCAPSULATED_REQUEST carries no request")
        request_id, payload = encapsulated.request_id, encapsulated.payload
    for _ in range(_MAX_ENCAPSULATED_REQUESTS):
        deliver = DeliverEncapsulatedResponse(
            version=version, request_id=request_id, payload=answers.answer(payload, version)
        )
        ack, _, _ = transact(deliver, EncapsulatedResponseAck)
        if not isinstance(ack, EncapsulatedResponseAck):
            raise invalid(f"DELIVER_ENCAPSULATED_RESPONSE was answered with {ack.name}")
        if ack.payload_type == 0:
            return slot
        if ack.payload_type == 2:
            if not ack.payload:
                raise invalid("ENCAPSULATED_RESPONSE_ACK names no ReqSlotNumber")
            if ack.payload[0] >= _SLOT_COUNT:
                raise invalid(f"ENCAPSULATED_RESPONSE_ACK names requester slot {ack.payload[0]}")
            return ack.payload[0]
        if ack.payload_type != 1 or not ack.payload:
            raise invalid(f"ENCAPSULATED_RESPONSE_ACK PayloadType {ack.payload_type} without a request")
        request_id, payload = ack.request_id, ack.payload
    raise invalid(f"more than {_MAX_ENCAPSULATED_REQUESTS} encapsulated requests")


def basic_mutual_authentication(requester: Requester) -> None:
    """CHALLENGE_AUTH asked for basic mutual authentication (1.1): answer the responder's
    encapsulated GET_DIGESTS, GET_CERTIFICATE and CHALLENGE outside any session."""
    negotiated = requester._require_negotiated()
    if not negotiated.both(F.ENCAP_CAP):
        raise NegotiationError("basic mutual authentication needs ENCAP_CAP on both sides")
    answers = _EncapsulatedAnswers(requester=requester, max_padding=requester.transport.max_padding)
    _run_encapsulated(requester._transact, answers, version=negotiated.version, implicit_digests=False, slot=None)
