"""The demo cases: `load_demo_data` gives one child in each situation the partnership meets.

The assertions describe the situations rather than the demo's names, so a reworded demo
still passes as long as each situation is there to be shown.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from incidents.actions.episodes import episodes_in_last_days
from incidents.models import (
    Child,
    Episode,
    InterviewAttempt,
    LegalStatus,
    Placement,
    ReturnInterview,
    RiskGrade,
)
from missingkids.accounts.models import Agency, User

pytestmark = pytest.mark.django_db

DEMO_SOCIAL_WORKER = "social.worker@demo.example.org"


@pytest.fixture
def demo() -> None:
    call_command("load_demo_data", stdout=StringIO())


def current_placement(child: Child) -> Placement | None:
    today = timezone.localdate()
    return (
        child.placements.filter(start__lte=today)
        .filter(Q(end__isnull=True) | Q(end__gte=today))
        .select_related("child")
        .first()
    )


def missing_out_of_area_at_high_risk() -> list[Child]:
    found = []
    for episode in Episode.objects.filter(found_at__isnull=True).select_related("child"):
        child = episode.child
        placement = current_placement(child)
        if (
            child.is_in_care
            and placement is not None
            and placement.placed_out_of_area
            and episode.risk == RiskGrade.HIGH
            and episode.category == Episode.Category.MISSING
        ):
            found.append(child)
    return found


def test_a_child_in_care_placed_out_of_area_is_missing_now_at_high_risk(demo):
    children = missing_out_of_area_at_high_risk()

    assert len(children) == 1, children
    episode = children[0].episodes.get(found_at__isnull=True)
    # Re-graded while missing: the history shows how the risk grew.
    grades = list(episode.gradings.order_by("graded_at").values_list("grade", flat=True))
    assert len(grades) >= 2
    assert grades[-1] == RiskGrade.HIGH
    graders = set(episode.gradings.values_list("graded_by__agency__kind", flat=True))
    assert graders == {Agency.Kind.POLICE}


def test_a_child_at_home_with_a_protection_plan_was_heard_in_their_own_words(demo, client):
    interviews = ReturnInterview.objects.filter(
        outcome=ReturnInterview.Outcome.HELD,
        episode__child__legal_status=LegalStatus.CHILD_PROTECTION,
    ).exclude(child_voice="")
    at_home = [i for i in interviews if current_placement(i.episode.child) is None]

    assert at_home, "no child with a protection plan, living at home, has their words recorded"
    interview = at_home[0]
    assert interview.held_at <= interview.due_at, "the demo's interview was held in time"

    # Their own words are on their page, as the demo social worker sees it.
    client.force_login(User.objects.get(email=DEMO_SOCIAL_WORKER))
    page = client.get(reverse("incidents:child_detail", args=[interview.episode.child_id]))
    assert page.status_code == 200
    first_words = interview.child_voice.split(".")[0].replace("'", "&#x27;")
    assert first_words in page.content.decode()


def test_a_child_goes_missing_again_and_again(demo):
    now = timezone.now()
    repeat = [
        child
        for child in Child.objects.annotate(n=Count("episodes")).filter(n__gte=3)
        if episodes_in_last_days(child, 90, now=now) >= 3
    ]

    assert repeat, "no child has 3 or more episodes in the last 90 days"
    # Each of those episodes is a real one: the child came back each time.
    child = repeat[0]
    recent = child.episodes.filter(last_seen_at__gte=now - dt.timedelta(days=90))
    assert recent.filter(found_at__isnull=False).count() >= 3


def test_a_child_will_not_engage_with_the_return_interview(demo):
    stuck = ReturnInterview.objects.filter(outcome=ReturnInterview.Outcome.DECLINED).annotate(
        failed=Count("attempts", filter=Q(attempts__outcome__in=InterviewAttempt.FAILED_OUTCOMES))
    )
    stuck = stuck.filter(failed__gte=3)

    assert stuck.exists(), "no declined interview after three or more failed attempts"
    interview = stuck.first()
    assert interview.carers_information.strip()
    assert interview.decision_not_to_hold.strip()
    assert not interview.child_voice


def test_the_demo_social_worker_sees_the_missing_child_first_on_open_episodes(demo, client):
    (missing_child,) = missing_out_of_area_at_high_risk()
    client.force_login(User.objects.get(email=DEMO_SOCIAL_WORKER))

    response = client.get(reverse("incidents:episode_list_open"))

    assert response.status_code == 200
    rows = response.context["rows"]
    assert rows, "the social worker sees no open episode"
    assert rows[0]["episode"].child == missing_child
    html = response.content.decode()
    table = html[html.index('data-testid="missing"') :]
    assert missing_child.full_name in table.split("</tr>")[1]
