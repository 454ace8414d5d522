"""Timing helpers shared by the benchmarks: best-of-N per-call times, in one process.

A ratio's two sides are timed with `per_call_interleaved`: their runs alternate, so a slow spell of
a shared machine falls on both rather than on whichever happened to run during it.
"""

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


def per_call_interleaved(*fns: Callable[[], object], repeat: int = 7, budget: float = 0.1) -> tuple[float, ...]:
    """Seconds per call of each of `fns`: the best of `repeat` rounds, each round timing every
    function for about `budget` seconds in turn."""
    timers = [timeit.Timer(fn) for fn in fns]
    numbers = []
    for timer in timers:
        number = 1
        while timer.timeit(number) < budget / 10:
            number *= 10
        numbers.append(max(1, int(number * budget / max(timer.timeit(number), 1e-9))))
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for index, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[index] = min(best[index], timer.timeit(number) / number)
    return tuple(best)
