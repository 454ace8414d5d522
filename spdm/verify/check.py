"""`Check`: one verdict of `spdm verify` or of capture replay."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Check"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One verification made on a record of a capture: which record, what was checked, whether it
    held, and why not (or a note on how it was checked)."""

    record: int
    name: str
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        return f"{status} record {self.record}: {self.name}" + (f": {self.detail}" if self.detail else "")
