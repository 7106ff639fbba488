"""The shared layout pieces: stacked tables, the filter disclosure's count, date inputs."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django import forms
from django.template import engines
from django.urls import reverse
from django.utils import timezone

from incidents.forms.episodes import OpenEpisodesFilterForm
from incidents.forms.fields import UKDateField
from missingkids.templatetags.layout import applied_filters, form_fingerprint, stack
from oversight.filters import ManagerFilterForm
from tests.factories import AgencyFactory

TABLE = """<table class="govuk-table" data-testid="t">
  <thead class="govuk-table__head"><tr class="govuk-table__row">
    <th scope="col" class="govuk-table__header">Child</th>
    <th scope="col" class="govuk-table__header">Due &amp; by whom</th>
    <th scope="col" class="govuk-table__header"><span class="govuk-visually-hidden">Do</span></th>
  </tr></thead>
  <tbody class="govuk-table__body">
    <tr class="govuk-table__row"><th scope="row" class="govuk-table__header">Ellie</th>
      <td class="govuk-table__cell">Today</td>
      <td class="govuk-table__cell"><a href="/x">End</a></td></tr>
    <tr class="govuk-table__row"><td class="govuk-table__cell" colspan="2">None</td>
      <td class="govuk-table__cell">z</td></tr>
  </tbody>
</table>"""


def test_stacked_table_labels_each_cell_with_its_column_heading():
    html = stack(TABLE)
    assert '<table class="govuk-table app-table--stacked" data-testid="t" role="table">' in html
    assert '<tr class="govuk-table__row" role="row">' in html
    assert '<th role="rowheader" data-label="Child" scope="row" class="govuk-table' in html
    assert '<td role="cell" data-label="Due &amp; by whom" class="govuk-table__cell">Today' in html
    # A heading only a screen reader hears gives no visible label.
    assert '<td role="cell" class="govuk-table__cell"><a href="/x">' in html
    # A cell spanning two columns moves the next one on by two.
    assert '<td role="cell" data-label="Child" class="govuk-table__cell" colspan="2">' in html
    assert '<td role="cell" class="govuk-table__cell">z' in html
    assert html.count('role="columnheader"') == 3
    assert html.count('role="row"') == 3


def test_stacked_table_tag_escapes_what_it_is_given():
    template = engines["django"].from_string(
        '{% stacked_table %}<table class="govuk-table"><thead><tr><th>{{ heading }}</th>'
        "</tr></thead><tbody><tr><td>{{ value }}</td></tr></tbody></table>{% endstacked_table %}"
    )
    html = template.render({"heading": 'Say "hi" <b>', "value": "<script>"})
    assert 'data-label="Say &quot;hi&quot; &lt;b&gt;"' in html
    assert "&lt;script&gt;" in html
    assert "<script>" not in html


def test_applied_filters_counts_what_differs_from_an_unfiltered_list():
    assert applied_filters(OpenEpisodesFilterForm()) == 0
    assert applied_filters(OpenEpisodesFilterForm(data={})) == 0
    assert applied_filters(OpenEpisodesFilterForm(data={"risk": "", "category": ""})) == 0
    assert applied_filters(OpenEpisodesFilterForm(data={"risk": "high"})) == 1
    assert applied_filters(OpenEpisodesFilterForm(data={"risk": "high", "category": "away"})) == 2
    assert applied_filters(None) == 0


def test_every_part_of_a_date_is_typed_on_the_number_keypad():
    class DateForm(forms.Form):
        born = UKDateField(label="Date of birth")

    html = str(DateForm(data={"born_0": "4", "born_1": "3", "born_2": "2011"})["born"])
    assert html.count('inputmode="numeric"') == 3
    assert 'value="2011"' in html


def test_browser_tests_say_to_run_make_assets_when_the_front_end_is_missing(monkeypatch, tmp_path):
    from tests import browser

    assert browser._missing_assets() is None
    monkeypatch.setattr(browser, "BUILT_ASSETS", (browser.REPO / "static" / "build" / "none.css",))
    assert "front-end is not built (static/build/none.css not found): run make assets" in (
        browser._missing_assets() or ""
    )
    monkeypatch.setattr(browser, "AXE_SCRIPT", browser.REPO / "node_modules" / "axe-core" / "x.js")
    assert "axe-core is missing" in (browser._missing_assets() or "")
    assert "run make assets" in (browser._missing_assets() or "")


@pytest.mark.django_db
def test_a_filter_form_is_kept_under_everything_it_is_drawn_from(la_west):
    """The drawn form is kept under its fingerprint: the same form gives the same one;
    other answers, other fields, another agency to choose or another day, another."""

    def fingerprint(data: dict[str, str] | None = None, period: str = "days") -> str:
        return form_fingerprint(ManagerFilterForm(data or {}, period=period))

    first = fingerprint()
    assert fingerprint() == first
    assert fingerprint({"risk": "high"}) != first
    assert fingerprint(period="months") != first
    with time_machine.travel(timezone.now() + dt.timedelta(days=1)):
        assert fingerprint() != first
    renamed = fingerprint()
    la_west.name = "West Council (renamed)"
    la_west.save()
    assert fingerprint() != renamed


@pytest.mark.django_db
def test_a_kept_filter_form_shows_a_new_agency_at_once(client, manager):
    """Drawn from the cache the second time, and drawn anew once an agency is added."""
    client.force_login(manager)
    url = reverse("oversight:interviews_overdue")
    assert "Newly Added Agency" not in client.get(url).text
    assert "Newly Added Agency" not in client.get(url).text
    AgencyFactory(name="Newly Added Agency")
    assert ">Newly Added Agency</option>" in client.get(url).text
