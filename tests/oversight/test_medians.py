"""The medians found by bisecting sorted runs are ``statistics.median``'s of the same
numbers, to the bit, however the numbers are split into runs."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oversight import medians

lengths = st.floats(min_value=0, max_value=1e8, allow_nan=False, allow_infinity=False)


@given(st.lists(st.lists(lengths, max_size=30), max_size=8))
def test_the_median_of_runs_is_the_median_of_all_their_numbers(parts):
    runs = [medians.unpacked(medians.packed(part)) for part in parts]
    every = [value for part in parts for value in part]
    assert medians.median(runs) == (statistics.median(every) if every else None)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=40), st.integers(1, 6), st.data())
def test_kth_with_many_equal_numbers(values, split, data):
    """Ties across runs (a minute's episodes of the same length) are counted once each."""
    runs = [sorted(values[i::split]) for i in range(split)]
    k = data.draw(st.integers(0, len(values) - 1))
    assert medians.kth(runs, k) == sorted(values)[k]


def test_packed_runs_come_back_sorted_and_empty_is_none():
    assert list(medians.unpacked(medians.packed([3.5, 1.0, 2.25]))) == [1.0, 2.25, 3.5]
    assert list(medians.unpacked(b"")) == []
    assert medians.median([medians.unpacked(b""), []]) is None
    with pytest.raises(IndexError):
        medians.kth([[1.0]], 1)
