"""Device measurements: the blocks a responder reports, the summary hash, and appraisal.

The measurement summary hash (CHALLENGE_AUTH, KEY_EXCHANGE_RSP, PSK_EXCHANGE_RSP) is, as libspdm
computes it for 1.0 and 1.1 alike, the hash of the concatenated measurement blocks (each with
its 4-byte Index/Specification/Size header), in index order: every block for type 0xFF, the
TCB blocks for type 1 (DSP0274 1.1, CHALLENGE_AUTH's MeasurementSummaryHash). The libspdm
captures the tests replay agree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from spdm.errors import DecodeError, ProtocolError
from spdm.messages.codec import encode_record
from spdm.messages.codes import ErrorCode, MeasurementValueType, SummaryHashType
from spdm.messages.measurements import ALL_MEASUREMENTS, DmtfMeasurement, MeasurementBlock

__all__ = [
    "Appraisal",
    "MeasurementProvider",
    "ReferenceValues",
    "StaticMeasurements",
    "appraise",
    "block_bytes",
    "summary_hash",
]

_BLOCK = "MEASUREMENT_BLOCK"


class MeasurementProvider(Protocol):
    """What a responder measures: its blocks, and which of them are the TCB."""

    def blocks(self) -> Sequence[MeasurementBlock]: ...

    def tcb_indices(self) -> frozenset[int]: ...


@dataclass(frozen=True, slots=True)
class StaticMeasurements:
    """A fixed set of blocks (indices 1..0xFE, unique); TCB = the immutable-ROM blocks by default."""

    measured: tuple[MeasurementBlock, ...]
    tcb: frozenset[int] | None = None

    def __post_init__(self) -> None:
        indices = [b.index for b in self.measured]
        if len(set(indices)) != len(indices) or any(not 1 <= i <= 0xFE for i in indices):
            raise ValueError("measurement indices must be unique and within 1..0xFE")

    def blocks(self) -> Sequence[MeasurementBlock]:
        return tuple(sorted(self.measured, key=lambda b: b.index))

    def tcb_indices(self) -> frozenset[int]:
        if self.tcb is not None:
            return self.tcb
        return frozenset(
            b.index
            for b in self.measured
            if isinstance(b.measurement, DmtfMeasurement) and b.measurement.kind == MeasurementValueType.IMMUTABLE_ROM
        )


def block_bytes(block: MeasurementBlock) -> bytes:
    """The wire bytes of one block, header included."""
    return encode_record(block, _BLOCK)


def summary_hash(provider: MeasurementProvider, summary_type: int, digest: Callable[[bytes], bytes]) -> bytes | None:
    """The MeasurementSummaryHash for `summary_type` (None for type 0: the field is absent)."""
    if summary_type == SummaryHashType.NONE:
        return None
    if summary_type == SummaryHashType.ALL:
        chosen = provider.blocks()
    elif summary_type == SummaryHashType.TCB:
        tcb = provider.tcb_indices()
        chosen = [b for b in provider.blocks() if b.index in tcb]
    else:
        raise ProtocolError(ErrorCode.InvalidRequest, f"MeasurementSummaryHashType 0x{summary_type:02x} is reserved")
    return digest(b"".join(block_bytes(b) for b in chosen))


@dataclass(frozen=True, slots=True)
class ReferenceValues:
    """Expected measurement values by index: the exact value (a digest, or a raw bit stream).

    `allowed` holds, per index, every acceptable value (several firmware versions may be good).
    """

    allowed: Mapping[int, frozenset[bytes]]

    @classmethod
    def from_mapping(cls, values: Mapping[int, bytes | Iterable[bytes]]) -> ReferenceValues:
        allowed = {}
        for index, value in values.items():
            allowed[index] = frozenset([value] if isinstance(value, bytes) else value)
        return cls(allowed)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceValues:
        """Read a reference file: ``{"measurements": {"1": "hex" or ["hex", ...], ...}}``, each key a
        measurement index of 1 to 254."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
            entries = document["measurements"]
            allowed = {}
            for key, value in entries.items():
                index = int(key, 0)
                if not 0 < index < ALL_MEASUREMENTS:
                    raise ValueError(f"measurement index {key!r}: an index is 1 to 254")
                values = [value] if isinstance(value, str) else list(value)
                allowed[index] = frozenset(bytes.fromhex(v) for v in values)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
            raise DecodeError("REFERENCE_VALUES", "", f"{path}: {error}") from None
        return cls(allowed)


@dataclass(frozen=True, slots=True)
class Appraisal:
    """The verdict per index: matched, mismatched (with what was seen), missing, unexpected."""

    matched: tuple[int, ...] = ()
    mismatched: Mapping[int, bytes] = field(default_factory=dict)
    missing: tuple[int, ...] = ()
    unexpected: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.unexpected)


def _value(block: MeasurementBlock) -> bytes:
    if isinstance(block.measurement, DmtfMeasurement):
        return block.measurement.value
    return block.measurement


def appraise(blocks: Iterable[MeasurementBlock], reference: ReferenceValues) -> Appraisal:
    """Compare reported blocks with reference values."""
    seen = {b.index: b for b in blocks}
    matched, mismatched = [], {}
    for index in sorted(reference.allowed):
        if index in seen:
            value = _value(seen[index])
            if value in reference.allowed[index]:
                matched.append(index)
            else:
                mismatched[index] = value
    missing = tuple(i for i in sorted(reference.allowed) if i not in seen)
    unexpected = tuple(i for i in sorted(seen) if i not in reference.allowed)
    return Appraisal(tuple(matched), mismatched, missing, unexpected)
