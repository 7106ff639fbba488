"""Practice guidance: read by everyone signed in, written by partnership admins."""

from __future__ import annotations

import difflib
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from missingkids.accounts import access
from missingkids.forms import could_be_id

from .actions import StaleGuidanceEdit, add_page, change_page
from .forms import GuidanceForm
from .models import GuidancePage, GuidanceVersion
from .rendering import render_markdown
from .steps import STEPS


def _require_editor(request: HttpRequest) -> None:
    if not access.may_edit_guidance(request.user):
        raise PermissionDenied("Only partnership admins can change the guidance.")


@require_GET
def guidance_list(request: HttpRequest) -> HttpResponse:
    pages = GuidancePage.objects.select_related("updated_by").order_by("title")
    linked = {step.slug for step in STEPS.values()}
    return render(
        request,
        "guidance/list.html",
        {
            "pages": pages,
            "linked": linked,
            "can_edit": access.may_edit_guidance(request.user),
        },
    )


@require_GET
def guidance_page(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(GuidancePage.objects.select_related("updated_by"), slug=slug)
    return render(
        request,
        "guidance/page.html",
        {
            "page": page,
            "body": render_markdown(page.body),
            "can_edit": access.may_edit_guidance(request.user),
        },
    )


@require_GET
def guidance_versions(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(GuidancePage, slug=slug)
    versions = page.versions.select_related("written_by").order_by("-number")
    return render(request, "guidance/versions.html", {"page": page, "versions": versions})


def _changes(before: str, after: str) -> list[tuple[str, str]]:
    """The lines removed and added between two versions' texts, in order."""
    lines: list[tuple[str, str]] = []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        tag, text = line[:1], line[2:]
        if tag == "-":
            lines.append(("removed", text))
        elif tag == "+":
            lines.append(("added", text))
    return lines


@require_GET
def guidance_version(request: HttpRequest, slug: str, number: str) -> HttpResponse:
    page = get_object_or_404(GuidancePage, slug=slug)
    if not could_be_id(number):
        raise Http404("No such version.")
    version = get_object_or_404(
        GuidanceVersion.objects.select_related("written_by"), page=page, number=int(number)
    )
    previous = (
        GuidanceVersion.objects.filter(page=page, number__lt=version.number)
        .order_by("-number")
        .first()
    )
    changes = None
    if previous is not None:
        changes = _changes(previous.body, version.body)
        if previous.title != version.title:
            changes.insert(0, ("added", f"Title: {version.title}"))
            changes.insert(0, ("removed", f"Title: {previous.title}"))
    return render(
        request,
        "guidance/version.html",
        {
            "page": page,
            "version": version,
            "previous": previous,
            "changes": changes,
            "body": render_markdown(version.body),
        },
    )


def _edit_page(request: HttpRequest, form: GuidanceForm, **context: Any) -> HttpResponse:
    preview = None
    if form.is_bound and form.is_valid() and "preview" in request.POST:
        preview = render_markdown(form.cleaned_data["body"])
    return render(request, "guidance/edit.html", {"form": form, "preview": preview, **context})


@require_http_methods(["GET", "POST"])
def guidance_edit(request: HttpRequest, slug: str) -> HttpResponse:
    _require_editor(request)
    page = get_object_or_404(GuidancePage, slug=slug)
    if request.method == "POST":
        form = GuidanceForm(request.POST)
        if "preview" in request.POST:
            # Only the text needs to be sound to preview it; the rest is checked on saving.
            form.fields["change_note"].required = False
        if form.is_valid() and "preview" not in request.POST:
            try:
                change_page(
                    page,
                    title=form.cleaned_data["title"],
                    summary=form.cleaned_data["summary"],
                    body=form.cleaned_data["body"],
                    change_note=form.cleaned_data["change_note"],
                    by=request.user,
                    expected_version=form.cleaned_data["version"] or page.version,
                )
            except StaleGuidanceEdit as error:
                form.add_error(None, error)
            else:
                return redirect(page)
    else:
        form = GuidanceForm(
            initial={
                "title": page.title,
                "summary": page.summary,
                "body": page.body,
                "version": page.version,
            }
        )
    return _edit_page(request, form, page=page)


@require_http_methods(["GET", "POST"])
def guidance_add(request: HttpRequest) -> HttpResponse:
    _require_editor(request)
    if request.method == "POST":
        form = GuidanceForm(request.POST, adding=True)
        if form.is_valid() and "preview" not in request.POST:
            page = add_page(
                slug=form.cleaned_data["slug"],
                title=form.cleaned_data["title"],
                summary=form.cleaned_data["summary"],
                body=form.cleaned_data["body"],
                by=request.user,
            )
            return redirect(page)
    else:
        form = GuidanceForm(adding=True)
    return _edit_page(request, form, page=None)
