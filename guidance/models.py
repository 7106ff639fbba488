"""Practice guidance that the partnership writes: the protocol, Voice of the Child
prompts, the escalation policy, creative engagement.

A page is written in Markdown and rendered through ``guidance.rendering`` (which
sanitises it), never marked safe as typed. Every save keeps the page as it was in a
``GuidanceVersion``, so what a practitioner read on a given day can be shown again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class GuidancePage(models.Model):
    slug = models.SlugField(
        "web address",
        max_length=60,
        unique=True,
        help_text="The last part of the page's address; it cannot be changed later.",
    )
    title = models.CharField(max_length=120)
    summary = models.CharField(
        max_length=300, blank=True, help_text="One sentence shown in the list of guidance."
    )
    body = models.TextField(help_text="Markdown.")
    # Counts the saves: the number of the current version, and the stale-edit check.
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Empty for the pages shipped with the service.",
    )

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("guidance:page", args=[self.slug])


class GuidanceVersion(models.Model):
    """A page as it stood after one save (version 1: as first written or shipped)."""

    page = models.ForeignKey(GuidancePage, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=120)
    summary = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    change_note = models.CharField("what changed", max_length=300)
    written_at = models.DateTimeField(default=timezone.now)
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["page", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["page", "number"], name="guidance_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.title}, version {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("guidance:version", args=[self.page.slug, self.number])
