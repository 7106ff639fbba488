"""Views: who may see a record is incidents.access; who may record what, incidents.rights.

After a return: the police safe and well check, the return interview (its due time,
the attempt log, the child's own words) and challenges to a partner's decision.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from missingkids import policy
from missingkids.audit.log import log_record_view

from .. import access, history, rights
from ..actions.base import StaleEdit
from ..actions.interviews import (
    MAX_AGREED_ACTIONS,
    challenge_raise,
    challenge_record_outcome,
    interview_record_attempt,
    interview_record_declined,
    interview_record_held,
    safe_and_well_record,
    safe_and_well_share,
)
from ..engagement import Stuck, declines_in_a_row
from ..forms.interviews import (
    AttemptForm,
    ChallengeForm,
    ChallengeOutcomeForm,
    InterviewDeclinedForm,
    InterviewHeldForm,
    SafeAndWellForm,
    SafeAndWellShareForm,
    VersionedForm,
)
from ..models import (
    Challenge,
    Episode,
    InterviewAttempt,
    ReturnInterview,
    SafeAndWellCheck,
)
from ..rights import Right
from . import drafts

DUE_SOON = dt.timedelta(hours=24)

FORM_TEMPLATE = "incidents/interviews/form.html"


def _interview_of(episode: Episode) -> ReturnInterview | None:
    return (
        ReturnInterview.objects.select_related("owner", "provider", "recorded_by")
        .filter(episode=episode)
        .first()
    )


def _interview_or_404(episode: Episode) -> ReturnInterview:
    interview = _interview_of(episode)
    if interview is None:
        raise Http404("The child's return has not been recorded yet")
    # The episode fetched through the access helper already carries the child.
    interview.episode = episode
    return interview


def _check_of(episode: Episode) -> SafeAndWellCheck | None:
    return (
        SafeAndWellCheck.objects.select_related(
            "agency", "shared_by_agency", "shared_recorded_by", "shared_recorded_by__agency"
        )
        .filter(episode=episode)
        .first()
    )


def due_tag(interview: ReturnInterview, now: dt.datetime | None = None) -> tuple[str, str]:
    """The tag shown by the due date: (text, extra CSS class)."""
    now = now or timezone.now()
    if interview.is_done:
        late = interview.is_overdue(now)
        if interview.outcome == ReturnInterview.Outcome.HELD:
            return (
                ("Held late", "govuk-tag--orange") if late else ("Held in time", "govuk-tag--green")
            )
        return ("Recorded late", "govuk-tag--orange") if late else ("Recorded", "govuk-tag--green")
    if interview.is_overdue(now):
        return "Overdue", "govuk-tag--red"
    if interview.due_at - now <= DUE_SOON:
        return "Due soon", "govuk-tag--yellow"
    return "Due", "govuk-tag--blue"


def _apply_action_error(form: Any, error: ValidationError, current_version: int | None) -> None:
    form.add_error(None, error)
    if isinstance(error, StaleEdit) and isinstance(form, VersionedForm) and current_version:
        form.keep_input_with_version(current_version)


def _render_form(
    request: HttpRequest,
    form: Any,
    *,
    heading: str,
    caption: str,
    back_url: str,
    template: str = FORM_TEMPLATE,
    **extra: Any,
) -> HttpResponse:
    context = {"form": form, "heading": heading, "caption": caption, "back_url": back_url}
    context.update(extra)
    return render(request, template, context)


def _interview_url(episode: Episode) -> str:
    return reverse("incidents:interview_detail", args=[episode.pk])


# Safe and well check ----------------------------------------------------------------


def _check_url(episode: Episode) -> str:
    """Where the check is shown to everyone who may see the child: the episode page."""
    return reverse("incidents:episode_detail", args=[episode.pk]) + "#safe-and-well"


CHECK_DRAFT = "safe_and_well"
HELD_DRAFT = "interview_held"


def _check_change_url(episode: Episode) -> str:
    return reverse("incidents:safe_and_well_change", args=[episode.pk])


@require_http_methods(["GET", "POST"])
def safe_and_well_record_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The check's questions; the answers go to "check your answers" before saving."""
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.RECORD_SAFE_AND_WELL, episode.child)
    if request.method == "GET" and _check_of(episode) is not None:
        messages.info(
            request,
            "The safe and well check has already been recorded: you can change it here",
        )
        return redirect(_check_change_url(episode))
    if request.method == "POST":
        form = SafeAndWellForm(request.POST)
        if form.is_valid():
            drafts.save(request, CHECK_DRAFT, episode.pk)
            return redirect("incidents:safe_and_well_check_answers", pk=episode.pk)
    elif (draft := drafts.load(request, CHECK_DRAFT, episode.pk)) is not None:
        # Back from "Change" on the check answers page: what was typed, kept.
        form = SafeAndWellForm(draft)
        form.is_valid()
    else:
        form = SafeAndWellForm(initial={"officer_name": request.user.name})
    return _check_form_page(request, episode, form)


def _check_form_page(request: HttpRequest, episode: Episode, form: Any) -> HttpResponse:
    return _render_form(
        request,
        form,
        heading="Record the safe and well check",
        guidance="safe_and_well",
        caption=episode.child.full_name,
        back_url=_check_url(episode),
        episode=episode,
    )


@require_http_methods(["GET", "POST"])
def safe_and_well_check_answers(request: HttpRequest, pk: int) -> HttpResponse:
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.RECORD_SAFE_AND_WELL, episode.child)
    draft = drafts.load(request, CHECK_DRAFT, episode.pk)
    if draft is None:
        return redirect("incidents:safe_and_well_record", pk=episode.pk)
    form = SafeAndWellForm(draft)
    if not form.is_valid():
        return _check_form_page(request, episode, form)
    if request.method == "POST":
        try:
            safe_and_well_record(acting_user=request.user, episode=episode, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
            return _check_form_page(request, episode, form)
        drafts.discard(request, CHECK_DRAFT, episode.pk)
        messages.success(request, "Safe and well check saved")
        return redirect(_check_url(episode))
    return render(
        request,
        "incidents/interviews/check_answers.html",
        {
            "episode": episode,
            "heading": "Check your answers before saving the safe and well check",
            "caption": episode.child.full_name,
            "rows": drafts.answers(form),
            "change_url": reverse("incidents:safe_and_well_record", args=[episode.pk]),
        },
    )


@require_http_methods(["GET", "POST"])
def safe_and_well_share_view(request: HttpRequest, pk: int) -> HttpResponse:
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.RECORD_SAFE_AND_WELL_SHARED, episode.child)
    check = _check_of(episode)
    if check is None:
        raise Http404("No safe and well check has been recorded")
    check.episode = episode
    if request.method == "GET" and check.is_shared:
        messages.info(
            request, "The safe and well check has already been shared with the local authority"
        )
        return redirect(_check_url(episode))
    if request.method == "POST":
        form = SafeAndWellShareForm(request.POST)
        if form.is_valid():
            try:
                safe_and_well_share(acting_user=request.user, check=check, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "Recorded that the check was shared")
                return redirect(_check_url(episode))
    else:
        form = SafeAndWellShareForm()
    return _render_form(
        request,
        form,
        heading="Record that the safe and well check was shared with the local authority",
        guidance="safe_and_well",
        caption=episode.child.full_name,
        back_url=_check_url(episode),
        episode=episode,
        intro=(
            "Record a sharing made another way, for example by phone or secure e-mail. "
            "The service's own e-mail to the local authority is recorded by itself."
        ),
    )


# Return interview -------------------------------------------------------------------


@require_GET
def interview_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # The interview and the safe and well check come with the access check's query.
    episode = access.get_episode_for_user(
        request.user,
        pk,
        queryset=Episode.objects.select_related(
            "interview",
            "interview__owner",
            "interview__provider",
            "interview__recorded_by",
            "safe_and_well",
            "safe_and_well__agency",
            "safe_and_well__shared_by_agency",
            "safe_and_well__shared_recorded_by",
            "safe_and_well__shared_recorded_by__agency",
        ),
    )
    log_record_view(request, child_id=episode.child_id, episode_id=episode.pk)
    interview: ReturnInterview | None = getattr(episode, "interview", None)
    now = timezone.now()
    # The interview's own provider, not any provider: the same answer the actions give.
    can = rights.standing(request.user, episode.child, interview=interview).can
    context: dict[str, Any] = {
        "episode": episode,
        "child": episode.child,
        "interview": interview,
        "check": getattr(episode, "safe_and_well", None),
        "can_record_interview": interview is not None and can[Right.RECORD_INTERVIEW],
        "can_record_safe_and_well": can[Right.RECORD_SAFE_AND_WELL],
        "can_record_safe_and_well_shared": can[Right.RECORD_SAFE_AND_WELL_SHARED],
        "can_raise_challenge": can[Right.RAISE_CHALLENGE],
    }
    if interview is not None:
        attempts = list(interview.attempts.select_related("recorded_by", "recorded_by__agency"))
        failed = sum(1 for a in attempts if a.outcome in InterviewAttempt.FAILED_OUTCOMES)
        context.update(
            # What the deadline was counted from: the return as first recorded.
            counted_from=interview.due_at - policy.interview_due_after(),
            attempts=attempts,
            failed_attempts=failed,
            stuck=_stuck(interview, failed),
            due_tag=due_tag(interview, now),
            actions=_actions_shown(request, interview, now),
            # Who changed what, before and after, and why.
            interview_history=history.interview_history(episode),
            history_shown=history.SHOWN,
        )
    context["interview_due_hours"] = policy.hours(policy.interview_due_after())
    return render(request, "incidents/interviews/detail.html", context)


def _stuck(interview: ReturnInterview, failed: int) -> Stuck:
    """Whether to prompt a different approach: failed attempts at this interview while it
    is not yet held, or the child's declines in a row, when this is the child's latest
    interview (an older one's page is history)."""
    episode = interview.episode
    outcomes = list(
        ReturnInterview.objects.filter(episode__child_id=episode.child_id)
        .order_by("-episode__last_seen_at", "-episode_id")
        .values_list("episode_id", "outcome")
    )
    latest = bool(outcomes) and outcomes[0][0] == episode.pk
    return Stuck(
        threshold=policy.stuck_failed_attempts(),
        failed_attempts=0 if interview.is_done else failed,
        declines_in_a_row=declines_in_a_row(o for _, o in outcomes) if latest else 0,
    )


def _interview_for_recording(request: HttpRequest, pk: int) -> tuple[Episode, ReturnInterview]:
    episode = access.get_episode_for_user(request.user, pk)
    interview = _interview_or_404(episode)
    rights.require(request.user, Right.RECORD_INTERVIEW, episode.child, interview=interview)
    return episode, interview


@require_http_methods(["GET", "POST"])
def interview_attempt_add(request: HttpRequest, pk: int) -> HttpResponse:
    episode, interview = _interview_for_recording(request, pk)
    if request.method == "POST":
        form = AttemptForm(request.POST)
        if form.is_valid():
            try:
                interview_record_attempt(
                    acting_user=request.user, interview=interview, **form.cleaned_data
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "Attempt saved")
                return redirect(_interview_url(episode))
    else:
        form = AttemptForm()
    return _render_form(
        request,
        form,
        heading="Record an attempt to hold the return interview",
        guidance="interview",
        caption=episode.child.full_name,
        back_url=_interview_url(episode),
        episode=episode,
    )


def _actions_shown(request: HttpRequest, interview: ReturnInterview, now: dt.datetime) -> list[Any]:
    """The actions agreed at a held interview (one query), each marked overdue and
    whether this person's agency, as their owner, follows them up."""
    if interview.outcome != ReturnInterview.Outcome.HELD:
        return []
    today = timezone.localdate(now)
    actions = list(interview.actions.select_related("owner_agency", "owner_person", "done_by"))
    for action in actions:
        action.overdue = action.is_overdue(today)
        action.can_follow_up = rights.may_follow_up(request.user, action)
    return actions


@require_http_methods(["GET", "POST"])
def interview_held(request: HttpRequest, pk: int) -> HttpResponse:
    """The interview's questions; the answers go to "check your answers" before saving."""
    episode, interview = _interview_for_recording(request, pk)
    if request.method == "POST":
        form = InterviewHeldForm(request.POST, child=episode.child)
        if form.is_valid():
            drafts.save(request, HELD_DRAFT, episode.pk)
            return redirect("incidents:interview_held_check_answers", pk=episode.pk)
    elif interview.is_done:
        messages.info(
            request,
            "The outcome of the return interview has already been recorded: you can change it here",
        )
        return redirect("incidents:interview_change", pk=episode.pk)
    elif (draft := drafts.load(request, HELD_DRAFT, episode.pk)) is not None:
        # Back from "Change" on the check answers page: what was typed, kept.
        form = InterviewHeldForm(draft, child=episode.child)
        form.is_valid()
    else:
        form = InterviewHeldForm(
            initial={"version": interview.version, "held_by": request.user.name},
            child=episode.child,
        )
    return _held_form_page(request, episode, form)


def _held_form_page(request: HttpRequest, episode: Episode, form: Any) -> HttpResponse:
    return _render_form(
        request,
        form,
        heading="Record the return interview",
        guidance="interview",
        caption=episode.child.full_name,
        back_url=_interview_url(episode),
        episode=episode,
        intro=(
            "Start with what the child said, in their own words. It is the most important "
            "part of the record and is shown first on the child's page."
        ),
    )


@require_http_methods(["GET", "POST"])
def interview_held_check_answers(request: HttpRequest, pk: int) -> HttpResponse:
    episode, interview = _interview_for_recording(request, pk)
    draft = drafts.load(request, HELD_DRAFT, episode.pk)
    if draft is None:
        return redirect("incidents:interview_held", pk=episode.pk)
    form = InterviewHeldForm(draft, child=episode.child)
    if not form.is_valid():
        return _held_form_page(request, episode, form)
    if request.method == "POST":
        data = form.cleaned_data
        try:
            interview_record_held(
                acting_user=request.user,
                interview=interview,
                expected_version=data["version"],
                held_at=data["held_at"],
                held_by=data["held_by"],
                child_voice=data["child_voice"],
                push_factors=data["push_factors"],
                pull_factors=data["pull_factors"],
                push_other=data["push_other"],
                pull_other=data["pull_other"],
                factors_notes=data["factors_notes"],
                where_they_were=data["where_they_were"],
                who_with=data["who_with"],
                harm_disclosed=data["harm_disclosed"],
                harm_details=data["harm_details"],
                what_would_help=data["what_would_help"],
                actions=form.agreed_actions(),
            )
        except ValidationError as error:
            _apply_action_error(form, error, _current_version(interview))
            return _held_form_page(request, episode, form)
        drafts.discard(request, HELD_DRAFT, episode.pk)
        messages.success(request, "Return interview saved")
        return redirect(_interview_url(episode))
    actions = [name for name in form.fields if name.startswith("action_")]
    return render(
        request,
        "incidents/interviews/check_answers.html",
        {
            "episode": episode,
            "heading": "Check your answers before saving the return interview",
            "caption": episode.child.full_name,
            "rows": [
                *drafts.answers(form, skip=tuple(actions)),
                *drafts.agreed_action_answers(form, MAX_AGREED_ACTIONS),
            ],
            "change_url": reverse("incidents:interview_held", args=[episode.pk]),
        },
    )


def _current_version(interview: ReturnInterview) -> int | None:
    return ReturnInterview.objects.filter(pk=interview.pk).values_list("version", flat=True).first()


@require_http_methods(["GET", "POST"])
def interview_declined(request: HttpRequest, pk: int) -> HttpResponse:
    episode, interview = _interview_for_recording(request, pk)
    if request.method == "POST":
        form = InterviewDeclinedForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                interview_record_declined(
                    acting_user=request.user,
                    interview=interview,
                    expected_version=data["version"],
                    declined_at=data["declined_at"],
                    carers_information=data["carers_information"],
                    decision_not_to_hold=data["decision_not_to_hold"],
                )
            except ValidationError as error:
                _apply_action_error(form, error, _current_version(interview))
            else:
                messages.success(request, "Recorded that the child declined the interview")
                return redirect(_interview_url(episode))
    elif interview.is_done:
        messages.info(request, "The outcome of the return interview has already been recorded")
        return redirect(_interview_url(episode))
    else:
        form = InterviewDeclinedForm(initial={"version": interview.version})
    return _render_form(
        request,
        form,
        heading="Record that the child declined a return interview",
        guidance="interview",
        caption=episode.child.full_name,
        back_url=_interview_url(episode),
        episode=episode,
        intro=(
            "Before recording a refusal, think about whether another approach could help: "
            "a different worker, a trusted adult, or meeting somewhere the child chooses. "
            "Offer the carers the chance to give information."
        ),
    )


# Challenges -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def challenge_add(request: HttpRequest, child_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, child_pk)
    rights.require(request.user, Right.RAISE_CHALLENGE, child)
    if request.method == "POST":
        form = ChallengeForm(request.POST, child=child)
        if form.is_valid():
            try:
                challenge = challenge_raise(
                    acting_user=request.user, child=child, **form.cleaned_data
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "Challenge saved. Record its outcome when you know it.")
                return redirect(
                    "incidents:challenge_outcome", child_pk=child.pk, challenge_pk=challenge.pk
                )
    else:
        initial: dict[str, Any] = {}
        episode_pk = request.GET.get("episode", "")
        if episode_pk.isdigit():
            initial["episode"] = int(episode_pk)
        form = ChallengeForm(initial=initial, child=child)
    return _render_form(
        request,
        form,
        heading="Record a challenge to a partner's decision",
        guidance="challenge",
        caption=child.full_name,
        back_url="",
        child=child,
        intro=(
            "Use this when you have challenged another agency's decision under the "
            "escalation policy, for example a risk grading or a decision not to act."
        ),
    )


@require_http_methods(["GET", "POST"])
def challenge_outcome(request: HttpRequest, child_pk: int, challenge_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, child_pk)
    challenge = (
        Challenge.objects.select_related("challenged_agency", "raised_by", "episode")
        .filter(child=child, pk=challenge_pk)
        .first()
    )
    if challenge is None:
        raise Http404("No such challenge")
    challenge.child = child
    rights.require(request.user, Right.RAISE_CHALLENGE, child)
    if request.method == "POST":
        form = ChallengeOutcomeForm(request.POST)
        if form.is_valid():
            try:
                challenge_record_outcome(
                    acting_user=request.user,
                    challenge=challenge,
                    expected_version=form.cleaned_data["version"],
                    status=form.cleaned_data["status"],
                    outcome=form.cleaned_data["outcome"],
                )
            except ValidationError as error:
                challenge.refresh_from_db()
                _apply_action_error(form, error, challenge.version)
            else:
                messages.success(request, "Outcome of the challenge saved")
                return redirect(
                    "incidents:challenge_outcome", child_pk=child.pk, challenge_pk=challenge.pk
                )
    else:
        form = ChallengeOutcomeForm(
            initial={
                "version": challenge.version,
                "status": challenge.status if challenge.status != Challenge.Status.OPEN else None,
                "outcome": challenge.outcome,
            }
        )
    return _render_form(
        request,
        form,
        heading="Challenge to a partner's decision",
        guidance="challenge",
        caption=child.full_name,
        back_url="",
        template="incidents/interviews/challenge.html",
        child=child,
        challenge=challenge,
        record_history=history.one_record_history(Challenge, challenge.pk),
        history_shown=history.SHOWN,
    )


urlpatterns: list[URLPattern] = [
    path(
        "episodes/<int:pk>/safe-and-well/",
        safe_and_well_record_view,
        name="safe_and_well_record",
    ),
    path(
        "episodes/<int:pk>/safe-and-well/shared/",
        safe_and_well_share_view,
        name="safe_and_well_share",
    ),
    path("episodes/<int:pk>/return-interview/", interview_detail, name="interview_detail"),
    path(
        "episodes/<int:pk>/return-interview/attempts/add/",
        interview_attempt_add,
        name="interview_attempt_add",
    ),
    path(
        "episodes/<int:pk>/safe-and-well/check-answers/",
        safe_and_well_check_answers,
        name="safe_and_well_check_answers",
    ),
    path("episodes/<int:pk>/return-interview/held/", interview_held, name="interview_held"),
    path(
        "episodes/<int:pk>/return-interview/held/check-answers/",
        interview_held_check_answers,
        name="interview_held_check_answers",
    ),
    path(
        "episodes/<int:pk>/return-interview/declined/",
        interview_declined,
        name="interview_declined",
    ),
    path("children/<int:child_pk>/challenges/add/", challenge_add, name="challenge_add"),
    path(
        "children/<int:child_pk>/challenges/<int:challenge_pk>/",
        challenge_outcome,
        name="challenge_outcome",
    ),
]
