"""Decoding an exchange seen from outside (a capture, a tap): each message with the sizes in force.

Some layouts depend on negotiation (digest and signature sizes) and on the request being
answered (whether a summary hash or a signature is present). A `FlowDecoder` follows the
messages it decodes, as a passive observer, to know both.
"""

from __future__ import annotations

import enum

from spdm.errors import DecodeError
from spdm.messages import Message, decode, decode_prefix
from spdm.messages.challenge import Challenge
from spdm.messages.context import CodecContext
from spdm.messages.error import RespondIfReady
from spdm.messages.key_exchange import KeyExchange
from spdm.messages.measurements import GetMeasurements
from spdm.messages.negotiation import Algorithms, Capabilities, GetCapabilities, GetVersion
from spdm.messages.psk import PskExchange
from spdm.negotiated import Negotiated

__all__ = ["Direction", "FlowDecoder", "direction_of"]

_DOE_DW = 4


class Direction(enum.Enum):
    REQUEST = "request"
    RESPONSE = "response"

    @property
    def arrow(self) -> str:
        return "REQ->RSP" if self is Direction.REQUEST else "RSP->REQ"

    @property
    def opposite(self) -> Direction:
        return Direction.RESPONSE if self is Direction.REQUEST else Direction.REQUEST


def direction_of(data: bytes) -> Direction:
    """Requests have bit 7 of the RequestResponseCode set."""
    if len(data) < 2:
        raise DecodeError("SPDM", "header", f"truncated: {len(data)} bytes, a message has at least 4")
    return Direction.REQUEST if data[1] & 0x80 else Direction.RESPONSE


class FlowDecoder:
    """Decodes the messages of one SPDM connection in order, following its negotiation."""

    def __init__(self) -> None:
        self.negotiated: Negotiated | None = None
        self._get_capabilities: GetCapabilities | None = None
        self._capabilities: Capabilities | None = None
        self._request: Message | None = None

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
        signed = isinstance(request, GetMeasurements) and request.signature_requested
        return self.negotiated.codec_context(summary_hash_type=summary, signature_requested=signed)

    def decode(self, data: bytes, *, padded: bool = False) -> tuple[Message, bytes]:
        """Decode one message and follow it; return it and its exact bytes.

        With `padded`, `data` may end in DOE padding (under one DWORD of zeros) after the
        message; the message's own fields say where it ends.
        """
        ctx = self.context(direction_of(data))
        if padded:
            msg, size = decode_prefix(data, ctx)
            tail = data[size:]
            if len(tail) >= _DOE_DW or any(tail):
                raise DecodeError(msg.name, "", f"{len(tail)} bytes after the message are not DOE padding")
        else:
            msg = decode(data, ctx)
            size = len(data)
        self.observe(msg)
        return msg, bytes(data[:size])

    def observe(self, msg: Message) -> None:
        """Take note of a message that went by (decoded here or elsewhere)."""
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
            )
        if msg.code.is_request and not isinstance(msg, RespondIfReady):
            self._request = msg
