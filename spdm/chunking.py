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

Chunking is in force from CAPABILITIES on, as in libspdm (connection state AFTER_CAPABILITIES):
`capabilities_in_force` is what it goes by until ALGORITHMS. A transfer in progress is not
interrupted (`interrupts`), and a request travels whole only within the responder's
DataTransferSize (`whole_request_limit`, `request_refusal`).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from spdm.errors import EncodeError, ErrorCode, ProtocolError
from spdm.limits import DEFAULT_LIMITS, Limits
from spdm.messages.chunk import LAST_CHUNK, ChunkResponse, ChunkSend
from spdm.messages.codes import CapabilityFlags, Code
from spdm.messages.negotiation import MIN_DATA_TRANSFER_SIZE, Capabilities, GetCapabilities
from spdm.negotiated import Negotiated

__all__ = [
    "CHUNK_HEADER",
    "FIRST_CHUNK_HEADER",
    "MAX_CHUNKS",
    "Chunk",
    "ChunkAssembly",
    "capabilities_in_force",
    "chunk_message_size",
    "chunks",
    "interrupts",
    "request_refusal",
    "transfer_size",
    "whole_request_limit",
]

CHUNK_HEADER = 12
"""SPDMVersion to ChunkSize: the bytes of every CHUNK_SEND and CHUNK_RESPONSE before its chunk."""
_LARGE_MESSAGE_SIZE = 4
FIRST_CHUNK_HEADER = CHUNK_HEADER + _LARGE_MESSAGE_SIZE
"""The bytes of the first chunk message (ChunkSeqNo 0) before its chunk: LargeMessageSize too."""
_SEND_ACK_HEADER = 6
"""SPDMVersion to ChunkSeqNo: the bytes of a CHUNK_SEND_ACK before the response it carries."""
MAX_CHUNKS = 0x1_0000
"""ChunkSeqNo is a u16 up to SPDM 1.3, and must not wrap."""

Chunk = TypeVar("Chunk", ChunkSend, ChunkResponse)

_MIN_FIRST_CHUNK = MIN_DATA_TRANSFER_SIZE - FIRST_CHUNK_HEADER
_MIN_CHUNK = MIN_DATA_TRANSFER_SIZE - CHUNK_HEADER
"""Every chunk but the last fills at least MinDataTransferSize (libspdm refuses less in both roles)."""

_REFUSAL = {ChunkSend: ErrorCode.InvalidRequest, ChunkResponse: ErrorCode.InvalidResponseCode}
_CONTINUES = {ChunkSend: Code.CHUNK_SEND, ChunkResponse: Code.CHUNK_GET}


def interrupts(kind: type[ChunkSend] | type[ChunkResponse], code: int) -> bool:
    """Whether a request (its `code`) would interrupt an unfinished transfer of `kind` chunks: any
    request but the transfer's own (CHUNK_SEND, CHUNK_GET) and GET_VERSION, which ends every transfer
    instead. DSP0274 1.2 "CHUNK_SEND request": a transfer is not interrupted; the responder answers
    UnexpectedRequest and the transfer goes on (libspdm_rsp_receive_send.c). The responder refuses by
    it, `spdm verify` expects that refusal by it."""
    return code not in (_CONTINUES[kind], Code.GET_VERSION)


def capabilities_in_force(request: GetCapabilities, response: Capabilities | None = None) -> Negotiated:
    """The connection as chunking sees it between CAPABILITIES and ALGORITHMS: the version, both
    sides' flags and transfer sizes, nothing selected yet (libspdm chunks from CAPABILITIES on).
    Without `response`, only the requester's side: what a chunked CAPABILITIES is received with."""
    return Negotiated(
        version=request.version,
        requester_flags=int(request.flags or 0),
        responder_flags=0 if response is None else int(response.flags),
        requester_data_transfer_size=request.data_transfer_size,
        requester_max_spdm_msg_size=request.max_spdm_msg_size,
        responder_data_transfer_size=None if response is None else response.data_transfer_size,
        responder_max_spdm_msg_size=None if response is None else response.max_spdm_msg_size,
    )


def transfer_size(negotiated: Negotiated) -> int | None:
    """The size a chunk message fills, and over which a message is large, when both sides set
    CHUNK_CAP: the smaller of the two DataTransferSizes (libspdm's min_data_transfer_size, which
    both roles split at); None when the connection does not chunk."""
    theirs, ours = negotiated.requester_data_transfer_size, negotiated.responder_data_transfer_size
    if theirs is None or ours is None or not negotiated.both(CapabilityFlags.CHUNK_CAP):
        return None
    return min(theirs, ours)


def whole_request_limit(negotiated: Negotiated) -> int | None:
    """The largest request that travels whole (not in CHUNK_SEND): the responder's DataTransferSize;
    None before 1.2. The requester sends none larger (libspdm_req_send_receive.c), the responder takes
    none larger (libspdm_rsp_receive_send.c trims a request to it, so a larger one does not parse)."""
    return negotiated.responder_data_transfer_size


def request_refusal(negotiated: Negotiated, size: int) -> str | None:
    """Why a request of `size` bytes cannot be sent, whole or in chunks, or None: over the responder's
    MaxSPDMmsgSize, or over its DataTransferSize when the connection does not chunk
    (libspdm_req_send_receive.c libspdm_send_spdm_request: PEER_BUFFER_TOO_SMALL, before sending)."""
    limit = negotiated.responder_max_spdm_msg_size
    if limit is not None and size > limit:
        return f"a {size}-byte request is over the responder's MaxSPDMmsgSize {limit}"
    whole = whole_request_limit(negotiated)
    if transfer_size(negotiated) is None and whole is not None and size > whole:
        return f"a {size}-byte request is over the responder's DataTransferSize {whole}, without chunking"
    return None


def chunk_message_size(chunk: ChunkSend | ChunkResponse) -> int:
    """The encoded size of a chunk message (what must fit in the receiver's DataTransferSize)."""
    first = _LARGE_MESSAGE_SIZE if chunk.large_message_size is not None else 0
    return CHUNK_HEADER + first + len(chunk.chunk)


def chunks(message: bytes, *, kind: type[Chunk], handle: int, data_transfer_size: int) -> list[Chunk]:
    """`message` as the chunk messages of one transfer, each at most `data_transfer_size` bytes.

    `data_transfer_size` is the smaller of the receiver's DataTransferSize and the sender's own;
    the chunks carry the message's SPDMVersion. An `EncodeError` when the size is under
    MinDataTransferSize, the message fits the first chunk (a transfer of one chunk, which every
    receiver refuses) or needs more than 65536 chunks.
    """
    if data_transfer_size < MIN_DATA_TRANSFER_SIZE:
        reason = f"DataTransferSize {data_transfer_size} is under the minimum {MIN_DATA_TRANSFER_SIZE}"
        raise EncodeError(kind.name, "chunk", reason)
    first: int = data_transfer_size - FIRST_CHUNK_HEADER
    rest: int = data_transfer_size - CHUNK_HEADER
    if len(message) <= first:
        reason = f"{len(message)} bytes fit one chunk at DataTransferSize {data_transfer_size}: no large message"
        raise EncodeError(kind.name, "chunk", reason)
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
    would notice another). `answers_chunks`: the large response answers a request sent in chunks
    (see `_first`). Nothing is
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
        answers_chunks: bool = False,
    ) -> None:
        self.kind: type[Chunk] = kind
        self.version = version
        self.answers_chunks = answers_chunks
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
        cls,
        kind: type[Chunk],
        negotiated: Negotiated,
        *,
        limits: Limits = DEFAULT_LIMITS,
        handle: int | None = None,
        answers_chunks: bool = False,
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
            answers_chunks=answers_chunks,
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
        DataTransferSize, over `max_message_size` or LargeMessageSize, under the sizes every chunk
        but the last fills, or flagged last before the message is complete or on the first chunk;
        and for any chunk after the transfer is over. The refusal ends it.
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
            total: int = self._first(chunk)
        elif chunk.large_message_size is not None:
            raise refuse("LargeMessageSize in a chunk after the first")
        elif not chunk.last_chunk and len(chunk.chunk) < _MIN_CHUNK:
            raise refuse(f"ChunkSize {len(chunk.chunk)} of a chunk before the last is under {_MIN_CHUNK}")
        else:
            total = self._total
        if self.received + len(chunk.chunk) > total:
            raise refuse(f"the chunks hold more than the LargeMessageSize {total}")
        if chunk.last_chunk and self.received + len(chunk.chunk) != total:
            raise refuse(f"the last chunk ends the message at {self.received + len(chunk.chunk)} of {total} bytes")
        return total

    def _first(self, chunk: Chunk) -> int:
        """The first chunk's LargeMessageSize, if it may open the transfer. As libspdm refuses
        (libspdm_rsp_chunk_send_ack.c, libspdm_req_handle_error_response.c): a message that would
        fit one transfer (LargeMessageSize at most MinDataTransferSize, or for a response to a request
        sent in chunks at most that less the CHUNK_SEND_ACK header, whose wrapping alone may have made
        it large), a first chunk that does not fill MinDataTransferSize or is flagged last, and more
        than `MAX_CHUNKS` chunks at the receiver's DataTransferSize."""
        refuse = self._refusal
        size = chunk.large_message_size
        if size is None:
            raise refuse("the first chunk has no LargeMessageSize")
        if size > self.max_message_size:
            raise refuse(f"LargeMessageSize {size} is over the {self.max_message_size} bytes allowed")
        most = (self.data_transfer_size - CHUNK_HEADER) * MAX_CHUNKS - _LARGE_MESSAGE_SIZE
        if size > most:
            raise refuse(f"LargeMessageSize {size} needs more than {MAX_CHUNKS} chunks of the DataTransferSize")
        least = MIN_DATA_TRANSFER_SIZE - (_SEND_ACK_HEADER if self.answers_chunks else 0)
        if size <= least:
            raise refuse(f"LargeMessageSize {size} is no large message (at most {least})")
        if chunk.last_chunk:
            raise refuse("the first chunk is flagged last: the message is no large message")
        if len(chunk.chunk) < _MIN_FIRST_CHUNK:
            raise refuse(f"the first ChunkSize {len(chunk.chunk)} is under {_MIN_FIRST_CHUNK}")
        return size

    def _refusal(self, reason: str) -> ProtocolError:
        return ProtocolError(_REFUSAL[self.kind], f"{self.kind.name}: {reason}")
