"""The configuration pages: people, agencies and their contacts, areas and the
notification rules, for admins, in the service's own look.

Every page asks ``missingkids.accounts.access``: a record the admin may not manage is
not found (404), a page they may not use is refused (403). Every change goes through
one function of ``configuration.actions`` (or ``notifications.rules`` for a rule),
which records it as a configuration change.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from axes.models import AccessAttempt
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from missingkids.accounts import access, configuration, lockout, resets
from missingkids.accounts.models import (
    ConfigurationChange,
    LocalAuthorityArea,
    User,
)
from missingkids.forms import could_be_id
from notifications.models import Rule
from notifications.rules import SHOWN_FIELDS, rule_save_with_version

from . import actions
from .forms import (
    AgencyFilterForm,
    AgencyForm,
    AreaForm,
    ContactForm,
    PeopleFilterForm,
    PersonForm,
    RuleForm,
    SecondFactorResetForm,
)

Kind = ConfigurationChange.Kind
PAGE_SIZE = 25
View = Callable[..., HttpResponse]


def admin_required(view: View) -> View:
    """Admins only (partnership or agency admins): everyone else is refused."""

    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access.is_admin(request.user):
            raise PermissionDenied("Only admins can use the configuration pages.")
        return view(request, *args, **kwargs)

    return inner


def partnership_admin_required(view: View) -> View:
    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access.is_partnership_admin(request.user):
            raise PermissionDenied("Only partnership admins can do this.")
        return view(request, *args, **kwargs)

    return inner


def _get(queryset: QuerySet, pk: Any) -> Any:
    """The record, if it is in the admin's reach: otherwise not found."""
    if not could_be_id(pk):
        raise Http404
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def _page(request: HttpRequest, rows: QuerySet) -> tuple[Any, str]:
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def _form_page(request: HttpRequest, form: Any, **context: Any) -> HttpResponse:
    return render(request, "configuration/form_page.html", {"form": form, **context})


def _history(kinds: list[str], **lookup: Any) -> list[ConfigurationChange]:
    return list(
        ConfigurationChange.objects.filter(kind__in=kinds, **lookup).select_related("changed_by")[
            :50
        ]
    )


def _yes(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


@require_GET
@admin_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "configuration/index.html", {"agency": request.user.agency})


# People ------------------------------------------------------------------------------


@require_GET
@admin_required
def people(request: HttpRequest) -> HttpResponse:
    user = request.user
    filters = PeopleFilterForm(request.GET or None, actor=user)
    rows = access.people_managed_by(user).select_related("agency").order_by("name", "pk")
    if filters.is_bound and filters.is_valid():
        data = filters.cleaned_data
        if data["q"]:
            rows = rows.filter(Q(name__icontains=data["q"]) | Q(email__icontains=data["q"]))
        if data["agency"]:
            rows = rows.filter(agency=data["agency"])
        if data["role"]:
            rows = rows.filter(role=data["role"])
        if _yes(data["active"]) is not None:
            rows = rows.filter(is_active=_yes(data["active"]))
    page, query = _page(request, rows)
    return render(
        request,
        "configuration/people.html",
        {"filters": filters, "page": page, "query": query},
    )


@require_http_methods(["GET", "POST"])
@admin_required
def person_add(request: HttpRequest) -> HttpResponse:
    user = request.user
    initial = {"agency": user.agency_id, "role": User.Role.PRACTITIONER}
    form = PersonForm(request.POST or None, actor=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        person = actions.person_save(person=form.save(commit=False), acting_user=user)
        messages.success(
            request,
            f"{person.name} added. They set their password with “Forgotten your password?” "
            "on the sign-in page, then set up their second factor.",
        )
        return redirect("configuration:person", person.pk)
    return _form_page(
        request,
        form,
        title="Add a person",
        caption="People",
        back_url=reverse("configuration:people"),
        hint="They set their own password: after you add them, ask them to use “Forgotten "
        "your password?” on the sign-in page.",
    )


@require_GET
@admin_required
def person(request: HttpRequest, pk: str) -> HttpResponse:
    user = request.user
    found = _get(access.people_managed_by(user).select_related("agency"), pk)
    pending = resets.pending_second_factor_reset(found)
    return render(
        request,
        "configuration/person.html",
        {
            "person": found,
            "is_me": found.pk == user.pk,
            "has_second_factor": resets.has_second_factor(found),
            "pending": pending,
            "history": _history([Kind.PERSON], object_id=found.pk),
            "locked_attempts": _sign_in_failures(found).count(),
        },
    )


def _sign_in_failures(person: User) -> QuerySet[AccessAttempt]:
    """The failed sign-ins kept against the person's account (password and code)."""
    email = person.email
    return AccessAttempt.objects.filter(username__in=[email, lockout.second_step_key(email)])


@require_POST
@admin_required
def person_unlock(request: HttpRequest, pk: str) -> HttpResponse:
    """Clear the failed sign-ins of someone the admin manages, so a locked-out person
    can sign in again at once."""
    found = _get(access.people_managed_by(request.user), pk)
    cleared, _ = _sign_in_failures(found).delete()
    if cleared:
        messages.success(request, f"{found.name}'s failed sign-ins cleared: they can sign in now.")
    return redirect("configuration:person", found.pk)


@require_http_methods(["GET", "POST"])
@admin_required
def person_change(request: HttpRequest, pk: str) -> HttpResponse:
    user = request.user
    found = _get(access.people_managed_by(user).select_related("agency"), pk)
    form = PersonForm(request.POST or None, instance=found, actor=user)
    if request.method == "POST" and form.is_valid():
        actions.person_save(person=form.save(commit=False), acting_user=user)
        messages.success(request, f"{found.name}'s details saved.")
        return redirect("configuration:person", found.pk)
    return _form_page(
        request,
        form,
        title=f"Change {found.name}'s details",
        caption="People",
        back_url=reverse("configuration:person", args=[found.pk]),
    )


@require_http_methods(["GET", "POST"])
@admin_required
def person_second_factor(request: HttpRequest, pk: str) -> HttpResponse:
    """Ask for a reset of someone's second factor, or approve or cancel one. The
    functions of ``resets`` check who may: a forged POST is refused."""
    user = request.user
    found = _get(access.people_managed_by(user).select_related("agency"), pk)
    here = reverse("configuration:person_second_factor", args=[found.pk])
    pending = resets.pending_second_factor_reset(found)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    form = SecondFactorResetForm(request.POST if action == "request" else None)
    try:
        if action == "request" and form.is_valid():
            resets.second_factor_reset_request(
                person=found, acting_user=user, reason=form.cleaned_data["reason"], request=request
            )
            messages.success(
                request,
                f"Reset asked for. A second admin must approve it; {found.name} and the "
                "partnership admins have been e-mailed.",
            )
            return redirect(here)
        if action in ("approve", "cancel"):
            if pending is None or str(pending.pk) != request.POST.get("reset"):
                messages.error(request, "That reset is no longer waiting.")
                return redirect(here)
            if action == "approve":
                resets.second_factor_reset_approve(reset=pending, acting_user=user, request=request)
                messages.success(
                    request,
                    f"Second factor reset: {found.name} sets up a new one at their next "
                    "sign-in, and has been signed out everywhere.",
                )
            else:
                resets.second_factor_reset_cancel(reset=pending, acting_user=user, request=request)
                messages.success(request, "Reset cancelled.")
            return redirect(here)
    except ValidationError as error:
        for message in error.messages:
            form.add_error("reason" if "reason" in message.lower() else None, message)
    return render(
        request,
        "configuration/second_factor.html",
        {
            "person": found,
            "has_second_factor": resets.has_second_factor(found),
            "pending": pending,
            "may_request": pending is None and access.may_request_second_factor_reset(user, found),
            "may_approve": pending is not None
            and access.may_approve_second_factor_reset(user, pending),
            "may_cancel": pending is not None
            and access.may_cancel_second_factor_reset(user, pending),
            "form": form,
            "resets": found.second_factor_resets.select_related(
                "requested_by", "approved_by", "cancelled_by"
            )[:10],
        },
    )


# Agencies and contacts -------------------------------------------------------------------


@require_GET
@admin_required
def agencies(request: HttpRequest) -> HttpResponse:
    filters = AgencyFilterForm(request.GET or None)
    rows = access.agencies_managed_by(request.user)
    if filters.is_bound and filters.is_valid():
        data = filters.cleaned_data
        if data["q"]:
            rows = rows.filter(name__icontains=data["q"])
        if data["kind"]:
            rows = rows.filter(kind=data["kind"])
        if data["area"]:
            rows = rows.filter(areas=data["area"])
        if _yes(data["active"]) is not None:
            rows = rows.filter(active=_yes(data["active"]))
    rows = (
        rows.prefetch_related("areas")
        .annotate(contact_count=Count("contacts", distinct=True))
        .order_by("name", "pk")
    )
    page, query = _page(request, rows)
    return render(
        request,
        "configuration/agencies.html",
        {"filters": filters, "page": page, "query": query},
    )


@require_http_methods(["GET", "POST"])
@partnership_admin_required
def agency_add(request: HttpRequest) -> HttpResponse:
    form = AgencyForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        agency = actions.agency_save(
            agency=form.save(commit=False), acting_user=request.user, area_ids=form.area_ids()
        )
        messages.success(request, f"{agency.name} added.")
        return redirect("configuration:agency", agency.pk)
    return _form_page(
        request,
        form,
        title="Add an agency",
        caption="Agencies",
        back_url=reverse("configuration:agencies"),
    )


@require_GET
@admin_required
def agency(request: HttpRequest, pk: str) -> HttpResponse:
    found = _get(access.agencies_managed_by(request.user).prefetch_related("areas"), pk)
    return render(
        request,
        "configuration/agency.html",
        {
            "agency": found,
            "contacts": list(found.contacts.all()),
            "history": _history([Kind.AGENCY, Kind.CONTACT], agencies=found.pk),
        },
    )


@require_http_methods(["GET", "POST"])
@admin_required
def agency_change(request: HttpRequest, pk: str) -> HttpResponse:
    found = _get(access.agencies_managed_by(request.user), pk)
    form = AgencyForm(request.POST or None, instance=found, actor=request.user)
    if request.method == "POST" and form.is_valid():
        actions.agency_save(
            agency=form.save(commit=False), acting_user=request.user, area_ids=form.area_ids()
        )
        messages.success(request, f"{found.name}'s details saved.")
        return redirect("configuration:agency", found.pk)
    return _form_page(
        request,
        form,
        title=f"Change {found.name}",
        caption="Agencies",
        back_url=reverse("configuration:agency", args=[found.pk]),
    )


@require_http_methods(["GET", "POST"])
@admin_required
def contact_add(request: HttpRequest, pk: str) -> HttpResponse:
    found = _get(access.agencies_managed_by(request.user), pk)
    form = ContactForm(request.POST or None, agency=found)
    if request.method == "POST" and form.is_valid():
        contact = actions.contact_save(contact=form.save(commit=False), acting_user=request.user)
        messages.success(request, f"{contact.name} added to {found.name}'s contacts.")
        return redirect("configuration:agency", found.pk)
    return _form_page(
        request,
        form,
        title="Add a contact",
        caption=found.name,
        back_url=reverse("configuration:agency", args=[found.pk]),
    )


@require_http_methods(["GET", "POST"])
@admin_required
def contact_change(request: HttpRequest, pk: str) -> HttpResponse:
    contact = _get(access.contacts_managed_by(request.user).select_related("agency"), pk)
    form = ContactForm(request.POST or None, instance=contact, agency=contact.agency)
    if request.method == "POST" and form.is_valid():
        actions.contact_save(contact=form.save(commit=False), acting_user=request.user)
        messages.success(request, f"{contact.name}'s details saved.")
        return redirect("configuration:agency", contact.agency_id)
    return _form_page(
        request,
        form,
        title=f"Change {contact.name}",
        caption=contact.agency.name,
        back_url=reverse("configuration:agency", args=[contact.agency_id]),
        history=_history([Kind.CONTACT], object_id=contact.pk),
    )


@require_http_methods(["GET", "POST"])
@admin_required
def contact_remove(request: HttpRequest, pk: str) -> HttpResponse:
    contact = _get(access.contacts_managed_by(request.user).select_related("agency"), pk)
    if request.method == "POST":
        actions.contact_remove(contact=contact, acting_user=request.user)
        messages.success(request, f"{contact.name} removed from {contact.agency.name}'s contacts.")
        return redirect("configuration:agency", contact.agency_id)
    return render(request, "configuration/contact_remove.html", {"contact": contact})


# Areas ---------------------------------------------------------------------------------


@require_GET
@partnership_admin_required
def areas(request: HttpRequest) -> HttpResponse:
    rows = LocalAuthorityArea.objects.annotate(agency_count=Count("agencies")).order_by("name")
    return render(request, "configuration/areas.html", {"areas": rows})


@require_http_methods(["GET", "POST"])
@partnership_admin_required
def area_add(request: HttpRequest, pk: str | None = None) -> HttpResponse:
    area = _get(LocalAuthorityArea.objects.all(), pk) if pk is not None else None
    form = AreaForm(request.POST or None, instance=area)
    if request.method == "POST" and form.is_valid():
        saved = actions.area_save(area=form.save(commit=False), acting_user=request.user)
        messages.success(request, f"{saved.name} saved.")
        return redirect("configuration:areas")
    return _form_page(
        request,
        form,
        title=f"Change {area.name}" if area else "Add an area",
        caption="Areas",
        back_url=reverse("configuration:areas"),
    )


# Rules ---------------------------------------------------------------------------------


@require_GET
@admin_required
def rules(request: HttpRequest) -> HttpResponse:
    rows = Rule.objects.order_by("step", "recipient", "id")
    return render(request, "configuration/rules.html", {"rules": rows})


@require_GET
@admin_required
def rule(request: HttpRequest, pk: str) -> HttpResponse:
    found = _get(Rule.objects.select_related("updated_by", "switched_off_by"), pk)
    return render(
        request,
        "configuration/rule.html",
        {
            "rule": found,
            "rows": configuration.snapshot_of(found, SHOWN_FIELDS).items(),
            "history": _history([Kind.RULE], object_id=found.pk),
            "may_change": access.is_partnership_admin(request.user),
        },
    )


def _draft_key(rule: Rule) -> str:
    return f"configuration-rule-{rule.pk}"


@require_http_methods(["GET", "POST"])
@partnership_admin_required
def rule_change(request: HttpRequest, pk: str) -> HttpResponse:
    """The rule's form; a valid answer goes to the check-your-answers page, and is kept
    in the session until confirmed there (nothing is saved yet)."""
    found = _get(Rule.objects.all(), pk)
    key = _draft_key(found)
    draft = request.session.get(key)
    if request.method == "POST":
        form = RuleForm(request.POST, instance=found)
        if form.is_valid():
            data = {
                name: request.POST.getlist(name)
                for name in request.POST
                if name != "csrfmiddlewaretoken"
            }
            request.session[key] = {"version": found.version, "data": data}
            return redirect("configuration:rule_check", found.pk)
    elif draft and request.GET.get("draft"):
        form = RuleForm(_as_querydict(draft["data"]), instance=found)
    else:
        form = RuleForm(instance=found)
    return _form_page(
        request,
        form,
        title=f"Change the rule: {found.name}",
        caption="Notification rules",
        back_url=reverse("configuration:rule", args=[found.pk]),
    )


def _as_querydict(data: dict[str, list[str]]) -> Any:
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for name, values in data.items():
        query.setlist(name, values)
    return query


@require_http_methods(["GET", "POST"])
@partnership_admin_required
def rule_check(request: HttpRequest, pk: str) -> HttpResponse:
    """Before → after of the change, in words; saved only when confirmed. A rule changed
    by someone else in the meantime is not overwritten: the admin starts again."""
    found = _get(Rule.objects.all(), pk)
    key = _draft_key(found)
    draft = request.session.get(key)
    change_url = reverse("configuration:rule_change", args=[found.pk])
    if not draft:
        return redirect(change_url)
    if draft["version"] != found.version:
        del request.session[key]
        messages.error(
            request,
            "Someone else changed this rule while you were changing it. Here it is as it "
            "now stands: make your change again.",
        )
        return redirect(change_url)
    before = configuration.snapshot_of(found, SHOWN_FIELDS)
    form = RuleForm(_as_querydict(draft["data"]), instance=Rule.objects.get(pk=found.pk))
    if not form.is_valid():
        return redirect(f"{change_url}?draft=1")
    changed = form.save(commit=False)
    after = configuration.snapshot_of(changed, SHOWN_FIELDS)
    changes = configuration.describe_changes(before, after)
    if request.method == "POST":
        del request.session[key]
        if changes:
            rule_save_with_version(rule=changed, acting_user=request.user)
            messages.success(request, f"Rule saved: {changed.name} (version {changed.version}).")
        else:
            messages.info(request, "Nothing was changed.")
        return redirect("configuration:rule", found.pk)
    return render(
        request,
        "configuration/rule_check.html",
        {
            "rule": found,
            "changes": changes,
            "change_url": change_url,
            "cancel_url": reverse("configuration:rule", args=[found.pk]),
            "who_changes": any(item["field"] in WHO_FIELDS for item in changes),
        },
    )


NEW_RULE_KEY = "configuration-rule-new"


@require_http_methods(["GET", "POST"])
@partnership_admin_required
def rule_add(request: HttpRequest) -> HttpResponse:
    """A new rule's form; a valid answer goes to the check-your-answers page, and is
    kept in the session until confirmed there (nothing is saved yet)."""
    draft = request.session.get(NEW_RULE_KEY)
    if request.method == "POST":
        form = RuleForm(request.POST)
        if form.is_valid():
            data = {
                name: request.POST.getlist(name)
                for name in request.POST
                if name != "csrfmiddlewaretoken"
            }
            request.session[NEW_RULE_KEY] = {"data": data}
            return redirect("configuration:rule_add_check")
    elif draft and request.GET.get("draft"):
        form = RuleForm(_as_querydict(draft["data"]))
    else:
        form = RuleForm()
    return _form_page(
        request,
        form,
        title="Add a rule",
        caption="Notification rules",
        back_url=reverse("configuration:rules"),
        hint="Say when it applies, who must tell whom and by when. You check it before "
        "it is saved; it applies to events from then on.",
    )


@require_http_methods(["GET", "POST"])
@partnership_admin_required
def rule_add_check(request: HttpRequest) -> HttpResponse:
    """The new rule, in words; saved (as version 1, recorded as a configuration change)
    only when confirmed."""
    draft = request.session.get(NEW_RULE_KEY)
    add_url = reverse("configuration:rule_add")
    if not draft:
        return redirect(add_url)
    form = RuleForm(_as_querydict(draft["data"]))
    if not form.is_valid():
        return redirect(f"{add_url}?draft=1")
    new = form.save(commit=False)
    changes = configuration.describe_changes(None, configuration.snapshot_of(new, SHOWN_FIELDS))
    if request.method == "POST":
        del request.session[NEW_RULE_KEY]
        rule_save_with_version(rule=new, acting_user=request.user)
        messages.success(request, f"Rule added: {new.name} (version 1).")
        return redirect("configuration:rule", new.pk)
    return render(
        request,
        "configuration/rule_check.html",
        {
            "rule": new,
            "adding": True,
            "changes": changes,
            "change_url": add_url,
            "cancel_url": reverse("configuration:rules"),
            "who_changes": False,
        },
    )


WHO_FIELDS = {
    configuration.field_label(Rule, name)
    for name in ("teller", "recipient", "active", "use_out_of_hours_contact", "step", "condition")
}
