"""SPDM 1.2 large-message transfer: a message cut into chunks, and put back together.

A message larger than its receiver's DataTransferSize travels as CHUNK_SEND requests (a large
request) or CHUNK_RESPONSE responses (a large response, announced by ERROR(LargeResponse)). The
requester, the responder and `spdm verify` all split and reassemble here (DSP0274 1.2 "CHUNK_SEND
request and CHUNK_SEND_ACK response", "CHUNK_GET request and CHUNK_RESPONSE response").

`chunks` cuts as libspdm does (libspdm_req_send_receive.c, libspdm_rsp_chunk_response.c): every
chunk message fills the DataTransferSize, the first one 4 bytes less for its LargeMessageSize.
`ChunkAssembly` takes the chunks in order and refuses any that breaks a rule with a
`ProtocolError`: InvalidRequest for CHUNK_SEND (what libspdm_rsp_chunk_send_ack.c answers, inside
a CHUNK_SEND_ACK with EarlyErrorDetected), InvalidResponseCode for CHUNK_RESPONSE (the requester's
code for a response that breaks the protocol). As in libspdm, a refusal ends the transfer.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from spdm.errors import EncodeError, ErrorCode, ProtocolError
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.messages.chunk import LAST_CHUNK, ChunkResponse, ChunkSend
from spdm.messages.codes import CapabilityFlags
from spdm.messages.negotiation import MIN_DATA_TRANSFER_SIZE
from spdm.negotiated import Negotiated

__all__ = ["CHUNK_HEADER", "MAX_CHUNKS", "Chunk", "ChunkAssembly", "chunk_message_size", "chunks", "transfer_size"]

CHUNK_HEADER = 12
"""SPDMVersion to ChunkSize: the bytes of every CHUNK_SEND and CHUNK_RESPONSE before its chunk."""
_LARGE_MESSAGE_SIZE = 4
_SPDM_HEADER = 4
MAX_CHUNKS = 0x1_0000
"""ChunkSeqNo is a u16 up to SPDM 1.3, and must not wrap."""

Chunk = TypeVar("Chunk", ChunkSend, ChunkResponse)

_REFUSAL = {ChunkSend: ErrorCode.InvalidRequest, ChunkResponse: ErrorCode.InvalidResponseCode}


def transfer_size(negotiated: Negotiated) -> int | None:
    """The size a chunk message fills, and over which a message is large, when both sides set
    CHUNK_CAP: the smaller of the two DataTransferSizes (libspdm's min_data_transfer_size, which
    both roles split at); None when the connection does not chunk."""
    theirs, ours = negotiated.requester_data_transfer_size, negotiated.responder_data_transfer_size
    if theirs is None or ours is None or not negotiated.both(CapabilityFlags.CHUNK_CAP):
        return None
    return min(theirs, ours)


def chunk_message_size(chunk: ChunkSend | ChunkResponse) -> int:
    """The encoded size of a chunk message (what must fit in the receiver's DataTransferSize)."""
    first = _LARGE_MESSAGE_SIZE if chunk.large_message_size is not None else 0
    return CHUNK_HEADER + first + len(chunk.chunk)


def chunks(message: bytes, *, kind: type[Chunk], handle: int, data_transfer_size: int) -> list[Chunk]:
    """`message` as the chunk messages of one transfer, each at most `data_transfer_size` bytes.

    `data_transfer_size` is the smaller of the receiver's DataTransferSize and the sender's own;
    the chunks carry the message's SPDMVersion. An `EncodeError` when the message is shorter than
    an SPDM header, the size is under MinDataTransferSize or the message needs more than 65536 chunks.
    """
    if len(message) < _SPDM_HEADER:
        raise EncodeError(kind.name, "chunk", f"{len(message)} bytes are not an SPDM message")
    if data_transfer_size < MIN_DATA_TRANSFER_SIZE:
        reason = f"DataTransferSize {data_transfer_size} is under the minimum {MIN_DATA_TRANSFER_SIZE}"
        raise EncodeError(kind.name, "chunk", reason)
    first: int = data_transfer_size - CHUNK_HEADER - _LARGE_MESSAGE_SIZE
    rest: int = data_transfer_size - CHUNK_HEADER
    starts: range = range(first, len(message), rest)
    count = 1 + len(starts)
    if count > MAX_CHUNKS:
        reason = f"{len(message)} bytes need {count} chunks at DataTransferSize {data_transfer_size}"
        raise EncodeError(kind.name, "chunk_seq_no", f"{reason}, more than {MAX_CHUNKS}")
    return [
        kind(
            version=message[0],
            attributes=LAST_CHUNK if seq_no == count - 1 else 0,
            handle=handle,
            chunk_seq_no=seq_no,
            large_message_size=len(message) if seq_no == 0 else None,
            chunk=message[start : start + (first if seq_no == 0 else rest)],
        )
        for seq_no, start in enumerate((0, *starts))
    ]


class ChunkAssembly(Generic[Chunk]):
    """One large message being received, chunk by chunk (`add`), by the side whose sizes are given.

    `data_transfer_size` is the receiver's DataTransferSize, `max_message_size` the largest message
    it takes (its MaxSPDMmsgSize, or a smaller `spdm.limits.Limits` bound). `handle` is the one
    ERROR(LargeResponse) announced; None takes it from the first chunk (CHUNK_SEND). `version` is the
    connection's: every chunk carries it (a chunk's header is in no transcript, so nothing else
    would notice another). Nothing is
    buffered before LargeMessageSize is checked against `max_message_size`, and the buffer grows
    only by chunks that passed every check.
    """

    def __init__(
        self,
        kind: type[Chunk],
        *,
        data_transfer_size: int,
        max_message_size: int,
        handle: int | None = None,
        version: int | None = None,
    ) -> None:
        self.kind: type[Chunk] = kind
        self.version = version
        self.data_transfer_size = data_transfer_size
        self.max_message_size = max_message_size
        self.handle = handle
        self._total = 0
        self._received = bytearray()
        self._next_seq_no = 0
        self.done = False
        """Set once the message is complete or a chunk was refused: the transfer is over."""

    @classmethod
    def receiving(
        cls, kind: type[Chunk], negotiated: Negotiated, *, limits: Limits = DEFAULT_LIMITS, handle: int | None = None
    ) -> ChunkAssembly[Chunk]:
        """The transfer as its receiver bounds it: the responder receives CHUNK_SEND, the requester
        CHUNK_RESPONSE; its DataTransferSize, and the smaller of its MaxSPDMmsgSize and its role's
        `limits` bound (`max_request_bytes`, `max_response_bytes`). Without 1.2 transfer sizes
        there is no chunking: the chunk is refused."""
        if kind is ChunkSend:
            sizes = negotiated.responder_data_transfer_size, negotiated.responder_max_spdm_msg_size
            bound = limits.max_request_bytes
        else:
            sizes = negotiated.requester_data_transfer_size, negotiated.requester_max_spdm_msg_size
            bound = limits.max_response_bytes
        data_transfer_size, max_message_size = sizes
        if data_transfer_size is None or max_message_size is None:
            raise ProtocolError(_REFUSAL[kind], f"{kind.name} before SPDM 1.2 transfer sizes were negotiated")
        bounded = min(max_message_size, bound)
        return cls(
            kind,
            data_transfer_size=data_transfer_size,
            max_message_size=bounded,
            handle=handle,
            version=negotiated.version,
        )

    @property
    def large_message_size(self) -> int | None:
        """The first chunk's LargeMessageSize; None before it."""
        return self._total if self._next_seq_no else None

    @property
    def received(self) -> int:
        """Bytes of the large message taken so far."""
        return len(self._received)

    def add(self, chunk: Chunk) -> bytes | None:
        """Take the next chunk: the large message once the last chunk is in, else None.

        Raises `ProtocolError` (InvalidRequest for CHUNK_SEND, InvalidResponseCode for
        CHUNK_RESPONSE) for a chunk of the wrong kind, version or handle, out of sequence, with
        LargeMessageSize missing from the first chunk or present in a later one, over the
        DataTransferSize, over `max_message_size` or LargeMessageSize, or flagged last before the
        message is complete; and for any chunk after the transfer is over. The refusal ends it.
        """
        try:
            self._total = self._check(chunk)
        except ProtocolError:
            self.done = True
            raise
        self.handle = chunk.handle
        self._received += chunk.chunk
        self._next_seq_no += 1
        if not chunk.last_chunk:
            return None
        self.done = True
        return bytes(self._received)

    def _check(self, chunk: Chunk) -> int:
        """The transfer's LargeMessageSize, if `chunk` may be taken."""
        refuse = self._refusal
        if self.done:
            raise refuse("the transfer is over")
        if not isinstance(chunk, self.kind):
            raise refuse(f"{chunk.name} in a transfer of {self.kind.name}")
        if self.version is not None and chunk.version != self.version:
            raise refuse(f"SPDMVersion 0x{chunk.version:02x} in a 0x{self.version:02x} connection")
        if self.handle is not None and chunk.handle != self.handle:
            raise refuse(f"Handle {chunk.handle}, the transfer's is {self.handle}")
        if chunk.chunk_seq_no != self._next_seq_no:
            raise refuse(f"ChunkSeqNo {chunk.chunk_seq_no}, expected {self._next_seq_no}")
        size = chunk_message_size(chunk)
        if size > self.data_transfer_size:
            raise refuse(f"a {size}-byte chunk message is over the DataTransferSize {self.data_transfer_size}")
        if chunk.chunk_seq_no == 0:
            if chunk.large_message_size is None:
                raise refuse("the first chunk has no LargeMessageSize")
            if chunk.large_message_size > self.max_message_size:
                limit = self.max_message_size
                raise refuse(f"LargeMessageSize {chunk.large_message_size} is over the {limit} bytes allowed")
            total: int = chunk.large_message_size
        elif chunk.large_message_size is not None:
            raise refuse("LargeMessageSize in a chunk after the first")
        else:
            total = self._total
        if self.received + len(chunk.chunk) > total:
            raise refuse(f"the chunks hold more than the LargeMessageSize {total}")
        if chunk.last_chunk and self.received + len(chunk.chunk) != total:
            raise refuse(f"the last chunk ends the message at {self.received + len(chunk.chunk)} of {total} bytes")
        return total

    def _refusal(self, reason: str) -> ProtocolError:
        return ProtocolError(_REFUSAL[self.kind], f"{self.kind.name}: {reason}")
