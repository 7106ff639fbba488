"""The missing person profile's pages: change it, mark it reviewed, the printable grab
sheet, the copy shared with the police at a report, and the photos.

Photos are never public files: each is read from the private "profile_photos" storage
by a view that checks the same right as the page showing it (``Right.SEE_PROFILE``).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_http_methods

from missingkids.audit.log import log_record_view

from .. import access, rights
from ..actions import profiles as actions
from ..actions.base import StaleEdit
from ..forms.profiles import ProfileForm
from ..models import Child, EpisodeProfileSnapshot, MissingPersonProfile, ProfileFields
from ..rights import Right


def _profile(child: Child) -> MissingPersonProfile | None:
    return (
        MissingPersonProfile.objects.select_related("reviewed_by__agency", "updated_by__agency")
        .filter(child=child)
        .first()
    )


@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest, pk: int) -> HttpResponse:
    child = access.get_child_for_user(request.user, pk)
    rights.require(request.user, Right.EDIT_PROFILE, child)
    profile = _profile(child)
    conflict = False
    if not child.is_in_care:
        return render(request, "incidents/profiles/edit.html", {"child": child, "form": None})
    has_photo = bool(profile and profile.photo)
    if request.method == "POST":
        form = ProfileForm(request.POST, request.FILES, has_photo=has_photo)
        if form.is_valid():
            try:
                actions.profile_save(
                    acting_user=request.user,
                    child=child,
                    expected_version=form.cleaned_data["version"],
                    **form.action_fields(),
                )
            except StaleEdit as error:
                form.add_error(None, error)
                conflict = True
                profile = _profile(child)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "The missing person profile has been saved.")
                return redirect("incidents:child_detail", pk=child.pk)
        if conflict:
            # The input stays; the version moves on so that, having compared, they may
            # save again deliberately over the newer save.
            data = form.data.copy()
            data["version"] = str(profile.version) if profile else ""
            form.data = data
    else:
        initial = {}
        if profile is not None:
            initial = {name: getattr(profile, name) for name in MissingPersonProfile.TEXT_FIELDS}
            initial["version"] = profile.version
        form = ProfileForm(initial=initial, has_photo=has_photo)
    return render(
        request,
        "incidents/profiles/edit.html",
        {"child": child, "form": form, "profile": profile, "conflict": conflict},
    )


@require_http_methods(["GET", "POST"])
def profile_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The card's button posts here; a GET (a bookmarked or shared address) is answered
    like any record page (404 out of scope, 403 without the right), then sent to the card."""
    child = access.get_child_for_user(request.user, pk)
    rights.require(request.user, Right.EDIT_PROFILE, child)
    if request.method != "POST":
        return redirect(f"{child_url(child)}#missing-person-profile")
    profile = _profile(child)
    if profile is None:
        raise Http404("No profile")
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    try:
        actions.profile_mark_reviewed(
            acting_user=request.user, profile=profile, expected_version=version
        )
    except StaleEdit:
        messages.error(
            request,
            "Someone else changed the missing person profile since you opened this page: "
            "check it below, then mark it reviewed again.",
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The missing person profile is marked as reviewed.")
    return redirect(f"{child_url(child)}#missing-person-profile")


def child_url(child: Child) -> str:
    return reverse("incidents:child_detail", args=[child.pk])


@require_GET
def profile_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    """The grab sheet: the profile on one printable page."""
    child = access.get_child_for_user(request.user, pk)
    profile = actions.profile_for(user=request.user, child=child)
    log_record_view(request, child_id=child.pk)
    return render(
        request,
        "incidents/profiles/sheet.html",
        {
            "child": child,
            "profile": profile,
            "photo_url": _url("incidents:profile_photo", child.pk) if profile else "",
            "snapshot": None,
        },
    )


@require_GET
def profile_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    """The profile as it was shared with the police for one episode (the e-mail's link)."""
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.SEE_PROFILE, episode.child)
    log_record_view(request, child_id=episode.child_id, episode_id=episode.pk)
    snapshot = (
        EpisodeProfileSnapshot.objects.select_related("taken_by__agency")
        .filter(episode=episode)
        .first()
    )
    return render(
        request,
        "incidents/profiles/sheet.html",
        {
            "child": episode.child,
            "episode": episode,
            "profile": snapshot,
            "snapshot": snapshot,
            "photo_url": _url("incidents:profile_snapshot_photo", episode.pk) if snapshot else "",
        },
    )


def _url(name: str, pk: int) -> str:
    return reverse(name, args=[pk])


def _photo_response(record: ProfileFields | None) -> FileResponse:
    if record is None or not record.photo or not record.photo_type:
        raise Http404("No photo")
    try:
        handle = record.photo.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("No photo") from None
    response = FileResponse(handle, content_type=record.photo_type)
    # Shown in the page, never sniffed as anything else, never kept by a shared cache.
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def profile_photo(request: HttpRequest, pk: int) -> FileResponse:
    child = access.get_child_for_user(request.user, pk)
    rights.require(request.user, Right.SEE_PROFILE, child)
    response = _photo_response(MissingPersonProfile.objects.filter(child=child).first())
    # Logged once there is a photo to show; "no photo" is logged as refused, as a 404 is.
    log_record_view(request, child_id=child.pk)
    return response


@require_GET
def profile_snapshot_photo(request: HttpRequest, pk: int) -> FileResponse:
    episode = access.get_episode_for_user(request.user, pk)
    rights.require(request.user, Right.SEE_PROFILE, episode.child)
    response = _photo_response(EpisodeProfileSnapshot.objects.filter(episode=episode).first())
    log_record_view(request, child_id=episode.child_id, episode_id=episode.pk)
    return response


urlpatterns: list[URLPattern] = [
    path("children/<int:pk>/profile/", profile_sheet, name="profile_sheet"),
    path("children/<int:pk>/profile/edit/", profile_edit, name="profile_edit"),
    path("children/<int:pk>/profile/reviewed/", profile_review, name="profile_review"),
    path("children/<int:pk>/profile/photo/", profile_photo, name="profile_photo"),
    path("episodes/<int:pk>/profile/", profile_snapshot, name="profile_snapshot"),
    path("episodes/<int:pk>/profile/photo/", profile_snapshot_photo, name="profile_snapshot_photo"),
]
