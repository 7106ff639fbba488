"""DfE's Missing-table rules, each with a small fixture that fails exactly that rule and
one like it that passes. The checks are a function of the rows as they would be sent, so
these need no database."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from oversight.returns import CarePeriod, CollectionYear, HeaderRow, MissingRow, missing_check

YEAR = CollectionYear(2026)  # 1 April 2025 to 31 March 2026
PK = 1


def _header(**changes) -> HeaderRow:
    row = HeaderRow("C1", "1", "01/01/2012", "WBRI", "", child_pk=PK)
    return dataclasses.replace(row, **changes)


def _row(**changes) -> MissingRow:
    row = MissingRow("C1", "01/01/2012", "M", "10/05/2025", "12/05/2025", PK, 10)
    return dataclasses.replace(row, **changes)


IN_CARE = {PK: [CarePeriod(dt.date(2024, 1, 1), None)]}


def _codes(missing, header=None, periods=None) -> list[str]:
    header = [_header()] if header is None else header
    result = missing_check(missing, header, IN_CARE if periods is None else periods, YEAR)
    return result.codes


def test_a_clean_fixture_passes():
    assert _codes([_row()]) == []


# (rule, failing fixture, passing fixture); each fixture is (missing, header, periods).
CASES = {
    "CHILD": (
        ([_row(child="")], [_header(child="")], None),
        ([_row(child="C1234567890"[:10])], [_header(child="C1234567890"[:10])], None),
    ),
    "CHILD (too long)": (
        ([_row(child="C123456789X")], [_header(child="C123456789X")], None),
        ([_row()], None, None),
    ),
    "1004": (([_row(mis_start="", mis_end="")], None, None), ([_row()], None, None)),
    "564": (
        ([_row(mis_start="31/02/2025")], None, None),
        ([_row(mis_start="28/02/2026", mis_end="")], None, None),
    ),
    "564 (end)": (([_row(mis_end="2025-05-12")], None, None), ([_row(mis_end="")], None, None)),
    "567": (([_row(mis_end="09/05/2025")], None, None), ([_row(mis_end="10/05/2025")], None, None)),
    "570": (
        ([_row(mis_start="01/04/2026", mis_end="")], None, None),
        ([_row(mis_start="31/03/2026", mis_end="")], None, None),
    ),
    "571": (([_row(mis_end="01/04/2026")], None, None), ([_row(mis_end="31/03/2026")], None, None)),
    "571 (before the year)": (
        ([_row(mis_start="20/03/2025", mis_end="31/03/2025")], None, None),
        ([_row(mis_start="20/03/2025", mis_end="01/04/2025")], None, None),
    ),
    "574 (earlier still open)": (
        (
            [_row(mis_end=""), _row(mis_start="20/05/2025", mis_end="22/05/2025", episode_pk=11)],
            None,
            None,
        ),
        ([_row(), _row(mis_start="20/05/2025", mis_end="", episode_pk=11)], None, None),
    ),
    "574 (overlap)": (
        (
            [
                _row(mis_end="25/05/2025"),
                _row(mis_start="20/05/2025", mis_end="22/05/2025", episode_pk=11),
            ],
            None,
            None,
        ),
        # Back to back on one day: found in the morning, gone again that evening.
        ([_row(), _row(mis_start="12/05/2025", mis_end="13/05/2025", episode_pk=11)], None, None),
    ),
    "577": (
        ([_row()], None, {PK: [CarePeriod(dt.date(2024, 1, 1), dt.date(2025, 5, 11))]}),
        ([_row()], None, {PK: [CarePeriod(dt.date(2024, 1, 1), dt.date(2025, 5, 12))]}),
    ),
    "577 (open)": (
        ([_row(mis_end="")], None, {PK: [CarePeriod(dt.date(2024, 1, 1), dt.date(2025, 6, 1))]}),
        ([_row(mis_end="")], None, None),
    ),
    "578": (
        ([_row()], None, {PK: [CarePeriod(dt.date(2025, 6, 1), None)]}),
        ([_row()], None, {PK: [CarePeriod(dt.date(2025, 5, 10), None)]}),
    ),
    "578 (after care ended)": (
        ([_row()], None, {PK: [CarePeriod(dt.date(2024, 1, 1), dt.date(2025, 5, 9))]}),
        (
            [_row()],
            None,
            {
                PK: [
                    CarePeriod(dt.date(2024, 1, 1), dt.date(2025, 5, 9)),
                    CarePeriod(dt.date(2025, 5, 10), None),
                ]
            },
        ),
    ),
    "586": (
        ([_row(dob="10/05/2025")], [_header(dob="10/05/2025")], None),
        ([_row(dob="09/05/2025")], [_header(dob="09/05/2025")], None),
    ),
    "1006": (([_row(missing="X")], None, None), ([_row(missing="A")], None, None)),
    "101": (([_row()], [_header(sex="")], None), ([_row()], [_header(sex="2")], None)),
    "103": (([_row()], [_header(ethnic="")], None), ([_row()], [_header(ethnic="NOBT")], None)),
    "INT04": (([_row()], [], None), ([_row()], None, None)),
    "INT13": (([_row()], [_header(dob="02/01/2012")], None), ([_row()], None, None)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_fails_its_fixture_and_passes_the_other(case):
    failing, passing = CASES[case]
    rule = case.split(" ")[0]
    assert _codes(*failing) == [rule], case
    assert _codes(*passing) == [], case


def test_every_rule_has_a_fixture():
    from oversight.returns import RULES

    assert {case.split(" ")[0] for case in CASES} == set(RULES)


def test_a_child_without_an_identifier_blocks_and_links_to_the_child():
    result = missing_check([_row(child="")], [_header(child="")], IN_CARE, YEAR)
    assert [f.blocking for f in result.failures] == [True, True]
    assert {f.fix_url for f in result.failures} == {f"/children/{PK}/edit/"}


def test_an_episode_rule_links_to_the_episode_and_a_care_rule_to_the_legal_status():
    (episode_rule,) = missing_check(
        [_row(mis_end="09/05/2025")], [_header()], IN_CARE, YEAR
    ).failures
    assert episode_rule.fix_url.endswith("/episodes/10/edit/")
    late_care = {PK: [CarePeriod(dt.date(2025, 6, 1), None)]}
    (care_rule,) = missing_check([_row()], [_header()], late_care, YEAR).failures
    assert care_rule.fix_url.endswith(f"/children/{PK}/legal-status/")
