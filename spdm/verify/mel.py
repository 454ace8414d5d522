"""`spdm verify` of MEASUREMENT_EXTENSION_LOG exchanges (SPDM 1.3), in the clear and in sessions.

The portions of each read are put back together by the requester's rule (`spdm.mel.MelPortions`);
the whole log must parse (DMTF format) and is checked with `spdm.mel.check_mel` against the last
MEASUREMENTS of every block (GET_MEASUREMENTS 0xFF) the capture showed before it, in the clear or
in any session of the connection. Without one, the log is parsed and its binding is `Check.not_checked`.
A read that never completes is a check too: it fails when the conversation goes on without it (the
requester reads until RemainderLength is 0), and is not checked when the capture ends first.
"""

from __future__ import annotations

from spdm.crypto import measurement_hash_suite
from spdm.errors import SpdmError
from spdm.mel import MelPortions, check_mel
from spdm.messages import Message
from spdm.messages.measurements import ALL_MEASUREMENTS, GetMeasurements, MeasurementBlock, Measurements
from spdm.messages.mel import GetMeasurementExtensionLog, MeasurementExtensionLog, decode_mel
from spdm.negotiated import Negotiated
from spdm.portions import continued
from spdm.verify.check import Check

__all__ = ["MelChecks"]

_WHOLE = "MEASUREMENT_EXTENSION_LOG portions make one log"


def _remaining(portions: MelPortions) -> str:
    """What an unfinished read still lacked."""
    return f"{(portions.total or 0) - portions.offset} of its {portions.total} bytes unread"


class MelChecks:
    """Follows one connection's MEL reads and its reads of every measurement block."""

    def __init__(self) -> None:
        self.portions: dict[int | None, tuple[MelPortions, int]] = {}
        """The read in progress by session (None: in the clear), and the record of its last portion."""
        self.blocks: tuple[int, tuple[MeasurementBlock, ...]] | None = None
        """The record and blocks of the last MEASUREMENTS of every block."""

    def restart(self, record: int) -> list[Check]:
        """GET_VERSION (at `record`): what was read belongs to the last connection; a read it cuts short fails."""
        why = f"GET_VERSION at record {record} restarts the connection"
        checks = [self._unfinished(session, why) for session in list(self.portions)]
        self.blocks = None
        return checks

    def finish(self) -> list[Check]:
        """The end of the capture: a read still in progress is a check not made (the capture stops short of it)."""
        checks = [
            Check.not_checked(last, _WHOLE, f"{_remaining(portions)}: the capture ends")
            for portions, last in self.portions.values()
        ]
        self.portions.clear()
        return checks

    def pair(
        self, ask: Message, answer: Message, record: int, negotiated: Negotiated | None, session: int | None = None
    ) -> list[Check]:
        """The checks one request/response pair completes (none for other messages, or mid-read). Another
        request, or a read from Offset 0, while a read is in progress in the conversation fails that read."""
        checks = []
        if session in self.portions and (not isinstance(ask, GetMeasurementExtensionLog) or ask.offset == 0):
            checks.append(self._unfinished(session, f"{ask.name} follows (answered at record {record})"))
        if isinstance(ask, GetMeasurements) and isinstance(answer, Measurements):
            if ask.operation == ALL_MEASUREMENTS:
                self.blocks = (record, answer.blocks)
            return checks
        if not isinstance(ask, GetMeasurementExtensionLog) or not isinstance(answer, MeasurementExtensionLog):
            return checks
        reading = self.portions.get(session)
        portions = continued(None if reading is None else reading[0], ask.offset, MelPortions)
        try:
            log = portions.add(ask, answer)
        except ValueError as error:
            self.portions.pop(session, None)
            return [*checks, Check(record=record, name=_WHOLE, ok=False, detail=str(error))]
        if log is None:
            self.portions[session] = (portions, record)
            return checks
        self.portions.pop(session, None)
        return [*checks, *self._log(log, record, negotiated)]

    def _unfinished(self, session: int | None, why: str) -> Check:
        """The read in progress in `session` that `why` ends before RemainderLength reached 0."""
        portions, last = self.portions.pop(session)
        return Check(record=last, name=_WHOLE, ok=False, detail=f"{_remaining(portions)}: {why}")

    def _log(self, log: bytes, record: int, negotiated: Negotiated | None) -> list[Check]:
        """A whole log, read by `record`: it parses, and agrees with the last MEASUREMENTS of every block."""
        name = "the measurement extension log parses (DMTF format)"
        try:
            parsed = decode_mel(log)
        except SpdmError as error:
            return [Check(record=record, name=name, ok=False, detail=str(error))]
        checks = [Check(record=record, name=name, detail=f"{len(parsed.entries)} entries, {len(log)} bytes", ok=True)]
        name = "the measurement extension log is consistent with the measurements it extends"
        if self.blocks is None or negotiated is None:
            checks.append(Check.not_checked(record, name, "no MEASUREMENTS of all blocks before it"))
            return checks
        measured, blocks = self.blocks
        try:
            suite = measurement_hash_suite(negotiated.measurement_hash_algo)
            if suite is None:
                raise SpdmError("the measurements are raw bit streams only: no hash extends the MEL")
            indices = check_mel(parsed, blocks, suite)
        except SpdmError as error:
            checks.append(Check(record=record, name=name, ok=False, detail=f"record {measured}: {error}"))
            return checks
        shown = ", ".join(f"0x{index:02x}" for index in indices) or "none"
        checks.append(
            Check(record=record, name=name, ok=True, detail=f"record {measured}, hash-extended indices {shown}")
        )
        return checks
