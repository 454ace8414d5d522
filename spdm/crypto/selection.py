"""Choosing one algorithm from a peer's offer, by the local side's order of preference."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["select_algorithm"]


def select_algorithm(offered: int, priority: Sequence[int]) -> int:
    """The first bit of `priority` that `offered` has; 0 when they share none.

    Responders pick from the requester's bitmask by their own configurable priority (the spec
    leaves the choice to them), and the result is what ALGORITHMS carries: one bit or none.
    """
    for bit in priority:
        if bit > 0 and bit & (bit - 1) == 0 and offered & bit:
            return bit
    return 0
