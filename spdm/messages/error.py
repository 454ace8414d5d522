"""ERROR and RESPOND_IF_READY."""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._codec import Message, Record, message, record, require
from spdm.messages._layout import of, when
from spdm.messages.codes import Code, ErrorCode

__all__ = ["ErrorResponse", "RespondIfReady", "ResponseNotReady"]

_MAX_EXTENDED_DATA = 32


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


_NOT_READY = when("error_code", "==", ErrorCode.ResponseNotReady)


@message(
    Code.ERROR,
    "error_code" / c.Int8ul,
    "error_data" / c.Int8ul,
    "extended_data" / c.IfThenElse(_NOT_READY, ResponseNotReady.layout, c.GreedyBytes),
    require(
        of(
            lambda error_code, extended_data: error_code == ErrorCode.ResponseNotReady
            or len(extended_data) <= _MAX_EXTENDED_DATA,
            "error_code",
            "extended_data",
        ),
        "ExtendedErrorData over 32 bytes",
        field="extended_data",
    ),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorResponse(Message):
    """`extended_data` is a `ResponseNotReady` for that error code, else raw bytes (at most 32)."""

    version: int = 0x11
    error_code: int
    error_data: int = 0
    extended_data: ResponseNotReady | bytes = b""


@message(Code.RESPOND_IF_READY, "request_code" / c.Int8ul, "token" / c.Int8ul)
@dataclass(frozen=True, slots=True, kw_only=True)
class RespondIfReady(Message):
    """Param1 and Param2 echo the RequestCode and Token of the ResponseNotReady ERROR."""

    version: int = 0x11
    request_code: int
    token: int
