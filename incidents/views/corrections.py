"""Changing a saved record: the safe and well check, the return interview, its attempts
and agreed actions, strategy meetings, supervision notes and challenges.

Each page fetches the record through ``incidents.access`` (404 outside the person's
scope, or for a record of another child or episode), refuses anyone without the right
to record it (403, ``incidents.rights``: the same right as recording it), and saves
through one action of ``incidents.actions.corrections``, which keeps the previous
values and the reason in the record's history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from .. import access, history, rights
from ..actions.base import StaleEdit
from ..actions.corrections import (
    agreed_action_correct,
    challenge_correct,
    interview_attempt_correct,
    interview_correct_declined,
    interview_correct_held,
    safe_and_well_correct,
    strategy_meeting_correct,
    supervision_note_correct,
)
from ..forms.corrections import (
    AgreedActionCorrectForm,
    AttemptCorrectForm,
    ChallengeCorrectForm,
    InterviewDeclinedCorrectForm,
    InterviewHeldCorrectForm,
    SafeAndWellCorrectForm,
    StrategyMeetingCorrectForm,
    SupervisionNoteCorrectForm,
)
from ..models import (
    AgreedAction,
    Challenge,
    InterviewAttempt,
    ReturnInterview,
    StrategyMeeting,
    SupervisionNote,
)
from ..rights import Right
from .interviews import _check_of, _check_url, _interview_or_404, _interview_url, _render_form

CHANGE_TEMPLATE = "incidents/interviews/change_form.html"
INTRO = (
    "Change what is wrong and save. The earlier answer is kept and shown in the record's "
    "history, with who changed it, when and why."
)


def _add_errors(form: Any, error: ValidationError) -> None:
    """Each message by its field; keys the form lacks go to the summary."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _refused(form: Any, error: ValidationError, current_version: int | None) -> None:
    _add_errors(form, error)
    if isinstance(error, StaleEdit) and current_version:
        form.keep_input_with_version(current_version)


def _saved(form: Any, record: Any, correct: Callable[..., Any], **given: Any) -> bool:
    """Send a valid form's answers to the correcting action. If it refuses, show why by
    the fields (a stale edit keeps what was typed, against the current version)."""
    answers = dict(form.cleaned_data)
    version = answers.pop("version")
    try:
        correct(expected_version=version, **given, **answers)
    except ValidationError as error:
        record.refresh_from_db(fields=["version"])
        _refused(form, error, record.version)
        return False
    return True


def _initial(record: Any, names: list[str]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in names} | {"version": record.version}


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


# Safe and well check ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def safe_and_well_change(request: HttpRequest, pk: int) -> HttpResponse:
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.RECORD_SAFE_AND_WELL, episode.child)
    check = _check_of(episode)
    if check is None:
        raise Http404("No safe and well check has been recorded")
    check.episode = episode
    if request.method == "POST":
        form = SafeAndWellCorrectForm(request.POST)
        if form.is_valid() and _saved(
            form, check, safe_and_well_correct, acting_user=request.user, check=check
        ):
            messages.success(request, "Safe and well check changed")
            return redirect(_check_url(episode))
    else:
        initial = _initial(
            check,
            [
                "officer_name",
                "conducted_at",
                "outcome",
                "harm_disclosed",
                "crime_disclosed",
                "disclosure_details",
            ],
        )
        form = SafeAndWellCorrectForm(
            initial={**initial, "face_to_face": _yes_no(check.face_to_face)}
        )
    return _render_form(
        request,
        form,
        heading="Change the safe and well check",
        caption=episode.child.full_name,
        back_url=_check_url(episode),
        episode=episode,
        intro=INTRO
        + (
            " It has already been shared with the local authority: say why you are "
            "changing it, and tell them."
            if check.is_shared
            else ""
        ),
    )


# Return interview -------------------------------------------------------------------


HELD_FIELDS = [
    "held_at",
    "held_by",
    "child_voice",
    "push_factors",
    "pull_factors",
    "push_other",
    "pull_other",
    "factors_notes",
    "where_they_were",
    "who_with",
    "harm_disclosed",
    "harm_details",
    "what_would_help",
]
DECLINED_FIELDS = ["declined_at", "carers_information", "decision_not_to_hold"]


def _interview_for_changing(
    request: HttpRequest, pk: int, *, attempt_pk: int | None = None
) -> tuple[Any, ReturnInterview, InterviewAttempt | None]:
    episode = access.get_episode_for_user(request.user, pk)
    interview = _interview_or_404(episode)
    attempt = None
    if attempt_pk is not None:
        # Looked up first: an id that names no attempt here is "not found" for all.
        attempt = InterviewAttempt.objects.filter(interview=interview, pk=attempt_pk).first()
        if attempt is None:
            raise Http404("No such attempt")
        attempt.interview = interview
    rights.require(request.user, Right.RECORD_INTERVIEW, episode.child, interview=interview)
    return episode, interview, attempt


@require_http_methods(["GET", "POST"])
def interview_change(request: HttpRequest, pk: int) -> HttpResponse:
    episode, interview, _ = _interview_for_changing(request, pk)
    if not interview.is_done:
        messages.info(request, "Record the outcome of the return interview first")
        return redirect(_interview_url(episode))
    held = interview.outcome == ReturnInterview.Outcome.HELD
    form_class = InterviewHeldCorrectForm if held else InterviewDeclinedCorrectForm
    fields = HELD_FIELDS if held else DECLINED_FIELDS
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in [*fields, "reason"]}
            change = interview_correct_held if held else interview_correct_declined
            try:
                change(
                    acting_user=request.user,
                    interview=interview,
                    expected_version=form.cleaned_data["version"],
                    **data,
                )
            except ValidationError as error:
                interview.refresh_from_db(fields=["version"])
                _refused(form, error, interview.version)
            else:
                messages.success(request, "Return interview changed")
                return redirect(_interview_url(episode))
    else:
        form = form_class(initial=_initial(interview, fields))
    return _render_form(
        request,
        form,
        heading="Change the return interview",
        caption=episode.child.full_name,
        back_url=_interview_url(episode),
        episode=episode,
        intro=INTRO + " Its deadline stays as first set.",
    )


@require_http_methods(["GET", "POST"])
def interview_attempt_change(request: HttpRequest, pk: int, attempt_pk: int) -> HttpResponse:
    episode, _, attempt = _interview_for_changing(request, pk, attempt_pk=attempt_pk)
    if attempt is None:  # looked up above, or not found
        raise Http404("No such attempt")
    if request.method == "POST":
        form = AttemptCorrectForm(request.POST)
        if form.is_valid() and _saved(
            form, attempt, interview_attempt_correct, acting_user=request.user, attempt=attempt
        ):
            messages.success(request, "Attempt changed")
            return redirect(_interview_url(episode))
    else:
        form = AttemptCorrectForm(
            initial=_initial(attempt, ["attempted_at", "method", "outcome", "notes"])
        )
    return _render_form(
        request,
        form,
        heading="Change an attempt to hold the return interview",
        caption=episode.child.full_name,
        back_url=_interview_url(episode),
        episode=episode,
        intro=INTRO,
    )


# Supervision notes ------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def supervision_note_change(request: HttpRequest, child_pk: int, note_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, child_pk)
    # Looked up first: an id that names no note of this child is "not found" for all.
    note = SupervisionNote.objects.filter(child=child, pk=note_pk).first()
    if note is None:
        raise Http404("No such supervision note")
    rights.require(request.user, Right.SUPERVISION_NOTES, child)
    note.child = child
    back = reverse("incidents:child_detail", args=[child.pk]) + "#supervision-notes"
    if request.method == "POST":
        form = SupervisionNoteCorrectForm(request.POST)
        if form.is_valid():
            try:
                supervision_note_correct(
                    acting_user=request.user,
                    note=note,
                    expected_version=form.cleaned_data["version"],
                    text=form.cleaned_data["note"],
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as error:
                note.refresh_from_db(fields=["version"])
                _refused(form, error, note.version)
            else:
                messages.success(request, "Supervision note changed")
                return redirect(back)
    else:
        form = SupervisionNoteCorrectForm(initial=_initial(note, ["note"]))
    return _render_form(
        request,
        form,
        heading="Change a supervision note",
        caption=child.full_name,
        back_url=back,
        child=child,
        intro=INTRO,
        template=CHANGE_TEMPLATE,
        # Earlier versions: on this page only, as the note is for managers.
        record_history=history.one_record_history(SupervisionNote, note.pk),
        history_shown=history.SHOWN,
    )


# Strategy meetings ------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def strategy_meeting_change(request: HttpRequest, child_pk: int, meeting_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, child_pk)
    # Looked up first: an id that names no meeting of this child is "not found" for all.
    meeting = StrategyMeeting.objects.filter(child=child, pk=meeting_pk).first()
    if meeting is None:
        raise Http404("No such strategy meeting")
    rights.require(request.user, Right.RECORD_STRATEGY_MEETING, child)
    meeting.child = child
    back = reverse("incidents:child_detail", args=[child.pk]) + "#strategy-meetings"
    if request.method == "POST":
        form = StrategyMeetingCorrectForm(request.POST, child=child)
        if form.is_valid() and _saved(
            form, meeting, strategy_meeting_correct, acting_user=request.user, meeting=meeting
        ):
            messages.success(request, "Strategy meeting changed")
            return redirect(back)
    else:
        initial = _initial(meeting, ["held_on", "attendee_names", "decisions", "next_review"])
        initial["attendee_agencies"] = list(meeting.attendees.values_list("agency_id", flat=True))
        form = StrategyMeetingCorrectForm(initial=initial, child=child)
    return _render_form(
        request,
        form,
        heading="Change a strategy meeting",
        caption=child.full_name,
        back_url=back,
        child=child,
        intro=INTRO,
        template=CHANGE_TEMPLATE,
        record_history=history.one_record_history(StrategyMeeting, meeting.pk),
        history_shown=history.SHOWN,
    )


# Agreed actions ---------------------------------------------------------------------


ACTION_FIELDS = ["description", "owner_agency", "owner_person", "due_date"]


@require_http_methods(["GET", "POST"])
def agreed_action_change(request: HttpRequest, pk: int, action_pk: int) -> HttpResponse:
    episode = access.get_episode_for_user(request.user, pk)
    interview = _interview_or_404(episode)
    # Looked up first: an id that names no action here is "not found" for all.
    action = AgreedAction.objects.filter(interview=interview, pk=action_pk).first()
    if action is None:
        raise Http404("No such agreed action")
    rights.require(request.user, Right.RECORD_INTERVIEW, episode.child, interview=interview)
    action.interview = interview
    action.child = episode.child
    if request.method == "POST":
        form = AgreedActionCorrectForm(request.POST, child=episode.child)
        if form.is_valid() and _saved(
            form, action, agreed_action_correct, acting_user=request.user, action=action
        ):
            messages.success(request, "Agreed action changed")
            return redirect(_interview_url(episode))
    else:
        form = AgreedActionCorrectForm(initial=_initial(action, ACTION_FIELDS), child=episode.child)
    return _render_form(
        request,
        form,
        heading="Change an agreed action",
        caption=episode.child.full_name,
        back_url=_interview_url(episode),
        episode=episode,
        intro=INTRO,
    )


# Challenges -------------------------------------------------------------------------


CHALLENGE_FIELDS = ["challenged_agency", "episode", "decision", "reason", "raised_at"]


@require_http_methods(["GET", "POST"])
def challenge_change(request: HttpRequest, child_pk: int, challenge_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, child_pk)
    # Looked up first: an id that names no challenge of this child is "not found" for all.
    challenge = (
        Challenge.objects.select_related("challenged_agency", "episode")
        .filter(child=child, pk=challenge_pk)
        .first()
    )
    if challenge is None:
        raise Http404("No such challenge")
    rights.require(request.user, Right.RAISE_CHALLENGE, child)
    challenge.child = child
    with_outcome = challenge.status != Challenge.Status.OPEN
    back = reverse("incidents:challenge_outcome", args=[child.pk, challenge.pk])
    if request.method == "POST":
        form = ChallengeCorrectForm(request.POST, child=child, with_outcome=with_outcome)
        if form.is_valid() and _saved(
            form, challenge, challenge_correct, acting_user=request.user, challenge=challenge
        ):
            messages.success(request, "Challenge changed")
            return redirect(back)
    else:
        names = CHALLENGE_FIELDS + (["status", "outcome"] if with_outcome else [])
        form = ChallengeCorrectForm(
            initial=_initial(challenge, names), child=child, with_outcome=with_outcome
        )
    return _render_form(
        request,
        form,
        heading="Change a challenge to a partner's decision",
        caption=child.full_name,
        back_url=back,
        child=child,
        intro=INTRO + " The challenge has already been made to the other agency: say why you are "
        "changing it, and tell them if they need to know.",
        template=CHANGE_TEMPLATE,
        record_history=history.one_record_history(Challenge, challenge.pk),
        history_shown=history.SHOWN,
    )


urlpatterns: list[URLPattern] = [
    path(
        "episodes/<int:pk>/safe-and-well/change/",
        safe_and_well_change,
        name="safe_and_well_change",
    ),
    path("episodes/<int:pk>/return-interview/change/", interview_change, name="interview_change"),
    path(
        "episodes/<int:pk>/return-interview/attempts/<int:attempt_pk>/change/",
        interview_attempt_change,
        name="interview_attempt_change",
    ),
    path(
        "episodes/<int:pk>/return-interview/actions/<int:action_pk>/change/",
        agreed_action_change,
        name="agreed_action_change",
    ),
    path(
        "children/<int:child_pk>/strategy-meetings/<int:meeting_pk>/change/",
        strategy_meeting_change,
        name="strategy_meeting_change",
    ),
    path(
        "children/<int:child_pk>/supervision-notes/<int:note_pk>/change/",
        supervision_note_change,
        name="supervision_note_change",
    ),
    path(
        "children/<int:child_pk>/challenges/<int:challenge_pk>/change/",
        challenge_change,
        name="challenge_change",
    ),
]
