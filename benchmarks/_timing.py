"""A small interleaved micro-benchmark timer shared by the scripts in ``benchmarks/``.

Why not ``timeit`` per candidate: on a busy machine (CI, a laptop on battery, other processes on
the same cores) the noise changes over seconds, so timing candidate A for five seconds and then
candidate B for five seconds compares A's noise with B's. Here every *round* runs one batch of
each candidate, back to back, and the order rotates from round to round; every candidate sees the
same machine. The result for a candidate is the **median of its per-round means** (a batch mean
smooths the timer's resolution, the median over rounds drops the rounds that a context switch or
a GC pass of another thread ruined).

Garbage collection stays enabled (unlike ``timeit``): the allocations a codec makes, and the
collections they trigger, are part of what it costs in a server.

Usage::

    from _timing import interleaved

    stats = interleaved({"a": fn_a, "b": fn_b}, budget_s=10.0, batch_s=0.01)
    stats["a"].median_ns   # nanoseconds per call
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Stats", "calibrate", "interleaved", "time_batch"]


@dataclass(frozen=True, slots=True)
class Stats:
    """Per-call timings of one candidate, in nanoseconds, over ``rounds`` interleaved rounds."""

    median_ns: float
    p25_ns: float
    p75_ns: float
    rounds: int
    loops: int  # calls per batch

    @property
    def median_us(self) -> float:
        return self.median_ns / 1000

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (0.05 = the middle half is within 5%)."""
        return (self.p75_ns - self.p25_ns) / self.median_ns if self.median_ns else math.nan


def time_batch(fn: Callable[[], object], loops: int) -> float:
    """Mean nanoseconds per call of ``fn`` over ``loops`` back-to-back calls."""
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(loops):
        fn()
    return (clock() - start) / loops


def calibrate(fn: Callable[[], object], batch_s: float) -> int:
    """How many calls of ``fn`` take about ``batch_s`` seconds (at least one)."""
    fn()  # warm caches and any lazy initialisation
    loops = 1
    while True:
        elapsed_s = time_batch(fn, loops) * loops / 1e9
        if elapsed_s >= batch_s / 5 or loops >= 1 << 24:
            break
        loops *= 4
    return max(1, math.ceil(loops * batch_s / max(elapsed_s, 1e-9)))


def interleaved(
    cases: Mapping[str, Callable[[], object]],
    *,
    budget_s: float,
    batch_s: float,
    min_rounds: int = 5,
) -> dict[str, Stats]:
    """Time every case in rounds (one batch of each, rotating the order); see the module doc.

    Rounds continue until ``budget_s`` seconds have passed (and at least ``min_rounds`` ran), so a
    loaded machine gets fewer rounds rather than a longer run; calibration comes on top (about
    one batch per case). ``batch_s`` is the length of one batch: short batches (a millisecond or
    less) make a round short enough that all cases in it see the same load, and let the median
    drop the batches that the scheduler interrupted.
    """
    names = list(cases)
    if not names:
        return {}
    loops = {name: calibrate(cases[name], batch_s) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.perf_counter() + budget_s
    rounds = 0
    while rounds < min_rounds or time.perf_counter() < deadline:
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(time_batch(cases[name], loops[name]))
        rounds += 1
    result = {}
    for name in names:
        values = samples[name]
        q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values * 3)
        result[name] = Stats(statistics.median(values), q1, q3, rounds, loops[name])
    return result
