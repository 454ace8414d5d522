"""`Check`: one verdict of `spdm verify` or of capture replay."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Check"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One verification on a record of a capture: which record, what was checked, whether it held,
    and why not (or a note on how it was checked). A check that could not be made for want of an
    input the user did not give (a trust anchor, the requester's chain) is `not_checked`: no failure
    (`ok`), but not a pass either (`checked` False)."""

    record: int
    name: str
    ok: bool
    detail: str = ""
    checked: bool = True

    @classmethod
    def not_checked(cls, record: int, name: str, why: str) -> Check:
        """A check that could not be made, and `why`."""
        return cls(record=record, name=name, ok=True, detail=why, checked=False)

    @property
    def passed(self) -> bool:
        """Made, and it held."""
        return self.ok and self.checked

    def __str__(self) -> str:
        status = "FAIL" if not self.ok else "ok  " if self.checked else "skip"
        return f"{status} record {self.record}: {self.name}" + (f": {self.detail}" if self.detail else "")
