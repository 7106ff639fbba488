"""Every change to a guidance page goes through here, and each keeps a version."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from missingkids.accounts.models import User

from .models import GuidancePage, GuidanceVersion


class StaleGuidanceEdit(ValidationError):
    """Someone saved the page after this author opened it."""


def add_page(
    *,
    slug: str,
    title: str,
    summary: str,
    body: str,
    by: User | None,
    change_note: str = "Page written",
) -> GuidancePage:
    now = timezone.now()
    with transaction.atomic():
        page = GuidancePage.objects.create(
            slug=slug,
            title=title,
            summary=summary,
            body=body,
            version=1,
            updated_at=now,
            updated_by=by,
        )
        GuidanceVersion.objects.create(
            page=page,
            number=1,
            title=title,
            summary=summary,
            body=body,
            change_note=change_note,
            written_at=now,
            written_by=by,
        )
    return page


def change_page(
    page: GuidancePage,
    *,
    title: str,
    summary: str,
    body: str,
    change_note: str,
    by: User,
    expected_version: int,
) -> GuidancePage:
    """Save a new version, unless another was saved since ``expected_version``.

    The check and the write are one UPDATE, so two authors saving at once cannot both
    succeed from the same starting version.
    """
    now = timezone.now()
    with transaction.atomic():
        updated = GuidancePage.objects.filter(pk=page.pk, version=expected_version).update(
            title=title,
            summary=summary,
            body=body,
            version=expected_version + 1,
            updated_at=now,
            updated_by=by,
        )
        if not updated:
            current = GuidancePage.objects.select_related("updated_by").get(pk=page.pk)
            who = current.updated_by.get_full_name() if current.updated_by else "someone"
            when = timezone.localtime(current.updated_at).strftime("%d/%m/%Y %H:%M")
            raise StaleGuidanceEdit(
                f"{who} saved this page at {when}, after you opened it. Your text is below: "
                "copy what you need, then open the page again to see their changes.",
                code="stale",
            )
        GuidanceVersion.objects.create(
            page=page,
            number=expected_version + 1,
            title=title,
            summary=summary,
            body=body,
            change_note=change_note,
            written_at=now,
            written_by=by,
        )
    page.refresh_from_db()
    return page
