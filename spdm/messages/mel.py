"""GET_MEASUREMENT_EXTENSION_LOG/MEASUREMENT_EXTENSION_LOG: reading the MEL a portion at a time (SPDM 1.3).

Layouts per libspdm's include/industry_standard/spdm.h (spdm_get_measurement_extension_log_request_t,
spdm_measurement_extension_log_response_t). The log is at most 0xFFFFFFFF bytes
(SPDM_MAX_MEASUREMENT_EXTENSION_LOG_SIZE), so a portion and the remainder after it never sum over
that. A portion stays bytes: the log it is a piece of is read whole, once every portion is in, as
`MelLog` (the DMTF MEL format, MELspecificationSel 0x01: spdm_measurement_extension_log_dmtf_t
and its spdm_mel_entry_dmtf_t entries).
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as c

from spdm.messages._layout import exactly, field, length_of, of, require
from spdm.messages.codec import Message, Record, decode_record, encode_record, message, record
from spdm.messages.codes import Code
from spdm.messages.measurements import DmtfMeasurement

__all__ = [
    "MAX_MEL_SIZE",
    "MEL_HEADER_SIZE",
    "PORTION_HEADER_SIZE",
    "GetMeasurementExtensionLog",
    "MeasurementExtensionLog",
    "MelEntry",
    "MelLog",
    "decode_mel",
    "encode_mel",
]

MAX_MEL_SIZE = 0xFFFFFFFF
"""The largest Measurement Extension Log (SPDM_MAX_MEASUREMENT_EXTENSION_LOG_SIZE)."""
PORTION_HEADER_SIZE = 12
"""The bytes of MEASUREMENT_EXTENSION_LOG before its portion: what a response's size leaves for the log."""


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


# --- the DMTF MEL format (MELspecificationSel 0x01) --------------------------------------------

MEL_HEADER_SIZE = 16
"""NumberOfEntries, MelEntriesLen and 8 reserved bytes: what precedes the entries."""
_ENTRY_HEADER_SIZE = 11  # MelIndex (4), MeasIndex (1), reserved (3), DMTF type (1) and size (2)


@record(
    "mel_index" / c.Int32ul,
    "meas_index" / c.Int8ul,
    "reserved" / c.Int24ul,
    "measurement" / DmtfMeasurement.layout,
)
@dataclass(frozen=True, slots=True, kw_only=True)
class MelEntry(Record):
    """spdm_mel_entry_dmtf_t: the measurement that was extended into the block at `meas_index`,
    and its place in the log (`mel_index`)."""

    mel_index: int
    meas_index: int
    reserved: int = 0
    measurement: DmtfMeasurement


def _entries_length(entries: tuple[MelEntry, ...]) -> int:
    return sum(_ENTRY_HEADER_SIZE + len(entry.measurement.value) for entry in entries)


def _count_fits(count: int, length: int) -> bool:
    return count * _ENTRY_HEADER_SIZE <= length


@record(
    "_count" / c.Rebuild(c.Int32ul, length_of("entries")),
    "_entries_length" / c.Rebuild(c.Int32ul, of(_entries_length, "entries")),
    require(
        of(_count_fits, "_count", "_entries_length"),
        "NumberOfEntries of 11 bytes or more each do not fit in MelEntriesLen",
        field="entries",
    ),
    "reserved" / c.Int64ul,
    "entries" / exactly(field("_entries_length"), c.Array(field("_count"), MelEntry.layout)),
)
@dataclass(frozen=True, slots=True, kw_only=True)
class MelLog(Record):
    """spdm_measurement_extension_log_dmtf_t: the whole log; NumberOfEntries and MelEntriesLen come
    from `entries`, which must fill MelEntriesLen exactly."""

    reserved: int = 0
    entries: tuple[MelEntry, ...] = ()


_MEL = "MEASUREMENT_EXTENSION_LOG_DMTF"


def decode_mel(data: bytes) -> MelLog:
    """The DMTF-format log in `data`, which it must fill exactly; `DecodeError` otherwise."""
    return decode_record(MelLog, data, _MEL)


def encode_mel(log: MelLog) -> bytes:
    """The bytes of a DMTF-format log."""
    return encode_record(log, _MEL)
