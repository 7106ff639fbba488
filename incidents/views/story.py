"""The child's associates (recorded from the episode page, corrected with history) and
a place's page: the children linked to it whom the person may see."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods

from missingkids.audit.log import Action, log_access

from .. import access, history, rights
from ..actions.associates import associate_add, associate_correct
from ..forms.story import AssociateCorrectForm, AssociateForm
from ..models import Associate, Episode, Location
from ..rights import Right
from .corrections import CHANGE_TEMPLATE, INTRO, _initial, _saved
from .corrections import _add_errors as add_errors
from .interviews import FORM_TEMPLATE, _render_form

ASSOCIATE_FIELDS = ["name", "relationship", "relationship_other", "concern"]


def _episode_url(episode: Episode) -> str:
    return reverse("incidents:episode_detail", args=[episode.pk]) + "#associates"


@require_http_methods(["GET", "POST"])
def associate_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.RECORD_ASSOCIATES, episode.child)
    back = _episode_url(episode)
    if request.method == "POST":
        form = AssociateForm(request.POST)
        if form.is_valid():
            try:
                associate_add(
                    acting_user=request.user,
                    child=episode.child,
                    episode=episode,
                    **{name: form.cleaned_data[name] for name in ASSOCIATE_FIELDS},
                )
            except ValidationError as error:
                add_errors(form, error)
            else:
                messages.success(request, "Associate saved")
                return redirect(back)
    else:
        form = AssociateForm()
    return _render_form(
        request,
        form,
        heading="Record an associate",
        caption=episode.child.full_name,
        back_url=back,
        template=FORM_TEMPLATE,
        intro=(
            "Someone the child goes missing with or to. Only the police, the child's "
            "councils and the return-interview provider see who they are."
        ),
    )


@require_http_methods(["GET", "POST"])
def associate_change(request: HttpRequest, child_pk: int, associate_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, child_pk)
    # Looked up first: an id that names no associate of this child is "not found" for all.
    associate = Associate.objects.filter(child=child, pk=associate_pk).first()
    if associate is None:
        raise Http404("No such associate")
    rights.require(request.user, Right.RECORD_ASSOCIATES, child)
    associate.child = child
    back = reverse("incidents:child_story", args=[child.pk]) + "#associates"
    if request.method == "POST":
        form = AssociateCorrectForm(request.POST)
        if form.is_valid() and _saved(
            form, associate, associate_correct, acting_user=request.user, associate=associate
        ):
            messages.success(request, "Associate changed")
            return redirect(back)
    else:
        form = AssociateCorrectForm(initial=_initial(associate, ASSOCIATE_FIELDS))
    return _render_form(
        request,
        form,
        heading="Change an associate",
        caption=child.full_name,
        back_url=back,
        child=child,
        intro=INTRO,
        template=CHANGE_TEMPLATE,
        record_history=history.one_record_history(Associate, associate.pk),
        history_shown=history.SHOWN,
    )


# A place -----------------------------------------------------------------------------


# The child, the place, the latest episodes last seen and found there (one query each),
# and the counts for the children shown.
PLACE_QUERIES = 5
# Episodes read a page (newest first): the children they name are the page's rows.
PLACE_EPISODES = 25


def _cursor(value: str) -> tuple[dt.datetime, int] | None:
    """``?before=<last seen, ISO>_<episode id>``: where the previous page stopped. Anything
    else is the first page."""
    when, _, pk = value.rpartition("_")
    try:
        moment = parse_datetime(when) if when else None
    except ValueError:  # well formed but not a real time
        return None
    if moment is None or not (pk.isascii() and pk.isdigit()) or int(pk) > 2**62:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment, int(pk)


def _latest_here(
    field: str, location: Location, visible: Q, before: tuple[dt.datetime, int] | None
) -> list[dict[str, Any]]:
    """The latest PLACE_EPISODES + 1 episodes last seen (or found) here, before the cursor,
    of children the person may see: one range of episode_<field>_place_idx, newest first,
    each row checked against the visibility table, so it reads about a page whatever the
    number of episodes at the place."""
    rows = Episode.objects.filter(visible, **{field: location})
    if before is not None:
        moment, pk = before
        rows = rows.filter(Q(last_seen_at__lt=moment) | Q(last_seen_at=moment, pk__lt=pk))
    return list(
        rows.order_by("-last_seen_at", "-pk").values(
            "pk", "last_seen_at", "child_id", "child__first_name", "child__last_name"
        )[: PLACE_EPISODES + 1]
    )


@require_GET
def place_detail(request: HttpRequest, child_pk: int, location_pk: int) -> HttpResponse:
    """A place in the child's story: the children the person may see who were last seen
    or found there (the child among them), latest first, with how often and when last.
    A page at a time: the children named by the latest PLACE_EPISODES episodes there, then
    "Older" from where it stopped (a keyset, so a place with tens of thousands of
    episodes reads a page, never all of them). Logged as a view of the child, naming the
    other children shown. A place linked to none of the children the person may see is
    "not found"."""
    child = access.get_child_for_user(request.user, child_pk)
    location = Location.objects.filter(pk=location_pk).first()
    if location is None:
        raise Http404("No such place")
    before = _cursor(request.GET.get("before", ""))
    visible = access.visible_condition(request.user, "child_id")
    # Two ranges of an index each, merged here: one OR over both columns would read every
    # episode at the place to sort them.
    episodes = _latest_here("last_seen_location", location, visible, before)
    by_pk = {row["pk"]: row for row in episodes}
    for row in _latest_here("found_location", location, visible, before):
        by_pk.setdefault(row["pk"], row)
    merged = sorted(by_pk.values(), key=lambda r: (r["last_seen_at"], r["pk"]), reverse=True)
    page, more = merged[:PLACE_EPISODES], len(merged) > PLACE_EPISODES
    if not page and before is None:
        raise Http404("No such place")
    names = {row["child_id"]: row for row in page}
    here = Q(last_seen_location=location) | Q(found_location=location)
    # How often each child shown was here, over all their episodes: their own episodes
    # only (the child index), however busy the place.
    counts = {
        row["child_id"]: row
        for row in Episode.objects.filter(here, child_id__in=list(names))
        .values("child_id")
        .annotate(
            seen=Count("id", filter=Q(last_seen_location=location)),
            found=Count("id", filter=Q(found_location=location)),
            latest=Max("last_seen_at"),
            # Episodes here at or after the cursor: the child was on a newer page.
            newer=Count(
                "id",
                filter=Q(last_seen_at__gt=before[0]) | Q(last_seen_at=before[0], pk__gte=before[1])
                if before is not None
                else Q(pk__in=[]),
            ),
        )
        .order_by()
    }
    rows = []
    for child_id, row in names.items():
        count = counts.get(child_id)
        if count is None:
            continue  # the episode moved elsewhere since the page was read
        if count["newer"]:
            continue  # shown on a newer page, with their latest episode here
        rows.append(
            {
                "child_id": child_id,
                "child__first_name": row["child__first_name"],
                "child__last_name": row["child__last_name"],
                "seen": count["seen"],
                "found": count["found"],
                "latest": count["latest"],
            }
        )
    rows.sort(key=lambda r: (r["latest"], r["child_id"]), reverse=True)
    older = ""
    if more:
        last = page[-1]
        older = "?" + urlencode({"before": f"{last['last_seen_at'].isoformat()}_{last['pk']}"})
    log_access(
        request,
        Action.VIEW_CHILD,
        child_id=child.pk,
        detail={"place_id": location.pk, "children_shown": [row["child_id"] for row in rows]},
    )
    return render(
        request,
        "incidents/places/detail.html",
        {
            "child": child,
            "location": location,
            "rows": rows,
            "older_url": older,
            "latest_url": "?" if before is not None else "",
            "page_size": PLACE_EPISODES,
        },
    )


urlpatterns: list[URLPattern] = [
    path("episodes/<int:pk>/associates/add/", associate_add_view, name="associate_add"),
    path(
        "children/<int:child_pk>/associates/<int:associate_pk>/change/",
        associate_change,
        name="associate_change",
    ),
    path(
        "children/<int:child_pk>/places/<int:location_pk>/",
        place_detail,
        name="place_detail",
    ),
]
