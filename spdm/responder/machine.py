"""The SPDM 1.0-1.3 responder: a bytes-in, bytes-out state machine that a device emulator embeds.

`Responder.respond(request, session_id=None)` is the only entry point. It never raises on any
input and always answers: with one SPDM message for a clear request, with a secured message for
a request inside a session (`session_id` given: `request` is the whole DSP0277 record). Every
request goes through the same steps (header first, then permission, then body, as h11 and h2 do):

1. the 4-byte header: a code this responder does not implement (or whose capability it, or for
   session requests the requester, does not have) is UnsupportedRequest with ErrorData = the
   code; a version other than the negotiated one (0x10 for GET_VERSION) is VersionMismatch;
2. the test knobs (`answer_busy`, `answer_not_ready`);
3. permission: outside a session the (state, code) pair must be in
   `spdm.responder.state.TRANSITIONS`; inside one, the (session state, code) pair in
   `SESSION_TRANSITIONS` (connection requests such as GET_VERSION or CHALLENGE never are);
   else UnexpectedRequest (RequestInFlight while the encapsulated flow runs; for a session request
   outside a session `SESSION_REQUIRED` says: SessionRequired from 1.2, Unspecified at 1.1);
4. the body: a malformed one (truncated, trailing bytes beyond the transport's zero padding, bad
   counts) is InvalidRequest; inside a session no padding is allowed;
5. the handler, which raises `ProtocolError` for what it refuses. `respond` turns any
   `ProtocolError` into the ERROR response in one place, and an ERROR never changes the state.

SPDM 1.2 large messages go around these steps (`spdm.responder.chunks`): CHUNK_SEND chunks are
put back together and the request then takes them whole, and a response too large for the
requester's DataTransferSize is kept for CHUNK_GET.

A refusal inside a session is sealed in it. A record that does not open at all gets a 4-byte
ERROR in the clear: an unknown SessionID InvalidSession (nothing changes); framing, replay or a
bad tag DecryptError, which ends that session. The sessions are a component, `spdm.responder.sessions.SessionTable`:
the responder hands it each session request with the settled connection and the connection
transcript, and it opens and seals the records.

Transcripts are `spdm.transcript.ConnectionTranscript`, fed exactly as the requester side feeds
its own, so that signatures verify over the same bytes; DMTF libspdm's reference captures
replay byte for byte (tests/protocol/test_responder_replay.py, and
test_responder_sessions_replay.py for the PSK sessions, secured records included).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Concatenate, ParamSpec, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from spdm._checks import check_transfer_sizes, requester_flags_refusal
from spdm.certs import CertChain, certificate_portion
from spdm.chunking import capabilities_in_force, whole_request_limit
from spdm.crypto import AsymSuite, HashSuite, SigningKey, asym_suite, select_algorithm
from spdm.endpoint_info import EndpointInfoResult, Signer, answer_endpoint_info
from spdm.errors import DecodeError, NegotiationError, ProtocolError, SpdmError
from spdm.events import DMTF_REGISTRY, DmtfEventType, GroupId, check_event, supported_types
from spdm.messages import Message, decode_prefix, encode
from spdm.messages.bounds import NONCE_SIZE
from spdm.messages.certificates import PUBLIC_KEY_SLOT, SLOT_ID_MASK, Digests, GetCertificate, GetDigests, slot_mask
from spdm.messages.challenge import Challenge, ChallengeAuth
from spdm.messages.chunk import ChunkGet, ChunkSend
from spdm.messages.codec import is_padding
from spdm.messages.codes import (
    DEFINED_REQUESTER_FLAGS,
    DEFINED_RESPONDER_FLAGS,
    AlgType,
    CapabilityFlags,
    Code,
    ErrorCode,
    KeyUsage,
    MeasurementSpecification,
    OtherParams,
    defined_asym_bits,
)
from spdm.messages.encapsulated import DeliverEncapsulatedResponse, GetEncapsulatedRequest
from spdm.messages.endpoint_info import GetEndpointInfo
from spdm.messages.error import NEVER_NOT_READY, ErrorResponse, RespondIfReady, ResponseNotReady, ResponseTooLarge
from spdm.messages.key_pairs import GetKeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck
from spdm.messages.measurements import ALL_MEASUREMENTS, GetMeasurements, MeasurementBlock, Measurements
from spdm.messages.mel import GetMeasurementExtensionLog, encode_mel
from spdm.messages.negotiation import (
    MAX_CT_EXPONENT,
    SUPPORTED_ALGORITHMS,
    Algorithms,
    AlgStruct,
    Capabilities,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
    SupportedAlgorithms,
    Version,
    has_alg_structs,
    has_mel_specification,
    has_multi_key_conn,
    has_other_params,
    has_requester_capabilities,
    has_transfer_sizes,
    max_extended_algorithms,
)
from spdm.messages.opaque import check_general_opaque_data
from spdm.messages.provisioning import Csr, GetCsr, SetCertificate, SetCertificateRsp
from spdm.messages.vendor import VendorDefinedRequest, VendorDefinedResponse
from spdm.negotiated import (
    Negotiated,
    check_key_usage,
    check_multi_key_connection,
    mel_specification_selection,
    multi_key_connection,
    required_selections,
    uses_alg_struct,
)
from spdm.responder._common import (
    Connection,
    SessionTerms,
    expect,
    invalid_request,
    measurement_summary,
    nothing_pending,
    random_bytes,
    refuse_public_key_slot,
    session_terms,
    unexpected,
    unsupported,
)
from spdm.responder.chunks import CHUNK_REQUESTS, LargeMessages, TooLarge
from spdm.responder.config import SLOT_COUNT, ResponderConfig, SlotIdentity
from spdm.responder.endpoint_info import EndpointInfoAsk
from spdm.responder.events import check_sendable
from spdm.responder.key_pairs import KeyPairTable, digests_key_fields
from spdm.responder.mel import answer_mel
from spdm.responder.provisioning import SlotTable, build_csr, certified_identity, unpadded_chain
from spdm.responder.sessions import SESSION_REQUESTS, Session, SessionTable
from spdm.responder.state import (
    CAPABILITY_OF,
    CLEAR_HANDSHAKE,
    HANDLED,
    NEVER_IN_SESSION,
    REQUESTER_CAPABILITY_OF,
    SESSION_ONLY,
    SESSION_REQUIRED,
    SESSION_TRANSITIONS,
    TRANSITIONS,
    SessionState,
    State,
)
from spdm.transcript import ConnectionTranscript

__all__ = ["Responder", "VendorHandler"]

_log = logging.getLogger(__name__)

F = CapabilityFlags

_COUNT_OPERATION = 0x00
_ENCAPSULATING = frozenset(
    {
        SessionState.EXPECT_GET_ENCAPSULATED_REQUEST,
        SessionState.EXPECT_ENCAPSULATED_RESPONSE,
        SessionState.EXPECT_EVENT_ACK,
    }
)
_ENCAPSULATED_CODES = frozenset({Code.GET_ENCAPSULATED_REQUEST, Code.DELIVER_ENCAPSULATED_RESPONSE})
_OWN_VERSION_CODES = frozenset({Code.GET_VERSION, Code.RESPOND_IF_READY})
"""Header checks: these two codes expect another version than the negotiated one (see `_check_version`)."""

VendorHandler = Callable[[VendorDefinedRequest], bytes]
"""Serves one VENDOR_DEFINED_REQUEST: returns the response payload, or raises `ProtocolError`."""


# --- errors the responder answers --------------------------------------------------------------


class _NotReady(ProtocolError):
    """ResponseNotReady, with the extended data the ERROR carries."""

    def __init__(self, extended: ResponseNotReady) -> None:
        super().__init__(ErrorCode.ResponseNotReady, "the response is not ready yet")
        self.extended = extended


@dataclass(frozen=True, slots=True)
class _Pending:
    """A request answered with ResponseNotReady, kept for RESPOND_IF_READY (in its session, if any)."""

    request: bytes
    code: int
    token: int
    session_id: int | None = None


# --- the responder ---------------------------------------------------------------------------

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _one_at_a_time(method: Callable[Concatenate[Responder, _P], _T]) -> Callable[Concatenate[Responder, _P], _T]:
    """The device's state changes one call at a time: a server thread answers requests while the
    emulator's own thread resets the device, raises events or arms an ask."""

    @functools.wraps(method)
    def serialized(self: Responder, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._lock:
            return method(self, *args, **kwargs)

    return serialized


class Responder:
    """One device's side of one SPDM connection and its sessions: `respond(request, session_id) -> response`.

    `config` says what the device is (`spdm.responder.demo_config()` is a ready one). Threads may
    share it: each call that changes the device (`respond`, `reset`, `raise_event`, ...) waits for
    the one before it.
    """

    def __init__(self, config: ResponderConfig) -> None:
        self.config = config
        self._lock = threading.RLock()  # reentrant: a vendor handler may raise an event while a request is served
        self._vendor: dict[tuple[int, bytes], VendorHandler] = {}
        self._busy = 0
        self._not_ready = 0
        self._rd_exponent = 1
        self._rdtm = 2
        self._token = 0
        self._pending: _Pending | None = None
        self._reply_version = 0x10
        self._state = State.EXPECT_GET_VERSION
        self._sessions = SessionTable(config)
        self._slots = SlotTable(config.slots)
        self._key_pairs = KeyPairTable(config.key_pairs)
        self._large = LargeMessages(config.limits)
        log = config.measurement_extension_log
        self._mel = None if log is None else encode_mel(log)
        """The configured MEL's bytes, encoded once: portions are cut from them."""
        self._reset_connection()

    def _reset_connection(self) -> None:
        self.transcript = ConnectionTranscript()
        self._version: int | None = None
        self._requester: GetCapabilities | None = None
        self._capabilities: Capabilities | None = None
        self._connection: Connection | None = None
        self._served = _served_codes(self.config.capabilities, None)
        self._sessions.clear()
        self._large.clear()
        self._asks: dict[int | None, EndpointInfoAsk] = {}
        self.requester_endpoint_info: EndpointInfoResult | None = None

    # --- public surface ------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def negotiated(self) -> Negotiated | None:
        """The outcome of VCA, once ALGORITHMS has been sent."""
        return self._connection.negotiated if self._connection else None

    @property
    def slots(self) -> Mapping[int, SlotIdentity]:
        """The certificate slots served now: the configuration's, as SET_CERTIFICATE changed them."""
        return MappingProxyType(self._slots.current)

    @property
    def pending_slots(self) -> Mapping[int, SlotIdentity]:
        """Chains SET_CERTIFICATE installed under CERT_INSTALL_RESET_CAP, effective at the next `reset`."""
        return MappingProxyType(self._slots.pending)

    @_one_at_a_time
    def reset(self) -> None:
        """A device reset: pending chains take their slots, and the connection and its sessions end
        (the next request must be GET_VERSION). GET_VERSION alone is not a reset."""
        self._slots.apply_pending()
        self._pending = None
        self._set_state(State.EXPECT_GET_VERSION)
        self._reset_connection()

    @property
    def sessions(self) -> Mapping[int, SessionState]:
        """The live sessions (handshaking or established) by SessionID, and where each stands."""
        return self._sessions.states()

    @_one_at_a_time
    def ask_endpoint_info(self, session_id: int | None = None) -> None:
        """Ask the requester for its endpoint info (SPDM 1.3) at its next GET_ENCAPSULATED_REQUEST: in
        the established session `session_id`, or (None) outside sessions or in any established one, as
        libspdm's responder asks when spdm-emu's OOB_ENCAP_ENDPOINT_INFO arms it. The answer, checked,
        becomes `requester_endpoint_info` (`spdm.responder.endpoint_info`).

        Needs ENCAP_CAP on both sides and the requester's EP_INFO_CAP; with its EP_INFO_CAP_SIG the
        answer is signed by the requester's slot (the session's mutual-authentication chain, else
        `config.requester_chain` and `config.requester_slot`).
        """
        session = None if session_id is None else self._sessions.get(session_id)
        if session_id is not None and (session is None or session.state is not SessionState.ESTABLISHED):
            raise ValueError(f"no established session 0x{session_id:08x}")
        self._asks[session_id] = EndpointInfoAsk.arm(self.negotiated, self.config, session)

    @_one_at_a_time
    def register_vendor_handler(self, standard_id: int, vendor_id: bytes, handler: VendorHandler) -> None:
        """Serve VENDOR_DEFINED_REQUEST for one (StandardID, VendorID); others are UnsupportedRequest."""
        self._vendor[(standard_id, bytes(vendor_id))] = handler

    @_one_at_a_time
    def raise_event(
        self,
        event_type_id: int,
        detail: bytes = b"",
        *,
        group: GroupId = (DMTF_REGISTRY, b""),
        session_id: int | None = None,
    ) -> dict[int, int]:
        """An event happened on the device (SPDM 1.3): it waits as SEND_EVENT in each established
        session subscribed to it (only session `session_id` when given) until the requester fetches
        it (GET_ENCAPSULATED_REQUEST) and acknowledges it (`spdm.responder.events`). Returns the
        EventInstanceID it got in each session, by SessionID; empty when no session subscribed.

        The event must be of a type `config.event_groups` lists (`group`: its standards-vendor
        header, DMTF by default) with a detail its type allows (`spdm.events.check_event`) and
        that a SEND_EVENT of it alone can carry to the requester (`spdm.responder.events.check_sendable`:
        EventDetailLen is two bytes, and the requester takes messages of its MaxSPDMmsgSize);
        EventLost is the responder's own. Otherwise ValueError.
        """
        key = (group[0], bytes(group[1]))
        if event_type_id not in supported_types(self.config.event_groups).get(key, frozenset()):
            raise ValueError(f"event type {event_type_id} of group {key[0]:#x} is not in config.event_groups")
        if key == (DMTF_REGISTRY, b"") and event_type_id == DmtfEventType.EVENT_LOST:
            raise ValueError("EventLost is raised by the responder itself when events are lost")
        try:
            check_event(key[0], key[1], event_type_id, bytes(detail))
        except ProtocolError as error:
            raise ValueError(str(error)) from None
        check_sendable(key, event_type_id, bytes(detail), self.negotiated)
        return self._sessions.raise_event(key, event_type_id, bytes(detail), session_id)

    @_one_at_a_time
    def answer_busy(self, count: int = 1) -> None:
        """Answer the next `count` requests with ERROR Busy (requester retry testing)."""
        self._busy = max(count, 0)

    @_one_at_a_time
    def answer_not_ready(self, count: int = 1, *, rd_exponent: int = 1, rdtm: int = 2) -> None:
        """Answer the next `count` requests with ERROR ResponseNotReady and keep each for RESPOND_IF_READY;
        GET_VERSION, GET_CAPABILITIES and NEGOTIATE_ALGORITHMS, which may not be answered so
        (`NEVER_NOT_READY`), are served as usual and do not count.

        A RESPOND_IF_READY with the right RequestCode and Token while the count lasts is told
        ResponseNotReady again (same token). RDTM defaults to 2: libspdm's requester refuses 1.
        `rd_exponent` may be any byte, as on the wire: over `spdm.messages.error.MAX_RD_EXPONENT` (what
        libspdm's requester waits for) it tests a requester's refusal.
        """
        if not (0 <= rd_exponent <= 0xFF and 0 <= rdtm <= 0xFF):
            raise ValueError("rd_exponent and rdtm are bytes")
        self._not_ready = max(count, 0)
        self._rd_exponent = rd_exponent
        self._rdtm = rdtm

    @_one_at_a_time
    def respond(self, request: bytes, session_id: int | None = None) -> bytes:
        """The response to one SPDM request (bytes as received, transport header removed).

        Without `session_id`, `request` is an SPDM message and so is the answer. With it, `request`
        is a whole secured message (DSP0277, starting with that SessionID, as a DOE type-2 object
        carries it) and the answer is the secured message of the response, or, when the record
        does not open (no such session, bad framing, replay, bad tag), a clear SPDM ERROR
        (InvalidSession or DecryptError) that a transport sends as a plain SPDM message. A clear
        answer is always 4 bytes, so it cannot be taken for a secured message.

        Never raises for any request bytes: always one answer, ERROR when needed.
        Only a bug in a callback of the configuration (`random`, the measurement provider, a
        vendor handler) that raises something other than `SpdmError` reaches the caller.
        """
        self._reply_version = self._version or 0x10
        try:
            if session_id is None:
                return self._answer(bytes(request), None)
            try:
                session, message = self._sessions.open_record(bytes(request), session_id)
            except ProtocolError as error:
                return self._error(error, None, aside=True)
            if len(message) >= 2:
                # whatever its answer, as both requesters (ours and libspdm's) reset before sending
                self.transcript.before_session_request(message[1])
            try:  # the answer inside the session, refusals included (sealed like any answer)
                response = self._answer(message, session)
            except ProtocolError as error:
                response = self._error(error, session)
            except SpdmError as error:
                _log.warning("responder failure in session 0x%08x: %s", session.session_id, error)
                response = self._error(ProtocolError(ErrorCode.Unspecified, str(error)), session)
            return self._sessions.seal(session, response)
        except ProtocolError as error:
            return self._error(error, None)
        except SpdmError as error:
            # Our own inconsistency (a response that does not encode, a key that cannot sign).
            _log.warning("responder failure: %s", error)
            return self._error(ProtocolError(ErrorCode.Unspecified, str(error)), None)

    # --- the pipeline --------------------------------------------------------------------

    def _error(self, error: ProtocolError, session: Session | None, *, aside: bool = False) -> bytes:
        """The one place a refusal becomes the ERROR response.

        A refused request restarts the measurement transcript it belongs to; one `aside` from the
        conversation changes nothing: a record that did not open (it may be anyone's noise), a request
        that would interrupt a chunk transfer (libspdm_rsp_receive_send.c refuses it before any handler).
        """
        code, data = error.error_code, error.error_data
        extended: ResponseNotReady | ResponseTooLarge | bytes = b""
        if isinstance(error, (_NotReady, TooLarge)):
            extended = error.extended
        elif code == ErrorCode.ResponseNotReady or not 0 <= code <= 0xFF or not 0 <= data <= 0xFF:
            code, data = ErrorCode.Unspecified, 0
        _log.debug("ERROR 0x%02x (data 0x%02x): %s", code, data, error)
        transcript = self.transcript if session is None else session.measurements
        if transcript is not None and not aside:
            transcript.after_error(code)
        return encode(
            ErrorResponse(version=self._reply_version, error_code=code, error_data=data, extended_data=extended)
        )

    def _answer(self, request: bytes, session: Session | None) -> bytes:
        """`_dispatch` inside SPDM 1.2 chunking (`spdm.responder.chunks`): a transfer in progress
        admits only its own chunk requests, any other request travels whole only within our
        DataTransferSize, and a response too large for one transfer is kept for CHUNK_GET, by the
        sizes in force once the request is served (`_transfers`: CAPABILITIES' included)."""
        session_id = None if session is None else session.session_id
        try:
            self._large.admit(request, session_id)
        except ProtocolError as error:
            return self._error(error, session, aside=True)
        response = self._dispatch(self._within_transfer_size(request, session), session)
        return self._large.deliver(response, self._transfers(), session_id)

    def _transfers(self) -> Negotiated | None:
        """What chunking goes by: the negotiated connection, or from CAPABILITIES to ALGORITHMS what the
        two sides exchanged (`spdm.chunking.capabilities_in_force`, as libspdm chunks from CAPABILITIES
        on); None before."""
        negotiated = self.negotiated
        if negotiated is not None or self._requester is None or self._capabilities is None:
            return negotiated
        return capabilities_in_force(self._requester, self._capabilities)

    def _within_transfer_size(self, request: bytes, session: Session | None) -> bytes:
        """The request as taken: one that is no chunk request must fit our DataTransferSize
        (`spdm.chunking.whole_request_limit`), only transport padding beyond it, which is cut; as
        libspdm_rsp_receive_send.c trims a request to it, a longer one then does not parse. Else
        InvalidRequest. The large request CHUNK_SEND brings is not held to it."""
        sizes = self._transfers()
        limit = None if sizes is None else whole_request_limit(sizes)
        if limit is None or len(request) <= limit or request[1] in CHUNK_REQUESTS:
            return request
        if not is_padding(request[limit:], self.config.max_padding if session is None else 0):
            raise invalid_request(f"a {len(request)}-byte request is over our DataTransferSize {limit}")
        return request[:limit]

    def _dispatch(self, request: bytes, session: Session | None) -> bytes:
        """The header checks and test knobs, in the module docstring's order, then the request is served."""
        self.config.limits.check_request(request)
        if len(request) < 4:
            raise invalid_request(f"{len(request)} bytes: a request has a 4-byte header")
        version, code = request[0], request[1]
        if code == Code.GET_VERSION and session is None:
            self._reply_version = 0x10
        request_code = self._served.get(code)
        if request_code is None:
            raise unsupported(code, self._unserved(code))
        if version != self._version or code in _OWN_VERSION_CODES:  # else: the negotiated version, as expected
            self._check_version(code, version)
        if self._busy:
            self._busy -= 1
            raise ProtocolError(ErrorCode.Busy, "busy (answer_busy)")
        if code == Code.RESPOND_IF_READY:
            return self._respond_if_ready(request, session)
        if code in CHUNK_REQUESTS:
            return self._chunk(request, session)
        if self._not_ready and code not in NEVER_NOT_READY:
            self._not_ready -= 1
            self._pending = _Pending(request, code, self._token, None if session is None else session.session_id)
            self._token = (self._token + 1) & 0xFF
            raise self._not_ready_error(self._pending)
        self._pending = None
        if session is not None:
            return self._serve_in_session(request, request_code, session, clear=False)
        return self._serve(request, request_code, None)

    def _unserved(self, value: int) -> str:
        """Why a request code is not in `_served`: not implemented, or a capability one side lacks."""
        if value not in HANDLED:
            return f"request code 0x{value:02x} is not served"
        code = Code(value)
        needed = CAPABILITY_OF.get(code, 0)
        negotiated = self.negotiated
        ours = negotiated.responder_flags if negotiated is not None else self.config.capabilities
        if needed and not ours & needed:
            return f"{code.name} needs a capability this device does not have"
        return f"{code.name} needs a capability the requester did not offer"

    def _check_version(self, code: int, version: int) -> None:
        if code == Code.GET_VERSION:
            expected: Collection[int] = (0x10,)
        elif code == Code.RESPOND_IF_READY and self._pending is not None:
            expected = (self._pending.request[0],)
        elif self._version is not None:
            expected = (self._version,)
        elif code == Code.GET_CAPABILITIES:
            expected = frozenset(self.config.versions)
        else:
            return  # nothing negotiated yet: the permission check refuses it
        if version not in expected:
            raise ProtocolError(ErrorCode.VersionMismatch, f"version 0x{version:02x}, expected {sorted(expected)}")

    def _serve(self, request: bytes, code: Code, session: Session | None) -> bytes:
        """Permission, body, handler, then the transition: the request has passed the header checks."""
        if session is not None:
            return self._serve_in_session(request, code, session, clear=False)
        if code in CLEAR_HANDSHAKE:
            clear = self._sessions.clear_handshake_session()
            if clear is not None:
                response = self._serve_in_session(request, code, clear, clear=True)
                self._sessions.after_response(clear)
                return response
        connection = self._connection
        if code in _ENCAPSULATED_CODES and connection is not None and connection.negotiated.version >= 0x13:
            message, _ = self._decode(request, self.config.max_padding)
            self.transcript.before_request(code)
            return self._encapsulated_ask(message, code, None)
        target = TRANSITIONS.get((self._state, code))
        if target is None:
            if code in SESSION_REQUIRED and connection is not None:
                raise _session_required(connection.negotiated.version, f"{code.name} outside a session")
            where = " outside a session" if code in SESSION_ONLY else ""
            raise unexpected(f"{code.name}{where} in state {self._state.name}")
        if code == Code.GET_CAPABILITIES:  # in order and of a supported version: its errors answer in it, as libspdm's
            self._reply_version = request[0]
        message, exact = self._decode(request, self.config.max_padding)
        response = self._handle(code, message, exact, None)
        self._set_state(target)
        return response

    def _handle(self, code: Code, message: Message, request: bytes, session: Session | None) -> bytes:
        """The handler of `code`: the session table's for session requests, else the responder's own."""
        if code in SESSION_REQUESTS:
            return self._sessions.serve(code, message, request, session, self._connection, self.transcript)
        return _HANDLERS[code](self, message, request, session)

    def _serve_in_session(self, request: bytes, code: Code, session: Session, *, clear: bool) -> bytes:
        """A request of `session`: sealed (`clear` False) or the in-the-clear handshake (`clear` True)."""
        if code in NEVER_IN_SESSION:
            raise unexpected(f"{code.name} inside a session")
        if session.in_the_clear and session.handshaking and not clear and code in CLEAR_HANDSHAKE:
            why = f"{code.name} of a session whose handshake is in the clear, sent inside the session"
            if code == Code.FINISH and self._connection is not None:  # libspdm_rsp_finish_rsp.c
                raise _session_required(self._connection.negotiated.version, why)
            raise unexpected(why)
        targets = SESSION_TRANSITIONS.get((session.state, code))
        asking = session.state is SessionState.ESTABLISHED and not clear and self._asked(session.session_id, code)
        if targets is None and not asking:
            if session.state in _ENCAPSULATING and code not in _ENCAPSULATED_CODES:
                raise ProtocolError(ErrorCode.RequestInFlight, f"{code.name} while the encapsulated flow is pending")
            if code == Code.GET_ENCAPSULATED_REQUEST and session.state not in _ENCAPSULATING:
                raise nothing_pending(request[0], f"nothing is pending in session state {session.state.name}")
            raise unexpected(f"{code.name} in session state {session.state.name}")
        message, exact = self._decode(request, self.config.max_padding if clear else 0)
        if clear:
            self.transcript.before_request(code)
        else:  # the connection's B and C follow their reset rule (spdm.transcript) for a request reassembled
            self.transcript.before_session_request(code)  # from chunks or fetched with RESPOND_IF_READY too
        if session.measurements is not None:
            session.measurements.before_request(code)
        if asking or targets is None:  # (targets is None only when asking: refused above otherwise)
            return self._encapsulated_ask(message, code, session)
        session.chosen = None
        response = self._handle(code, message, exact, session)
        target = session.chosen or targets[0]
        if target not in targets:
            raise SpdmError(f"{code.name}: session state {target.name} is not a transition of {session.state.name}")
        if target is not session.state:
            if _log.isEnabledFor(logging.DEBUG):  # the names are worked out only for a log that shows them
                _log.debug("session 0x%08x: %s -> %s", session.session_id, session.state.name, target.name)
            session.state = target
        return response

    def _set_state(self, state: State) -> None:
        """Every state change of the connection goes through here."""
        if state is not self._state:
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("state %s -> %s", self._state.name, state.name)
            self._state = state

    def _decode(self, request: bytes, padding: int) -> tuple[Message, bytes]:
        """The request and its exact bytes; only `padding` zero bytes (the transport's) may follow it."""
        connection = self._connection
        try:
            message, size = decode_prefix(request, None if connection is None else connection.codec)
        except DecodeError as exc:
            raise invalid_request(str(exc)) from None
        if size != len(request):
            tail = request[size:]
            if not is_padding(tail, padding):
                raise invalid_request(f"{message.name}: {len(tail)} bytes follow the message")
            request = request[:size]
        self.config.limits.check_request_opaque(message)
        return message, request

    # --- CHUNK_SEND, CHUNK_GET ------------------------------------------------------------

    def _chunk(self, request: bytes, session: Session | None) -> bytes:
        """A chunk of a large request, or a request for the next chunk of a large response (from
        CAPABILITIES on, as libspdm_rsp_chunk_send_ack.c and libspdm_rsp_chunk_response.c)."""
        negotiated = self._transfers()
        if negotiated is None:
            raise unexpected("a chunk request before CAPABILITIES")
        if not negotiated.requester_has(F.CHUNK_CAP):
            raise unexpected("a chunk request from a requester without CHUNK_CAP")
        session_id = None if session is None else session.session_id
        padding = self.config.max_padding if session is None else 0
        if request[1] == Code.CHUNK_GET:
            return self._large.chunk_get(expect(self._decode(request, padding)[0], ChunkGet), session_id)

        def read(chunk: bytes) -> ChunkSend:
            return expect(self._decode(chunk, padding)[0], ChunkSend)

        def serve(large: bytes) -> bytes:
            try:
                return self._dispatch(large, session)
            except ProtocolError as error:
                return self._error(error, session)

        return self._large.chunk_send(
            request, negotiated, session_id, read, serve, lambda error: self._error(error, session)
        )

    # --- RESPOND_IF_READY ----------------------------------------------------------------

    def _not_ready_error(self, pending: _Pending) -> _NotReady:
        return _NotReady(
            ResponseNotReady(
                rd_exponent=self._rd_exponent, request_code=pending.code, token=pending.token, rdtm=self._rdtm
            )
        )

    def _respond_if_ready(self, request: bytes, session: Session | None) -> bytes:
        pending = self._pending
        session_id = None if session is None else session.session_id
        if pending is None or pending.session_id != session_id:
            # libspdm_rsp_respond_if_ready.c: a RequestCode other than the pending one's (none) is InvalidRequest
            raise invalid_request("RESPOND_IF_READY with no request pending")
        padding = self.config.max_padding if session is None else 0
        message = expect(self._decode(request, padding)[0], RespondIfReady)
        if message.request_code != pending.code or message.token != pending.token:
            raise invalid_request(
                f"RESPOND_IF_READY for 0x{message.request_code:02x} token {message.token}, "
                f"pending 0x{pending.code:02x} token {pending.token}"
            )
        if self._not_ready:
            self._not_ready -= 1
            raise self._not_ready_error(pending)
        self._pending = None
        if session is None:
            self._reply_version = 0x10 if pending.code == Code.GET_VERSION else self._version or 0x10
        return self._serve(pending.request, Code(pending.code), session)

    # --- VCA -----------------------------------------------------------------------------

    def _get_version(self, message: Message, request: bytes, session: Session | None) -> bytes:
        expect(message, GetVersion)
        self._reset_connection()
        self.transcript.before_request(Code.GET_VERSION)
        response = encode(Version(version=0x10, entries=tuple(v << 8 for v in sorted(set(self.config.versions)))))
        self.transcript.add_vca(request, response)
        return response

    def _get_capabilities(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, GetCapabilities)
        version = ask.version
        self._reply_version = version
        requester_flags = 0
        if has_requester_capabilities(version):
            if (ask.ct_exponent or 0) > MAX_CT_EXPONENT:
                raise invalid_request(f"CTExponent {ask.ct_exponent} is over {MAX_CT_EXPONENT}")
            requester_flags = (ask.flags or 0) & DEFINED_REQUESTER_FLAGS[version]
            refusal = requester_flags_refusal(requester_flags, version)
            if refusal is not None:
                raise invalid_request(f"GET_CAPABILITIES: {refusal}")
        try:
            check_transfer_sizes(ask, requester_flags)
        except NegotiationError as error:
            raise invalid_request(str(error)) from None
        listing = ask.supported_algorithms_requested
        if listing and not requester_flags & F.CHUNK_CAP:
            raise invalid_request("Param1 asks for the supported algorithms from a requester without CHUNK_CAP")
        self.transcript.before_request(Code.GET_CAPABILITIES)
        sizes = has_transfer_sizes(version)
        flags = self.config.capabilities & DEFINED_RESPONDER_FLAGS[version]
        listed = self._supported_algorithms() if listing and flags & F.CHUNK_CAP else None
        answer = Capabilities(
            version=version,
            param1=0 if listed is None else SUPPORTED_ALGORITHMS,
            ct_exponent=self.config.ct_exponent,
            flags=flags,
            data_transfer_size=self.config.data_transfer_size if sizes else None,
            max_spdm_msg_size=self.config.max_spdm_msg_size if sizes else None,
            supported_algorithms=listed,
        )
        response = encode(answer)
        self.transcript.add_vca(request, response)
        self._version = version
        self._requester = GetCapabilities(
            version=version,
            ct_exponent=ask.ct_exponent or 0,
            flags=requester_flags,
            reserved=0,
            reserved2=0,
            data_transfer_size=ask.data_transfer_size,
            max_spdm_msg_size=ask.max_spdm_msg_size,
        )
        self._capabilities = answer
        return response

    def _supported_algorithms(self) -> SupportedAlgorithms:
        """What this responder could select, listed in a 1.3 CAPABILITIES whose requester asked (both
        with CHUNK_CAP, as libspdm_rsp_capabilities.c): every priority's bits, each AlgStruct it has."""
        config = self.config
        ours = config.capabilities
        structs = tuple(
            AlgStruct(alg_type=alg_type, alg_supported=_bits(self._priority(alg_type)))
            for alg_type in (AlgType.DHE, AlgType.AEAD, AlgType.REQ_BASE_ASYM_ALG, AlgType.KEY_SCHEDULE)
            if self._priority(alg_type)
        )
        return SupportedAlgorithms(
            measurement_specification=MeasurementSpecification.DMTF if ours & F.MEAS_CAP_MASK else 0,
            other_params_support=OtherParams.OPAQUE_DATA_FMT_1,
            base_asym_algo=_bits(self._signable(config.base_asym_priority)),
            base_hash_algo=_bits(config.base_hash_priority),
            mel_specification=MeasurementSpecification.DMTF if ours & F.MEL_CAP else 0,
            alg_structs=structs,
        )

    def _negotiate_algorithms(self, message: Message, request: bytes, session: Session | None) -> bytes:
        offer = expect(message, NegotiateAlgorithms)
        requester, capabilities = self._requester, self._capabilities
        if requester is None or capabilities is None:
            raise ProtocolError(ErrorCode.UnexpectedRequest, "NEGOTIATE_ALGORITHMS before CAPABILITIES")
        _check_offer(offer)
        answer = self._select(offer, requester.flags or 0)
        negotiated = Negotiated.from_vca(offer.version, requester, capabilities, answer, offer)
        connection = self._settle(negotiated)
        self.transcript.before_request(Code.NEGOTIATE_ALGORITHMS)
        response = encode(answer)
        self.transcript.add_vca(request, response)
        self.transcript.set_hash(connection.hash, negotiated.version)
        self._connection = connection
        self._served = _served_codes(negotiated.responder_flags, negotiated.requester_flags)
        return response

    def _select(self, offer: NegotiateAlgorithms, requester_flags: int) -> Algorithms:
        """ALGORITHMS for `offer`: each selection by priority among what both sides can do."""
        config = self.config
        ours = config.capabilities
        version = offer.version
        asym = select_algorithm(
            defined_asym_bits(version, offer.base_asym_algo), self._signable(config.base_asym_priority)
        )
        base_hash = select_algorithm(offer.base_hash_algo, config.base_hash_priority)
        spec = measurement_hash = 0
        if ours & F.MEAS_CAP_MASK and offer.measurement_specification:
            spec = select_algorithm(offer.measurement_specification, (MeasurementSpecification.DMTF,))
            if not spec:
                raise invalid_request(f"MeasurementSpecification 0x{offer.measurement_specification:02x} has no DMTF")
            measurement_hash = config.measurement_hash_priority[0]
        required = required_selections(requester_flags, ours)
        if required.base_hash and not base_hash:
            raise invalid_request(f"no common hash in BaseHashAlgo 0x{offer.base_hash_algo:x}")
        if required.base_asym and not asym:
            raise invalid_request(f"no common signature algorithm in BaseAsymAlgo 0x{offer.base_asym_algo:x}")
        structs = tuple(
            AlgStruct(alg_type=s.alg_type, alg_supported=self._choose(s.alg_type, _defined(version, s)))
            for s in offer.alg_structs
            if uses_alg_struct(ours, s.alg_type)
        )
        chosen = {s.alg_type: s.alg_supported for s in structs}
        for alg_type in sorted(required.alg_structs):
            if not chosen.get(alg_type):
                raise invalid_request(f"no common {AlgType(alg_type).name} algorithm")
        other_params, mel = 0, None
        if has_other_params(version):
            other_params = select_opaque_data_format(offer)
        if has_mel_specification(version):
            mel = mel_specification_selection(ours, offer.mel_specification or 0)
        if has_multi_key_conn(version):
            try:
                check_multi_key_connection(ours, offer.other_params_support & OtherParams.MULTI_KEY_CONN != 0)
                if multi_key_connection(requester_flags, willing=config.multi_key):
                    other_params |= OtherParams.MULTI_KEY_CONN
            except NegotiationError as error:
                raise invalid_request(str(error)) from None
        return Algorithms(
            version=offer.version,
            other_params_selection=other_params,
            measurement_specification_sel=spec,
            mel_specification_sel=mel,
            measurement_hash_algo=measurement_hash,
            base_asym_sel=asym,
            base_hash_sel=base_hash,
            alg_structs=structs,
        )

    def _signable(self, priority: tuple[int, ...]) -> tuple[int, ...]:
        """The asym priority restricted to what some slot's key can sign (all of it without slots)."""
        keys = [slot.public_key for slot in self.config.slots.values()]
        if not keys:
            return priority
        return tuple(bit for bit in priority if _suite(bit) is not None and any(_accepts(bit, key) for key in keys))

    def _priority(self, alg_type: int) -> tuple[int, ...]:
        config = self.config
        return {
            AlgType.DHE: config.dhe_priority,
            AlgType.AEAD: config.aead_priority,
            AlgType.REQ_BASE_ASYM_ALG: config.req_base_asym_priority,
            AlgType.KEY_SCHEDULE: config.key_schedule_priority,
        }[AlgType(alg_type)]

    def _choose(self, alg_type: int, offered: int) -> int:
        """One AlgStruct's selection. ReqBaseAsymAlg prefers what the known requester key (mutual auth
        0x01) can sign; when the offer holds none of that, the plain priority decides (the connection
        still works; KEY_EXCHANGE then says why mutual authentication cannot)."""
        priority = self._priority(alg_type)
        if alg_type == AlgType.REQ_BASE_ASYM_ALG and self.config.mutual_auth == "basic" and self.config.requester_chain:
            key = x509.load_der_x509_certificate(self.config.requester_chain[-1]).public_key()
            fitting = select_algorithm(offered, tuple(bit for bit in priority if _accepts(bit, key)))
            if fitting:
                return fitting
        return select_algorithm(offered, priority)

    def _settle(self, negotiated: Negotiated) -> Connection:
        suite = negotiated.base_hash_suite
        asym = asym_suite(negotiated.base_asym_algo) if negotiated.base_asym_algo else None
        chains = self._chains(suite, asym)
        sessions: SessionTerms | None
        try:
            sessions = session_terms(negotiated, suite, self.config.heartbeat_period, self.config.psks)
        except ProtocolError:
            sessions = None  # each session request is refused, and told why (`SessionTable._session_terms`)
        return Connection(
            negotiated=negotiated,
            hash=suite,
            asym=asym,
            chains=chains,
            codec=negotiated.codec_context(),
            sessions=sessions,
        )

    def _chains(self, suite: HashSuite | None, asym: AsymSuite | None) -> Mapping[int, bytes]:
        """The SPDM-format chain of each slot whose key signs the negotiated algorithm."""
        chains: dict[int, bytes] = {}
        if suite is not None and asym is not None:
            for slot_id, slot in sorted(self._slots.current.items()):
                if asym.accepts(slot.public_key):
                    chain = CertChain.build(slot.certificates, suite, root_certificate_der=slot.root_certificate)
                    chains[slot_id] = chain.to_bytes()
        return MappingProxyType(chains)

    # --- certificates and CHALLENGE ------------------------------------------------------

    def _suites(self) -> tuple[Connection, HashSuite, AsymSuite]:
        connection = self._connection
        if connection is None or connection.hash is None or connection.asym is None:
            raise ProtocolError(ErrorCode.UnexpectedRequest, "no hash and signature algorithm were negotiated")
        return connection, connection.hash, connection.asym

    def _get_digests(self, message: Message, request: bytes, session: Session | None) -> bytes:
        expect(message, GetDigests)
        connection, suite, _ = self._suites()
        self._slots.refuse_until_reset()
        if not connection.chains:
            raise ProtocolError(ErrorCode.Unspecified, "no slot holds a chain for the negotiated algorithm")
        if session is None:
            self.transcript.before_request(Code.GET_DIGESTS)
        digests = tuple(suite.digest(chain) for _, chain in sorted(connection.chains.items()))
        negotiated = connection.negotiated
        key_fields = {}
        if negotiated.responder_multi_key:  # each slot's key pair, model and usages (1.3)
            usages = {slot: self._slots.current[slot].key_usage for slot in connection.chains}
            key_fields = digests_key_fields(self._key_pairs, negotiated, usages, negotiated.certificate_info)
        answer = Digests.for_version(
            message.version,
            supported_slot_mask=slot_mask(self._slots.current),
            slot_mask=connection.slot_mask,
            digests=digests,
            **key_fields,
        )
        response = encode(answer)
        if session is None:  # B (and D) hold only what travels outside sessions
            self.transcript.add_digests(request, response, multi_key=connection.negotiated.responder_multi_key)
        return response

    def _get_certificate(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, GetCertificate)
        connection, _, _ = self._suites()
        slot = ask.slot_id
        self._slots.refuse_until_reset(slot)
        chain = connection.chains.get(slot)
        if chain is None:
            raise invalid_request(f"slot {slot} holds no certificate chain")
        try:
            answer = certificate_portion(chain, ask, self.config.certificate_portion)
        except ValueError as error:
            raise invalid_request(str(error)) from None
        if connection.negotiated.responder_multi_key:  # 1.3: the chain's model (libspdm_rsp_certificate.c)
            answer = replace(answer, param2=connection.negotiated.certificate_info)
        if session is None:
            self.transcript.before_request(Code.GET_CERTIFICATE)
        response = encode(answer)
        if session is None:
            self.transcript.add_certificate_exchange(request, response)
        return response

    def _challenge(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, Challenge)
        connection, suite, asym = self._suites()
        slot = ask.slot_id
        refuse_public_key_slot(slot)
        chain = connection.chains.get(slot)
        if chain is None:
            raise invalid_request(f"slot {slot} holds no certificate chain")
        check_key_usage(connection.negotiated, self._slots.current[slot].key_usage, slot, KeyUsage.CHALLENGE)
        negotiated = connection.negotiated
        summary = measurement_summary(self.config.measurements, negotiated, ask.summary_hash_type, suite.digest)
        self.transcript.before_request(Code.CHALLENGE)
        unsigned = encode(
            ChallengeAuth(
                version=ask.version,
                attributes=slot,
                slot_mask=connection.slot_mask,
                cert_chain_hash=suite.digest(chain),
                nonce=self._nonce(),
                measurement_summary_hash=summary,
                requester_context=ask.requester_context,
                signature=b"",
            )
        )
        digest = self.transcript.challenge_digest(request, unsigned)
        signature = asym.sign(self.config.slots[slot].private_key, digest, suite)
        self.transcript.challenge_done()
        return unsigned + signature

    def _nonce(self) -> bytes:
        return random_bytes(self.config.random, NONCE_SIZE)

    # --- measurements --------------------------------------------------------------------

    def _get_measurements(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, GetMeasurements)
        connection = self._connection
        provider = self.config.measurements
        if connection is None or provider is None or not connection.negotiated.measurement_hash_algo:
            raise ProtocolError(ErrorCode.UnexpectedRequest, "no measurement algorithm was negotiated")
        signed = ask.signature_requested
        if signed and not self.config.capabilities & F.MEAS_CAP_SIG:
            raise invalid_request("a signature was requested from a device without signed measurements")
        blocks = tuple(provider.blocks())
        chosen = self._blocks(blocks, ask.operation)
        slot = 0
        if signed:
            slot = ask.slot_id
            refuse_public_key_slot(slot, PUBLIC_KEY_SLOT & SLOT_ID_MASK)
            if slot not in connection.chains:
                raise invalid_request(f"slot {slot} holds no certificate chain")
            usage = self._slots.current[slot].key_usage
            check_key_usage(connection.negotiated, usage, slot, KeyUsage.MEASUREMENT)
        # In a session, L1/L2 is the session's own (libspdm keeps M per session).
        transcript = self.transcript if session is None else session.measurement_transcript()
        transcript.before_request(Code.GET_MEASUREMENTS)
        unsigned = encode(
            Measurements(
                version=ask.version,
                total_indices=len(blocks) if ask.operation == _COUNT_OPERATION else 0,
                slot_param=slot if signed else 0,  # the SlotIDParam echoed (none in 1.0: slot 0)
                blocks=chosen,
                nonce=self._nonce(),
                requester_context=ask.requester_context,
                signature=None,
            )
        )
        if not signed:
            transcript.add_measurements(request, unsigned)
            return unsigned
        _, suite, asym = self._suites()
        digest = transcript.measurements_digest(request, unsigned)
        return unsigned + asym.sign(self.config.slots[slot].private_key, digest, suite)

    @staticmethod
    def _blocks(blocks: tuple[MeasurementBlock, ...], operation: int) -> tuple[MeasurementBlock, ...]:
        if operation == _COUNT_OPERATION:
            return ()
        if operation == ALL_MEASUREMENTS:
            return blocks
        chosen = tuple(block for block in blocks if block.index == operation)
        if not chosen:
            raise invalid_request(f"no measurement block has index {operation}")
        return chosen[:1]

    # --- provisioning (SPDM 1.2) ----------------------------------------------------------

    def _get_csr(self, message: Message, request: bytes, session: Session | None) -> bytes:
        """CSR for the device key: SPDM 1.2 names none, so it is the key of the lowest slot usable
        under the negotiated algorithm; on a 1.3 multi-key connection KeyPairID (Param1) names the key
        pair, whose lowest usable slot's key it is."""
        ask = expect(message, GetCsr)
        connection, suite, asym = self._suites()
        negotiated = connection.negotiated
        if ask.opaque_data and not negotiated.other_params & OtherParams.OPAQUE_DATA_FMT_MASK:
            raise invalid_request("OpaqueData, but no opaque data format was negotiated")
        if ask.opaque_data and negotiated.general_opaque_data:
            try:  # libspdm_rsp_csr.c refuses the same (libspdm_process_general_opaque_data_check)
                check_general_opaque_data(ask.opaque_data)
            except DecodeError as error:
                raise invalid_request(f"OpaqueData is not a general opaque data table: {error}") from None
        usable = sorted(connection.chains)
        if ask.version >= 0x13:
            usable = self._key_pairs.csr_slots(negotiated, ask, usable)
        if not usable:
            raise ProtocolError(ErrorCode.Unspecified, "no slot holds a key for the negotiated algorithm")
        identity = self._slots.current[usable[0]]
        subject = x509.load_der_x509_certificate(identity.certificates[-1]).subject
        csr = build_csr(identity.private_key, subject, ask.requester_info, suite, asym)
        if session is None:
            self.transcript.before_request(Code.GET_CSR)
        return encode(Csr(version=ask.version, csr=csr))

    def _set_certificate(self, message: Message, request: bytes, session: Session | None) -> bytes:
        """Install a chain into a slot that holds a key pair, after `certified_identity`'s checks.

        Slots other than 0 only inside a session (libspdm's rule outside a trusted environment).
        With CERT_INSTALL_RESET_CAP the answer is ERROR ResetRequired and the chain waits for `reset`.
        """
        ask = expect(message, SetCertificate)
        connection, suite, asym = self._suites()
        slot = ask.slot_id
        if slot >= SLOT_COUNT:
            raise invalid_request(f"SlotID {slot} is not 0..7")
        if slot and session is None:
            raise unexpected(f"SET_CERTIFICATE for slot {slot} outside a session")
        if ask.version >= 0x13:
            self._key_pairs.check_set_certificate(connection.negotiated, ask)
        identity = self._slots.current.get(slot)
        if identity is None:
            raise invalid_request(f"slot {slot} holds no key pair")
        padding = self.config.max_padding if session is None else 0
        installed = certified_identity(
            unpadded_chain(ask.cert_chain, padding),
            identity,
            hash_suite=suite,
            asym=asym,
            limits=self.config.limits,
            now=self.config.clock(),
            version=ask.version,
        )
        if session is None:
            self.transcript.before_request(Code.SET_CERTIFICATE)
        if self.config.capabilities & F.CERT_INSTALL_RESET_CAP:
            self._slots.pending[slot] = installed
            raise ProtocolError(ErrorCode.ResetRequired, f"slot {slot}: the new chain takes effect after a reset")
        self._slots.current[slot] = installed
        self._connection = replace(connection, chains=self._chains(suite, asym))
        return encode(SetCertificateRsp(version=ask.version, slot_param=slot))

    # --- key pairs (SPDM 1.3) -------------------------------------------------------------

    def _get_key_pair_info(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, GetKeyPairInfo)
        connection, _, _ = self._suites()
        answer = self._key_pairs.info(connection.negotiated, ask.key_pair_id)
        if session is None:
            self.transcript.before_request(Code.GET_KEY_PAIR_INFO)
        return encode(answer)

    def _set_key_pair_info(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, SetKeyPairInfo)
        self._suites()  # as GET_KEY_PAIR_INFO: only once the hash and signature algorithm are negotiated
        self._key_pairs.apply(ask)
        if session is None:
            self.transcript.before_request(Code.SET_KEY_PAIR_INFO)
        return encode(SetKeyPairInfoAck(version=ask.version))

    # --- measurement extension log (SPDM 1.3) ---------------------------------------------

    def _get_measurement_extension_log(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, GetMeasurementExtensionLog)
        connection = self._connection
        log = self._mel
        if connection is None:
            raise unexpected("GET_MEASUREMENT_EXTENSION_LOG before NEGOTIATE_ALGORITHMS")
        if log is None:  # MEL_CAP advertised (a replay's raw flags) with no log to serve, as libspdm answers
            raise ProtocolError(ErrorCode.OperationFailed, "no measurement extension log is configured")
        answer = answer_mel(ask, log, connection.negotiated, self.config.data_transfer_size)
        if session is None:
            self.transcript.before_request(Code.GET_MEASUREMENT_EXTENSION_LOG)
        return encode(answer)

    # --- endpoint info (SPDM 1.3) ---------------------------------------------------------

    def _get_endpoint_info(self, message: Message, request: bytes, session: Session | None) -> bytes:
        """ENDPOINT_INFO from `config.endpoint_info` (`spdm.endpoint_info` holds the rules), signed by
        the asked slot's key when the request asks, in the clear or in a session alike."""
        ask = expect(message, GetEndpointInfo)
        connection = self._connection
        if connection is None or self.config.endpoint_info is None:
            raise unsupported(Code.GET_ENDPOINT_INFO, "GET_ENDPOINT_INFO needs EP_INFO_CAP and an endpoint info")
        flags = connection.negotiated.responder_flags
        slot = ask.slot_id
        if ask.signature_requested and flags & F.EP_INFO_CAP_SIG and slot in connection.chains:
            # after the capability and slot checks, before the transcript: libspdm_rsp_endpoint_info.c's order
            check_key_usage(connection.negotiated, self._slots.current[slot].key_usage, slot, KeyUsage.ENDPOINT_INFO)
        if session is None:
            self.transcript.before_request(Code.GET_ENDPOINT_INFO)
        suite, asym = connection.hash, connection.asym
        signers: dict[int, Signer] = {}
        if suite is not None and asym is not None:
            slots = self.config.slots
            signers = {slot: _slot_signer(asym, slots[slot].private_key, suite) for slot in connection.chains}
        return answer_endpoint_info(
            ask,
            request,
            ep_info=self.config.endpoint_info,
            flags=flags,
            signers=signers,
            hashes=suite,
            vca=bytes(self.transcript.vca),
            random=lambda size: random_bytes(self.config.random, size),
        )

    def _asked(self, session_id: int, code: Code) -> bool:
        """Whether an encapsulated request of an established session belongs to an armed
        `ask_endpoint_info` (this session's, or one for any conversation); else it is the session's
        own encapsulated flow (its events)."""
        if code not in _ENCAPSULATED_CODES:
            return False
        return session_id in self._asks or (code == Code.GET_ENCAPSULATED_REQUEST and None in self._asks)

    def _encapsulated_ask(self, message: Message, code: Code, session: Session | None) -> bytes:
        """GET_ENCAPSULATED_REQUEST / DELIVER_ENCAPSULATED_RESPONSE of an established 1.3 connection
        (outside sessions) or session: the armed `ask_endpoint_info`, else NoPendingRequests (libspdm
        from 1.3, libspdm_rsp_encap_response.c)."""
        session_id = None if session is None else session.session_id
        if code == Code.GET_ENCAPSULATED_REQUEST and session_id not in self._asks and None in self._asks:
            self._asks[session_id] = self._asks.pop(None)  # an ask for any conversation: this one's now
        ask = self._asks.get(session_id)
        if ask is None and code == Code.GET_ENCAPSULATED_REQUEST:
            raise nothing_pending(message.version, "no encapsulated request is pending")
        connection = self._connection
        if ask is None or connection is None:
            raise unexpected("DELIVER_ENCAPSULATED_RESPONSE with no encapsulated request pending")
        padding = self.config.max_padding if session is None else 0
        if isinstance(message, GetEncapsulatedRequest):
            return ask.encapsulated_request(message.version, lambda size: random_bytes(self.config.random, size))
        deliver = expect(message, DeliverEncapsulatedResponse)
        vca = bytes(self.transcript.vca)
        ack, told = ask.delivered(deliver, connection.negotiated, vca, padding)
        if told is not None:
            self.requester_endpoint_info = told
        del self._asks[session_id]
        return ack

    # --- vendor-defined ------------------------------------------------------------------

    def _vendor_defined(self, message: Message, request: bytes, session: Session | None) -> bytes:
        ask = expect(message, VendorDefinedRequest)
        handler = self._vendor.get((ask.standard_id, ask.vendor_id))
        if handler is None:
            raise unsupported(
                Code.VENDOR_DEFINED_REQUEST,
                f"no handler for StandardID {ask.standard_id} VendorID {ask.vendor_id.hex() or '-'}",
            )
        payload = bytes(handler(ask))
        limit = self.config.limits.max_vendor_response_bytes
        if len(payload) > limit:
            raise ProtocolError(ErrorCode.Unspecified, f"a {len(payload)}-byte vendor answer is over {limit}")
        if session is None:
            self.transcript.before_request(Code.VENDOR_DEFINED_REQUEST)
        return encode(
            VendorDefinedResponse(
                version=ask.version, standard_id=ask.standard_id, vendor_id=ask.vendor_id, payload=payload
            )
        )


_Handler = Callable[[Responder, Message, bytes, Session | None], bytes]

_HANDLERS: Mapping[Code, _Handler] = {
    Code.GET_VERSION: Responder._get_version,
    Code.GET_CAPABILITIES: Responder._get_capabilities,
    Code.NEGOTIATE_ALGORITHMS: Responder._negotiate_algorithms,
    Code.GET_DIGESTS: Responder._get_digests,
    Code.GET_CERTIFICATE: Responder._get_certificate,
    Code.CHALLENGE: Responder._challenge,
    Code.GET_MEASUREMENTS: Responder._get_measurements,
    Code.VENDOR_DEFINED_REQUEST: Responder._vendor_defined,
    Code.GET_CSR: Responder._get_csr,
    Code.SET_CERTIFICATE: Responder._set_certificate,
    Code.GET_KEY_PAIR_INFO: Responder._get_key_pair_info,
    Code.SET_KEY_PAIR_INFO: Responder._set_key_pair_info,
    Code.GET_MEASUREMENT_EXTENSION_LOG: Responder._get_measurement_extension_log,
    Code.GET_ENDPOINT_INFO: Responder._get_endpoint_info,
}
"""The responder's own handlers; the session requests (`SESSION_REQUESTS`) are the session table's."""


# --- request checks ----------------------------------------------------------------------------


def _served_codes(ours: int, theirs: int | None) -> Mapping[int, Code]:
    """The request codes served, by value: those whose capabilities we have and, once negotiated
    (`theirs`, the requester's flags), the requester has. Made when the flags change, not per request."""
    served: dict[int, Code] = {}
    for code in HANDLED:
        needed, required = CAPABILITY_OF.get(code, 0), REQUESTER_CAPABILITY_OF.get(code, 0)
        if (not needed or ours & needed) and (not required or theirs is None or theirs & required):
            served[code] = code
    return served


def _session_required(version: int, reason: str) -> ProtocolError:
    """A session request where a session is required and there is none, or FINISH sealed where its
    handshake travels in the clear: SessionRequired from 1.2, Unspecified at 1.1 (libspdm_rsp_finish_rsp.c,
    _heartbeat.c, _key_update_ack.c, _end_session_ack.c)."""
    return ProtocolError(ErrorCode.SessionRequired if version >= 0x12 else ErrorCode.Unspecified, reason)


def _bits(priority: tuple[int, ...]) -> int:
    """The algorithms of a priority list as one bitmask."""
    mask = 0
    for bit in priority:
        mask |= bit
    return mask


def select_opaque_data_format(offer: NegotiateAlgorithms) -> int:
    """1.2 OtherParamsSelection: the general opaque data format when offered, else format 0, else none
    (libspdm_rsp_algorithms.c prefers OpaqueDataFmt1 the same way)."""
    for fmt in (OtherParams.OPAQUE_DATA_FMT_1, OtherParams.OPAQUE_DATA_FMT_0):
        if offer.other_params_support & fmt:
            return int(fmt)
    return 0


def _check_offer(offer: NegotiateAlgorithms) -> None:
    """What the codec does not check: AlgStruct types and order, empty offers, the ext-alg budget per version."""
    version = offer.version
    ext_total = len(offer.ext_asym) + len(offer.ext_hash) + sum(len(s.ext) for s in offer.alg_structs)
    if ext_total > max_extended_algorithms(version):
        raise invalid_request(f"{ext_total} extended algorithms is over the limit for version 0x{version:02x}")
    if offer.alg_structs and not has_alg_structs(version):
        raise invalid_request("SPDM 1.0 has no AlgStructs")
    previous = 0
    for struct in offer.alg_structs:
        if not AlgType.DHE <= struct.alg_type <= AlgType.KEY_SCHEDULE:
            raise invalid_request(f"AlgType {struct.alg_type} is not defined in SPDM 1.1")
        if struct.alg_type <= previous:
            raise invalid_request("AlgStruct types do not increase")
        if not struct.alg_supported:
            raise invalid_request(f"{AlgType(struct.alg_type).name} offers no algorithm")
        previous = struct.alg_type


def _defined(version: int, struct: AlgStruct) -> int:
    """An AlgStruct's offer, ReqBaseAsymAlg without the bits `version` does not define."""
    if struct.alg_type == AlgType.REQ_BASE_ASYM_ALG:
        return defined_asym_bits(version, struct.alg_supported)
    return struct.alg_supported


def _slot_signer(asym: AsymSuite, key: SigningKey, suite: HashSuite) -> Signer:
    return lambda signed: asym.sign(key, signed, suite)


def _suite(bit: int) -> AsymSuite | None:
    try:
        return asym_suite(bit)
    except NegotiationError:
        return None


def _accepts(bit: int, key: PublicKeyTypes) -> bool:
    suite = _suite(bit)
    return suite is not None and suite.accepts(key)
