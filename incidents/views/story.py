"""The child's associates (recorded from the episode page, corrected with history) and
a place's page: the children linked to it whom the person may see."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
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


# The child, the place, and the children linked to it.
PLACE_QUERIES = 3


@require_GET
def place_detail(request: HttpRequest, child_pk: int, location_pk: int) -> HttpResponse:
    """A place in the child's story: the children the person may see who were last seen
    or found there (the child among them), with how often and when last. Logged as a
    view of the child, naming the other children shown. A place linked to none of the
    children the person may see is "not found"."""
    child = access.get_child_for_user(request.user, child_pk)
    location = Location.objects.filter(pk=location_pk).first()
    if location is None:
        raise Http404("No such place")
    here = Q(last_seen_location=location) | Q(found_location=location)
    rows = list(
        Episode.objects.filter(here, child__in=access.children_visible_to(request.user))
        .values("child_id", "child__first_name", "child__last_name")
        .annotate(
            seen=Count("id", filter=Q(last_seen_location=location)),
            found=Count("id", filter=Q(found_location=location)),
            latest=Max("last_seen_at"),
        )
        .order_by("-latest", "child_id")
    )
    if not rows:
        raise Http404("No such place")
    log_access(
        request,
        Action.VIEW_CHILD,
        child_id=child.pk,
        detail={"place_id": location.pk, "children_shown": [row["child_id"] for row in rows]},
    )
    return render(
        request,
        "incidents/places/detail.html",
        {"child": child, "location": location, "rows": rows},
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
