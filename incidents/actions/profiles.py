"""The missing person profile (the Philomena Protocol): kept ready, shared at the report.

The responsible council and the child's placement provider keep a child in care's
profile current (``profile_save``, ``profile_mark_reviewed``); the police read it. When
the child is reported missing, ``profile_share`` copies the profile as it stood into the
episode (an ``EpisodeProfileSnapshot``, photo file copied too, so a later edit changes
nothing the police were given) and records a ``profile_shared`` event, which the
notifications app turns into its own notification to the police. A profile first kept
while the child is already missing is shared at that moment, the same way.

The photo lives in the private "profile_photos" storage (settings.STORAGES) and is
checked here: at most ``policy.PROFILE_PHOTO_MAX_BYTES``, a JPEG or PNG by its content
(its first bytes), whatever its name or the browser says it is.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from missingkids import policy
from missingkids.accounts.models import User

from .. import rights
from ..models import (
    CaseEvent,
    Child,
    Episode,
    EpisodeProfileSnapshot,
    MissingPersonProfile,
    profile_photo_path,
    profile_photo_storage,
)
from ..rights import Right
from .base import StaleEdit, event_record, raise_if_errors, update_versioned

logger = logging.getLogger(__name__)

NOT_IN_CARE = (
    "A missing person profile is kept only for a child in care. This child's legal status "
    "is not looked after."
)
PHOTO_TOO_LARGE = "The photo must be smaller than {limit}"
PHOTO_WRONG_TYPE = "The photo must be a JPEG or PNG"
PHOTO_EMPTY = "The photo is empty: choose another file"

# The first bytes of each accepted type. A PNG's first chunk is always its header (IHDR).
_JPEG_START = b"\xff\xd8\xff"
_PNG_START = b"\x89PNG\r\n\x1a\n"


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def photo_type(upload: UploadedFile) -> tuple[str, str]:
    """(content type, "") for a photo that may be kept, else ("", the message)."""
    if upload.size is not None and upload.size > policy.PROFILE_PHOTO_MAX_BYTES:
        return "", PHOTO_TOO_LARGE.format(limit=megabytes(policy.PROFILE_PHOTO_MAX_BYTES))
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not head:
        return "", PHOTO_EMPTY
    if head.startswith(_JPEG_START):
        return "image/jpeg", ""
    if head.startswith(_PNG_START) and head[12:16] == b"IHDR":
        return "image/png", ""
    return "", PHOTO_WRONG_TYPE


def _delete_file_later(name: str) -> None:
    """Delete a stored photo once the transaction that stopped using it commits."""
    if not name:
        return

    def delete() -> None:
        try:
            profile_photo_storage().delete(name)
        except OSError:
            # The record no longer names it; a file left behind holds nothing anyone can
            # reach through the service. Ids only in the log.
            logger.exception("Could not delete a replaced profile photo")

    transaction.on_commit(delete)


def _store_photo(instance: Any, upload: Any, content_type: str) -> str:
    name = profile_photo_path(instance, f"photo{policy.PROFILE_PHOTO_TYPES[content_type]}")
    return profile_photo_storage().save(name, upload)


def profile_for(*, user: User, child: Child) -> MissingPersonProfile | None:
    """The child's profile for someone who may see it (``Right.SEE_PROFILE``); refused
    to anyone else. None when no profile is kept."""
    rights.require(user, Right.SEE_PROFILE, child)
    return (
        MissingPersonProfile.objects.select_related("reviewed_by__agency", "updated_by__agency")
        .filter(child=child)
        .first()
    )


# The profile (with who last reviewed it), for a page that shows it: one query.
PROFILE_QUERIES = 1


def profile_if_allowed(*, child: Child, can: dict[str, bool]) -> MissingPersonProfile | None:
    """For a page that already worked out the person's standing (``Standing.can``): the
    profile if they may see it, else None without a query."""
    if not can.get(Right.SEE_PROFILE):
        return None
    return MissingPersonProfile.objects.select_related("reviewed_by").filter(child=child).first()


def profile_save(
    *,
    acting_user: User,
    child: Child,
    expected_version: int | None,
    photo: UploadedFile | None = None,
    remove_photo: bool = False,
    **text: str,
) -> MissingPersonProfile:
    """Create or change the child's profile; saving it counts as reviewing it.

    ``expected_version`` is the version the form was drawn from (None for a new
    profile): a save over someone else's is refused with the input kept (``StaleEdit``).
    """
    rights.require(acting_user, Right.EDIT_PROFILE, child)
    unknown = set(text) - set(MissingPersonProfile.TEXT_FIELDS)
    if unknown:
        raise TypeError(f"profile_save cannot change {', '.join(sorted(unknown))}")
    errors: dict[str, list[str]] = {}
    if not child.is_in_care:
        errors["__all__"] = [NOT_IN_CARE]
    values: dict[str, Any] = {}
    for name, value in text.items():
        value = (value or "").strip()
        if len(value) > policy.FREE_TEXT_MAX_LENGTH:
            label = MissingPersonProfile._meta.get_field(name).verbose_name
            errors[name] = [
                f"{str(label).capitalize()} must be {policy.FREE_TEXT_MAX_LENGTH:,} "
                "characters or fewer"
            ]
        values[name] = value
    content_type = ""
    if photo is not None:
        content_type, problem = photo_type(photo)
        if problem:
            errors["photo"] = [problem]
    raise_if_errors(errors)

    now = timezone.now()
    existing = MissingPersonProfile.objects.filter(child=child).first()
    if (existing is None) != (expected_version is None):
        raise StaleEdit("missing person profile")
    values.update(reviewed_at=now, reviewed_by=acting_user, updated_at=now, updated_by=acting_user)
    stored = ""
    try:
        with transaction.atomic():
            old_photo = existing.photo.name if existing is not None else ""
            if photo is not None:
                stored = _store_photo(existing, photo, content_type)
                values.update(photo=stored, photo_type=content_type)
            elif remove_photo:
                values.update(photo="", photo_type="")
            if existing is None:
                profile = MissingPersonProfile.objects.create(child=child, **values)
                changed = [f for f in MissingPersonProfile.TEXT_FIELDS if values.get(f)]
                changed += ["photo"] if stored else []
            else:
                profile = existing
                changes = update_versioned(
                    profile,
                    expected_version=expected_version or 0,
                    values=values,
                    what="missing person profile",
                    acting_user=acting_user,
                )
                changed = [
                    name for name in changes if name in (*MissingPersonProfile.TEXT_FIELDS, "photo")
                ]
            if old_photo and (stored or remove_photo):
                _delete_file_later(old_photo)
            labels = ", ".join(
                str(MissingPersonProfile._meta.get_field(name).verbose_name) for name in changed
            )
            event_record(
                child=child,
                kind=CaseEvent.Kind.PROFILE_SAVED,
                actor=acting_user,
                summary=(
                    f"Missing person profile {'kept' if existing is None else 'changed'}"
                    + (f": {labels}" if labels else ", nothing changed")
                ),
                data={"fields": changed, "created": existing is None},
            )
            if existing is None:
                _share_with_open_episode(acting_user=acting_user, profile=profile)
    except IntegrityError:
        # Someone else kept the first profile at the same moment (one per child).
        _forget(stored)
        raise StaleEdit("missing person profile") from None
    except BaseException:
        _forget(stored)
        raise
    return profile


def _forget(name: str) -> None:
    """A photo stored for a save that did not happen: nothing names it, delete it now."""
    if name:
        profile_photo_storage().delete(name)


def profile_mark_reviewed(
    *, acting_user: User, profile: MissingPersonProfile, expected_version: int
) -> MissingPersonProfile:
    """Reviewed with the child's carer or worker, nothing changed: the review date moves on."""
    child = profile.child
    rights.require(acting_user, Right.EDIT_PROFILE, child)
    if not child.is_in_care:
        raise ValidationError({"__all__": [NOT_IN_CARE]})
    with transaction.atomic():
        update_versioned(
            profile,
            expected_version=expected_version,
            values={"reviewed_at": timezone.now(), "reviewed_by": acting_user},
            what="missing person profile",
            acting_user=acting_user,
        )
        event_record(
            child=child,
            kind=CaseEvent.Kind.PROFILE_REVIEWED,
            actor=acting_user,
            summary="Missing person profile reviewed: nothing changed",
        )
    return profile


def profile_share(
    *, acting_user: User, episode: Episode, after_report: bool = False
) -> EpisodeProfileSnapshot | None:
    """Copy the child's profile into the episode and record that it was shared.

    Called by ``episode_report`` (and by ``profile_save`` for a profile first kept while
    the child is missing), in their transaction. Nothing for a child not in care, or with
    no profile, or an episode that already has its copy. The photo file is copied, so
    the copy stays as it was whatever later happens to the profile.
    """
    child = episode.child
    if not child.is_in_care:
        return None
    profile = MissingPersonProfile.objects.filter(child=child).first()
    if profile is None or EpisodeProfileSnapshot.objects.filter(episode=episode).exists():
        return None
    now = timezone.now()
    snapshot = EpisodeProfileSnapshot(
        episode=episode,
        profile_version=profile.version,
        reviewed_at=profile.reviewed_at,
        updated_at=profile.updated_at,
        taken_at=now,
        taken_by=acting_user,
        after_report=after_report,
        photo_type=profile.photo_type,
        **{name: getattr(profile, name) for name in MissingPersonProfile.TEXT_FIELDS},
    )
    copied = ""
    if profile.photo:
        storage = profile_photo_storage()
        with storage.open(profile.photo.name, "rb") as original:
            copied = _store_photo(snapshot, original, profile.photo_type)
        snapshot.photo.name = copied
    try:
        with transaction.atomic():
            snapshot.save()
            event_record(
                child=child,
                episode=episode,
                kind=CaseEvent.Kind.PROFILE_SHARED,
                actor=acting_user,
                summary=(
                    "Missing person profile shared with the police"
                    + (" (kept after the report)" if after_report else "")
                ),
                data={
                    "after_report": after_report,
                    "profile_version": profile.version,
                    "review_due": profile.review_due_on(now),
                    "with_photo": bool(copied),
                },
            )
    except BaseException:
        _forget(copied)
        raise
    return snapshot


def _share_with_open_episode(*, acting_user: User, profile: MissingPersonProfile) -> None:
    """Facts arrive late: a profile first kept while the child is missing is offered to
    the police at once, as it would have been at the report."""
    episode = (
        Episode.objects.filter(child_id=profile.child_id, found_at__isnull=True)
        .select_related("child")
        .first()
    )
    if episode is not None:
        profile_share(acting_user=acting_user, episode=episode, after_report=True)
