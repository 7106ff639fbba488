"""The managers' "Agreed actions overdue": open after the due date, in the period, in the
manager's scope, filtered by owner agency and area, exported as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from incidents.models import AgreedAction
from missingkids.audit.models import AccessLogEntry
from oversight import queries
from oversight.filters import Filters
from tests.factories.incidents import AgreedActionFactory

from .world import NOW, returned

pytestmark = pytest.mark.django_db
TODAY = NOW.date()
D = dt.timedelta(days=1)
H = dt.timedelta(hours=1)


def action(child, owner, *, due: dt.date, description: str, **extra) -> AgreedAction:
    interview = returned(child, owner, found=NOW - 40 * D - H * len(description))
    return AgreedActionFactory(
        interview=interview,
        description=description,
        owner_agency=owner,
        agreed_on=due - 10 * D,
        due_date=due,
        **extra,
    )


def described(rows) -> list[str]:
    return [row.description for row in rows]


@pytest.fixture
def actions(west_child, far_child, la_west, school, other_agency):
    return {
        "late": action(west_child(), la_west, due=TODAY - 7 * D, description="Late"),
        "school": action(west_child(), school, due=TODAY - 2 * D, description="School late"),
        "today": action(west_child(), la_west, due=TODAY, description="Due today"),
        "old": action(west_child(), la_west, due=TODAY - 200 * D, description="Long ago"),
        "done": action(
            west_child(),
            la_west,
            due=TODAY - 3 * D,
            description="Done late",
            state="done",
            done_at=NOW,
            what_happened="Done",
        ),
        "far": action(far_child(), other_agency, due=TODAY - 3 * D, description="Far"),
    }


def test_open_after_the_due_date_in_the_period_longest_first(manager, actions, frozen):
    rows = queries.agreed_actions_overdue(manager, Filters(), NOW)
    # Not due today (not yet late), not done, not outside scope, not before the period.
    assert described(rows) == ["Late", "School late"]
    assert "Long ago" in described(queries.agreed_actions_overdue(manager, Filters(days=365), NOW))


def test_filters_by_owner_agency_and_area(manager, actions, school, area_east, frozen):
    assert described(queries.agreed_actions_overdue(manager, Filters(agency=school), NOW)) == [
        "School late"
    ]
    assert not queries.agreed_actions_overdue(manager, Filters(local_authority=area_east), NOW)


def test_a_manager_sees_only_children_in_their_scope(outsider, actions, frozen):
    outsider.role = "manager"
    outsider.save()
    assert described(queries.agreed_actions_overdue(outsider, Filters(), NOW)) == ["Far"]


def test_the_page_and_its_csv(client, manager, actions, frozen):
    client.force_login(manager)
    url = reverse("oversight:agreed_actions_overdue")
    page = client.get(url)
    assert page.status_code == 200
    late = actions["late"]
    assert f"{reverse('incidents:child_detail', args=[late.child_id])}#agreed-actions" in (
        page.text
    )
    response = client.get(url, {"format": "csv", "agency": str(late.owner_agency_id)})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "Child",
        "Responsible local authority",
        "Action",
        "Owner",
        "Agreed at",
        "Due by",
        "Overdue by",
        "Record",
    ]
    assert [row[2] for row in rows[1:]] == ["Late"]
    assert rows[1][5:7] == ["3 Nov 2026", "7 days"]
    entry = AccessLogEntry.objects.get(action=AccessLogEntry.Action.EXPORT)
    assert entry.detail["what"] == "agreed_actions_overdue"
    sent = AccessLogEntry.objects.get(action=AccessLogEntry.Action.EXPORT_SENT)
    assert (sent.detail["export"], sent.detail["rows"]) == (entry.pk, 1)

    dashboard = client.get(reverse("oversight:dashboard"))
    counts = {item["page"].slug: item["count"] for item in dashboard.context["overdue"]}
    assert counts["agreed_actions_overdue"] == 2
