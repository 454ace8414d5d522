"""A whole read in portions, in order: the one rule behind GET_CERTIFICATE (a slot's chain) and
GET_MEASUREMENT_EXTENSION_LOG (the MEL), which both answer Offset and Length with a portion and
the RemainderLength after it (DSP0274 "GET_CERTIFICATE", 1.3 "GET_MEASUREMENT_EXTENSION_LOG")."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["Portions", "continued"]

P = TypeVar("P", bound="Portions")


class Portions:
    """The bytes read so far of one whole (`what` names it in errors), at most `max_size` bytes; each
    message pair's reader subclasses it with an `add(request, response)`.

    `take` takes what was asked (Offset, Length) and what came back (the portion, RemainderLength):
    it returns the whole once RemainderLength is 0, else None. A portion that breaks a rule raises
    `ValueError` saying which, and changes nothing:

    * the request's Offset is where the whole stands (`offset`);
    * PortionLength is at least 1 and at most the Length asked for;
    * Offset + PortionLength + RemainderLength, the whole's size, is the same in every response and
      at most `max_size`.

    The last portion is not kept, so a whole its reader refuses (a digest that does not match) may
    be completed again by another last portion.
    """

    __slots__ = ("_data", "max_size", "total", "what")

    def __init__(self, what: str, max_size: int) -> None:
        self.what = what
        self.max_size = max_size
        self.total: int | None = None
        """The whole's size as the responses announce it (None before the first)."""
        self._data = bytearray()

    @property
    def offset(self) -> int:
        """The Offset of the next request: the bytes read so far."""
        return len(self._data)

    def take(self, offset: int, length: int, portion: bytes, remainder: int) -> bytes | None:
        """Take one portion of a request for `length` bytes at `offset`: the whole once complete, else None."""
        if offset != self.offset:
            raise ValueError(f"a request at Offset {offset}, the {self.what} so far has {self.offset} bytes")
        if not 0 < len(portion) <= length:
            raise ValueError(f"PortionLength {len(portion)} for a request of Length {length}")
        total = self.offset + len(portion) + remainder
        if self.total is not None and total != self.total:
            raise ValueError(f"the {self.what}'s size changes between portions: {self.total}, then {total} bytes")
        if total > self.max_size:
            raise ValueError(f"a {total}-byte {self.what} is over the {self.max_size} bytes allowed")
        self.total = total
        if not remainder:
            return bytes(self._data + portion)
        self._data += portion
        return None


def continued(reading: P | None, offset: int, start: Callable[[], P]) -> P:
    """The read a request at `offset` belongs to, for one who follows reads from outside (`spdm verify`,
    the session replay, `spdm dump`): a new one (`start()`) at Offset 0, where the requester starts
    every read, or when none is in progress; else the read in progress, whose rules then judge the
    request (a request of another slot, or at another Offset, breaks it)."""
    return start() if reading is None or offset == 0 else reading
