"""The shared layout pieces: stacked tables, the filter disclosure's count, date inputs."""

from __future__ import annotations

from django import forms
from django.template import engines

from incidents.forms.episodes import OpenEpisodesFilterForm
from incidents.forms.fields import UKDateField
from missingkids.templatetags.layout import applied_filters, stack

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
