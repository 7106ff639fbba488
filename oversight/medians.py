"""Exact medians of numbers kept in sorted runs (the measures' episode lengths, a run for
each month and council), without joining the runs.

A month's lengths are kept sorted and packed (``packed``: little-endian doubles), so the
page reads them as arrays at the cost of a copy (``unpacked``), where a JSON list cost a
parse of every number, and finds the middle of any set of runs by bisecting each
(``median``), where it sorted every number of the period. The result is
``statistics.median``'s of the same numbers, to the bit: the middle number, or the mean of
the two middle numbers computed as it computes it.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

Run = Sequence[float]


def packed(values: Iterable[float]) -> bytes:
    """These numbers sorted, as little-endian doubles."""
    run = array("d", sorted(values))
    if sys.byteorder == "big":  # pragma: no cover - every machine we run on is little-endian
        run.byteswap()
    return run.tobytes()


def unpacked(data: bytes | memoryview | None) -> array:
    """The sorted run ``packed`` made (empty for none)."""
    run = array("d")
    if data:
        run.frombytes(bytes(data))
        if sys.byteorder == "big":  # pragma: no cover
            run.byteswap()
    return run


def kth(runs: Sequence[Run], k: int) -> float:
    """The ``k``-th smallest number (from 0) of these sorted runs together: each step
    takes the middle of the longest part of a run still in play as the pivot and counts,
    by bisecting each run, how many numbers fall below it and how many up to it; so the
    longest part halves every time it is chosen."""
    lo = [0] * len(runs)
    hi = [len(run) for run in runs]
    if not 0 <= k < sum(hi):
        raise IndexError(k)
    while True:
        i = max(range(len(runs)), key=lambda j: hi[j] - lo[j])
        pivot = runs[i][(lo[i] + hi[i]) // 2]
        below = [bisect_left(run, pivot, lo[j], hi[j]) for j, run in enumerate(runs)]
        upto = [bisect_right(run, pivot, lo[j], hi[j]) for j, run in enumerate(runs)]
        n_below = sum(b - start for b, start in zip(below, lo, strict=True))
        n_upto = sum(u - start for u, start in zip(upto, lo, strict=True))
        if k < n_below:
            hi = below
        elif k < n_upto:
            return pivot
        else:
            k -= n_upto
            lo = upto


def median(runs: Iterable[Run]) -> float | None:
    """The median of the numbers of these sorted runs together (None when there are
    none), as ``statistics.median`` of all of them."""
    runs = [run for run in runs if len(run)]
    n = sum(len(run) for run in runs)
    if not n:
        return None
    if n % 2:
        return kth(runs, n // 2)
    return (kth(runs, n // 2 - 1) + kth(runs, n // 2)) / 2
