"""Views: who may see a record is incidents.access; who may record what, incidents.rights.

Reporting an episode follows the GOV.UK question page / check answers pattern: the
answers wait in the session (one entry per child) until the person confirms them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.forms import MultiWidget
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.views.decorators.http import require_http_methods

from missingkids import keyset, policy
from missingkids.accounts.templatetags.govuk_forms import first_input_id
from missingkids.audit.log import log_record_view

from .. import access, history, rights
from .. import strategy_discussions as discussions
from ..actions import episodes as actions
from ..actions.base import StaleEdit
from ..actions.children import location_find_or_create
from ..forms.episodes import (
    CloseForm,
    EpisodeEditForm,
    EpisodeReportForm,
    OpenEpisodesFilterForm,
    RegradeForm,
    ReturnForm,
    ReturnTimeForm,
    initial_from_episode,
)
from ..models import (
    NOT_GRADED,
    Associate,
    CaseEvent,
    Child,
    Episode,
    Location,
    RiskGrade,
    RiskGrading,
)
from ..rights import Right
from ..signals import episode_page_panels
from ..story import last_times_found

PAGE_SIZE = 25
RECENT_WORK_DAYS = 30

RISK_TAG_CLASSES: dict[str, str] = {
    NOT_GRADED: "govuk-tag--purple",
    RiskGrade.NO_APPARENT_RISK: "govuk-tag--grey",
    RiskGrade.LOW: "govuk-tag--blue",
    RiskGrade.MEDIUM: "govuk-tag--yellow",
    RiskGrade.HIGH: "govuk-tag--red",
}


def _session_key(child: Child) -> str:
    return f"episode_report:{child.pk}"


def _add_errors(form: Any, error: ValidationError) -> None:
    """Show each message by its field; keys the form lacks go to the summary."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _location(form: Any, prefix: str) -> Location | None:
    """The shared place named in the form (its name and postcode); the address typed
    with it is the episode's own (``_address``)."""
    data = form.cleaned_data
    description = data.get(f"{prefix}_description") or ""
    if not description.strip():
        return None
    try:
        return location_find_or_create(
            description=description,
            postcode=data.get(f"{prefix}_postcode") or "",
        )
    except ValidationError as error:
        raise ValidationError(
            {
                f"{prefix}_{key}" if f"{prefix}_{key}" in form.fields else "__all__": texts
                for key, texts in error.message_dict.items()
            }
        ) from None


def _address(form: Any, prefix: str) -> str:
    """The address as typed, kept only with a place named."""
    data = form.cleaned_data
    if not (data.get(f"{prefix}_description") or "").strip():
        return ""
    return data.get(f"{prefix}_address") or ""


def _paginate(request: HttpRequest, queryset: QuerySet, param: str = "page") -> Page:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get(param))


def _form_page(request: HttpRequest, form: Any, **context: Any) -> HttpResponse:
    return render(request, "incidents/episodes/form_page.html", {"form": form, **context})


# Report ---------------------------------------------------------------------------------


# A report's answers wait in the session between the question page and the check page.
# One not confirmed within this time is dropped: by then it describes a different night.
REPORT_DRAFT_KEPT_FOR = dt.timedelta(hours=12)


def _draft(request: HttpRequest, key: str) -> tuple[dict[str, list[str]], dt.datetime] | None:
    """The answers typed for this child's report and when, unless too old (then dropped)."""
    stored = request.session.get(key)
    saved_at = None
    if isinstance(stored, dict) and isinstance(stored.get("answers"), dict):
        try:
            saved_at = dt.datetime.fromisoformat(stored.get("saved_at", ""))
        except (TypeError, ValueError):
            saved_at = None
    if saved_at is None or timezone.now() - saved_at > REPORT_DRAFT_KEPT_FOR:
        request.session.pop(key, None)
        return None
    return stored["answers"], saved_at


def _open_episode(child: Child) -> Episode | None:
    return Episode.objects.filter(child=child, found_at__isnull=True).first()


@require_http_methods(["GET", "POST"])
def episode_report(request: HttpRequest, child_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, child_pk)
    standing = rights.standing(request.user, child)
    rights.require_standing(standing, Right.REPORT_EPISODE)
    # A child already missing: say so before anyone fills in the whole form.
    open_episode = _open_episode(child)
    if open_episode is not None:
        return render(
            request,
            "incidents/episodes/report_open.html",
            {"child": child, "episode": open_episode, "back_url": _child_url(child.pk)},
        )
    # The police grade; anyone else gives their concern.
    police_grade = standing.may(Right.GRADE_RISK)
    key = _session_key(child)
    draft = _draft(request, key)
    if request.method == "POST" and "start_again" in request.POST:
        request.session.pop(key, None)
        return redirect("incidents:episode_report", child_pk=child.pk)
    if request.method == "POST":
        form = EpisodeReportForm(
            request.POST, child=child, user=request.user, police_grade=police_grade
        )
        if form.is_valid():
            # The checks that need the child's record (found before last seen, "away"
            # only for a child in care, ...) on this page, with the rest.
            problems = actions.episode_report_problems(
                child=child,
                category=form.cleaned_data["category"],
                reported_at=form.cleaned_data["reported_at"],
                last_seen_at=form.cleaned_data["last_seen_at"],
            )
            if problems:
                _add_errors(form, ValidationError(problems))
                return _report_page(request, child, form)
            request.session[key] = {
                "saved_at": timezone.now().isoformat(),
                "answers": {
                    name: request.POST.getlist(name)
                    for name in request.POST
                    if name != "csrfmiddlewaretoken"
                },
            }
            return redirect("incidents:episode_report_check", child_pk=child.pk)
    elif draft is not None and "change" in request.GET:
        # Coming back from "Change" on the check answers page: show what was typed.
        form = EpisodeReportForm(
            MultiValueDict(draft[0]),
            child=child,
            user=request.user,
            police_grade=police_grade,
        )
        form.is_valid()
    elif draft is not None:
        # A report started earlier and not confirmed: never pre-fill a new one with it
        # unasked. Continue it, or start again.
        return render(
            request,
            "incidents/episodes/report_draft.html",
            {
                "child": child,
                "saved_at": draft[1],
                "kept_hours": int(REPORT_DRAFT_KEPT_FOR.total_seconds() // 3600),
                "back_url": _child_url(child.pk),
            },
        )
    else:
        form = EpisodeReportForm(child=child, user=request.user, police_grade=police_grade)
    return _report_page(request, child, form)


def _report_page(request: HttpRequest, child: Child, form: EpisodeReportForm) -> HttpResponse:
    may_see_associates = rights.allowed(request.user, Right.SEE_ASSOCIATES, child)
    return _form_page(
        request,
        form,
        child=child,
        # Help for the search: where the child was found the last times.
        last_found=last_times_found(child, may_see_associates=may_see_associates),
        may_see_associates=may_see_associates,
        title=f"Report {child.full_name} missing",
        caption=child.full_name,
        guidance="report",
        back_url=_child_url(child.pk),
    )


def _child_url(child_pk: int) -> str:
    try:
        return reverse("incidents:child_detail", kwargs={"pk": child_pk})
    except NoReverseMatch:  # the child pages are another part of the app
        return reverse("incidents:episode_list_open")


@require_http_methods(["GET", "POST"])
def episode_report_check(request: HttpRequest, child_pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, child_pk)
    standing = rights.standing(request.user, child)
    rights.require_standing(standing, Right.REPORT_EPISODE)
    key = _session_key(child)
    draft = _draft(request, key)
    if draft is None:
        return redirect("incidents:episode_report", child_pk=child.pk)
    form = EpisodeReportForm(
        MultiValueDict(draft[0]),
        child=child,
        user=request.user,
        police_grade=standing.may(Right.GRADE_RISK),
    )
    if not form.is_valid():
        # Time has moved on (for example a time that was "now" is still fine, but a
        # deleted agency is not): send them back to the questions, errors shown.
        return _report_page(request, child, form)
    if request.method == "POST":
        data = form.cleaned_data
        try:
            with transaction.atomic():
                episode = actions.episode_report(
                    acting_user=request.user,
                    child=child,
                    category=data["category"],
                    reported_at=data["reported_at"],
                    reported_by_name=data["reported_by_name"],
                    reported_by_agency=data["reported_by_agency"],
                    last_seen_at=data["last_seen_at"],
                    last_seen_location=_location(form, "last_seen"),
                    last_seen_address=_address(form, "last_seen"),
                    circumstances=data["circumstances"],
                    police_reference=data["police_reference"],
                    flags=form.flag_values(),
                    risk=data["risk"],
                    risk_rationale=data["risk_rationale"],
                )
        except ValidationError as error:
            _add_errors(form, error)
            return _report_page(request, child, form)
        del request.session[key]
        messages.success(request, f"{child.full_name} has been reported {episode.status.lower()}")
        return redirect("incidents:episode_detail", pk=episode.pk)
    return render(
        request,
        "incidents/episodes/report_check.html",
        {"child": child, "form": form, "answers": _answers(form)},
    )


def _answers(form: EpisodeReportForm) -> list[dict[str, Any]]:
    data = form.cleaned_data

    def when(value: dt.datetime | None) -> str:
        return timezone.localtime(value).strftime("%-d %b %Y %H:%M") if value else ""

    place = ", ".join(
        part
        for part in (
            data.get("last_seen_description"),
            data.get("last_seen_address"),
            data.get("last_seen_postcode"),
        )
        if part
    )
    flags = [label for name, label in form.fields["flags"].choices if name in data["flags"]]
    if data.get("flag_other"):
        flags.append(data["flag_other"])
    rows = [
        ("Category", dict(Episode.Category.choices).get(data["category"], ""), "category"),
        ("Reported at", when(data["reported_at"]), "reported_at"),
        ("Reported by", data["reported_by_name"], "reported_by_name"),
        ("Their agency", str(data["reported_by_agency"] or "None"), "reported_by_agency"),
        ("Last seen", when(data["last_seen_at"]), "last_seen_at"),
        ("Where last seen", place or "Not known", "last_seen_description"),
        ("Circumstances", data["circumstances"], "circumstances"),
        ("Police reference", data["police_reference"] or "None", "police_reference"),
        ("Exploitation and vulnerability", ", ".join(flags) or "None", "flags"),
    ]
    concern = dict(RiskGrade.choices).get(data["risk"], "")
    if form.police_grade:
        rows.append(("Police risk grade", concern, "risk"))
        rows.append(("Information the grade rests on", data["risk_rationale"], "risk_rationale"))
    else:
        rows.append(("Police risk grade", "Not yet graded: the police grade it", ""))
        rows.append(("Your concern about the risk", concern, "risk"))
        rows.append(("What your concern is based on", data["risk_rationale"], "risk_rationale"))
    # "Change" lands on the question's first input: a date's day, a choice's first option.
    return [
        {"label": label, "value": value, "field": field, "id": first_input_id(form[field])}
        if field
        else {"label": label, "value": value, "field": field, "id": ""}
        for label, value, field in rows
    ]


# Episode page ---------------------------------------------------------------------------


# The episode's own row and what hangs on it directly (the child, places, who reported
# and closed it), read with the access check and the person's standing.
_EPISODE_ROW = (
    "child",
    "child__responsible_area",
    "reported_by_agency",
    "last_seen_location",
    "found_location",
    "closed_by",
)
# What was recorded about it since (the check, the interview, the profile as shared with
# the police, each with the people and agencies named), in a second query: one query
# joining all sixteen tables costs PostgreSQL more to plan than both cost to run.
_RECORDED = (
    "safe_and_well",
    "safe_and_well__agency",
    "safe_and_well__shared_by_agency",
    "safe_and_well__shared_recorded_by",
    "safe_and_well__shared_recorded_by__agency",
    "interview",
    "interview__owner",
    "interview__provider",
    "profile_snapshot",
)


def _episode_for_page(
    request: HttpRequest, pk: int, *, annotations: dict[str, Any] | None = None
) -> tuple[Episode, rights.Standing]:
    """The episode with what its pages show, and the person's standing towards its
    child: the access check and the standing in the episode's own query, what was
    recorded about it in a second, the risk gradings in a third."""
    # The strategy meeting that meets the discussion due at 24 hours, as a subquery.
    page = (
        discussions.with_strategy_meeting(Episode.objects.all())
        .annotate(**(annotations or {}))
        .select_related(*_EPISODE_ROW)
        .prefetch_related(
            Prefetch(
                "gradings",
                queryset=RiskGrading.objects.select_related("graded_by", "graded_by__agency"),
            )
        )
    )
    episode, standing = rights.episode_and_standing(request.user, pk, queryset=page)
    recorded = (
        Episode.objects.select_related(*_RECORDED)
        .only("pk", "safe_and_well", "interview", "profile_snapshot")
        .filter(pk=episode.pk)
        .first()
    )
    if recorded is None:  # removed (with its child) since the first query
        raise Http404("No such episode")
    for name in ("safe_and_well", "interview", "profile_snapshot"):
        relation = Episode._meta.get_field(name)
        found = relation.get_cached_value(recorded)  # type: ignore[union-attr]
        relation.set_cached_value(episode, found)  # type: ignore[union-attr]
        if found is not None:
            relation.field.set_cached_value(found, episode)  # type: ignore[union-attr]
    return episode, standing


def _steps(episode: Episode, now: dt.datetime, urls: dict[str, str]) -> list[dict[str, Any]]:
    """The protocol steps as GOV.UK task list rows: state derived from the record."""

    def tag(text: str, css: str = "") -> dict[str, str]:
        return {"text": text, "css": css}

    done = tag("Done")
    not_yet = tag("Cannot start yet", "govuk-tag--grey")
    returned = episode.found_at is not None
    steps = [
        {"name": "Reported", "status": done, "url": "", "hint": ""},
        {
            "name": "Risk graded",
            "status": tag(episode.get_risk_display(), RISK_TAG_CLASSES.get(episode.risk, "")),
            "url": "#risk-history",
            "hint": "See the grading history",
        },
        _strategy_step(episode, now, urls),
    ]
    if returned:
        steps.append({"name": "Found or returned", "status": done, "url": "", "hint": ""})
    else:
        steps.append(
            {
                "name": "Found or returned",
                "status": tag("To do", "govuk-tag--blue"),
                "url": urls.get("return", ""),
                "hint": "",
            }
        )
    check = getattr(episode, "safe_and_well", None)
    if not returned:
        status, hint = not_yet, ""
    elif check is not None:
        status, hint = done, ""
    elif now > episode.safe_and_well_due_at:
        within = policy.hours(policy.safe_and_well_due_after())
        status, hint = tag("Overdue", "govuk-tag--red"), f"Due within {within} hours of the return"
    else:
        status = tag("To do", "govuk-tag--blue")
        hint = f"Due by {timezone.localtime(episode.safe_and_well_due_at):%-d %b %Y %H:%M}"
    steps.append(
        {
            "name": "Safe and well check",
            "status": status,
            "url": urls.get("safe_and_well", "") if returned else "",
            "hint": hint,
        }
    )
    interview = getattr(episode, "interview", None)
    if interview is None:
        status, hint = not_yet, ""
    else:
        due = f"Due by {timezone.localtime(interview.due_at):%-d %b %Y %H:%M}"
        if interview.is_done:
            status = tag(interview.get_outcome_display())
            hint = "Held late" if interview.is_overdue(now) else ""
        elif interview.is_overdue(now):
            status, hint = tag("Overdue", "govuk-tag--red"), due
        else:
            status, hint = tag("To do", "govuk-tag--blue"), due
    steps.append(
        {
            "name": "Return interview",
            "status": status,
            "url": urls.get("interview", "") if interview else "",
            "hint": hint,
        }
    )
    steps.append(
        {
            "name": "Closed",
            "status": done if episode.closed_at else tag("Not yet", "govuk-tag--grey"),
            "url": "",
            "hint": episode.closure_reason,
        }
    )
    return steps


def _strategy_step(episode: Episode, now: dt.datetime, urls: dict[str, str]) -> dict[str, Any]:
    """The strategy discussion due if the child is still missing 24 hours after last seen."""
    discussion = discussions.strategy_discussion(
        episode, held_on=getattr(episode, "strategy_meeting_on", None), now=now
    )
    due = f"{timezone.localtime(discussion.due_at):%-d %b %Y %H:%M}"
    state = discussions.State
    if discussion.state == state.HELD:
        held = discussion.held_on
        status, hint = {"text": "Held", "css": ""}, f"Strategy meeting held on {held:%-d %b %Y}"
        url = urls.get("strategy_meetings", "")
    elif discussion.state == state.NOT_NEEDED:
        status = {"text": "Not needed", "css": "govuk-tag--grey"}
        hint, url = "Found within 24 hours of being last seen", ""
    elif discussion.state == state.DUE:
        status = {"text": "To do", "css": "govuk-tag--blue"}
        hint, url = f"Due by {due} if still missing", urls.get("strategy_meeting", "")
    elif discussion.state == state.OVERDUE:
        status = {"text": "Overdue", "css": "govuk-tag--red"}
        hint, url = f"Was due by {due}: still missing", urls.get("strategy_meeting", "")
    else:
        status = {"text": "Missed", "css": "govuk-tag--red"}
        hint = f"Was due by {due}: found after it, no strategy meeting recorded"
        url = urls.get("strategy_meeting", "")
    return {"name": "Strategy discussion", "status": status, "url": url, "hint": hint}


def _optional_url(name: str, **kwargs: Any) -> str:
    # Pages owned by other parts of the app; an empty link rather than an error if a
    # build is missing one.
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return ""


@require_http_methods(["GET"])
def episode_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The episode and every step of it, in the same number of queries however much has
    been recorded (``test_detail_query_count_is_the_same_with_much_recorded``)."""
    now = timezone.now()
    repeat_count, repeat_days = policy.repeat_threshold()
    # The child's episodes in the repeat window, counted in the episode's own query.
    episode, standing = _episode_for_page(
        request,
        pk,
        annotations={
            "recent_count": Subquery(
                Episode.objects.filter(
                    child_id=OuterRef("child_id"),
                    last_seen_at__gte=now - dt.timedelta(days=repeat_days),
                    last_seen_at__lte=now,
                )
                .order_by()
                .values("child_id")
                .annotate(n=Count("pk"))
                .values("n"),
                output_field=IntegerField(),
            )
        },
    )
    log_record_view(request, child_id=episode.child_id, episode_id=episode.pk)
    user = request.user
    missing = episode.found_at is None
    # What this person may record, from their agency's relation to the child: the same
    # answer the action functions give.
    rights_here = standing.can
    can = {
        "regrade": missing and rights_here[Right.GRADE_RISK],
        "return": missing and rights_here[Right.RECORD_RETURN],
        "edit": not episode.is_closed and rights_here[Right.REPORT_EPISODE],
        "close": not missing and not episode.is_closed and rights_here[Right.CLOSE_EPISODE],
        "correct_return": (
            not missing and not episode.is_closed and rights_here[Right.CORRECT_RETURN_TIME]
        ),
    }
    check = getattr(episode, "safe_and_well", None)
    can_record_check = rights_here[Right.RECORD_SAFE_AND_WELL]
    urls = {
        "return": reverse("incidents:episode_return", kwargs={"pk": pk}) if can["return"] else "",
        # The form for the police while the check is to do; for everyone else, and once
        # it is recorded, the check itself below: never a page that refuses them.
        "safe_and_well": (
            _optional_url("incidents:safe_and_well_record", pk=pk)
            if can_record_check and check is None
            else "#safe-and-well"
        ),
        "interview": _optional_url("incidents:interview_detail", pk=pk),
        "strategy_meeting": _optional_url(
            "incidents:strategy_meeting_add", child_pk=episode.child_id
        )
        if rights_here[Right.RECORD_STRATEGY_MEETING]
        else "",
        "strategy_meetings": f"{_child_url(episode.child_id)}#strategy-meetings",
    }
    gradings = list(episode.gradings.all())
    # Other apps (notifications) add their sections here; incidents does not know them.
    panels = [
        html
        for _receiver, html in episode_page_panels.send(
            sender=Episode, episode=episode, user=user, request=request
        )
        if html
    ]
    may_see_associates = rights_here[Right.SEE_ASSOCIATES]
    associates = (
        list(Associate.objects.filter(child_id=episode.child_id).order_by("name", "id"))
        if may_see_associates
        else []
    )
    last_found = None
    if missing:
        # The associates recorded during each of the last returns, from those read above.
        last_found = last_times_found(episode.child, may_see_associates=False)
        by_episode = {item.episode.pk: item for item in last_found}
        for associate in associates:
            if associate.episode_id in by_episode:
                by_episode[associate.episode_id].associates.append(associate)
    return render(
        request,
        "incidents/episodes/detail.html",
        {
            # While the child is missing: where they were found the last times.
            "last_found": last_found,
            "may_see_associates": may_see_associates,
            "associates": associates,
            "can_record_associates": rights_here[Right.RECORD_ASSOCIATES],
            # Only a recorded return can have been corrected: no query while missing
            # (when the last times found take its place).
            "corrections": []
            if missing
            else list(
                episode.return_time_corrections.select_related(
                    "corrected_by", "corrected_by__agency"
                )
            ),
            "panels": panels,
            "episode": episode,
            "child": episode.child,
            "child_url": _child_url(episode.child_id),
            "steps": _steps(episode, now, urls),
            "gradings": gradings,
            # The latest concern given by a reporter outside the police, shown as such.
            "concern": next((g for g in gradings if g.kind == RiskGrading.Kind.CONCERN), None),
            "duration": _duration(episode.duration(now)),
            "recent_count": episode.recent_count or 0,
            "repeat_count": repeat_count,
            "repeat_days": repeat_days,
            "risk_css": RISK_TAG_CLASSES.get(episode.risk, ""),
            "can": can,
            "check": check,
            "can_record_safe_and_well": can_record_check,
            "can_record_safe_and_well_shared": rights_here[Right.RECORD_SAFE_AND_WELL_SHARED],
            "can_see_profile": rights_here[Right.SEE_PROFILE],
            "history": history.episode_history(episode),
            "history_shown": history.SHOWN,
        },
    )


def _duration(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 48:
        minutes = int(delta.total_seconds() // 60) % 60
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"{hours // 24} days {hours % 24} h"


# Edit, re-grade, return, close ----------------------------------------------------------


@require_http_methods(["GET", "POST"])
def episode_edit(request: HttpRequest, pk: int) -> HttpResponse:
    episode, standing = _episode_for_page(request, pk)
    rights.require_standing(standing, Right.REPORT_EPISODE)
    child = episode.child
    kwargs = {"child": child, "user": request.user, "episode": episode}
    drawn_from = _posted_version(request)
    if request.method == "POST" and drawn_from is not None and drawn_from != episode.version:
        # Someone saved the episode since this form was drawn. Said first, before the
        # fields are checked against a record the person has not seen (a return
        # recorded meanwhile adds questions their page did not have).
        form = _stale_form(
            request, EpisodeEditForm, pk, StaleEdit("episode"), since=drawn_from, **kwargs
        )
    elif request.method == "POST":
        form = EpisodeEditForm(request.POST, **kwargs)
        if form.is_valid():
            data = form.cleaned_data
            fields: dict[str, Any] = {
                name: data[name]
                for name in (
                    "category",
                    "reported_at",
                    "reported_by_name",
                    "reported_by_agency",
                    "last_seen_at",
                    "circumstances",
                    "police_reference",
                )
            }
            fields.update(form.flag_values())
            if episode.found_at is not None:
                fields.update(
                    {name: data[name] for name in ("found_with", "how_returned", "return_notes")}
                )
            try:
                with transaction.atomic():
                    fields["last_seen_location"] = _location(form, "last_seen")
                    fields["last_seen_address"] = _address(form, "last_seen")
                    if episode.found_at is not None:
                        fields["found_location"] = _location(form, "found")
                        fields["found_address"] = _address(form, "found")
                    actions.episode_update(
                        acting_user=request.user,
                        episode=episode,
                        expected_version=data["version"],
                        **fields,
                    )
            except StaleEdit as error:
                form = _stale_form(
                    request, EpisodeEditForm, pk, error, since=data["version"], **kwargs
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, "The episode's details have been saved")
                return redirect("incidents:episode_detail", pk=pk)
    else:
        form = EpisodeEditForm(initial=initial_from_episode(episode), **kwargs)
    return _form_page(
        request,
        form,
        child=child,
        episode=episode,
        title="Change the episode's details",
        caption=f"{child.full_name}: {episode}",
        back_url=reverse("incidents:episode_detail", kwargs={"pk": pk}),
    )


def _posted_version(request: HttpRequest) -> int | None:
    """The version of the record the posted form was drawn from, if it could be one."""
    text = request.POST.get("version", "") if request.method == "POST" else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


# What the conflict message names when it says what changed meanwhile.
_WATCHED_FIELDS = (
    "category",
    "reported_at",
    "reported_by_name",
    "reported_by_agency",
    "last_seen_at",
    "last_seen_location",
    "last_seen_address",
    "circumstances",
    "police_reference",
    *Episode.FLAG_FIELDS,
    "flag_other",
    "risk",
    "found_at",
    "found_location",
    "found_address",
    "found_with",
    "how_returned",
    "return_notes",
    "closed_at",
)


def _changed_since(pk: int, version: int | None) -> list[str]:
    """What differs between the episode as it was at ``version`` and as it is now, in
    words ("the return was recorded", "circumstances")."""
    if version is None:
        return []
    current = Episode.objects.get(pk=pk)
    then = (
        Episode.history.filter(id=pk, version=version)  # type: ignore[attr-defined]
        .order_by("-history_date", "-history_id")
        .first()
    )
    if then is None:
        return []
    changed = []
    for name in _WATCHED_FIELDS:
        field = Episode._meta.get_field(name)
        if getattr(then, field.attname) == getattr(current, field.attname):
            continue
        if name == "found_at" and getattr(then, field.attname) is None:
            changed.insert(0, "the child's return was recorded")
        elif name == "closed_at":
            changed.append("the episode was closed")
        else:
            changed.append(str(field.verbose_name))
    return changed


def _stale_form(
    request: HttpRequest,
    form_class: type,
    pk: int,
    error: StaleEdit,
    *,
    since: int | None = None,
    **kwargs: Any,
) -> Any:
    """Their input kept, now based on the current version so that saving again is a
    deliberate overwrite after seeing the conflict, which says what changed.

    Only the conflict and the messages about what they typed are shown: questions the
    record has gained meanwhile (the return, once recorded) were never on their page,
    so they are offered, not reported as missing."""
    data = request.POST.copy()
    current = Episode.objects.select_related("last_seen_location", "found_location").get(pk=pk)
    data["version"] = str(current.version)
    posted = {name.rsplit("_", 1)[0] if name[-2:-1] == "_" else name for name in request.POST}
    if form_class is EpisodeEditForm:
        # Questions their page did not have start from the record as it now stands, so
        # saving again does not blank what someone else recorded.
        fields = form_class(**kwargs).fields
        for name, value in initial_from_episode(current).items():
            if name in posted or name not in fields or value is None:
                continue
            widget = fields[name].widget
            if isinstance(widget, MultiWidget):
                for index, part in enumerate(widget.decompress(value)):
                    data[f"{name}_{index}"] = "" if part is None else str(part)
            elif isinstance(value, list):
                data.setlist(name, [str(v) for v in value])
            else:
                data[name] = str(value)
    form = form_class(data, **kwargs)
    form.is_valid()
    for name in list(form.errors):
        if name != "__all__" and name not in posted:
            del form.errors[name]
    changed = _changed_since(pk, since)
    message = error.message
    if changed:
        message += " Changed meanwhile: " + ", ".join(changed) + "."
    form.add_error(None, ValidationError(message, code="stale"))
    return form


@require_http_methods(["GET", "POST"])
def episode_regrade(request: HttpRequest, pk: int) -> HttpResponse:
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.GRADE_RISK, episode.child)
    graded = episode.risk != NOT_GRADED
    form = RegradeForm(request.POST or None, initial={"grade": episode.risk} if graded else {})
    if request.method == "POST" and form.is_valid():
        try:
            actions.episode_regrade_risk(
                acting_user=request.user,
                episode=episode,
                grade=form.cleaned_data["grade"],
                rationale=form.cleaned_data["rationale"],
                graded_at=form.cleaned_data["graded_at"],
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Risk graded {episode.get_risk_display().lower()}")
            return redirect("incidents:episode_detail", pk=pk)
    return _form_page(
        request,
        form,
        child=episode.child,
        episode=episode,
        title="Re-grade risk" if graded else "Grade risk",
        guidance="still_missing",
        caption=f"{episode.child.full_name}: currently {episode.get_risk_display().lower()}",
        back_url=reverse("incidents:episode_detail", kwargs={"pk": pk}),
    )


@require_http_methods(["GET", "POST"])
def episode_return(request: HttpRequest, pk: int) -> HttpResponse:
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.RECORD_RETURN, episode.child)
    if request.method == "POST":
        form = ReturnForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    actions.episode_record_return(
                        acting_user=request.user,
                        episode=episode,
                        expected_version=data["version"],
                        found_at=data["found_at"],
                        found_location=_location(form, "found"),
                        found_address=_address(form, "found"),
                        found_with=data["found_with"],
                        how_returned=data["how_returned"],
                        return_notes=data["return_notes"],
                    )
            except StaleEdit as error:
                form = _stale_form(request, ReturnForm, pk, error)
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(
                    request,
                    f"{episode.child.full_name}'s return has been recorded. The return "
                    f"interview is due within {policy.hours(policy.interview_due_after())} "
                    "hours.",
                )
                return redirect("incidents:episode_detail", pk=pk)
    else:
        form = ReturnForm(initial={"version": episode.version})
    return _form_page(
        request,
        form,
        child=episode.child,
        episode=episode,
        title="Record the child's return",
        guidance="return",
        caption=episode.child.full_name,
        back_url=reverse("incidents:episode_detail", kwargs={"pk": pk}),
    )


@require_http_methods(["GET", "POST"])
def episode_correct_return(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct the return time, with a reason: the interview's deadline stays as it was."""
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.CORRECT_RETURN_TIME, episode.child)
    interview = getattr(episode, "interview", None) if episode.found_at else None
    if request.method == "POST":
        form = ReturnTimeForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                actions.episode_correct_return_time(
                    acting_user=request.user,
                    episode=episode,
                    expected_version=data["version"],
                    found_at=data["found_at"],
                    reason=data["reason"],
                )
            except StaleEdit as error:
                form = _stale_form(request, ReturnTimeForm, pk, error)
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, "The return time has been corrected")
                return redirect("incidents:episode_detail", pk=pk)
    else:
        form = ReturnTimeForm(initial={"version": episode.version, "found_at": episode.found_at})
    intro = (
        "The return interview keeps the deadline set when the return was first recorded"
        + (f", {timezone.localtime(interview.due_at):%-d %b %Y %H:%M}" if interview else "")
        + ": correcting the time does not move it. The correction is shown on the episode, "
        "with your reason."
    )
    return _form_page(
        request,
        form,
        child=episode.child,
        episode=episode,
        title="Correct the return time",
        caption=f"{episode.child.full_name}: {episode}",
        intro=intro,
        back_url=reverse("incidents:episode_detail", kwargs={"pk": pk}),
    )


@require_http_methods(["GET", "POST"])
def episode_close(request: HttpRequest, pk: int) -> HttpResponse:
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.CLOSE_EPISODE, episode.child)
    form = CloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.episode_close(
                acting_user=request.user, episode=episode, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, "The episode has been closed")
            return redirect("incidents:episode_detail", pk=pk)
    return _form_page(
        request,
        form,
        child=episode.child,
        episode=episode,
        title="Close the episode",
        caption=f"{episode.child.full_name}: {episode}",
        back_url=reverse("incidents:episode_detail", kwargs={"pk": pk}),
    )


# Lists ----------------------------------------------------------------------------------


@require_http_methods(["GET"])
def episode_list_open(request: HttpRequest) -> HttpResponse:
    """The episodes still open that the person may see: those missing now, then those
    returned with steps outstanding. Each list is paged by key (``missingkids.keyset``:
    "Next page" carries the last row's sort key, so a page is one indexed read at any
    depth) and counted up to ``keyset.COUNTED_AT_MOST``: seven queries, however many."""
    visible = access.episodes_visible_to(request.user)
    filters = OpenEpisodesFilterForm(request.GET or None)
    missing = visible.filter(found_at__isnull=True)
    if filters.is_valid():
        if filters.cleaned_data["risk"]:
            missing = missing.filter(risk=filters.cleaned_data["risk"])
        if filters.cleaned_data["category"]:
            missing = missing.filter(category=filters.cleaned_data["category"])
    # Read in the order of the partial index episode_missing_idx (-risk_rank,
    # last_seen_at, id), the visibility check a probe of its unique index per row.
    missing = missing.select_related("child", "last_seen_location", "reported_by_agency").order_by(
        "-risk_rank", "last_seen_at", "pk"
    )
    # Returned, not closed: in the order their return interviews fall due, which is the
    # order the returns were first recorded in (the deadline is set from that time and
    # never moves), read in the order of the partial index episode_returned_open_idx.
    returned = (
        visible.filter(found_at__isnull=False, closed_at__isnull=True)
        .select_related("child", "interview", "safe_and_well")
        .order_by(F("first_found_at").asc(nulls_last=True), "pk")
    )
    now = timezone.now()
    query = request.GET.copy()
    for name in ("page", "after", "returned_page", "returned_after"):
        query.pop(name, None)
    missing_list = _keyset_list(request, missing, query, "after", "returned_after")
    returned_list = _keyset_list(request, returned, query, "returned_after", "after")
    rows = [
        {
            "episode": episode,
            "missing_for": _duration(now - episode.last_seen_at),
            "risk_css": RISK_TAG_CLASSES.get(episode.risk, ""),
        }
        for episode in missing_list["rows"]
    ]
    returned_rows = [
        {
            "episode": episode,
            "interview": getattr(episode, "interview", None),
            "overdue": bool(
                getattr(episode, "interview", None) and episode.interview.is_overdue(now)
            ),
            "safe_and_well_done": hasattr(episode, "safe_and_well"),
        }
        for episode in returned_list["rows"]
    ]
    return render(
        request,
        "incidents/episodes/list_open.html",
        {
            "filters": filters,
            "missing": missing_list,
            "rows": rows,
            "returned": returned_list,
            "returned_rows": returned_rows,
        },
    )


def _keyset_list(
    request: HttpRequest, rows: QuerySet, query: Any, param: str, other: str
) -> dict[str, Any]:
    """One of a page's lists paged by key: its rows, how many there are (up to a bound),
    and the links to its next and first pages, which keep the other list where it is."""
    # Counted without the joins the page shows: only the list's own rows are read.
    total, more = keyset.counted(rows.select_related(None))
    page = keyset.page(rows, request.GET.get(param), PAGE_SIZE)
    kept = query.copy()
    if request.GET.get(other):
        kept[other] = request.GET[other]
    next_href = ""
    if page.has_next:
        following = kept.copy()
        following[param] = page.next_cursor
        next_href = f"?{following.urlencode()}"
    return {
        "rows": page.rows,
        "total": total,
        "more": more,
        "number": page.number,
        "next_href": next_href,
        "first_href": f"?{kept.urlencode()}" if page.number > 1 else "",
    }


@require_http_methods(["GET"])
def recent_work(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - dt.timedelta(days=RECENT_WORK_DAYS)
    # Uses event_agency_recent_idx (actor_agency, -recorded_at).
    events = (
        CaseEvent.objects.filter(
            actor_agency_id=request.user.agency_id,
            recorded_at__gte=since,
        )
        .filter(access.visible_condition(request.user, "child_id"))
        .select_related("child", "actor", "episode")
        .order_by("-recorded_at", "-id")
    )
    page = _paginate(request, events)
    return render(
        request,
        "incidents/episodes/recent_work.html",
        {"page": page, "days": RECENT_WORK_DAYS, "agency": request.user.agency},
    )


urlpatterns: list[URLPattern] = [
    path("children/<int:child_pk>/report-missing/", episode_report, name="episode_report"),
    path(
        "children/<int:child_pk>/report-missing/check/",
        episode_report_check,
        name="episode_report_check",
    ),
    path("episodes/open/", episode_list_open, name="episode_list_open"),
    path("episodes/<int:pk>/", episode_detail, name="episode_detail"),
    path("episodes/<int:pk>/edit/", episode_edit, name="episode_edit"),
    path("episodes/<int:pk>/risk/", episode_regrade, name="episode_regrade"),
    path("episodes/<int:pk>/return/", episode_return, name="episode_return"),
    path("episodes/<int:pk>/close/", episode_close, name="episode_close"),
    path(
        "episodes/<int:pk>/return-time/",
        episode_correct_return,
        name="episode_correct_return",
    ),
    path("recent-work/", recent_work, name="recent_work"),
]
