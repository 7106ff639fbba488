"""Every text box of several lines with a limit is GOV.UK's character count: the limit in
the hint without the script, and the markup GOV.UK Frontend's script counts down."""

from __future__ import annotations

import re
from typing import Any

import pytest
from crispy_forms_gds.layout import Field, Fieldset
from django import forms
from django.template import Context, Template
from django.urls import reverse

from incidents.forms.interviews import ChallengeOutcomeForm, _helper
from missingkids.forms import Form
from missingkids.policy import FREE_TEXT_MAX_LENGTH
from notifications.forms import CancelForm
from tests.incidents.test_interviews_actions import make_interview


def draw(form: Any) -> str:
    return Template("{% load crispy_forms_tags %}{% crispy form %}").render(Context({"form": form}))


def counted(html: str, name: str) -> dict[str, str]:
    """The character count around the box named ``name``: its limit, the box's classes
    and description, and the hint."""
    box = re.search(rf'<textarea name="{name}"[^>]*>', html)
    assert box is not None, html
    start = html.rfind('<div class="govuk-character-count"', 0, box.start())
    assert start != -1, f"{name} is not in a character count"
    limit = re.search(r'data-maxlength="(\d+)"', html[start : box.start()])
    hint = re.search(rf'<span id="id_{name}-info"[^>]*>\s*(.*?)\s*</span>', html, re.S)
    assert limit and hint
    attrs = dict(re.findall(r'([a-z-]+)="([^"]*)"', box.group(0)))
    return {
        "limit": limit.group(1),
        "class": attrs["class"],
        "describedby": attrs.get("aria-describedby", ""),
        "hint": hint.group(1),
    }


def test_a_free_text_box_counts_to_the_policy_limit():
    found = counted(draw(ChallengeOutcomeForm()), "outcome")
    assert found["limit"] == str(FREE_TEXT_MAX_LENGTH)
    assert "govuk-js-character-count" in found["class"].split()
    assert "id_outcome-info" in found["describedby"].split()
    # Without the script the hint says the limit, as people write numbers.
    assert found["hint"] == f"You can enter up to {FREE_TEXT_MAX_LENGTH:,} characters"


def test_a_box_with_a_smaller_limit_counts_to_its_own():
    found = counted(draw(CancelForm()), "reason")
    assert found["limit"] == "300"
    assert found["hint"] == "You can enter up to 300 characters"


def test_the_browser_is_still_not_told_the_limit():
    html = draw(ChallengeOutcomeForm())
    assert "maxlength=" not in html.replace("data-maxlength=", "")


class _Sample(Form):
    bare = forms.CharField(max_length=500, widget=forms.Textarea)
    nested = forms.CharField(max_length=400, widget=forms.Textarea, help_text="Say more")
    unlimited = forms.CharField(widget=forms.Textarea, required=False)
    line = forms.CharField(max_length=50)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            "bare",
            Fieldset(Field.textarea("nested", rows=3), legend="Inside a fieldset"),
            Field.textarea("unlimited"),
            Field.text("line"),
            submit="Save",
        )


def test_every_limited_box_is_counted_however_the_layout_names_it():
    html = draw(_Sample())
    assert counted(html, "bare")["limit"] == "500"
    nested = counted(html, "nested")
    assert nested["limit"] == "400"
    # The hint and the count message both describe the box.
    assert nested["describedby"].split() == ["id_nested_hint", "id_nested-info"]
    assert html.count('class="govuk-character-count"') == 2
    assert 'data-maxlength="50"' not in html


def test_drawing_twice_counts_once():
    form = _Sample()
    draw(form)
    assert draw(form).count('data-maxlength="500"') == 1


def test_a_box_with_an_error_keeps_its_count():
    form = _Sample(data={"bare": "x" * 501, "nested": "ok", "line": "ok"})
    assert not form.is_valid()
    html = draw(form)
    found = counted(html, "bare")
    assert found["limit"] == "500"
    assert "govuk-input--error" in found["class"]
    # The error and the count message both describe the box.
    assert found["describedby"].split() == ["id_bare_1_error", "id_bare-info"]
    assert "Enter 500 characters or fewer (you entered 501)" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "page",
    [
        "challenge_add",
        "episode_report",
        "interview_held",
        "interview_declined",
        "safe_and_well_record",
        "strategy_meeting_add",
        "supervision_note_add",
    ],
)
def test_every_text_box_on_the_pages_is_counted(
    client, page, area_west, la_west, provider, social_worker, officer, manager
):
    interview = make_interview(
        child_area=area_west, owner=la_west, provider=provider, created_by=social_worker
    )
    episode = interview.episode
    by_child = {"challenge_add", "episode_report", "strategy_meeting_add", "supervision_note_add"}
    args = [episode.child_id] if page in by_child else [episode.pk]
    who = {"safe_and_well_record": officer, "strategy_meeting_add": manager}.get(page)
    who = who or (manager if page == "supervision_note_add" else social_worker)
    client.force_login(who)
    response = client.get(reverse(f"incidents:{page}", args=args))
    assert response.status_code == 200
    html = response.content.decode()
    names = re.findall(r'<textarea name="([a-z_0-9-]+)"', html)
    assert names, "the page has a text box"
    for name in names:
        assert counted(html, name)["limit"].isdigit()
