"""How every request of a connection travels, in the clear or in a session: `Channel`.

One request/response exchange, as DSP0274 says (its timing requirements and ERROR response): the
timeout is the responder's time for the request (CT = 2^CTExponent us for a cryptographic
request, else ST1) plus `RequesterConfig.rtt`; an ERROR Busy is retried and a ResponseNotReady
waited for (a `Wait` event) and then asked again with RESPOND_IF_READY, each a bounded number of
times; any other ERROR raises `PeerError`; the answer must be the response to the request, at the
request's version. Responses are decoded with the negotiated sizes, bounded by
`RequesterConfig.limits`, and only transport padding may follow them.

SPDM 1.2 chunking (both sides set CHUNK_CAP, from the exchange after CAPABILITIES, as libspdm) happens
here too, under the carry, so that every request in the clear or in a session gets it and transcripts
see only the large messages: a request larger than the smaller of the responder's DataTransferSize
and ours goes as CHUNK_SEND (handles counted from 0 per connection, as libspdm's
libspdm_handle_large_request), and its answer comes in the last CHUNK_SEND_ACK or as
ERROR(LargeResponse); that ERROR is followed with CHUNK_GET until the last CHUNK_RESPONSE
(libspdm_req_handle_error_response.c). A request the responder cannot take (over its
MaxSPDMmsgSize, or over its DataTransferSize without chunking) is refused with `NegotiationError`
before anything is sent. Splitting, reassembly and those sizes are `spdm.chunking`'s.

The connection and each of its sessions share one `Channel`; a session brings its own `carry`
(seal the request, open the response) and the connection its transcript rules, so the channel
is all of the connection a session sends through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from spdm._checks import invalid_response
from spdm.chunking import (
    MAX_CHUNKS,
    ChunkAssembly,
    capabilities_in_force,
    chunks,
    request_refusal,
    transfer_size,
)
from spdm.errors import NegotiationError, PeerError, ProtocolError
from spdm.messages import Message, decode_prefix, encode
from spdm.messages.chunk import ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck
from spdm.messages.codec import is_padding
from spdm.messages.codes import Code, ErrorCode
from spdm.messages.context import CodecContext
from spdm.messages.error import (
    MAX_RD_EXPONENT,
    NEVER_NOT_READY,
    ErrorResponse,
    LargeResponse,
    RespondIfReady,
    ResponseNotReady,
)
from spdm.messages.negotiation import Capabilities, GetCapabilities
from spdm.negotiated import Negotiated
from spdm.requester.config import RequesterConfig
from spdm.requester.events import Steps, send, wait

__all__ = ["Carry", "Channel", "Transact"]

M = TypeVar("M", bound=Message)

Carry = Callable[[bytes, float, "CodecContext | None"], Steps[tuple[Message, bytes]]]
"""Moves one encoded request (with its timeout) and returns the decoded response and its exact bytes."""

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


class Transact(Protocol):
    """Sends one request under its owner's rules (the connection's transcripts, or a session's
    records) and returns the response with the exact request and response bytes."""

    def __call__(self, request: Message, expect: type[M], /) -> Steps[tuple[M, bytes, bytes]]: ...


class Channel:
    """The exchange rules of one connection, shared by the connection and its sessions.

    `max_padding` is how many zero bytes the transport may leave after a response in the clear
    (DOE: 3); `negotiated` is set once ALGORITHMS is checked (None before, and again after a
    GET_VERSION).
    """

    def __init__(self, config: RequesterConfig, max_padding: int = 0) -> None:
        self.config = config
        self.max_padding = max_padding
        self.negotiated: Negotiated | None = None
        self.chunk_handle = 0
        """The Handle of the next CHUNK_SEND transfer (a byte, wrapping)."""
        self._capabilities: Negotiated | None = None
        """From CAPABILITIES to the next GET_VERSION: what chunking goes by until ALGORITHMS."""

    def _sizes(self) -> Negotiated | None:
        """What chunking and the responder's sizes go by: the negotiated connection, or between
        CAPABILITIES and ALGORITHMS what the two sides exchanged; None before."""
        return self.negotiated if self.negotiated is not None else self._capabilities

    def require_negotiated(self) -> Negotiated:
        if self.negotiated is None:
            raise NegotiationError("the connection is not negotiated yet: run init_connection() first")
        return self.negotiated

    def codec(self, summary_hash_type: int = 0, signature_requested: bool = False) -> CodecContext | None:
        """The decode context of a response, worked out once per request (None before ALGORITHMS)."""
        negotiated = self.negotiated
        if negotiated is None:
            return None
        return negotiated.codec_context(summary_hash_type=summary_hash_type, signature_requested=signature_requested)

    def clear(self, data: bytes, timeout: float, codec: CodecContext | None) -> Steps[tuple[Message, bytes]]:
        """One request in the clear (outside any session) and its decoded response: a `Carry`."""
        response = yield from send(data, timeout=timeout)
        return self.decode(response, codec, self.max_padding)

    def exchange(
        self,
        request: Message,
        data: bytes,
        expect: type[M],
        carry: Carry,
        on_error: Callable[[int], None],
        codec: CodecContext | None,
        before_sending: Callable[[], None],
    ) -> Steps[tuple[M, bytes, bytes]]:
        """The request/response exchange shared by the connection and its sessions.

        `data` is `request` encoded; `carry(data, timeout, codec)` moves one request and returns the
        decoded response with its exact bytes; `on_error(error_code)` is told of every ERROR answer
        (transcript resets). A request the responder cannot take (`spdm.chunking.request_refusal`)
        raises `NegotiationError`, as libspdm_send_spdm_request refuses it, before anything is sent
        and before `before_sending` applies the sender's transcript rules: the responder never sees
        it, so no transcript may move.
        """
        if request.code == Code.GET_VERSION:
            self._capabilities = None
        sizes = self._sizes()
        refusal = None if sizes is None else request_refusal(sizes, len(data))
        if refusal is not None:
            raise NegotiationError(f"{request.name}: {refusal}")
        before_sending()
        if request.code in _CRYPTO_REQUESTS:
            negotiated = self.negotiated
            wait_time = (1 << (negotiated.responder_ct_exponent if negotiated else 0)) / 1e6
        else:
            wait_time = _ST1
        timeout = self.config.rtt + wait_time
        response, exact = yield from self._transfer(data, carry, timeout, codec)
        if isinstance(response, ErrorResponse):
            response, exact = yield from self._follow_errors(request, data, response, carry, on_error, timeout, codec)
        answer = _answering(request, response, expect)
        if isinstance(request, GetCapabilities) and isinstance(answer, Capabilities):
            self._capabilities = capabilities_in_force(request, answer)
        return answer, data, exact

    def _follow_errors(
        self,
        request: Message,
        data: bytes,
        error: ErrorResponse,
        carry: Carry,
        on_error: Callable[[int], None],
        timeout: float,
        codec: CodecContext | None,
    ) -> Steps[tuple[Message, bytes]]:
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
                sent = yield from self._respond_if_ready(request, error)
            else:
                raise PeerError(error)
            response, exact = yield from self._transfer(sent, carry, timeout, codec)
            if not isinstance(response, ErrorResponse):
                return response, exact
            error = response

    def _transfer(
        self, data: bytes, carry: Carry, timeout: float, codec: CodecContext | None
    ) -> Steps[tuple[Message, bytes]]:
        """One request and its response, each in chunks when it is too large for one transfer."""
        sizes = self._sizes()
        size = None if sizes is None else transfer_size(sizes)
        if sizes is None or size is None:
            return (yield from carry(data, timeout, codec))
        chunked = len(data) > size
        if chunked:
            response, exact = yield from self._send_chunks(data, size, carry, timeout, codec)
        else:
            response, exact = yield from carry(data, timeout, codec)
        if isinstance(response, ErrorResponse) and response.error_code == ErrorCode.LargeResponse:
            return (yield from self._get_chunks(response, sizes, chunked, carry, timeout, codec))
        return response, exact

    def _send_chunks(
        self, data: bytes, size: int, carry: Carry, timeout: float, codec: CodecContext | None
    ) -> Steps[tuple[Message, bytes]]:
        """A large request as CHUNK_SEND; the answer is the last CHUNK_SEND_ACK's response, the ERROR
        an EarlyErrorDetected ack carries, or an ERROR that comes instead of an ack
        (ERROR(LargeResponse) when the answer is large too)."""
        handle = self.chunk_handle
        self.chunk_handle = (handle + 1) & 0xFF
        *first, last = chunks(data, kind=ChunkSend, handle=handle, data_transfer_size=size)
        for part in first:
            answer = yield from self._send_chunk(part, carry, timeout, codec)
            if answer is not None:
                return answer
        answer = yield from self._send_chunk(last, carry, timeout, codec)
        if answer is None:
            raise invalid_response("the last CHUNK_SEND_ACK carries no response")
        return answer

    def _send_chunk(
        self, part: ChunkSend, carry: Carry, timeout: float, codec: CodecContext | None
    ) -> Steps[tuple[Message, bytes] | None]:
        """One CHUNK_SEND: the answer to the large request if this ends the transfer, else None."""
        response, exact = yield from carry(encode(part), timeout, codec)
        if isinstance(response, ErrorResponse):
            return response, exact
        ack = _answering(part, response, ChunkSendAck)
        if ack.early_error_detected:
            error, error_bytes = self.decode(ack.response, codec, self.max_padding)
            if not isinstance(error, ErrorResponse) or error.error_code == ErrorCode.LargeResponse:
                raise invalid_response(f"CHUNK_SEND_ACK with EarlyErrorDetected carries {error.name}")
            return error, error_bytes
        if ack.handle != part.handle or ack.chunk_seq_no != part.chunk_seq_no:
            raise invalid_response(
                f"CHUNK_SEND_ACK for Handle {ack.handle} ChunkSeqNo {ack.chunk_seq_no}, "
                f"sent Handle {part.handle} ChunkSeqNo {part.chunk_seq_no}"
            )
        if not any(ack.response):  # empty, or DOE padding only
            return None
        if not part.last_chunk:
            raise invalid_response("a CHUNK_SEND_ACK before the last chunk carries a response")
        return self.decode(ack.response, codec, self.max_padding)

    def _get_chunks(
        self,
        error: ErrorResponse,
        sizes: Negotiated,
        answers_chunks: bool,
        carry: Carry,
        timeout: float,
        codec: CodecContext | None,
    ) -> Steps[tuple[Message, bytes]]:
        """The large response ERROR(LargeResponse) announced, fetched with CHUNK_GET and put back
        together within our MaxSPDMmsgSize and `limits` (`answers_chunks`: to a request sent in
        chunks); an ERROR instead of a chunk ends it."""
        extended = error.extended_data
        if not isinstance(extended, LargeResponse):
            raise invalid_response("ERROR(LargeResponse) without its Handle")
        assembly = ChunkAssembly.receiving(
            ChunkResponse, sizes, limits=self.config.limits, handle=extended.handle, answers_chunks=answers_chunks
        )
        for seq_no in range(MAX_CHUNKS):
            ask = ChunkGet(version=sizes.version, handle=extended.handle, chunk_seq_no=seq_no)
            response, exact = yield from carry(encode(ask), timeout, codec)
            if isinstance(response, ErrorResponse):
                return response, exact
            large = assembly.add(_answering(ask, response, ChunkResponse))
            if large is not None:
                return self.decode(large, codec, 0)
        raise invalid_response(f"the large response did not end within {MAX_CHUNKS} chunks")

    def _respond_if_ready(self, request: Message, error: ErrorResponse) -> Steps[bytes]:
        if request.code in NEVER_NOT_READY:
            raise invalid_response(f"{request.name} answered ResponseNotReady, which DSP0274 does not allow")
        extended = error.extended_data
        if not isinstance(extended, ResponseNotReady) or extended.request_code != request.code:
            raise invalid_response("ResponseNotReady names another request")
        if extended.rdtm <= 1:  # as libspdm_req_handle_error_response.c refuses it
            raise invalid_response(f"ResponseNotReady with RDTM {extended.rdtm}: it must be over 1")
        if extended.rd_exponent > MAX_RD_EXPONENT:
            raise invalid_response(f"RDExponent {extended.rd_exponent} is over {MAX_RD_EXPONENT}")
        yield from wait((1 << extended.rd_exponent) / 1e6)
        return encode(RespondIfReady(version=request.version, request_code=request.code, token=extended.token))

    def decode(self, raw: bytes, codec: CodecContext | None, max_padding: int) -> tuple[Message, bytes]:
        """Decode a response with the negotiated sizes; only padding (at most `max_padding` zero
        bytes) may follow it."""
        limits = self.config.limits
        limits.check_response(raw)
        message, size = decode_prefix(raw, codec)
        if size != len(raw):
            tail = raw[size:]
            if not is_padding(tail, max_padding):
                raise invalid_response(f"{message.name} is followed by {len(tail)} unexpected bytes")
            raw = raw[:size]
        limits.check_response_opaque(message)
        return message, bytes(raw)


def _answering(request: Message, response: Message, expect: type[M]) -> M:
    """`response` as the answer to `request`: its response code, of the `expect` kind, at its version."""
    if response.code != request.code.response_code or not isinstance(response, expect):
        raise invalid_response(f"{request.name} was answered with {response.name}")
    if response.version != request.version:
        raise ProtocolError(
            ErrorCode.VersionMismatch,
            f"{response.name} carries version 0x{response.version:02x}, the request 0x{request.version:02x}",
        )
    return response
