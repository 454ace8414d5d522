"""The encapsulated request flow: a responder's requests carried inside the requester's.

From 1.2 ENCAPSULATED_RESPONSE_ACK has AckRequestID (the RequestID of the response it acknowledges)
and three reserved bytes before its payload (DSP0274 1.2 "ENCAPSULATED_RESPONSE_ACK"; libspdm
`spdm_encapsulated_response_ack_response_t`).

Each payload is the rest of the message, kept as bytes: an embedded SPDM message (decode it with
`spdm.messages.decode`), or the 1-byte ReqSlotID when ENCAPSULATED_RESPONSE_ACK's PayloadType is
2. The payload's end is the message's end, so the transport's padding (DOE outside a session) may
follow the embedded message: `embedded_message` tells it from the message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import construct as c

from spdm.errors import DecodeError, ErrorCode
from spdm.messages._layout import of, only_when
from spdm.messages.codec import Message, decode_prefix, is_padding, message
from spdm.messages.codes import Code
from spdm.messages.context import CodecContext

__all__ = [
    "DeliverEncapsulatedResponse",
    "EncapsulatedRequest",
    "EncapsulatedResponseAck",
    "GetEncapsulatedRequest",
    "PayloadType",
    "embedded_message",
    "embedded_payload",
    "has_ack_request_id",
    "nothing_pending_code",
]


class PayloadType(enum.IntEnum):
    """ENCAPSULATED_RESPONSE_ACK's Param2: what its payload is (DSP0274 "ENCAPSULATED_RESPONSE_ACK";
    libspdm SPDM_ENCAPSULATED_RESPONSE_ACK_RESPONSE_PAYLOAD_TYPE_*)."""

    ABSENT = 0
    """No payload: the encapsulated flow is done."""
    PRESENT = 1
    """The next encapsulated request."""
    REQ_SLOT_NUMBER = 2
    """The 1-byte ReqSlotNumber the requester signs FINISH with: the flow is done."""


def nothing_pending_code(version: int) -> ErrorCode:
    """The ERROR a responder with no encapsulated request pending answers GET_ENCAPSULATED_REQUEST with,
    in or out of a session: NoPendingRequests from 1.3, UnexpectedRequest before
    (libspdm_rsp_encap_response.c)."""
    return ErrorCode.NoPendingRequests if version >= 0x13 else ErrorCode.UnexpectedRequest


def has_ack_request_id(version: int) -> bool:
    """ENCAPSULATED_RESPONSE_ACK carries AckRequestID and 3 reserved bytes from SPDM 1.2."""
    return version >= 0x12


_ACK_REQUEST_ID = of(has_ack_request_id, "version")


@message(Code.GET_ENCAPSULATED_REQUEST, "param1" / c.Int8ul, "param2" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetEncapsulatedRequest(Message):
    version: int = 0x11
    param1: int = 0
    param2: int = 0


@message(
    Code.ENCAPSULATED_REQUEST,
    "request_id" / c.Int8ul,
    "param2" / c.Int8ul,
    "payload" / c.GreedyBytes,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class EncapsulatedRequest(Message):
    """The responder's request, tagged with the `request_id` its response must carry."""

    version: int = 0x11
    request_id: int
    param2: int = 0
    payload: bytes


@message(
    Code.DELIVER_ENCAPSULATED_RESPONSE,
    "request_id" / c.Int8ul,
    "param2" / c.Int8ul,
    "payload" / c.GreedyBytes,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverEncapsulatedResponse(Message):
    """The requester's response to the encapsulated request `request_id`."""

    version: int = 0x11
    request_id: int
    param2: int = 0
    payload: bytes


@message(
    Code.ENCAPSULATED_RESPONSE_ACK,
    "request_id" / c.Int8ul,
    "payload_type" / c.Int8ul,
    *only_when("ack_request_id", _ACK_REQUEST_ID, c.Int8ul, "AckRequestID present before SPDM 1.2"),
    *only_when(
        "reserved",
        _ACK_REQUEST_ID,
        c.Bytes(3),
        "the reserved bytes after AckRequestID present before SPDM 1.2",
    ),
    "payload" / c.GreedyBytes,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class EncapsulatedResponseAck(Message):
    """`payload_type` 0: the flow is done (no payload); 1: the next request, `request_id`;
    2: the 1-byte ReqSlotID the requester signs FINISH with. `ack_request_id` and `reserved` are
    None before 1.2."""

    version: int = 0x11
    request_id: int = 0
    payload_type: int = 0
    ack_request_id: int | None = None
    reserved: bytes | None = None
    payload: bytes = b""


def embedded_payload(carrier: Message) -> bytes | None:
    """The payload of an encapsulated-flow message that carries an SPDM message (ENCAPSULATED_REQUEST,
    DELIVER_ENCAPSULATED_RESPONSE, ENCAPSULATED_RESPONSE_ACK with PayloadType PRESENT); None for any other."""
    if isinstance(carrier, (EncapsulatedRequest, DeliverEncapsulatedResponse)) or (
        isinstance(carrier, EncapsulatedResponseAck) and carrier.payload_type == PayloadType.PRESENT
    ):
        return carrier.payload
    return None


def embedded_message(payload: bytes, context: CodecContext | None, max_padding: int) -> tuple[Message, bytes]:
    """The one SPDM message an encapsulated carrier's payload holds, decoded under `context`, and its exact
    bytes. The payload runs to the end of the carrier, so the transport's padding may follow the message:
    at most `max_padding` zero bytes (none in a session); anything else is a `DecodeError`."""
    embedded, size = decode_prefix(payload, context)
    tail = payload[size:]
    if not is_padding(tail, max_padding):
        raise DecodeError(embedded.name, "", f"{len(tail)} bytes follow the embedded {embedded.name}")
    return embedded, bytes(payload[:size])
