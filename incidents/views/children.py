"""Finding, adding and keeping a child's record, and the child's page.

Every record is fetched through ``incidents.access`` (404 outside the user's scope) and
every change goes through one function of ``incidents.actions.children``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.postgres.search import TrigramWordDistance
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    StringAgg,
    Subquery,
    TextField,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Concat, RowNumber
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from missingkids import keyset, policy
from missingkids.accounts.templatetags.govuk_forms import first_input_id
from missingkids.accounts.two_factor import TWO_FACTOR_QUERIES
from missingkids.audit.log import (
    ACCESS_LOG_QUERIES,
    Action,
    log_access,
    log_not_needed,
    log_record_view,
    log_search,
)

from .. import access, history, rights
from ..actions import children as actions
from ..actions.base import StaleEdit
from ..actions.profiles import profile_if_allowed
from ..engagement import Stuck
from ..forms.children import (
    ChildAddForm,
    ChildEditForm,
    ChildSearchForm,
    EndDateForm,
    InvolvementAnswerForm,
    InvolvementForm,
    InvolvementRequestForm,
    LegalStatusForm,
    PlacementForm,
)
from ..models import (
    CaseEvent,
    Child,
    Episode,
    InterviewAttempt,
    Involvement,
    InvolvementRequest,
    Placement,
    ReturnInterview,
)
from ..rights import Right
from ..story import STORY_QUERIES, build_story
from ..validators import normalise_nhs_number
from ..visibility import placement_current
from .agreed_actions import actions_panel

PAGE_SIZE = 25
TIMELINE_PAGE_SIZE = 25
# The child's page shows the latest episodes, and older ones a page at a time.
EPISODES_PAGE_SIZE = 20
VOICES_SHOWN = 3
# A manager's records on the child's page: the latest few, newest first.
MEETINGS_SHOWN = 3
SUPERVISION_NOTES_SHOWN = 5
# Joins agency names in one query; a character no agency name contains.
AGENCY_SEPARATOR = "\x1f"
# Drafts of the add-a-child journey, keyed by a token in the page so two tabs adding two
# children at once keep separate answers.
DRAFTS_KEY = "child_add_drafts"
MAX_DRAFTS = 5
# Searches, by the token in the results page's URL (the words never go in a URL); a few,
# so two tabs can page through two searches.
SEARCHES_KEY = "child_searches"
MAX_SEARCHES = 5

_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def duration_text(length: dt.timedelta) -> str:
    """'2 days 3 hours', '5 hours 10 minutes', '40 minutes': precise enough to act on."""
    minutes = max(int(length.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if days:
        return f"{unit(days, 'day')} {unit(hours, 'hour')}"
    if hours:
        return f"{unit(hours, 'hour')} {unit(minutes, 'minute')}"
    return unit(minutes, "minute")


# Find a child -------------------------------------------------------------------------


def _search_date(text: str) -> dt.date | bool | None:
    """The date of birth typed; False for a date that does not exist; None if no date."""
    match = _DATE.match(text)
    if not match:
        return None
    try:
        return dt.date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return False


def _identifiers(text: str) -> Q:
    """Identifiers: exact (any case), each served by an index."""
    found = (
        Q(la_child_id__iexact=text)
        | Q(police_person_reference__iexact=text)
        | Q(upn=text.replace(" ", "").upper())
    )
    digits = normalise_nhs_number(text)
    if digits.isdigit():
        found |= Q(nhs_number=digits) | Q(la_child_id__iexact=digits)
    return found


def _names(text: str) -> Q:
    """Each part of the name in the names: on PostgreSQL ``LIKE '%PART%'`` on the search
    name, served by its trigram index (migration 0035)."""
    names = Q()
    for part in text.upper().split(" "):
        names &= Q(search_name__contains=part)
    return names


def search_results(children: QuerySet[Child], text: str) -> QuerySet[Child] | None:
    """The children a search box entry finds among ``children``, best first.

    A date of birth finds the children born that day, by name. An identifier typed
    exactly (local authority id, police reference, UPN, NHS number) finds its child
    alone. Otherwise name parts: the children whose names contain every part, the
    closest first: whole names and whole words typed, then names that begin with what
    was typed, then those that only contain it; alphabetical within each. On PostgreSQL
    the closeness is the trigram word distance, read in order from the search name's
    GiST index, so a page of a common name is read without ranking all its matches; on
    SQLite the same three kinds of match are ranked in the query. One query to look for
    an identifier, none for a date."""
    text = " ".join(text.split())
    if not text:
        return None
    by_name = ("last_name", "first_name", "pk")
    day = _search_date(text)
    if day is not None:
        return children.filter(date_of_birth=day).order_by(*by_name) if day else children.none()
    identified = list(children.filter(_identifiers(text)).values_list("pk", flat=True)[:PAGE_SIZE])
    if identified:
        return children.filter(pk__in=identified).order_by(*by_name)
    found = children.filter(_names(text))
    if connection.vendor == "postgresql":
        return found.order_by(TrigramWordDistance(Value(text.upper()), "search_name"), *by_name)
    words = text.upper().split(" ")
    padded = Concat(Value(" "), "search_name", Value(" "), output_field=TextField())
    whole = Q(*[Q(padded_name__contains=f" {word} ") for word in words])
    starts = Q(*[Q(padded_name__contains=f" {word}") for word in words])
    return (
        found.alias(padded_name=padded)
        .alias(
            closeness=Case(
                When(whole, then=Value(0)),
                When(starts, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("closeness", *by_name)
    )


def with_status(children: QuerySet[Child]) -> QuerySet[Child]:
    """Annotate what the results and lists show, as part of the one query."""
    today = timezone.localdate()
    current = Q(end__isnull=True) | Q(end__gte=today)
    return children.select_related("responsible_area").annotate(
        missing_now=Exists(Episode.objects.filter(child=OuterRef("pk"), found_at__isnull=True)),
        out_of_area=Exists(
            Placement.objects.filter(current, child=OuterRef("pk"), start__lte=today).exclude(
                host_area_id=OuterRef("responsible_area_id")
            )
        ),
    )


@require_http_methods(["GET", "POST"])
def child_search(request: HttpRequest) -> HttpResponse:
    """Find a child, without the words searched for ever being in a URL.

    Names, dates of birth and NHS numbers in a URL end up in server and proxy logs, the
    browser's history and Referer headers. So the form is posted, the words are kept in
    the session under a random token, and the results page (and its other pages) is
    reached by that token alone (post/redirect/get). Each results page shown is written
    to the access log as a search, with how many children it found, never the words.
    """
    token: str | None = None
    query = ""
    if request.method == "POST":
        form = ChildSearchForm(request.POST)
        if form.is_valid():
            token = secrets.token_urlsafe(12)
            searches = _searches(request)
            searches[token] = form.cleaned_data["q"]
            while len(searches) > MAX_SEARCHES:
                searches.pop(next(iter(searches)))
            request.session[SEARCHES_KEY] = searches
            return redirect(f"{reverse('incidents:child_search')}?{urlencode({'search': token})}")
    else:
        token = _valid_token(request.GET.get("search"))
        query = _searches(request).get(token, "") if token else ""
        form = ChildSearchForm(initial={"q": query})
    page: Page | None = None
    more = False
    results = search_results(access.children_visible_to(request.user), query) if query else None
    if results is not None:
        page, more = _results_page(results, request.GET.get("page"))
        today = timezone.localdate()
        for child in page:
            child.age = child.age_on(today)
        log_search(request, results=page.paginator.count, page=page.number)
    else:
        log_not_needed(request)  # the search box alone, or what was typed with an error
    return render(
        request,
        "incidents/children/search.html",
        {
            "form": form,
            "page": page,
            "more": more,
            "query": query,
            "query_string": urlencode({"search": token}) if token else "",
            "can_add": access.can_add_child(request.user),
        },
    )


def _results_page(results: QuerySet[Child], number: str | None) -> tuple[Page, bool]:
    """The page asked for of the results, and whether there are more than are offered.

    The results are counted up to a bound: a common name part matches thousands, and
    the pages beyond the bound are not offered (the closest come first). The closest
    up to the bound are read as ids in one query, which both counts them and gives the
    page (the name index's candidates are read once, not once to count and again for
    the page); then the page's children, with what the results show, by id."""
    at_most = keyset.COUNTED_AT_MOST
    closest = list(results.select_related(None).values_list("pk", flat=True)[: at_most + 1])
    page = Paginator(closest[:at_most], PAGE_SIZE).get_page(number)
    chosen = Child.objects.filter(pk__in=page.object_list)
    shown = {child.pk: child for child in with_status(chosen)}
    page.object_list = [shown[pk] for pk in page if pk in shown]
    return page, len(closest) > at_most


def _searches(request: HttpRequest) -> dict[str, str]:
    return request.session.get(SEARCHES_KEY, {})


# Add a child: question page, check your answers, confirm ------------------------------


def _drafts(request: HttpRequest) -> dict[str, dict[str, list[str]]]:
    return request.session.get(DRAFTS_KEY, {})


def _save_draft(request: HttpRequest, token: str, data: QueryDict) -> None:
    drafts = _drafts(request)
    drafts[token] = {k: data.getlist(k) for k in data if k not in ("csrfmiddlewaretoken",)}
    # A few abandoned journeys should not grow the session without limit.
    while len(drafts) > MAX_DRAFTS:
        drafts.pop(next(iter(drafts)))
    request.session[DRAFTS_KEY] = drafts


def _draft_data(request: HttpRequest, token: str) -> QueryDict | None:
    stored = _drafts(request).get(token)
    if stored is None:
        return None
    data = QueryDict(mutable=True)
    for key, values in stored.items():
        data.setlist(key, values)
    return data


def _valid_token(value: str | None) -> str | None:
    return value if value and re.fullmatch(r"[A-Za-z0-9_-]{8,64}", value) else None


def _answers(form: ChildAddForm) -> list[dict[str, Any]]:
    """Check-your-answers rows: label, what was typed, and where to change it."""
    rows = []
    data = form.cleaned_data
    for name, bound in form.fields.items():
        value = data.get(name)
        if isinstance(bound, forms.ChoiceField) and not isinstance(bound, forms.ModelChoiceField):
            value = dict(bound.choices).get(value, value)
        if isinstance(value, dt.date):
            value = long_date(value)
        if (
            name in ("legal_status_start", "care_legal_status")
            and data.get("legal_status") == "none"
        ):
            continue
        label = str(bound.label or name.replace("_", " ").capitalize()).replace(" (optional)", "")
        rows.append(
            {"name": name, "label": label, "value": value or "", "id": first_input_id(form[name])}
        )
    return rows


def _render_add(request: HttpRequest, form: ChildAddForm, token: str) -> HttpResponse:
    return render(
        request, "incidents/children/add.html", {"form": form, "token": token}, status=200
    )


@require_http_methods(["GET", "POST"])
def child_add(request: HttpRequest) -> HttpResponse:
    access.require(access.can_add_child(request.user), "You cannot add a child.")
    # Only what this person is typing; the record, once added, is logged when seen.
    log_not_needed(request)
    token = _valid_token(request.POST.get("draft") or request.GET.get("draft"))

    if request.method == "POST" and "confirm" in request.POST:
        data = _draft_data(request, token) if token else None
        if data is None:
            messages.info(request, "Those answers were not found. Enter the child's details again.")
            return redirect("incidents:child_add")
        form = ChildAddForm(data)
        if not form.is_valid():
            return _render_add(request, form, token)
        starts_involved = not actions.agency_serves_area(
            request.user.agency, form.cleaned_data["responsible_area"]
        )
        try:
            child = actions.child_create(acting_user=request.user, **form.cleaned_data)
        except ValidationError as error:
            _log_identifier_refusals(request, error)
            form.add_error(None, error)
            return _render_add(request, form, token)
        drafts = _drafts(request)
        drafts.pop(token, None)
        request.session[DRAFTS_KEY] = drafts
        note = ""
        if starts_involved:
            note = (
                f" Your agency does not serve {child.responsible_area.name}, so it has been "
                "recorded as involved with the child: that is how you can see this record."
            )
        messages.success(request, f"{child.full_name} has been added.{note}")
        return redirect("incidents:child_detail", pk=child.pk)

    if request.method == "POST":
        token = token or secrets.token_urlsafe(12)
        form = ChildAddForm(request.POST)
        if not form.is_valid():
            return _render_add(request, form, token)
        _save_draft(request, token, request.POST)
        return redirect(f"{reverse('incidents:child_add')}?draft={token}&check=1")

    data = _draft_data(request, token) if token else None
    if data is None:
        return _render_add(request, ChildAddForm(), secrets.token_urlsafe(12))
    form = ChildAddForm(data)
    if request.GET.get("check") and form.is_valid():
        return render(
            request,
            "incidents/children/check_answers.html",
            {"rows": _answers(form), "token": token, "change_url": reverse("incidents:child_add")},
        )
    return _render_add(request, form, token)


def _log_identifier_refusals(request: HttpRequest, error: ValidationError) -> None:
    """An identifier held by a child this person cannot see: logged as a refusal, naming
    that child, so that fishing for who is on the record leaves a trace."""
    for name, errors in getattr(error, "error_dict", {}).items():
        for item in errors:
            if item.code == actions.IDENTIFIER_ELSEWHERE:
                log_access(
                    request,
                    Action.REFUSED,
                    child_id=(item.params or {}).get("child_id"),
                    detail={"reason": "identifier held by a child not in scope", "field": name},
                )


# The child's page ---------------------------------------------------------------------


def _field_label(name: str) -> str:
    for model in (Child, Episode, ReturnInterview, Placement):
        try:
            return str(model._meta.get_field(name).verbose_name).capitalize()
        except FieldDoesNotExist:
            continue
    return name.replace("_", " ").capitalize()


def _timeline(request: HttpRequest, child: Child) -> Page:
    events = CaseEvent.objects.filter(child=child).select_related("actor", "actor_agency")
    page = Paginator(events.order_by("-occurred_at", "-id"), TIMELINE_PAGE_SIZE).get_page(
        request.GET.get("timeline")
    )
    for event in page:
        changes = event.data.get("changes") if isinstance(event.data, dict) else None
        event.change_rows = [
            (_field_label(name), *values)
            for name, values in (changes or {}).items()
            if isinstance(values, list) and len(values) == 2
        ]
    return page


def _child_page(
    request: HttpRequest, pk: int, section: str, **annotations: Any
) -> tuple[Child, rights.Standing, dict[str, Any]]:
    """What every page of the child's record starts from: the child (404 outside the
    person's scope) and their standing, in one query (``rights.child_and_standing``),
    the view logged, and the header and sub-navigation's context."""
    today = timezone.localdate()
    child, standing = rights.child_and_standing(
        request.user,
        pk,
        # The "placed out of area" tag in the header.
        placed_out_of_area_now=Exists(
            Placement.objects.filter(placement_current(today), child_id=OuterRef("pk")).exclude(
                host_area_id=OuterRef("responsible_area_id")
            )
        ),
        **annotations,
    )
    log_record_view(request, child_id=child.pk)
    return (
        child,
        standing,
        {
            "child": child,
            "age": child.age_on(today),
            "section": section,
            "sections": CHILD_SECTIONS,
            "can": standing.can,
        },
    )


# The pages of a child's record, in the sub-navigation's order: (view name, label).
CHILD_SECTIONS = [
    ("incidents:child_detail", "Overview"),
    ("incidents:child_care", "Care and agencies"),
    ("incidents:child_story", "Story and places"),
    ("incidents:child_history", "History"),
]


def _episode_page(
    child: Child, number: str | None, *, now: dt.datetime, window_start: dt.datetime
) -> tuple[Page, Episode | None, dict[str, int]]:
    """A page of the child's episodes, latest first, with the latest episode (for the
    status) and the counts the page shows (all of them, recent, declined in a row), from
    one query: the counts are window aggregates over all the child's episodes, and the
    rows are the page's and the latest's. A page beyond the last (a hand-typed address)
    costs one more query, for the last page."""
    held_later = ReturnInterview.objects.filter(
        episode__child=child,
        outcome=ReturnInterview.Outcome.HELD,
        episode__last_seen_at__gt=OuterRef("last_seen_at"),
    )
    latest_first = [F("last_seen_at").desc(), F("id").desc()]
    rows = child.episodes.select_related(
        "last_seen_location", "found_location", "interview", "reported_by_agency"
    ).annotate(
        position=Window(RowNumber(), order_by=latest_first),
        total=Window(Count("pk")),
        recent=Window(Count("pk", filter=Q(last_seen_at__gte=window_start, last_seen_at__lte=now))),
        # Declined after each of the latest returns, back to the latest interview held.
        declines=Window(
            Count(
                "pk",
                filter=Q(interview__outcome=ReturnInterview.Outcome.DECLINED)
                & ~Q(Exists(held_later)),
            )
        ),
    )
    # As Paginator.get_page: not a number, the first page; beyond the last, the last.
    # (Any other digits, such as "²", or thousands of them, are not a page number.)
    wanted = 1
    if number and number.isascii() and number.isdigit():
        wanted = max(1, int(number)) if len(number) <= 6 else 10**6

    def read(page_number: int) -> list[Episode]:
        first = (page_number - 1) * EPISODES_PAGE_SIZE
        return list(
            rows.filter(
                Q(position__gt=first, position__lte=first + EPISODES_PAGE_SIZE) | Q(position=1)
            ).order_by(*latest_first)
        )

    found = read(wanted)
    counts = {"total": 0, "recent": 0, "declines": 0}
    if found:
        counts = {name: getattr(found[0], name) for name in counts}
    paginator = Paginator(rows, EPISODES_PAGE_SIZE)
    paginator.count = counts["total"]  # counted by the window: no COUNT query
    if wanted > paginator.num_pages:
        wanted = paginator.num_pages
        found = read(wanted)
    latest = found[0] if found else None
    listed = [e for e in found if wanted == 1 or e.position > 1]  # type: ignore[attr-defined]
    for episode in found:
        episode.duration_text = duration_text(episode.duration(now))
    return Page(listed, wanted, paginator), latest, counts


@require_http_methods(["GET"])
def child_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The child's page: what is happening now and what must be done (status, a stuck
    case, their own words, agreed actions), who they are, their episodes, the strategy
    meetings, supervision notes and challenges. The record's other pages (care and
    agencies, story and places, history) are a sub-navigation away. A fixed number of
    queries whatever the number of episodes: CHILD_PAGE_QUERIES."""
    user = request.user
    now = timezone.now()
    latest_interviewed = Episode.objects.filter(
        child_id=OuterRef("pk"), interview__isnull=False
    ).order_by("-last_seen_at", "-id")
    child, standing, context = _child_page(
        request,
        pk,
        "incidents:child_detail",
        # The latest episode with an interview, and its failed attempts while it is not
        # yet held or declined: a stuck case.
        stuck_episode_id=Subquery(latest_interviewed.values("id")[:1]),
        stuck_failed_attempts=Subquery(
            latest_interviewed.annotate(
                failed=Case(
                    When(
                        interview__outcome=ReturnInterview.Outcome.PENDING,
                        then=Coalesce(
                            Subquery(
                                InterviewAttempt.objects.filter(
                                    interview_id=OuterRef("interview__id"),
                                    outcome__in=InterviewAttempt.FAILED_OUTCOMES,
                                )
                                .order_by()
                                .values("interview_id")
                                .annotate(n=Count("id"))
                                .values("n")
                            ),
                            0,
                        ),
                    ),
                    default=Value(0),
                )
            ).values("failed")[:1]
        ),
    )
    can = standing.can

    repeat_count, repeat_days = policy.repeat_threshold()
    window_start = now - dt.timedelta(days=repeat_days)
    episode_page, latest, counts = _episode_page(
        child, request.GET.get("episodes"), now=now, window_start=window_start
    )
    # Episodes never overlap, so an episode still open is the latest one.
    open_episode = latest if latest is not None and latest.found_at is None else None
    awaiting_interview = None
    if open_episode is None and latest and latest.closed_at is None:
        interview = getattr(latest, "interview", None)
        if interview is None or not interview.is_done:
            awaiting_interview = latest
    stuck = Stuck(
        threshold=policy.stuck_failed_attempts(),
        failed_attempts=child.stuck_failed_attempts or 0,  # type: ignore[attr-defined]
        declines_in_a_row=counts["declines"],
    )
    voices = list(
        ReturnInterview.objects.filter(episode__child=child)
        .exclude(child_voice="")
        .select_related("episode")
        .order_by(Coalesce("held_at", "created_at").desc(), "-id")[:VOICES_SHOWN]
    )
    # One query each, whatever the number of meetings, agencies or notes.
    meetings = list(
        child.strategy_meetings.annotate(
            # Sorted here: SQLite before 3.44 cannot order inside an aggregate.
            agency_names=StringAgg("attendees__agency__name", Value(AGENCY_SEPARATOR))
        ).order_by("-held_on", "-id")[:MEETINGS_SHOWN]
    )
    for meeting in meetings:
        meeting.agency_names = ", ".join(
            sorted((meeting.agency_names or "").split(AGENCY_SEPARATOR))
        )
    can_supervise = can[Right.SUPERVISION_NOTES]
    supervision_notes = (
        list(
            child.supervision_notes.select_related("written_by", "written_by__agency").order_by(
                "-written_at", "-id"
            )[:SUPERVISION_NOTES_SHOWN]
        )
        if can_supervise
        else []
    )
    episodes = list(episode_page)
    return render(
        request,
        "incidents/children/detail.html",
        {
            **context,
            "now": now,
            "episodes": episodes,
            "episode_page": episode_page,
            "episode_count": counts["total"],
            "open_episode": open_episode,
            "awaiting_interview": awaiting_interview,
            "recent_count": counts["recent"],
            "repeat_count": repeat_count,
            "repeat_window_days": repeat_days,
            "stuck": stuck,
            # The prompt links to the latest interview: the episode's id is all it needs.
            "stuck_episode": {"pk": child.stuck_episode_id} if stuck else None,  # type: ignore[attr-defined]
            "voices": voices,
            "challenges": list(child.challenges.select_related("challenged_agency", "raised_by")),
            "meetings": meetings,
            "meeting_in_window": next(
                (m for m in meetings if m.held_on >= timezone.localdate(window_start)), None
            ),
            "supervision_notes": supervision_notes,
            # "What would help" from the interviews of the episodes shown (a page of them).
            "panel": actions_panel(
                user, child, can, [e.interview for e in episodes if hasattr(e, "interview")]
            ),
            "can_record_meeting": can[Right.RECORD_STRATEGY_MEETING],
            "can_supervise": can_supervise,
            "can_edit": can[Right.EDIT_IDENTITY],
            "can_report": can[Right.REPORT_EPISODE],
            "can_return": can[Right.RECORD_RETURN],
            "can_challenge": can[Right.RAISE_CHALLENGE],
            "profile": profile_if_allowed(child=child, can=can),
        },
    )


@require_http_methods(["GET"])
def child_care(request: HttpRequest, pk: int) -> HttpResponse:
    """Care and agencies: legal status, placements, the agencies involved and the host
    council's requests to record one. One query each: CHILD_CARE_QUERIES."""
    child, standing, context = _child_page(request, pk, "incidents:child_care")
    today = timezone.localdate()
    placements = list(child.placements.select_related("host_area").order_by("-start", "-id"))
    for placement in placements:
        placement.child = child
        placement.is_current = placement.is_current_on(today)
    involvements = list(
        child.involvements.select_related("agency").order_by(
            F("end").desc(nulls_first=True), "role", "start"
        )
    )
    for involvement in involvements:
        involvement.is_current = involvement.is_current_on(today)
        involvement.starts_later = involvement.start > today
    # Requests from the host council waiting for the responsible council's answer.
    requests = list(
        child.involvement_requests.filter(status=InvolvementRequest.Status.PENDING)
        .select_related("agency", "requested_by", "requested_by_agency")
        .order_by("requested_at", "id")
    )
    return render(
        request,
        "incidents/children/care.html",
        {
            **context,
            "legal_statuses": list(child.legal_statuses.order_by("-start", "-id")),
            "placements": placements,
            "involvements": involvements,
            "involvement_requests": requests,
            "can_manage": standing.can[Right.MANAGE_CARE_DETAILS],
        },
    )


@require_http_methods(["GET"])
def child_story(request: HttpRequest, pk: int) -> HttpResponse:
    """The child's story across their episodes (``incidents.story``) and the places
    linked to them, with the other children linked to each: CHILD_STORY_QUERIES."""
    child, standing, context = _child_page(request, pk, "incidents:child_story")
    _, repeat_days = policy.repeat_threshold()
    return render(
        request,
        "incidents/children/story.html",
        {
            **context,
            "story": build_story(
                child,
                user=request.user,
                may_see_associates=standing.may(Right.SEE_ASSOCIATES),
                recent_days=repeat_days,
            ),
            "can_record_associates": standing.may(Right.RECORD_ASSOCIATES),
        },
    )


@require_http_methods(["GET"])
def child_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything recorded about the child, newest first (the timeline, a page at a
    time), and the changes made to their record: CHILD_HISTORY_PAGE_QUERIES."""
    child, _, context = _child_page(request, pk, "incidents:child_history")
    return render(
        request,
        "incidents/children/history.html",
        {
            **context,
            "timeline": _timeline(request, child),
            "history": history.child_history(child),
            "history_shown": history.SHOWN,
        },
    )


# What each page of the child's record costs, all told: the same whatever the number of
# episodes, events or changes, and never more than 15 (the tests pin each).
# The request's own: the session, the person, their second factor, and their agency
# (which the header names and their standing is worked out from).
REQUEST_QUERIES = 3 + TWO_FACTOR_QUERIES
# The child with the person's standing, and the access log entry.
CHILD_QUERIES = 1 + ACCESS_LOG_QUERIES
# The overview: the rules' numbers, the episodes (with their counts), the child's words,
# the strategy meetings, the challenges and the agreed actions; and one more each for
# the missing person profile and the supervision notes, to those who may see them.
CHILD_PAGE_QUERIES = REQUEST_QUERIES + CHILD_QUERIES + 6
# Legal status, placements, involved agencies, requests waiting for an answer.
CHILD_CARE_QUERIES = REQUEST_QUERIES + CHILD_QUERIES + 4
# The rules' numbers (the repeat window), then the story (with the associates, to those
# who may see them: STORY_ASSOCIATE_QUERIES).
CHILD_STORY_QUERIES = REQUEST_QUERIES + CHILD_QUERIES + 1 + STORY_QUERIES
# The timeline (a count and a page), and the change history.
CHILD_HISTORY_PAGE_QUERIES = REQUEST_QUERIES + CHILD_QUERIES + 2 + history.CHILD_HISTORY_QUERIES


# Edit identity and profile ------------------------------------------------------------


def _initial(child: Child, form_class: type[ChildEditForm]) -> dict[str, Any]:
    initial = {
        name: getattr(child, name) for name in form_class.base_fields if hasattr(child, name)
    }
    initial["responsible_area"] = child.responsible_area_id
    initial["la_child_id"] = child.la_child_id or ""
    initial["nhs_number"] = child.nhs_number or ""
    return initial


@require_http_methods(["GET", "POST"])
def child_edit(request: HttpRequest, pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, pk)
    can = rights.standing(request.user, child)
    rights.require_standing(can, Right.EDIT_IDENTITY)
    with_area = can.may(Right.MANAGE_CARE_DETAILS)
    current: Child | None = None
    if request.method == "POST":
        form = ChildEditForm(request.POST, with_area=with_area)
        if form.is_valid():
            try:
                actions.child_update(
                    acting_user=request.user,
                    child=child,
                    expected_version=form.cleaned_data["version"],
                    **form.action_fields(),
                )
            except StaleEdit as error:
                form.add_error(None, error)
                current = Child.objects.select_related("responsible_area").get(pk=child.pk)
            except ValidationError as error:
                _log_identifier_refusals(request, error)
                form.add_error(None, error)
            else:
                messages.success(request, f"{child.full_name}'s details have been saved.")
                return redirect("incidents:child_detail", pk=child.pk)
    else:
        form = ChildEditForm(initial=_initial(child, ChildEditForm), with_area=with_area)
    if current is not None:
        # The user's input stays in the form; the version moves on so that, having
        # compared, they can submit again deliberately over the newer save.
        data = form.data.copy()
        data["version"] = str(current.version)
        form.data = data
    comparison = None
    if current is not None:
        comparison = [
            (_field_label(name), _display(current, name))
            for name in form.fields
            if name != "version"
        ]
    return render(
        request,
        "incidents/children/edit.html",
        {"form": form, "child": child, "comparison": comparison},
    )


def _display(child: Child, name: str) -> str:
    value = getattr(child, name)
    if name in ("gender", "sex", "ethnicity"):
        return getattr(child, f"get_{name}_display")()
    if isinstance(value, dt.date):
        return long_date(value)
    return "" if value is None else str(value)


# Care details: legal status, placements, involvements ---------------------------------


def _form_page(
    request: HttpRequest, child: Child, form: Any, *, title: str, caption: str = ""
) -> HttpResponse:
    return render(
        request,
        "incidents/children/form.html",
        {
            "form": form,
            "child": child,
            "title": title,
            "caption": caption or child.full_name,
            "back_url": reverse("incidents:child_care", args=[child.pk]),
        },
    )


def _every_problem(form: Any, problems: Callable[..., dict[str, list[str]]], **given: Any) -> None:
    """The form could not read every answer: run the action's own checks on the answers
    it could read, so the page shows every problem at once (an overlap with another
    placement beside a missing postcode), not one round of messages after another. A
    question the form already has a message for gets no second one."""
    seen = {name: list(messages) for name, messages in form.errors.items()}
    read = getattr(form, "cleaned_data", {})
    values = {name: read.get(name) for name in form.fields}
    for name, messages_ in problems(errors=seen, **given, **values).items():
        if name not in form.errors:
            form.add_error(name if name in form.fields else None, messages_)


def _care_child(request: HttpRequest, pk: int) -> Child:
    child = access.get_child_for_user(request.user, pk)
    rights.require(request.user, Right.MANAGE_CARE_DETAILS, child)
    return child


@require_http_methods(["GET", "POST"])
def child_legal_status(request: HttpRequest, pk: int) -> HttpResponse:
    child = _care_child(request, pk)
    form = LegalStatusForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and not form.is_valid():
        _every_problem(form, actions.legal_status_problems, child=child)
    elif request.method == "POST":
        try:
            period = actions.child_set_legal_status(
                acting_user=request.user, child=child, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"Legal status is now {period.get_status_display()} from "
                f"{long_date(period.start)}.",
            )
            return redirect("incidents:child_care", pk=child.pk)
    return _form_page(request, child, form, title="Change legal status")


@require_http_methods(["GET", "POST"])
def placement_add(request: HttpRequest, pk: int) -> HttpResponse:
    child = _care_child(request, pk)
    form = PlacementForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and not form.is_valid():
        _every_problem(form, actions.placement_problems, child=child)
    elif request.method == "POST":
        try:
            placement = actions.placement_add(
                acting_user=request.user, child=child, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            extra = " The child is placed out of area." if placement.placed_out_of_area else ""
            messages.success(request, f"Placement added.{extra}")
            return redirect("incidents:child_care", pk=child.pk)
    return _form_page(request, child, form, title="Add a placement")


@require_http_methods(["GET", "POST"])
def placement_end(request: HttpRequest, pk: int, placement_pk: int) -> HttpResponse:
    child = _care_child(request, pk)
    placement = get_object_or_404(child.placements.select_related("host_area"), pk=placement_pk)
    placement.child = child
    form = EndDateForm(request.POST or None, submit="End placement")
    if request.method == "POST" and form.is_valid():
        try:
            actions.placement_end(
                acting_user=request.user, placement=placement, end=form.cleaned_data["end"]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Placement ended.")
            return redirect("incidents:child_care", pk=child.pk)
    return _form_page(
        request, child, form, title="End placement", caption=f"{child.full_name}: {placement}"
    )


@require_http_methods(["GET", "POST"])
def involvement_add(request: HttpRequest, pk: int) -> HttpResponse:
    child = _care_child(request, pk)
    form = InvolvementForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and not form.is_valid():
        _every_problem(form, actions.involvement_problems, child=child)
    elif request.method == "POST":
        try:
            involvement = actions.involvement_add(
                acting_user=request.user, child=child, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"{involvement.agency.name} recorded as involved.")
            return redirect("incidents:child_care", pk=child.pk)
    return _form_page(request, child, form, title="Add an involved agency")


@require_http_methods(["GET", "POST"])
def involvement_end(request: HttpRequest, pk: int, involvement_pk: int) -> HttpResponse:
    child = _care_child(request, pk)
    involvement: Involvement = get_object_or_404(
        child.involvements.select_related("agency"), pk=involvement_pk
    )
    involvement.child = child
    form = EndDateForm(request.POST or None, submit="End involvement")
    if request.method == "POST" and form.is_valid():
        try:
            actions.involvement_end(
                acting_user=request.user, involvement=involvement, end=form.cleaned_data["end"]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"{involvement.agency.name}'s involvement ended.")
            return redirect("incidents:child_care", pk=child.pk)
    return _form_page(
        request,
        child,
        form,
        title="End an agency's involvement",
        caption=f"{child.full_name}: {involvement}",
    )


# Requests from the host council -------------------------------------------------------


@require_http_methods(["GET", "POST"])
def involvement_request_add(request: HttpRequest, pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, pk)
    rights.require(request.user, Right.REQUEST_INVOLVEMENT, child)
    form = InvolvementRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and not form.is_valid():
        _every_problem(form, actions.involvement_problems, child=child)
    elif request.method == "POST":
        try:
            made = actions.involvement_request_add(
                acting_user=request.user, child=child, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"The responsible council has been asked to record {made.agency.name}. "
                "The request is on this page until they answer it.",
            )
            return redirect("incidents:child_care", pk=child.pk)
    return render(
        request,
        "incidents/children/form.html",
        {
            "form": form,
            "child": child,
            "title": "Ask the responsible council to record an agency",
            "back_url": reverse("incidents:child_care", args=[child.pk]),
            "caption": child.full_name,
            "intro": (
                f"{child.responsible_area.name} decides which agencies work with "
                f"{child.first_name} and are told about them. Your request is shown to them "
                "on this page, to accept or decline."
            ),
        },
    )


@require_http_methods(["GET", "POST"])
def involvement_request_answer(request: HttpRequest, pk: int, request_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, pk)
    asked: InvolvementRequest = get_object_or_404(
        child.involvement_requests.select_related("agency", "requested_by", "requested_by_agency"),
        pk=request_pk,
    )
    asked.child = child
    rights.require(request.user, Right.MANAGE_CARE_DETAILS, child)
    if asked.status != InvolvementRequest.Status.PENDING:
        messages.info(request, "This request has already been answered.")
        return redirect("incidents:child_care", pk=child.pk)
    form = InvolvementAnswerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        accept = form.cleaned_data["decision"] == "accept"
        try:
            actions.involvement_request_answer(
                acting_user=request.user,
                request=asked,
                accept=accept,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for name, errors in error.error_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                form.add_error(None, error)
        else:
            done = "recorded as involved" if accept else "not recorded: the request is declined"
            messages.success(request, f"{asked.agency.name} {done}.")
            return redirect("incidents:child_care", pk=child.pk)
    return render(
        request,
        "incidents/children/involvement_request_answer.html",
        {
            "form": form,
            "child": child,
            "request_row": asked,
            "title": "Request to record an agency",
            "back_url": reverse("incidents:child_care", args=[child.pk]) + "#requests",
            "caption": child.full_name,
        },
    )


urlpatterns: list[URLPattern] = [
    path("children/", child_search, name="child_search"),
    path("children/add/", child_add, name="child_add"),
    path("children/<int:pk>/", child_detail, name="child_detail"),
    path("children/<int:pk>/care/", child_care, name="child_care"),
    path("children/<int:pk>/story/", child_story, name="child_story"),
    path("children/<int:pk>/history/", child_history, name="child_history"),
    path("children/<int:pk>/edit/", child_edit, name="child_edit"),
    path("children/<int:pk>/legal-status/", child_legal_status, name="child_legal_status"),
    path("children/<int:pk>/placements/add/", placement_add, name="placement_add"),
    path(
        "children/<int:pk>/placements/<int:placement_pk>/end/",
        placement_end,
        name="placement_end",
    ),
    path("children/<int:pk>/agencies/add/", involvement_add, name="involvement_add"),
    path(
        "children/<int:pk>/agencies/<int:involvement_pk>/end/",
        involvement_end,
        name="involvement_end",
    ),
    path(
        "children/<int:pk>/agencies/request/",
        involvement_request_add,
        name="involvement_request_add",
    ),
    path(
        "children/<int:pk>/agency-requests/<int:request_pk>/",
        involvement_request_answer,
        name="involvement_request_answer",
    ),
]
