"""CHUNK_SEND/CHUNK_SEND_ACK and CHUNK_GET/CHUNK_RESPONSE: SPDM 1.2 large-message transfer.

A message larger than the receiver's DataTransferSize travels in chunks (DSP0274 1.2, "CHUNK_SEND
request and CHUNK_SEND_ACK response" and "CHUNK_GET request and CHUNK_RESPONSE response"). Layouts
follow libspdm's include/industry_standard/spdm.h (spdm_chunk_send_request_t,
spdm_chunk_send_ack_response_t, spdm_chunk_get_request_t, spdm_chunk_response_response_t): the
first chunk (ChunkSeqNo 0) alone carries LargeMessageSize, and ChunkSize counts exactly the bytes
that follow it. CHUNK_SEND_ACK has no Reserved field: the response to the reassembled request
follows ChunkSeqNo directly, empty until the last chunk (libspdm_rsp_chunk_send_ack.c). SPDM 1.4's
u32 ChunkSeqNo (the ``_14_t`` structures) is not read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import field, length_of, of, only_when, require, when
from spdm.messages.codec import Message, message
from spdm.messages.codes import Code

__all__ = ["EARLY_ERROR_DETECTED", "LAST_CHUNK", "ChunkGet", "ChunkResponse", "ChunkSend", "ChunkSendAck"]

LAST_CHUNK = 0x01
"""Param1 bit 0 of CHUNK_SEND and CHUNK_RESPONSE: this chunk ends the large message."""
EARLY_ERROR_DETECTED = 0x01
"""Param1 bit 0 of CHUNK_SEND_ACK: a chunk was refused, and the ERROR follows."""


def _chunk_within_message(chunk_size: int, large_message_size: int | None) -> bool:
    return large_message_size is None or chunk_size <= large_message_size


def _chunk_fields() -> list[c.Construct]:
    """The layout CHUNK_SEND and CHUNK_RESPONSE share; ChunkSize comes from `chunk`."""
    return [
        "attributes" / c.Int8ul,
        "handle" / c.Int8ul,
        "chunk_seq_no" / c.Int16ul,
        "reserved" / c.Int16ul,
        "_chunk_size" / c.Rebuild(c.Int32ul, length_of("chunk")),
        *only_when(
            "large_message_size",
            when("chunk_seq_no", "==", 0),
            c.Int32ul,
            "LargeMessageSize must be present exactly when ChunkSeqNo is 0",
        ),
        require(
            of(_chunk_within_message, "_chunk_size", "large_message_size"),
            "ChunkSize over LargeMessageSize",
            field="chunk",
        ),
        "chunk" / c.Bytes(field("_chunk_size")),
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Chunk(Message):
    """What CHUNK_SEND and CHUNK_RESPONSE share: one chunk of a large message, `large_message_size`
    only in the first (ChunkSeqNo 0)."""

    version: int = 0x12
    attributes: int = 0
    handle: int
    chunk_seq_no: int
    reserved: int = 0
    large_message_size: int | None = None
    chunk: bytes

    @property
    def last_chunk(self) -> bool:
        return bool(self.attributes & LAST_CHUNK)


@message(Code.CHUNK_SEND, *_chunk_fields())
@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkSend(_Chunk):
    """One chunk of a large request."""


@message(
    Code.CHUNK_SEND_ACK,
    "attributes" / c.Int8ul,
    "handle" / c.Int8ul,
    "chunk_seq_no" / c.Int16ul,
    "response" / c.GreedyBytes,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkSendAck(Message):
    """`response` is the answer to the reassembled request (after the last chunk, or an ERROR
    when EARLY_ERROR_DETECTED is set), empty otherwise."""

    version: int = 0x12
    attributes: int = 0
    handle: int
    chunk_seq_no: int
    response: bytes = b""

    @property
    def early_error_detected(self) -> bool:
        return bool(self.attributes & EARLY_ERROR_DETECTED)


@message(Code.CHUNK_GET, "param1" / c.Int8ul, "handle" / c.Int8ul, "chunk_seq_no" / c.Int16ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkGet(Message):
    """`handle` is the one ERROR(LargeResponse) gave; Param1 is reserved."""

    version: int = 0x12
    param1: int = 0
    handle: int
    chunk_seq_no: int


@message(Code.CHUNK_RESPONSE, *_chunk_fields())
@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkResponse(_Chunk):
    """One chunk of a large response (what ERROR(LargeResponse) announced)."""
