"""A manager's records against a child: strategy meetings and supervision notes.

Each page fetches the child through ``incidents.access`` (404 outside the user's
scope), refuses anyone but a manager of the child's responsible council (403,
``incidents.rights``), and saves through one action of
``incidents.actions.oversight``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from .. import access, rights
from ..actions.oversight import strategy_meeting_record, supervision_note_add
from ..forms.oversight import StrategyMeetingForm, SupervisionNoteForm
from ..models import Child
from ..rights import Right

# Earlier records shown beside the form, so a manager sees what was decided last time.
EARLIER_SHOWN = 5


def _child(request: HttpRequest, child_pk: int, *, right: Right) -> Child:
    child = access.get_child_for_user(request.user, child_pk)
    rights.require(request.user, right, child)
    return child


@require_http_methods(["GET", "POST"])
def strategy_meeting_add(request: HttpRequest, child_pk: int) -> HttpResponse:
    child = _child(request, child_pk, right=Right.RECORD_STRATEGY_MEETING)
    form = StrategyMeetingForm(request.POST or None, child=child)
    if request.method == "POST" and form.is_valid():
        try:
            strategy_meeting_record(acting_user=request.user, child=child, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Strategy meeting recorded.")
            return redirect(f"{child_url(child)}#strategy-meetings")
    earlier = child.strategy_meetings.order_by("-held_on", "-id")[:EARLIER_SHOWN]
    return render(
        request,
        "incidents/oversight/strategy_meeting.html",
        {"form": form, "child": child, "earlier": earlier},
    )


@require_http_methods(["GET", "POST"])
def supervision_note_add_view(request: HttpRequest, child_pk: int) -> HttpResponse:
    child = _child(request, child_pk, right=Right.SUPERVISION_NOTES)
    form = SupervisionNoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            supervision_note_add(acting_user=request.user, child=child, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Supervision note saved.")
            return redirect(f"{child_url(child)}#supervision-notes")
    earlier = child.supervision_notes.select_related("written_by").order_by("-written_at", "-id")[
        :EARLIER_SHOWN
    ]
    return render(
        request,
        "incidents/oversight/supervision_note.html",
        {"form": form, "child": child, "earlier": earlier},
    )


def child_url(child: Child) -> str:
    return reverse("incidents:child_detail", args=[child.pk])


urlpatterns: list[URLPattern] = [
    path(
        "children/<int:child_pk>/strategy-meetings/add/",
        strategy_meeting_add,
        name="strategy_meeting_add",
    ),
    path(
        "children/<int:child_pk>/supervision-notes/add/",
        supervision_note_add_view,
        name="supervision_note_add",
    ),
]
