"""`spdm verify` of MEASUREMENT_EXTENSION_LOG exchanges (SPDM 1.3), in the clear and in sessions.

The portions of each read are put back together by the requester's rule (`spdm.mel.MelPortions`);
the whole log must parse (DMTF format) and is checked with `spdm.mel.check_mel` against the last
MEASUREMENTS of every block (GET_MEASUREMENTS 0xFF) the capture showed before it, in the clear or
in any session of the connection. Without one, the log is parsed and its binding is `Check.not_checked`.
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


class MelChecks:
    """Follows one connection's MEL reads and its reads of every measurement block."""

    def __init__(self) -> None:
        self.portions: dict[int | None, MelPortions] = {}
        """The read in progress by session (None: in the clear)."""
        self.blocks: tuple[int, tuple[MeasurementBlock, ...]] | None = None
        """The record and blocks of the last MEASUREMENTS of every block."""

    def restart(self) -> None:
        """GET_VERSION: what was read belongs to the last connection."""
        self.portions.clear()
        self.blocks = None

    def pair(
        self, ask: Message, answer: Message, record: int, negotiated: Negotiated | None, session: int | None = None
    ) -> list[Check]:
        """The checks one request/response pair completes (none for other messages, or mid-read)."""
        if isinstance(ask, GetMeasurements) and isinstance(answer, Measurements):
            if ask.operation == ALL_MEASUREMENTS:
                self.blocks = (record, answer.blocks)
            return []
        if not isinstance(ask, GetMeasurementExtensionLog) or not isinstance(answer, MeasurementExtensionLog):
            return []
        portions = self.portions[session] = continued(self.portions.get(session), ask.offset, MelPortions)
        name = "MEASUREMENT_EXTENSION_LOG portions make one log"
        try:
            log = portions.add(ask, answer)
        except ValueError as error:
            del self.portions[session]
            return [Check(record=record, name=name, ok=False, detail=str(error))]
        if log is None:
            return []
        del self.portions[session]
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
