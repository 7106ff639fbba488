"""Stuck cases: declines in a row, and why a case is stuck."""

from __future__ import annotations

import pytest

from incidents.engagement import Stuck, declines_in_a_row

HELD, DECLINED, PENDING = "held", "declined", "pending"


@pytest.mark.parametrize(
    ("newest_first", "run"),
    [
        ([], 0),
        ([DECLINED, DECLINED, DECLINED], 3),
        ([PENDING, DECLINED, DECLINED, DECLINED], 3),  # one pending counts neither way
        ([DECLINED, PENDING, DECLINED], 2),
        ([DECLINED, DECLINED, HELD, DECLINED, DECLINED], 2),  # a held interview ends it
        ([HELD, DECLINED, DECLINED, DECLINED], 0),
    ],
)
def test_declines_in_a_row(newest_first, run):
    assert declines_in_a_row(newest_first) == run


def test_stuck_says_what_made_it_stuck():
    assert not Stuck(threshold=3, failed_attempts=2, declines_in_a_row=2)
    by_attempts = Stuck(threshold=3, failed_attempts=3)
    assert by_attempts and by_attempts.by_attempts and not by_attempts.by_declines
    assert by_attempts.reasons == ["3 failed attempts at the return interview"]
    both = Stuck(threshold=2, failed_attempts=2, declines_in_a_row=4)
    assert both.reasons == [
        "2 failed attempts at the return interview",
        "declined the return interview after each of the last 4 returns",
    ]
