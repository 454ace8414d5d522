"""The Measurement Extension Log (SPDM 1.3): reading it in portions, serving portions of it, and
the one check that binds it to the measurement blocks it extends.

The binding (`check_mel`): DSP0274 1.3 keeps the MEL beside a hash-extended measurement block
(DMTFSpecMeasurementValueType 8, HASH_EXTEND_MEASUREMENT) at the index each entry's MeasIndex
names; the block's value is the extension of the entries, in log order, from a zero digest:
``V = Hash(V || entry)`` with ``V0 = 0^n``, Hash the negotiated MeasurementHashAlgo and `entry` the
entry's whole bytes (MelIndex, MeasIndex, reserved, the DMTF type, size and value). This is how
libspdm's sample device fills its HEM block (os_stub/spdm_device_secret_lib_sample/meas.c,
``libspdm_fill_measurement_hem_block``), and capture y2 agrees (its block 0x11). libspdm's sample
extends every entry into its one HEM block, all of whose entries name it; keeping one extension
per MeasIndex is our reading for logs that name several.
"""

from __future__ import annotations

from collections.abc import Iterable

from spdm.crypto.hashes import HashSuite
from spdm.errors import VerificationError
from spdm.messages.codec import encode_record
from spdm.messages.codes import MeasurementSpecification, MeasurementValueType
from spdm.messages.measurements import DmtfMeasurement, MeasurementBlock
from spdm.messages.mel import (
    MAX_MEL_SIZE,
    GetMeasurementExtensionLog,
    MeasurementExtensionLog,
    MelEntry,
    MelLog,
)
from spdm.portions import Portions

__all__ = ["MelPortions", "check_mel", "hash_extended_block", "mel_portion"]

_ENTRY = "MEL_ENTRY"


class MelPortions(Portions):
    """One log as MEASUREMENT_EXTENSION_LOG responses deliver it, portion by portion.

    The one place every side reads a MEL from portions: the requester's loop, `spdm verify` and
    `spdm dump`. Send GET_MEASUREMENT_EXTENSION_LOG at `offset` and give `add` each request with
    the response that answered it: it returns the whole log's bytes once RemainderLength is 0,
    else None. A portion that breaks a rule of every portioned read (`spdm.portions.Portions`:
    Offset where the log stands, PortionLength 1..Length, as libspdm's requester checks in
    libspdm_req_get_measurement_extension_log.c; one size, at most `max_size`) raises `ValueError`
    saying which, and changes nothing.
    """

    __slots__ = ()

    def __init__(self, *, max_size: int = MAX_MEL_SIZE) -> None:
        super().__init__("measurement extension log", max_size)

    def add(self, request: GetMeasurementExtensionLog, response: MeasurementExtensionLog) -> bytes | None:
        """Take one response (and the request it answers): the log once complete, else None."""
        return self.take(request.offset, request.length, response.portion, response.remainder_length)


def mel_portion(log: bytes, request: GetMeasurementExtensionLog, max_portion: int) -> MeasurementExtensionLog:
    """The response to `request` from the whole `log`: at most Length and `max_portion` bytes from
    Offset, and what remains after them (libspdm_rsp_measurement_extension_log.c). An Offset that
    is not inside the log is a `ValueError` (the caller's InvalidRequest)."""
    if request.offset >= len(log):
        raise ValueError(f"Offset {request.offset} is past the {len(log)}-byte measurement extension log")
    portion = log[request.offset : request.offset + min(request.length, max_portion)]
    return MeasurementExtensionLog(
        version=request.version,
        remainder_length=len(log) - request.offset - len(portion),
        portion=portion,
    )


def _extend(entries: Iterable[MelEntry], suite: HashSuite) -> bytes:
    value = bytes(suite.size)
    for entry in entries:
        value = suite.digest(value + encode_record(entry, _ENTRY))
    return value


def hash_extended_block(log: MelLog, index: int, suite: HashSuite) -> MeasurementBlock:
    """The hash-extended measurement block at `index` that `log` extends (its entries naming `index`)."""
    value = _extend((e for e in log.entries if e.meas_index == index), suite)
    measurement = DmtfMeasurement(value_type=MeasurementValueType.HASH_EXTEND_MEASUREMENT, value=value)
    return MeasurementBlock(index=index, specification=MeasurementSpecification.DMTF, measurement=measurement)


def check_mel(log: MelLog, blocks: Iterable[MeasurementBlock], suite: HashSuite) -> tuple[int, ...]:
    """Check that `log` is the log of the hash-extended blocks among `blocks` (every block of the
    device: a GET_MEASUREMENTS of all); `suite` is the MeasurementHashAlgo's. Returns the indices
    checked; raises `VerificationError` naming the first block or entry that does not agree:

    * every entry's MeasIndex names one of `blocks`, a hash-extended digest (type 8, not a raw bit
      stream) of the hash's size;
    * every hash-extended block's value is the extension of the entries naming it (none: zeros).
    """
    by_index = {block.index: block for block in blocks}
    for entry in log.entries:
        block = by_index.get(entry.meas_index)
        if block is None:
            raise VerificationError(
                f"MEL entry {entry.mel_index} extends measurement index {entry.meas_index}, which the measurements lack"
            )
        if not _hash_extended(block):
            raise VerificationError(
                f"MEL entry {entry.mel_index} extends measurement index {entry.meas_index}, not a hash-extended digest"
            )
    checked = []
    for index, block in sorted(by_index.items()):
        if not _hash_extended(block):
            continue
        if hash_extended_block(log, index, suite) != block:
            raise VerificationError(f"measurement index {index} is not the extension of the MEL entries that name it")
        checked.append(index)
    return tuple(checked)


def _hash_extended(block: MeasurementBlock) -> bool:
    measurement = block.measurement
    return (
        isinstance(measurement, DmtfMeasurement)
        and not measurement.is_raw_bit_stream
        and measurement.kind == MeasurementValueType.HASH_EXTEND_MEASUREMENT
    )
