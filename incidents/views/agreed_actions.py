"""Agreed actions on the child's record: the panel on the child's page, adding one
(choosing where it was agreed), changing it, and the owner agency's follow-up (done,
no longer needed, reopened).

Access: the child is looked up through ``access.get_child_for_user`` (404 outside
scope), agreeing and changing take the source's right, the follow-up pages are the
owner agency's (``rights.require_follow_up``); the action functions check the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from missingkids.accounts.models import User

from .. import access, history, rights
from ..actions.agreed_actions import (
    agreed_action_add,
    agreed_action_mark_done,
    agreed_action_mark_not_needed,
    agreed_action_reopen,
    require_source_right,
    source_label,
)
from ..actions.base import StaleEdit
from ..actions.corrections import agreed_action_correct
from ..forms.agreed_actions import (
    AgreedActionAddForm,
    AgreedActionDoneForm,
    AgreedActionNotNeededForm,
    AgreedActionReopenForm,
)
from ..forms.corrections import AgreedActionCorrectForm
from ..models import AgreedAction, Child, ReturnInterview
from ..rights import Right

FORM_TEMPLATE = "incidents/children/form.html"
# Sources offered on the "Add an agreed action" page, newest first, of each kind.
SOURCES_OFFERED = 10
# Interviews whose "what would help" is shown beside the actions.
HELP_SHOWN = 3


def _child_url(child: Child) -> str:
    return reverse("incidents:child_detail", args=[child.pk]) + "#agreed-actions"


# The panel on the child's page ------------------------------------------------------


@dataclass
class ActionsPanel:
    open: list[AgreedAction]
    closed: list[AgreedAction]
    # Held interviews with "what would help", newest first, and whether any action was
    # agreed at each.
    help: list[tuple[ReturnInterview, bool]]
    can_add: bool


def actions_panel(
    user: User, child: Child, can: dict[str, bool], interviews: list[ReturnInterview]
) -> ActionsPanel:
    """The child's agreed actions (one query): open first, soonest due first, overdue
    marked; then the closed ones, latest first. ``interviews``: the child's interviews,
    already read by the page."""
    today = timezone.localdate()
    actions = list(
        child.agreed_actions.select_related(
            "owner_agency", "owner_person", "done_by", "not_needed_by"
        ).order_by("due_date", "id")
    )
    for action in actions:
        action.child = child
        action.overdue = action.is_overdue(today)
        action.can_follow_up = rights.may_follow_up(user, action)
        action.refusal = rights.follow_up_refusal(action)
        action.can_change = can[rights.SOURCE_RIGHTS[action.source]]
    open_ = [a for a in actions if a.is_open]
    closed = [a for a in actions if not a.is_open]
    closed.sort(key=lambda a: a.done_at or a.not_needed_at or a.created_at, reverse=True)
    with_actions = {a.interview_id for a in actions if a.interview_id}
    helped = [
        i
        for i in interviews
        if i.outcome == ReturnInterview.Outcome.HELD and i.what_would_help.strip()
    ]
    helped.sort(key=lambda i: i.held_at or i.created_at, reverse=True)
    return ActionsPanel(
        open=open_,
        closed=closed,
        help=[(i, i.pk in with_actions) for i in helped[:HELP_SHOWN]],
        can_add=any(can[right] for right in (rights.SOURCE_RIGHTS[s] for s in AgreedAction.Source)),
    )


# Adding and changing ----------------------------------------------------------------


def _sources(user: User, child: Child) -> dict[str, Any]:
    """Where this person may record an action agreed: the held interviews, strategy
    meetings and supervision notes they may record, keyed "interview:12"."""
    standing = rights.standing(user, child)
    found: dict[str, Any] = {}
    interviews = ReturnInterview.objects.filter(
        episode__child=child, outcome=ReturnInterview.Outcome.HELD
    ).order_by("-held_at", "-pk")[:SOURCES_OFFERED]
    for interview in interviews:
        if rights.allowed(user, Right.RECORD_INTERVIEW, child, interview=interview):
            found[f"interview:{interview.pk}"] = interview
    if standing.may(Right.RECORD_STRATEGY_MEETING):
        for meeting in child.strategy_meetings.order_by("-held_on", "-pk")[:SOURCES_OFFERED]:
            found[f"strategy_meeting:{meeting.pk}"] = meeting
    if standing.may(Right.SUPERVISION_NOTES):
        for note in child.supervision_notes.order_by("-written_at", "-pk")[:SOURCES_OFFERED]:
            found[f"supervision_note:{note.pk}"] = note
    return found


def _form_page(
    request: HttpRequest, child: Child, form: Any, *, title: str, intro: str = ""
) -> HttpResponse:
    return render(
        request,
        FORM_TEMPLATE,
        {"form": form, "child": child, "title": title, "caption": child.full_name, "intro": intro},
    )


@require_http_methods(["GET", "POST"])
def agreed_action_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, pk)
    sources = _sources(request.user, child)
    if not sources:
        raise PermissionDenied(
            "Actions are agreed at a return interview held, a strategy meeting or in a "
            "supervision note: there is none here that you can record."
        )
    choices = [(key, source_label(record)) for key, record in sources.items()]
    initial = {"source": request.GET.get("source")} if request.GET.get("source") else {}
    if request.method == "POST":
        form = AgreedActionAddForm(request.POST, child=child, sources=choices)
        if form.is_valid():
            data = form.cleaned_data
            try:
                agreed_action_add(
                    acting_user=request.user,
                    child=child,
                    record=sources[data["source"]],
                    description=data["description"],
                    owner_agency=data["owner_agency"],
                    owner_person=data["owner_person"],
                    due_date=data["due_date"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "Agreed action saved")
                return redirect(_child_url(child))
    else:
        form = AgreedActionAddForm(initial=initial, child=child, sources=choices)
    return _form_page(
        request,
        child,
        form,
        title="Add an agreed action",
        intro=(
            "Record an action agreed for the child: where it was agreed, which agency owns "
            "it and by when. Only someone at that agency can mark it done."
        ),
    )


def _action_for(request: HttpRequest, pk: int, action_pk: int) -> AgreedAction:
    child = access.get_child_for_user(request.user, pk)
    # Looked up first: an id that names no action of this child is "not found" for all.
    action = (
        AgreedAction.objects.select_related(
            "owner_agency", "owner_person", "interview", "strategy_meeting", "supervision_note"
        )
        .filter(child=child, pk=action_pk)
        .first()
    )
    if action is None:
        raise Http404("No such agreed action")
    action.child = child
    return action


@require_http_methods(["GET", "POST"])
def agreed_action_edit(request: HttpRequest, pk: int, action_pk: int) -> HttpResponse:
    action = _action_for(request, pk, action_pk)
    child = action.child
    record = action.interview or action.strategy_meeting or action.supervision_note
    require_source_right(request.user, child, record)
    if request.method == "POST":
        form = AgreedActionCorrectForm(request.POST, child=child)
        if form.is_valid():
            data = dict(form.cleaned_data)
            version = data.pop("version")
            try:
                agreed_action_correct(
                    acting_user=request.user, action=action, expected_version=version, **data
                )
            except ValidationError as error:
                _refused(form, error, action)
            else:
                messages.success(request, "Agreed action changed")
                return redirect(_child_url(child))
    else:
        form = AgreedActionCorrectForm(
            initial={
                "description": action.description,
                "owner_agency": action.owner_agency_id,
                "owner_person": action.owner_person_id,
                "due_date": action.due_date,
                "version": action.version,
            },
            child=child,
        )
    return render(
        request,
        "incidents/actions/change.html",
        {
            "form": form,
            "child": child,
            "title": "Change an agreed action",
            "caption": child.full_name,
            "action": action,
            "source": source_label(record),
            "record_history": history.one_record_history(AgreedAction, action.pk),
            "history_shown": history.SHOWN,
        },
    )


def _refused(form: Any, error: ValidationError, action: AgreedAction) -> None:
    """Each message by its field; a stale edit keeps what was typed, against the
    version now saved."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)
    if isinstance(error, StaleEdit):
        action.refresh_from_db(fields=["version"])
        form.keep_input_with_version(action.version)


# The owner's follow-up --------------------------------------------------------------


def _follow_up_page(
    request: HttpRequest,
    pk: int,
    action_pk: int,
    *,
    form_class: type,
    act: Any,
    answer: str | None,
    title: str,
    done_message: str,
    want_open: bool = True,
) -> HttpResponse:
    action = _action_for(request, pk, action_pk)
    child = action.child
    rights.require_follow_up(request.user, action)
    if action.is_open != want_open:
        messages.info(
            request,
            f"This action is already {action.get_state_display().lower()}"
            if want_open
            else "This action is already open",
        )
        return redirect(_child_url(child))
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            given = {answer: form.cleaned_data[answer]} if answer else {}
            try:
                act(
                    acting_user=request.user,
                    action=action,
                    expected_version=form.cleaned_data["version"],
                    **given,
                )
            except ValidationError as error:
                _refused(form, error, action)
            else:
                messages.success(request, done_message)
                return redirect(_child_url(child))
    else:
        form = form_class(initial={"version": action.version})
    return render(
        request,
        "incidents/actions/follow_up.html",
        {
            "form": form,
            "child": child,
            "action": action,
            "title": title,
            "caption": child.full_name,
        },
    )


@require_http_methods(["GET", "POST"])
def agreed_action_done(request: HttpRequest, pk: int, action_pk: int) -> HttpResponse:
    return _follow_up_page(
        request,
        pk,
        action_pk,
        form_class=AgreedActionDoneForm,
        act=agreed_action_mark_done,
        answer="what_happened",
        title="Mark the action done",
        done_message="Action marked done",
    )


@require_http_methods(["GET", "POST"])
def agreed_action_not_needed(request: HttpRequest, pk: int, action_pk: int) -> HttpResponse:
    return _follow_up_page(
        request,
        pk,
        action_pk,
        form_class=AgreedActionNotNeededForm,
        act=agreed_action_mark_not_needed,
        answer="reason",
        title="The action is no longer needed",
        done_message="Action recorded as no longer needed",
    )


@require_http_methods(["GET", "POST"])
def agreed_action_reopen_view(request: HttpRequest, pk: int, action_pk: int) -> HttpResponse:
    return _follow_up_page(
        request,
        pk,
        action_pk,
        form_class=AgreedActionReopenForm,
        act=agreed_action_reopen,
        answer=None,
        title="Reopen the action",
        done_message="Action reopened",
        want_open=False,
    )


def overdue_days(action: AgreedAction, today: dt.date) -> int:
    return (today - action.due_date).days if action.due_date else 0


urlpatterns: list[URLPattern] = [
    path("children/<int:pk>/actions/add/", agreed_action_add_view, name="agreed_action_add"),
    path(
        "children/<int:pk>/actions/<int:action_pk>/change/",
        agreed_action_edit,
        name="agreed_action_edit",
    ),
    path(
        "children/<int:pk>/actions/<int:action_pk>/done/",
        agreed_action_done,
        name="agreed_action_done",
    ),
    path(
        "children/<int:pk>/actions/<int:action_pk>/not-needed/",
        agreed_action_not_needed,
        name="agreed_action_not_needed",
    ),
    path(
        "children/<int:pk>/actions/<int:action_pk>/reopen/",
        agreed_action_reopen_view,
        name="agreed_action_reopen",
    ),
]
