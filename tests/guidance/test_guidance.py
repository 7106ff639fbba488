"""Practice guidance: read by everyone, written by partnership admins, rendered safely,
kept with versions, and linked from the steps it guides."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from guidance.actions import StaleGuidanceEdit, add_page, change_page
from guidance.defaults import shipped_pages
from guidance.models import GuidancePage, GuidanceVersion
from guidance.rendering import render_markdown, sanitise
from guidance.steps import STEPS
from missingkids.accounts.models import User
from tests.factories.accounts import UserFactory
from tests.factories.incidents import ChildFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def council_admin(la_west) -> User:
    """An agency admin: not a partnership admin."""
    return UserFactory(email="kim.admin@cheshirewest.example.org", agency=la_west, role="admin")


def _form(page: GuidancePage, **changes: str) -> dict[str, str]:
    data = {
        "title": page.title,
        "summary": page.summary,
        "body": page.body,
        "change_note": "Out-of-hours number updated",
        "version": str(page.version),
        "save": "",
    }
    data.update(changes)
    return data


# The shipped set -----------------------------------------------------------------------


def test_every_step_links_to_a_shipped_page():
    shipped = {page["slug"] for page in shipped_pages()}
    assert {step.slug for step in STEPS.values()} <= shipped
    assert GuidancePage.objects.filter(slug__in=shipped).count() == len(shipped)


def test_shipped_pages_are_version_one_by_no_one():
    page = GuidancePage.objects.get(slug="return-interviews")
    assert page.version == 1 and page.updated_by is None
    version = page.versions.get()
    assert version.number == 1 and version.change_note == "Shipped with the service"
    assert "72 hours" in page.body and "own words" in page.body


# Rendering and sanitising ------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "<script>alert('x')</script>",
        '<iframe src="https://evil.example"></iframe>',
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        "<style>body{display:none}</style>",
    ],
)
def test_html_typed_into_a_page_is_shown_as_text(typed):
    html = str(render_markdown(f"Before {typed} after"))
    assert "<script" not in html and "<iframe" not in html and "<img" not in html
    assert "<style" not in html and '<a href="javascript' not in html
    # Shown as the text it is, escaped.
    assert "&lt;" in html


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)", "data:text/html,x"]
)
def test_a_markdown_link_to_a_script_is_not_a_link(link):
    html = str(render_markdown(f"[click me]({link})"))
    assert "<a " not in html
    assert "click me" in html


def test_the_sanitiser_alone_removes_what_is_not_allowed():
    # The second layer, in case the Markdown layer ever let raw HTML through.
    html = sanitise(
        '<p onclick="x()" class="evil">Hi</p><script>bad()</script>'
        '<iframe src="https://x"></iframe><a href="javascript:alert(1)">x</a>'
        '<a href="https://example.org" target="_top">ok</a>'
    )
    assert html == (
        '<p class="govuk-body">Hi</p>'
        '<a class="govuk-link" rel="noopener noreferrer">x</a>'
        '<a href="https://example.org" class="govuk-link" rel="noopener noreferrer">ok</a>'
    )


def test_markdown_is_drawn_in_govuk_styles_with_headings_below_the_title():
    html = str(
        render_markdown(
            "# Who does what\n\nText with a [link](https://example.org).\n\n- one\n- two\n\n"
            "1. first\n\n> Stands out\n\n| A | B |\n|---|---|\n| 1 | 2 |\n"
        )
    )
    assert '<h2 class="govuk-heading-m">Who does what</h2>' in html
    assert '<p class="govuk-body">' in html
    assert '<ul class="govuk-list govuk-list--bullet">' in html
    assert '<ol class="govuk-list govuk-list--number">' in html
    assert '<blockquote class="govuk-inset-text">' in html
    assert '<table class="govuk-table">' in html
    assert 'class="govuk-link"' in html and "<h1" not in html


def test_headings_follow_the_title_without_gaps():
    html = str(render_markdown("## Section\n\n#### Too deep\n\n### Sub\n\n## Next\n"))
    levels = [int(tag) for tag in re.findall(r"<h(\d)", html)]
    assert levels == [2, 3, 3, 2]


# Reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["officer", "social_worker", "manager", "admin_user", "outsider"])
def test_everyone_signed_in_reads_guidance(client, request, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("guidance:list"))
    assert response.status_code == 200
    assert "Return interviews and the voice of the child" in response.text
    page = client.get(reverse("guidance:page", args=["escalation-policy"]))
    assert page.status_code == 200
    assert "interest to challenge it" in page.text


def test_signed_out_people_are_sent_to_sign_in(client):
    response = client.get(reverse("guidance:page", args=["missing-protocol"]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_unknown_page_or_version_is_a_404(client, officer):
    client.force_login(officer)
    assert client.get(reverse("guidance:page", args=["no-such-page"])).status_code == 404
    version = reverse("guidance:version", args=["missing-protocol", "99"])
    assert client.get(version).status_code == 404
    huge = reverse("guidance:version", args=["missing-protocol", "9" * 40])
    assert client.get(huge).status_code == 404


def test_only_partnership_admins_are_offered_a_change(client, admin_user, council_admin):
    url = reverse("guidance:page", args=["missing-protocol"])
    client.force_login(council_admin)
    assert "Change this page" not in client.get(url).text
    client.force_login(admin_user)
    assert "Change this page" in client.get(url).text


def test_page_query_counts_are_fixed(client, officer, admin_user, django_assert_num_queries):
    client.force_login(officer)
    # Session, user, second factor and the access log, then the pages (with their
    # authors): the same however many pages or versions there are.
    with django_assert_num_queries(5):
        client.get(reverse("guidance:list"))
    with django_assert_num_queries(5):
        client.get(reverse("guidance:page", args=["missing-protocol"]))
    page = GuidancePage.objects.get(slug="missing-protocol")
    for number in range(3):
        change_page(
            page,
            title=page.title,
            summary="",
            body=f"Version {number}",
            change_note="Edited",
            by=admin_user,
            expected_version=page.version,
        )
    with django_assert_num_queries(6):
        client.get(reverse("guidance:versions", args=["missing-protocol"]))
    with django_assert_num_queries(7):
        client.get(reverse("guidance:version", args=["missing-protocol", "3"]))


# Writing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["officer", "manager", "council_admin"])
def test_only_partnership_admins_write_guidance(client, request, who):
    client.force_login(request.getfixturevalue(who))
    page = GuidancePage.objects.get(slug="missing-protocol")
    edit = reverse("guidance:edit", args=[page.slug])
    assert client.get(edit).status_code == 403
    assert client.post(edit, _form(page, body="Changed")).status_code == 403
    assert client.get(reverse("guidance:add")).status_code == 403
    page.refresh_from_db()
    assert page.version == 1 and page.body != "Changed"


def test_a_partnership_admin_changes_a_page_and_a_version_is_kept(client, admin_user):
    client.force_login(admin_user)
    page = GuidancePage.objects.get(slug="safe-and-well-checks")
    original = page.body
    response = client.post(
        reverse("guidance:edit", args=[page.slug]),
        _form(page, body=original + "\nCall the duty team on 01234 567890.\n"),
    )
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.version == 2 and page.updated_by == admin_user
    assert list(page.versions.values_list("number", flat=True)) == [2, 1]
    assert page.versions.get(number=1).body == original
    shown = client.get(reverse("guidance:page", args=[page.slug])).text
    assert "01234 567890" in shown and "Version 2" in shown
    changes = client.get(reverse("guidance:version", args=[page.slug, "2"])).text
    assert "Added: </span>Call the duty team on 01234 567890." in changes


def test_preview_shows_the_rendered_text_and_saves_nothing(client, admin_user):
    client.force_login(admin_user)
    page = GuidancePage.objects.get(slug="missing-protocol")
    data = _form(page, body="## New heading\n\n<script>alert(1)</script>", change_note="")
    data.pop("save")
    data["preview"] = ""
    response = client.post(reverse("guidance:edit", args=[page.slug]), data)
    assert response.status_code == 200
    assert '<h2 class="govuk-heading-m">New heading</h2>' in response.text
    assert "<script>alert(1)</script>" not in response.text
    page.refresh_from_db()
    assert page.version == 1


def test_a_change_needs_a_title_text_and_what_changed(client, admin_user):
    client.force_login(admin_user)
    page = GuidancePage.objects.get(slug="missing-protocol")
    response = client.post(
        reverse("guidance:edit", args=[page.slug]), _form(page, title="", body="", change_note="")
    )
    assert response.status_code == 200
    for message in (
        "Enter the page&#x27;s title",
        "Enter the text of the page",
        "Say what changed, for the page&#x27;s history",
    ):
        assert message in response.text
    page.refresh_from_db()
    assert page.version == 1


def test_a_page_over_the_limit_is_refused_by_the_field(client, admin_user, settings):
    client.force_login(admin_user)
    page = GuidancePage.objects.get(slug="missing-protocol")
    response = client.post(
        reverse("guidance:edit", args=[page.slug]), _form(page, body="x" * 100_001)
    )
    assert "Enter 100,000 characters or fewer (you entered 100,001)" in response.text


def test_a_stale_edit_is_refused_and_the_authors_text_kept(client, admin_user, police, settings):
    other = UserFactory(
        email="ruth.other@police.example.org", name="Ruth Other", agency=police, role="admin"
    )
    settings.PARTNERSHIP_ADMINS = [*settings.PARTNERSHIP_ADMINS, other.email]
    page = GuidancePage.objects.get(slug="missing-protocol")
    opened = _form(page, body="My careful rewrite")
    change_page(
        page,
        title=page.title,
        summary=page.summary,
        body="Their quick fix",
        change_note="Fix",
        by=other,
        expected_version=1,
    )
    client.force_login(admin_user)
    response = client.post(reverse("guidance:edit", args=[page.slug]), opened)
    assert response.status_code == 200
    assert "Ruth Other saved this page at" in response.text
    assert "My careful rewrite" in response.text
    page.refresh_from_db()
    assert page.body == "Their quick fix" and page.version == 2


def test_two_saves_from_the_same_version_cannot_both_succeed(admin_user):
    page = GuidancePage.objects.get(slug="missing-protocol")
    kwargs = {"title": "T", "summary": "", "change_note": "c", "by": admin_user}
    change_page(page, body="first", expected_version=1, **kwargs)
    with pytest.raises(StaleGuidanceEdit):
        change_page(page, body="second", expected_version=1, **kwargs)
    assert GuidanceVersion.objects.filter(page=page).count() == 2


def test_a_partnership_admin_adds_a_page(client, admin_user):
    client.force_login(admin_user)
    data = {
        "slug": "county-lines",
        "title": "County lines",
        "summary": "Signs and what to do.",
        "body": "Signs to look for.",
        "save": "",
    }
    response = client.post(reverse("guidance:add"), data)
    assert response.status_code == 302
    page = GuidancePage.objects.get(slug="county-lines")
    assert page.versions.get().written_by == admin_user
    again = client.post(reverse("guidance:add"), {**data, "slug": "county-lines"})
    assert "There is already a page at that address" in again.text
    bad = client.post(reverse("guidance:add"), {**data, "slug": "County Lines!"})
    assert "Use only lower-case letters, numbers and single hyphens" in bad.text
    reserved = client.post(reverse("guidance:add"), {**data, "slug": "new"})
    assert "There is already a page at that address" in reserved.text


def test_add_page_keeps_version_one(admin_user):
    page = add_page(slug="x", title="X", summary="", body="Body", by=admin_user)
    assert page.versions.get().number == 1


# In context -----------------------------------------------------------------------------------


def test_the_report_form_links_its_guidance(client, officer, area_west, la_west):
    child = ChildFactory(responsible_area=area_west)
    client.force_login(officer)
    response = client.get(reverse("incidents:episode_report", args=[child.pk]))
    assert response.status_code == 200
    assert reverse("guidance:page", args=["reporting-missing"]) in response.text
    assert "Guidance on reporting a child missing (opens in new tab)" in response.text


def test_navigation_has_guidance_marked_current_on_its_pages(client, officer):
    client.force_login(officer)
    response = client.get(reverse("guidance:page", args=["missing-protocol"]))
    assert response.context["navigation"][-1]["label"] == "Guidance"
    assert response.context["navigation"][-1]["current"] is True


def test_missing_shipped_pages_are_added_back_and_written_ones_kept(admin_user):
    from guidance.defaults import add_missing_shipped_pages

    page = GuidancePage.objects.get(slug="missing-protocol")
    change_page(
        page,
        title="Our protocol",
        summary="",
        body="Ours",
        change_note="Rewritten",
        by=admin_user,
        expected_version=1,
    )
    GuidancePage.objects.filter(slug="escalation-policy").delete()
    assert add_missing_shipped_pages() == 1
    assert GuidancePage.objects.get(slug="escalation-policy").versions.get().number == 1
    assert GuidancePage.objects.get(slug="missing-protocol").title == "Our protocol"
    assert add_missing_shipped_pages() == 0
