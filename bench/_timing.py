"""Timing helpers shared by the benchmarks: best-of-N per-call times, in one process."""

from __future__ import annotations

import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIBSPDM_VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "libspdm"


def per_call(
    fn: Callable[[], object] | str, *, globals: dict[str, Any] | None = None, repeat: int = 5, budget: float = 0.05
) -> float:
    """Seconds per call of `fn` (a callable or a statement): the best of `repeat` runs of about
    `budget` seconds each."""
    timer = timeit.Timer(fn, globals=globals)
    number = 1
    while timer.timeit(number) < budget / 10:
        number *= 10
    number = max(1, int(number * budget / max(timer.timeit(number), 1e-9)))
    return min(timer.repeat(repeat=repeat, number=number)) / number
