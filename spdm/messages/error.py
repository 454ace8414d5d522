"""ERROR and RESPOND_IF_READY.

ExtendedErrorData is typed for the codes that give it a layout: ResponseNotReady (DSP0274 1.1),
and from 1.2 LargeResponse (the one-byte chunk handle, spdm_error_data_large_response_t in
libspdm's spdm.h) and ResponseTooLarge (a u32, the size of the response that did not fit: DSP0274
1.2 "ERROR response", as libspdm_rsp_receive_send.c sends it). Other codes keep raw bytes.

libspdm also sends these two without their ExtendedErrorData: ResponseTooLarge from its CHUNK_GET
handler (libspdm_rsp_chunk_response.c, through libspdm_generate_error_response's 4-byte ERROR),
LargeResponse when built without chunking (libspdm_rsp_receive_send.c, 0 bytes of data); their
`extended_data` is then ``b""``.
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import of, or_nothing, require, when
from spdm.messages.codec import Message, Record, message, record
from spdm.messages.codes import Code, ErrorCode

__all__ = [
    "MAX_EXTENDED_ERROR_DATA",
    "MAX_RD_EXPONENT",
    "NEVER_NOT_READY",
    "ErrorResponse",
    "LargeResponse",
    "RespondIfReady",
    "ResponseNotReady",
    "ResponseTooLarge",
]

MAX_EXTENDED_ERROR_DATA = 32
"""The longest ExtendedErrorData an ERROR carries."""
MAX_RD_EXPONENT = 31
"""The largest ResponseNotReady RDExponent a requester waits for (2^31 us, about 36 minutes):
libspdm's LIBSPDM_MAX_RDT_EXPONENT, checked in libspdm_req_handle_error_response.c. DSP0274 makes
the field a byte and bounds it no further, so a responder may send any value."""

NEVER_NOT_READY: frozenset[int] = frozenset({Code.GET_VERSION, Code.GET_CAPABILITIES, Code.NEGOTIATE_ALGORITHMS})
"""The requests a responder shall not answer with ERROR ResponseNotReady (DSP0274, in each one's
section). libspdm's requester refuses that answer to them: libspdm_req_get_version.c outright,
libspdm_req_get_capabilities.c and libspdm_req_negotiate_algorithms.c through
libspdm_handle_simple_error_response (LIBSPDM_STATUS_NOT_READY_PEER)."""


@record(
    "rd_exponent" / c.Int8ul,
    "request_code" / c.Int8ul,
    "token" / c.Int8ul,
    "rdtm" / c.Int8ul,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseNotReady(Record):
    """ExtendedErrorData of ResponseNotReady: ask again with RESPOND_IF_READY after 2^rd_exponent us."""

    rd_exponent: int
    request_code: int
    token: int
    rdtm: int


@record("handle" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class LargeResponse(Record):
    """ExtendedErrorData of LargeResponse: fetch the response with CHUNK_GET under `handle`."""

    handle: int


@record("response_size" / c.Int32ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseTooLarge(Record):
    """ExtendedErrorData of ResponseTooLarge: the size of the response over the requester's MaxSPDMmsgSize."""

    response_size: int


def _within_bound(extended_data: Record | bytes) -> bool:
    return not isinstance(extended_data, bytes) or len(extended_data) <= MAX_EXTENDED_ERROR_DATA


@message(
    Code.ERROR,
    "error_code" / c.Int8ul,
    "error_data" / c.Int8ul,
    "extended_data"
    / c.IfThenElse(
        when("error_code", "==", ErrorCode.ResponseNotReady),
        ResponseNotReady.layout,
        c.IfThenElse(
            when("error_code", "==", ErrorCode.LargeResponse),
            or_nothing(LargeResponse.layout),
            c.IfThenElse(
                when("error_code", "==", ErrorCode.ResponseTooLarge), or_nothing(ResponseTooLarge.layout), c.GreedyBytes
            ),
        ),
    ),
    require(of(_within_bound, "extended_data"), "ExtendedErrorData over 32 bytes", field="extended_data"),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorResponse(Message):
    """`extended_data` is the record of ResponseNotReady, LargeResponse or ResponseTooLarge (``b""``
    for the last two when the responder sent none), else raw bytes (at most 32)."""

    version: int = 0x11
    error_code: int
    error_data: int = 0
    extended_data: ResponseNotReady | LargeResponse | ResponseTooLarge | bytes = b""


@message(Code.RESPOND_IF_READY, "request_code" / c.Int8ul, "token" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class RespondIfReady(Message):
    """Param1 and Param2 echo the RequestCode and Token of the ResponseNotReady ERROR."""

    version: int = 0x11
    request_code: int
    token: int
