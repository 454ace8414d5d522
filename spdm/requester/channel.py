"""How every request of a connection travels, in the clear or in a session: `Channel`.

One request/response exchange, as DSP0274 says (its timing requirements and ERROR response): the
timeout is the responder's time for the request (CT = 2^CTExponent us for a cryptographic
request, else ST1) plus `RequesterConfig.rtt`; an ERROR Busy is retried and a ResponseNotReady
waited for (a `Wait` event) and then asked again with RESPOND_IF_READY, each a bounded number of
times; any other ERROR raises `PeerError`; the answer must be the response to the request, at the
request's version. Responses are decoded with the negotiated sizes, bounded by
`RequesterConfig.limits`, and only transport padding may follow them.

The connection and each of its sessions share one `Channel`; a session brings its own `carry`
(seal the request, open the response) and the connection its transcript rules, so the channel
is all of the connection a session sends through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from spdm._checks import invalid_response
from spdm.errors import NegotiationError, PeerError, ProtocolError
from spdm.messages import Message, decode_prefix, encode
from spdm.messages.codes import Code, ErrorCode
from spdm.messages.context import CodecContext
from spdm.messages.error import ErrorResponse, RespondIfReady, ResponseNotReady
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
    ) -> Steps[tuple[M, bytes, bytes]]:
        """The request/response exchange shared by the connection and its sessions.

        `data` is `request` encoded; `carry(data, timeout, codec)` moves one request and returns the
        decoded response with its exact bytes; `on_error(error_code)` is told of every ERROR answer
        (transcript resets).
        """
        if request.code in _CRYPTO_REQUESTS:
            negotiated = self.negotiated
            wait_time = (1 << (negotiated.responder_ct_exponent if negotiated else 0)) / 1e6
        else:
            wait_time = _ST1
        timeout = self.config.rtt + wait_time
        response, exact = yield from carry(data, timeout, codec)
        if isinstance(response, ErrorResponse):
            response, exact = yield from self._follow_errors(request, data, response, carry, on_error, timeout, codec)
        if response.code != request.code & 0x7F or not isinstance(response, expect):
            raise invalid_response(f"{request.name} was answered with {response.name}")
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
            response, exact = yield from carry(sent, timeout, codec)
            if not isinstance(response, ErrorResponse):
                return response, exact
            error = response

    def _respond_if_ready(self, request: Message, error: ErrorResponse) -> Steps[bytes]:
        extended = error.extended_data
        if not isinstance(extended, ResponseNotReady) or extended.request_code != request.code:
            raise invalid_response("ResponseNotReady names another request")
        if extended.rd_exponent > 31:
            raise invalid_response(f"RDExponent {extended.rd_exponent} is over 31")
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
            if len(tail) > max_padding or any(tail):
                raise invalid_response(f"{message.name} is followed by {len(tail)} unexpected bytes")
            raw = raw[:size]
        limits.check_response_opaque(message)
        return message, bytes(raw)
