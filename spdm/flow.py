"""Decoding an exchange seen from outside (a capture, a tap): each message with the sizes in force.

Some layouts depend on negotiation (digest and signature sizes) and on the request being
answered (whether a summary hash or a signature is present). A `FlowDecoder` follows the
messages it decodes, as a passive observer, to know both.

It follows SPDM 1.2 large-message transfers too (through `spdm.chunking`): the chunk message
that completes a large request or response, and the CHUNK_SEND_ACK that carries the answer to a
large request, leave in `FlowDecoder.carried` the message they carried, which is what the
exchange (its transcripts, its checks) is made of: `stands_for` says what each message is to it.
A request that would interrupt a transfer (`spdm.chunking.interrupts`) and the ERROR
UnexpectedRequest the responder must answer it with stand for nothing: the transfer goes on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from spdm.certs import chain_end
from spdm.chunking import ChunkAssembly, capabilities_in_force, interrupts
from spdm.errors import DecodeError, ErrorCode, ProtocolError
from spdm.messages import Message, decode, decode_prefix
from spdm.messages.challenge import Challenge
from spdm.messages.chunk import ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck
from spdm.messages.codec import is_padding
from spdm.messages.codes import Code
from spdm.messages.context import CodecContext
from spdm.messages.encapsulated import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    embedded_message,
    embedded_payload,
)
from spdm.messages.endpoint_info import GetEndpointInfo
from spdm.messages.error import ErrorResponse, LargeResponse, RespondIfReady
from spdm.messages.key_exchange import KeyExchange
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import Algorithms, Capabilities, GetCapabilities, GetVersion, NegotiateAlgorithms
from spdm.messages.provisioning import SetCertificate
from spdm.messages.psk import PskExchange
from spdm.negotiated import Negotiated

__all__ = ["Carried", "Direction", "FlowDecoder", "direction_of", "stands_for"]

class Direction(enum.Enum):
    REQUEST = "request"
    RESPONSE = "response"

    @property
    def arrow(self) -> str:
        return "REQ->RSP" if self is Direction.REQUEST else "RSP->REQ"

    @property
    def opposite(self) -> Direction:
        return Direction.RESPONSE if self is Direction.REQUEST else Direction.REQUEST


def _cut_chain_padding(request: SetCertificate, size: int) -> tuple[SetCertificate, int]:
    """SET_CERTIFICATE's chain runs to the end of the message: DOE padding is told from it by the
    chain's own Length (`spdm.certs.chain_end`)."""
    chain = request.cert_chain
    end = chain_end(chain)
    return replace(request, cert_chain=chain[:end]), size - len(chain) + end


_CARRIERS = (DeliverEncapsulatedResponse, EncapsulatedRequest, EncapsulatedResponseAck)
"""The encapsulated-flow messages whose payload, another SPDM message, runs to the end."""


def _cut_carrier_padding(
    carrier: DeliverEncapsulatedResponse | EncapsulatedRequest | EncapsulatedResponseAck,
    size: int,
    context: CodecContext,
    max_padding: int,
) -> tuple[Message, int]:
    """An encapsulated carrier's payload runs to the end of the message: DOE padding is told from it
    by the carried message's own fields, decoded under `context` (`FlowDecoder.carried_context`). A
    payload that is no message (ENCAPSULATED_RESPONSE_ACK with PayloadType other than PRESENT) or not one
    message then padding is left whole, for the encapsulated flow to judge."""
    payload = embedded_payload(carrier)
    if payload is None:
        return carrier, size
    try:
        _, exact = embedded_message(payload, context, max_padding)
    except DecodeError:
        return carrier, size
    return replace(carrier, payload=exact), size - len(payload) + len(exact)


def direction_of(data: bytes) -> Direction:
    """Which way a message travels, by its RequestResponseCode (`Code.marks_request`)."""
    if len(data) < 2:
        raise DecodeError("SPDM", "header", f"truncated: {len(data)} bytes, a message has at least 4")
    return Direction.REQUEST if Code.marks_request(data[1]) else Direction.RESPONSE


@dataclass(frozen=True, slots=True)
class Carried:
    """What a message stood for instead of itself: the message that travelled inside chunk messages
    and its exact bytes, or (`message` None) nothing: a request that would interrupt a chunk
    transfer, and the refusal that answers it."""

    message: Message | None
    data: bytes = b""


_ASIDE = Carried(None)


def stands_for(message: Message, data: bytes, carried: Carried | None) -> tuple[Message, bytes] | None:
    """What a message is to the exchange: the message it carried, if any (`FlowDecoder.carried`);
    nothing for the rest of a transfer (chunk messages, ERROR(LargeResponse)), which libspdm keeps
    out of every transcript, and for a request that would interrupt one and its refusal; else the
    message itself."""
    if carried is not None:
        return None if carried.message is None else (carried.message, carried.data)
    if isinstance(message, (ChunkSend, ChunkSendAck, ChunkGet, ChunkResponse)) or (
        isinstance(message, ErrorResponse) and message.error_code == ErrorCode.LargeResponse
    ):
        return None
    return message, data


class FlowDecoder:
    """Decodes the messages of one SPDM connection in order, following its negotiation."""

    def __init__(self) -> None:
        self.negotiated: Negotiated | None = None
        self._get_capabilities: GetCapabilities | None = None
        self._capabilities: Capabilities | None = None
        self._request: Message | None = None
        self._large_request: ChunkAssembly[ChunkSend] | None = None
        self._large_response: ChunkAssembly[ChunkResponse] | None = None
        self._answers_chunks = False
        """The last request was a CHUNK_SEND: a large response answers a request sent in chunks."""
        self._interrupting: Message | None = None
        """A request that would interrupt a transfer, whose refusal comes next."""
        self.carried: Carried | None = None
        """What the message last decoded or observed carried (see `stands_for`)."""
        self._encapsulated: Message | None = None
        """The responder's encapsulated request the requester answers next (its DELIVER's context)."""

    def context(self, direction: Direction) -> CodecContext | None:
        """The decode context for the next message travelling in `direction`."""
        if self.negotiated is None:
            return None
        request = self._request
        if direction is Direction.REQUEST or request is None:
            return self.negotiated.codec_context()
        summary = 0
        if isinstance(request, (Challenge, KeyExchange, PskExchange)):
            summary = request.summary_hash_type
        signed = isinstance(request, (GetMeasurements, GetEndpointInfo)) and request.signature_requested
        return self.negotiated.codec_context(summary_hash_type=summary, signature_requested=signed)

    def carried_context(self, carrier: Message) -> CodecContext | None:
        """The decode context of what an encapsulated carrier holds: the requester's answer in
        DELIVER_ENCAPSULATED_RESPONSE (`Negotiated.requester_response_context`) carries a signature
        when the encapsulated GET_ENDPOINT_INFO asked for one."""
        if self.negotiated is None:
            return None
        if not isinstance(carrier, DeliverEncapsulatedResponse):
            return self.negotiated.codec_context()
        asked = self._encapsulated
        signed = isinstance(asked, GetEndpointInfo) and asked.signature_requested
        return self.negotiated.requester_response_context(signature_requested=signed)

    def decode(self, data: bytes, *, max_padding: int = 0) -> tuple[Message, bytes]:
        """Decode one message and follow it; return it and its exact bytes.

        With `max_padding`, `data` may end in that many zero bytes of transport padding after the
        message (DOE: 3); the message's own fields say where it ends.
        """
        ctx = self.context(direction_of(data))
        if max_padding:
            msg, size = self._cut_padding(*decode_prefix(data, ctx), max_padding)
            tail = data[size:]
            if not is_padding(tail, max_padding):
                raise DecodeError(msg.name, "", f"{len(tail)} bytes after the message are not DOE padding")
        else:
            msg = decode(data, ctx)
            size = len(data)
        self.observe(msg)
        return msg, bytes(data[:size])

    def _cut_padding(self, msg: Message, size: int, max_padding: int) -> tuple[Message, int]:
        """`msg` (decoded from `size` bytes) without the DOE padding (at most `max_padding` bytes) its last
        field read in, where that field runs to the end of the message; the message's own fields, or
        those of the message it carries, say where it ends."""
        if isinstance(msg, ChunkSendAck):
            return self._cut_ack_padding(msg, size, max_padding)
        if isinstance(msg, SetCertificate):
            return _cut_chain_padding(msg, size)
        context = self.carried_context(msg)
        if isinstance(msg, _CARRIERS) and context is not None:
            return _cut_carrier_padding(msg, size, context, max_padding)
        return msg, size

    def _cut_ack_padding(self, ack: ChunkSendAck, size: int, max_padding: int) -> tuple[ChunkSendAck, int]:
        """A CHUNK_SEND_ACK's response runs to the end of the message: DOE padding is told from it by
        the response's own fields (it answers the large request), padding it carries cut the same way."""
        response = ack.response
        if not any(response):
            return replace(ack, response=b""), size - len(response)
        _, length = self._cut_padding(*decode_prefix(response, self.context(Direction.RESPONSE)), max_padding)
        return replace(ack, response=response[:length]), size - len(response) + length

    def observe(self, msg: Message) -> None:
        """Take note of a message that went by (decoded here or elsewhere).

        A chunk that breaks `spdm.chunking`'s rules raises its `ProtocolError`, and so does an answer
        other than ERROR UnexpectedRequest to a request that would interrupt a transfer; a large message
        that does not decode, its `DecodeError`.
        """
        self.carried = None
        if self._set_aside(msg):
            self.carried = _ASIDE
            return
        carried = self._follow_transfer(msg)
        self._note(msg)
        if carried is not None and carried.message is not None:
            self._note(carried.message)
        self.carried = carried

    def _set_aside(self, msg: Message) -> bool:
        """Whether `msg` is a request that would interrupt an unfinished transfer, or the refusal that
        must answer it (DSP0274 1.2: UnexpectedRequest, and the transfer goes on; libspdm_rsp_receive_send.c)."""
        asked, self._interrupting = self._interrupting, None
        if asked is not None:
            if isinstance(msg, ErrorResponse) and msg.error_code == ErrorCode.UnexpectedRequest:
                return True
            reason = f"{msg.name} answers {asked.name}, which would interrupt a chunk transfer"
            raise ProtocolError(ErrorCode.InvalidResponseCode, f"{reason}: only ERROR UnexpectedRequest may")
        transfers = (self._large_response, self._large_request)
        if msg.code.is_request and any(
            transfer is not None and not transfer.done and interrupts(transfer.kind, msg.code) for transfer in transfers
        ):
            self._interrupting = msg
            return True
        return False

    def _follow_transfer(self, msg: Message) -> Carried | None:
        """The large message a chunk message completes, or the response a CHUNK_SEND_ACK carries;
        GET_VERSION ends every transfer, an EarlyErrorDetected the large request's."""
        if isinstance(msg, GetVersion):
            self._large_request = self._large_response = None
        if msg.code.is_request:
            self._answers_chunks = isinstance(msg, ChunkSend)
        if isinstance(msg, ErrorResponse) and isinstance(msg.extended_data, LargeResponse):
            self._large_response = ChunkAssembly.receiving(
                ChunkResponse,
                self._chunking(msg),
                handle=msg.extended_data.handle,
                answers_chunks=self._answers_chunks,
            )
        elif isinstance(msg, ChunkSend):
            if self._large_request is None or self._large_request.done:
                self._large_request = ChunkAssembly.receiving(ChunkSend, self._chunking(msg))
            return self._carried(self._large_request.add(msg), Direction.REQUEST)
        elif isinstance(msg, ChunkResponse):
            if self._large_response is None:
                reason = "CHUNK_RESPONSE with no ERROR(LargeResponse) before it"
                raise ProtocolError(ErrorCode.InvalidResponseCode, reason)
            return self._carried(self._large_response.add(msg), Direction.RESPONSE)
        elif isinstance(msg, ChunkSendAck):
            if msg.early_error_detected:
                self._large_request = None
            if msg.response:
                return self._carried(msg.response, Direction.RESPONSE)
        return None

    def _chunking(self, msg: Message) -> Negotiated:
        """What bounds a large message: the negotiation, or from GET_CAPABILITIES on what the two
        sides exchanged so far (`spdm.chunking.capabilities_in_force`: chunking starts at CAPABILITIES)."""
        if self.negotiated is not None:
            return self.negotiated
        if self._get_capabilities is not None:
            return capabilities_in_force(self._get_capabilities, self._capabilities)
        code = ErrorCode.InvalidRequest if msg.code.is_request else ErrorCode.InvalidResponseCode
        raise ProtocolError(code, f"{msg.name} before any negotiation")

    def _carried(self, large: bytes | None, direction: Direction) -> Carried | None:
        if large is None:
            return None
        return Carried(decode(large, self.context(direction)), large)

    def _note(self, msg: Message) -> None:
        if isinstance(msg, GetVersion):
            self.negotiated = None
            self._get_capabilities = self._capabilities = None
        elif isinstance(msg, GetCapabilities):
            self._get_capabilities = msg
        elif isinstance(msg, Capabilities):
            self._capabilities = msg
        elif isinstance(msg, Algorithms):
            self.negotiated = Negotiated.from_vca(
                msg.version,
                self._get_capabilities or GetCapabilities(version=msg.version),
                self._capabilities or Capabilities(version=msg.version),
                msg,
                self._request if isinstance(self._request, NegotiateAlgorithms) else None,
            )
        if msg.code.is_request and not isinstance(msg, (RespondIfReady, ChunkSend, ChunkGet)):
            self._request = msg
        payload = embedded_payload(msg)
        if payload is not None and not isinstance(msg, DeliverEncapsulatedResponse):
            try:
                self._encapsulated = embedded_message(payload, self.carried_context(msg), 0)[0]
            except DecodeError:
                self._encapsulated = None
