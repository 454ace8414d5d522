"""The responder's side of SPDM 1.2 chunking: large requests taken in, large responses served out.

A response larger than the requester's DataTransferSize (or our own) is kept and announced with
ERROR(LargeResponse); CHUNK_GET then serves it chunk by chunk. A request larger than our
DataTransferSize arrives as CHUNK_SEND, is put back together and served as if it had come whole;
the last CHUNK_SEND_ACK carries its response. Both follow libspdm (libspdm_rsp_receive_send.c,
libspdm_rsp_chunk_send_ack.c, libspdm_rsp_chunk_response.c): the large-response Handle advances
when a transfer is announced and again when it ends, so libspdm's captures replay; a transfer is
not interrupted (`spdm.chunking.interrupts`: UnexpectedRequest, and the transfer goes on); a chunk
refused by `spdm.chunking.ChunkAssembly`, or one that does not decode, is answered by a
CHUNK_SEND_ACK with EarlyErrorDetected and the ERROR, and ends its transfer. Transcripts see only
the large messages: the handlers run on the whole request and produce the whole response, and
chunks go around them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from spdm.chunking import CHUNK_HEADER, FIRST_CHUNK_HEADER, ChunkAssembly, chunks, interrupts, transfer_size
from spdm.errors import ProtocolError
from spdm.limits import Limits
from spdm.messages import decode, encode
from spdm.messages.chunk import EARLY_ERROR_DETECTED, ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck
from spdm.messages.codes import Code, ErrorCode
from spdm.messages.error import ErrorResponse, LargeResponse, ResponseTooLarge
from spdm.negotiated import Negotiated
from spdm.responder._common import invalid_request, unexpected

__all__ = ["CHUNK_REQUESTS", "LargeMessages", "TooLarge"]

CHUNK_REQUESTS = frozenset({Code.CHUNK_SEND, Code.CHUNK_GET})
_SEND_IDS = struct.Struct("<BH")
"""A CHUNK_SEND's Param2 (Handle) and ChunkSeqNo, from byte 3 (spdm_chunk_send_request_t)."""


class TooLarge(ProtocolError):
    """ResponseTooLarge: the response is over the requester's MaxSPDMmsgSize (its size in the ERROR)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(ErrorCode.ResponseTooLarge, f"a {size}-byte response is over the requester's {limit}")
        self.extended = ResponseTooLarge(response_size=size)


@dataclass(slots=True)
class _Outgoing:
    """A large response being served: its chunk messages, the next one, and the session it belongs to."""

    parts: list[ChunkResponse]
    next_seq_no: int
    session_id: int | None


class LargeMessages:
    """The chunk transfers of one connection: at most one large response or one large request at a time."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._handle = 0
        self._outgoing: _Outgoing | None = None
        self._incoming: ChunkAssembly[ChunkSend] | None = None
        self._incoming_session: int | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for transfers in progress (a large request so far, a large response's chunks)."""
        held = 0 if self._incoming is None else self._incoming.received
        if self._outgoing is not None:
            held += sum(len(part.chunk) for part in self._outgoing.parts)
        return held

    def clear(self) -> None:
        """GET_VERSION or a reset: no transfer survives (a pending large response spends its Handle, as libspdm)."""
        if self._outgoing is not None:
            self._end_outgoing()
        self._incoming = None
        self._incoming_session = None

    def admit(self, request: bytes, session_id: int | None) -> None:
        """Refuse a request that would interrupt a transfer (UnexpectedRequest; the transfer goes on);
        GET_VERSION ends any transfer instead."""
        code = request[1] if len(request) > 1 else -1
        if code == Code.GET_VERSION and session_id is None:
            self.clear()
        elif self._outgoing is not None and interrupts(ChunkResponse, code):
            raise unexpected("a request other than CHUNK_GET while a large response is being fetched")
        elif self._incoming is not None and interrupts(ChunkSend, code):
            raise unexpected("a request other than CHUNK_SEND while a large request is being sent")

    def deliver(self, response: bytes, negotiated: Negotiated | None, session_id: int | None) -> bytes:
        """The response as sent: whole when it fits, else kept and announced with ERROR(LargeResponse)
        (a CHUNK_SEND_ACK too large to send keeps only the response it carries); `TooLarge` when it
        is over the requester's MaxSPDMmsgSize. `negotiated` None: nothing settled, sent whole."""
        if negotiated is None or negotiated.requester_max_spdm_msg_size is None:
            return response
        if len(response) > negotiated.requester_max_spdm_msg_size:
            raise TooLarge(len(response), negotiated.requester_max_spdm_msg_size)
        size = transfer_size(negotiated)
        if size is None or len(response) <= size:
            return response
        ack = decode(response) if response[1] == Code.CHUNK_SEND_ACK else None
        large = ack.response if isinstance(ack, ChunkSendAck) else response
        self._handle = (self._handle + 1) & 0xFF
        parts = chunks(large, kind=ChunkResponse, handle=self._handle, data_transfer_size=size)
        self._outgoing = _Outgoing(parts, 0, session_id)
        announce = ErrorResponse(
            version=negotiated.version,
            error_code=ErrorCode.LargeResponse,
            extended_data=LargeResponse(handle=self._handle),
        )
        return encode(announce)

    def chunk_get(self, request: ChunkGet, session_id: int | None) -> bytes:
        """The next CHUNK_RESPONSE of the large response; a wrong Handle or ChunkSeqNo is
        InvalidRequest and leaves the transfer where it was."""
        outgoing = self._outgoing
        if outgoing is None or outgoing.session_id != session_id:
            raise unexpected("CHUNK_GET with no large response pending")
        if request.handle != self._handle or request.chunk_seq_no != outgoing.next_seq_no:
            raise invalid_request(
                f"CHUNK_GET Handle {request.handle} ChunkSeqNo {request.chunk_seq_no}, "
                f"expected Handle {self._handle} ChunkSeqNo {outgoing.next_seq_no}"
            )
        part = outgoing.parts[outgoing.next_seq_no]
        outgoing.next_seq_no += 1
        if part.last_chunk:
            self._end_outgoing()
        return encode(part)

    def chunk_send(
        self,
        request: bytes,
        negotiated: Negotiated,
        session_id: int | None,
        read: Callable[[bytes], ChunkSend],
        serve: Callable[[bytes], bytes],
        refuse: Callable[[ProtocolError], bytes],
    ) -> bytes:
        """The CHUNK_SEND_ACK of one chunk of a large request (`read` decodes it): empty until the
        last chunk, then with `serve(large request)`; a refused chunk, or one `read` refuses, gets
        EarlyErrorDetected and `refuse(error)`, the ERROR, and ends the transfer. As
        libspdm_rsp_chunk_send_ack.c, a CHUNK_SEND too short for its header (and, opening a
        transfer, its LargeMessageSize) gets a plain InvalidRequest and leaves any transfer as it was."""
        if self._incoming is not None and self._incoming_session != session_id:
            raise unexpected("CHUNK_SEND outside the session of the large request being sent")
        header = CHUNK_HEADER if self._incoming is not None else FIRST_CHUNK_HEADER
        if len(request) < header:
            raise invalid_request(f"a {len(request)}-byte CHUNK_SEND has no {header}-byte header")
        if self._incoming is None:
            self._incoming = ChunkAssembly.receiving(ChunkSend, negotiated, limits=self._limits)
            self._incoming_session = session_id
        attributes, answer = 0, b""
        try:
            large = self._incoming.add(read(request))
            if large is not None and len(large) > 1 and large[1] in CHUNK_REQUESTS:
                raise invalid_request("a large request that is itself a chunk request")
        except ProtocolError as error:
            self._incoming = None
            attributes, answer = EARLY_ERROR_DETECTED, refuse(error)
        else:
            if large is not None:
                self._incoming = None
                answer = serve(large)
        handle, seq_no = _SEND_IDS.unpack_from(request, 3)
        ack = ChunkSendAck(
            version=request[0], attributes=attributes, handle=handle, chunk_seq_no=seq_no, response=answer
        )
        return encode(ack)

    def _end_outgoing(self) -> None:
        self._outgoing = None
        self._handle = (self._handle + 1) & 0xFF

