"""What the responder's connection and its session table share: the settled connection, the refusals
and the encapsulated responses they take.

`spdm.responder.machine` serves the connection (VCA, certificates, CHALLENGE, measurements,
vendor requests) and hands session requests to `spdm.responder.sessions.SessionTable`; both read
the `Connection` VCA settled and raise the `ProtocolError`s made here, which `Responder.respond`
turns into ERROR responses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from spdm._checks import invalid_response
from spdm.crypto import AeadSuite, AsymSuite, HashSuite, aead_suite
from spdm.errors import DecodeError, NegotiationError, ProtocolError
from spdm.measurements import MeasurementProvider, summary_hash
from spdm.messages import CodecContext, Message, encode
from spdm.messages.certificates import PUBLIC_KEY_SLOT, slot_mask
from spdm.messages.codes import ErrorCode, SummaryHashType
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedResponseAck,
    PayloadType,
    embedded_message,
    has_ack_request_id,
    nothing_pending_code,
)
from spdm.messages.error import ErrorResponse
from spdm.negotiated import Negotiated
from spdm.session.keys import KeySchedule
from spdm.session.transcript import psk_finish_follows

__all__ = [
    "Connection",
    "SessionTerms",
    "check_request_id",
    "embedded_response",
    "ends_encapsulated_flow",
    "expect",
    "invalid_request",
    "measurement_summary",
    "next_request_id",
    "nothing_pending",
    "random_bytes",
    "refuse_public_key_slot",
    "response_ack",
    "session_terms",
    "unexpected",
    "unsupported",
]

M = TypeVar("M", bound=Message)
_SPDM_HEADER_SIZE = 4


@dataclass(frozen=True, slots=True)
class SessionTerms:
    """What every session of a connection shares, fixed by the negotiation: worked out once, not per handshake."""

    hash: HashSuite
    aead: AeadSuite
    encrypt: bool
    """ENCRYPT_CAP on both sides (else the records are MAC-only)."""
    in_the_clear: bool
    """HANDSHAKE_IN_THE_CLEAR_CAP on both sides: FINISH (and the encapsulated flow) travel in the clear."""
    heartbeat_period: int
    """The HeartbeatPeriod of *_EXCHANGE_RSP: the configured one when both sides set HBEAT_CAP, else 0."""
    psk_with_context: bool
    """The responder's PSK_CAP says "with context": PSK_EXCHANGE_RSP carries one and PSK_FINISH follows."""
    psk_schedules: Mapping[bytes, KeySchedule]
    """The key schedule of each configured PSK by its PSKHint: a PSK and the negotiation fix it, so every
    PSK session of the connection starts from the same handshake and master secrets."""


@dataclass(frozen=True, slots=True)
class Connection:
    """What VCA settled: the negotiated value, its suites, the chains of the usable slots, how its
    requests decode (`codec`) and what its sessions share (`sessions`, None when it can hold none)."""

    negotiated: Negotiated
    hash: HashSuite | None
    asym: AsymSuite | None
    chains: Mapping[int, bytes]
    codec: CodecContext
    sessions: SessionTerms | None

    @property
    def slot_mask(self) -> int:
        return slot_mask(self.chains)


def session_terms(
    negotiated: Negotiated, suite: HashSuite | None, heartbeat_period: int, psks: Mapping[bytes, bytes]
) -> SessionTerms:
    """What the sessions of a connection share (`psks`: the configured PSKs by PSKHint); raises the refusal
    of a session request when it can hold none."""
    if suite is None:
        raise unexpected("no hash algorithm was negotiated")
    refusal = negotiated.session_refusal()
    if refusal is not None:  # libspdm answers InvalidRequest too
        raise invalid_request(refusal)
    try:
        aead = aead_suite(negotiated.aead_suite)
    except NegotiationError as error:
        raise invalid_request(str(error)) from None
    return SessionTerms(
        hash=suite,
        aead=aead,
        encrypt=negotiated.encrypts_records,
        in_the_clear=negotiated.handshake_in_the_clear,
        heartbeat_period=heartbeat_period if negotiated.heartbeats else 0,
        psk_with_context=psk_finish_follows(negotiated.responder_flags),
        psk_schedules=MappingProxyType(
            {
                hint: KeySchedule(suite, aead, psk, spdm_version=negotiated.version, psk=True)
                for hint, psk in psks.items()
            }
        ),
    )


def invalid_request(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.InvalidRequest, reason)


def unexpected(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.UnexpectedRequest, reason)


def nothing_pending(version: int, reason: str) -> ProtocolError:
    """GET_ENCAPSULATED_REQUEST with no encapsulated request pending, in or out of a session and its
    handshake (`spdm.messages.encapsulated.nothing_pending_code`)."""
    return ProtocolError(nothing_pending_code(version), reason)


def unsupported(code: int, reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.UnsupportedRequest, reason, code)


def refuse_public_key_slot(slot: int, public_key_slot: int = PUBLIC_KEY_SLOT) -> None:
    """A SlotID naming the pre-provisioned public key (`PUBLIC_KEY_SLOT`; its nibble in GET_MEASUREMENTS'
    4-bit field) is InvalidRequest: this responder has none (no PUB_KEY_ID_CAP)."""
    if slot == public_key_slot:
        raise invalid_request(f"slot 0x{slot:X}: no pre-provisioned public key (PUB_KEY_ID_CAP)")


def measurement_summary(
    provider: MeasurementProvider | None, negotiated: Negotiated, summary_type: int, digest: Callable[[bytes], bytes]
) -> bytes | None:
    """The MeasurementSummaryHash CHALLENGE_AUTH, KEY_EXCHANGE_RSP and PSK_EXCHANGE_RSP carry (None for
    type NONE). A reserved type is InvalidRequest, and so is a summary asked of a connection with no
    measurements: the responder's MEAS_CAP, a measurement specification and a measurement hash must
    all have been negotiated (libspdm_rsp_challenge_auth.c, libspdm_rsp_key_exchange.c,
    libspdm_rsp_psk_exchange.c)."""
    if summary_type == SummaryHashType.NONE:
        return None
    if summary_type not in (SummaryHashType.TCB, SummaryHashType.ALL):
        raise invalid_request(f"MeasurementSummaryHashType 0x{summary_type:02x} is reserved")
    if (
        provider is None
        or not negotiated.responder_measurement_cap
        or not negotiated.measurement_hash_algo
        or not negotiated.measurement_specification
    ):
        raise invalid_request("a measurement summary hash was asked of a device without measurements")
    return summary_hash(provider, summary_type, digest)


def expect(message: Message, cls: type[M]) -> M:
    """Narrow a decoded request to its class (the header's code chose the class, so this holds)."""
    if not isinstance(message, cls):
        raise invalid_request(f"{message.name} where {cls.name} was expected")
    return message


def embedded_response(
    deliver: DeliverEncapsulatedResponse, negotiated: Negotiated, padding: int, *, signature_requested: bool = False
) -> tuple[Message, bytes]:
    """The requester's response carried in DELIVER_ENCAPSULATED_RESPONSE, and its bytes: one SPDM message
    of the negotiated version, followed by at most `padding` zero bytes (the transport's, in the clear);
    anything else is InvalidResponseCode. `signature_requested`: the request asked for a signature.

    A payload shorter than an SPDM header is a malformed request, not a response: InvalidRequest, the
    flow still pending (libspdm_rsp_encap_response.c refuses it before reading the response)."""
    if len(deliver.payload) < _SPDM_HEADER_SIZE:
        raise invalid_request(f"DELIVER_ENCAPSULATED_RESPONSE carries {len(deliver.payload)} bytes, no SPDM header")
    context = negotiated.requester_response_context(signature_requested=signature_requested)
    try:
        inner, exact = embedded_message(deliver.payload, context, padding)
    except DecodeError as error:
        raise invalid_response(f"the encapsulated response is not one message: {error}") from None
    if inner.version != negotiated.version:
        raise invalid_response(f"the encapsulated {inner.name} has version 0x{inner.version:02x}")
    return inner, exact


def ends_encapsulated_flow(response: Message) -> bool:
    """Whether the requester's encapsulated response ends the flow: ERROR ResponseNotReady, to which the
    responder shall terminate the encapsulated request flow with an ENCAPSULATED_RESPONSE_ACK whose
    Param2 is 0 (DSP0274, DELIVER_ENCAPSULATED_RESPONSE; libspdm_rsp_encap_response.c)."""
    return isinstance(response, ErrorResponse) and response.error_code == ErrorCode.ResponseNotReady


def next_request_id(request_id: int) -> int:
    """The RequestID of the encapsulated request after `request_id` (each request gets the next, as in
    libspdm_rsp_encap_response.c): 1..255, wrapping past 0, which an ACK that carries no request has."""
    return (request_id + 1) & 0xFF or 1


def check_request_id(deliver: DeliverEncapsulatedResponse, pending: int, what: str) -> None:
    """DELIVER_ENCAPSULATED_RESPONSE must carry the RequestID of the pending encapsulated request (`what`
    it is); another is InvalidRequest."""
    if deliver.request_id != pending:
        raise invalid_request(f"RequestID {deliver.request_id}, the pending {what} is {pending}")


def response_ack(
    deliver: DeliverEncapsulatedResponse,
    request_id: int = 0,
    payload_type: PayloadType = PayloadType.ABSENT,
    payload: bytes = b"",
) -> bytes:
    """ENCAPSULATED_RESPONSE_ACK to `deliver`; from 1.2 it names the RequestID it acknowledges
    (AckRequestID, then 3 reserved bytes)."""
    acks = has_ack_request_id(deliver.version)
    return encode(
        EncapsulatedResponseAck(
            version=deliver.version,
            request_id=request_id,
            payload_type=payload_type,
            ack_request_id=deliver.request_id if acks else None,
            reserved=bytes(3) if acks else None,
            payload=payload,
        )
    )


def random_bytes(source: Callable[[int], bytes], size: int) -> bytes:
    """`size` bytes from the configured random source (nonces, RandomData, PSK contexts); a source
    that gives another count is the device's fault: Unspecified."""
    data = bytes(source(size))
    if len(data) != size:
        raise ProtocolError(ErrorCode.Unspecified, f"the random source gave {len(data)} bytes, not {size}")
    return data
