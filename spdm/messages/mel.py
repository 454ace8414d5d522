"""GET_MEASUREMENT_EXTENSION_LOG/MEASUREMENT_EXTENSION_LOG: reading the MEL a portion at a time (SPDM 1.3).

Layouts per libspdm's include/industry_standard/spdm.h (spdm_get_measurement_extension_log_request_t,
spdm_measurement_extension_log_response_t). The log is at most 0xFFFFFFFF bytes
(SPDM_MAX_MEASUREMENT_EXTENSION_LOG_SIZE), so a portion and the remainder after it never sum over
that. The portion stays bytes: the DMTF MEL format inside it is not read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._codec import Message, message, require
from spdm.messages._layout import field, length_of, of
from spdm.messages.codes import Code

__all__ = ["MAX_MEL_SIZE", "GetMeasurementExtensionLog", "MeasurementExtensionLog"]

MAX_MEL_SIZE = 0xFFFFFFFF
"""The largest Measurement Extension Log (SPDM_MAX_MEASUREMENT_EXTENSION_LOG_SIZE)."""


@message(
    Code.GET_MEASUREMENT_EXTENSION_LOG,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "offset" / c.Int32ul,
    "length" / c.Int32ul,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class GetMeasurementExtensionLog(Message):
    """`length` bytes of the log from `offset`; Param1 and Param2 are reserved."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0
    offset: int = 0
    length: int


def _within_log(portion_length: int, remainder_length: int) -> bool:
    return portion_length + remainder_length <= MAX_MEL_SIZE


@message(
    Code.MEASUREMENT_EXTENSION_LOG,
    "param1" / c.Int8ul,
    "param2" / c.Int8ul,
    "_portion_length" / c.Rebuild(c.Int32ul, length_of("portion")),
    "remainder_length" / c.Int32ul,
    require(
        of(_within_log, "_portion_length", "remainder_length"),
        "PortionLength and RemainderLength over the largest log (0xFFFFFFFF bytes)",
        field="portion",
    ),
    "portion" / c.Bytes(field("_portion_length")),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class MeasurementExtensionLog(Message):
    """One `portion` of the log, and how many bytes of it remain after; PortionLength comes from it."""

    version: int = 0x13
    param1: int = 0
    param2: int = 0
    remainder_length: int = 0
    portion: bytes
