"""What is kept when children's records are erased at the end of retention.

``Erasure`` records each erasure: who confirmed it, when, and how many records went.
``ErasedCount`` keeps, per erasure, month and council (or agency), the anonymous counts
the managers' measures are made of, so that the measures of a past period do not drop
when the records they counted are erased (``oversight.queries.measures`` adds them in).
Neither holds anything about a child but their record's id, which the access log
also names.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from missingkids.accounts.models import Agency, LocalAuthorityArea


class Erasure(models.Model):
    """One erasure of records past retention, confirmed by a partnership admin."""

    erased_at = models.DateTimeField(default=timezone.now)
    # PROTECT: people are deactivated, never deleted, and this must keep naming them.
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    retention_age = models.PositiveSmallIntegerField()
    born_on_or_before = models.DateField("children born on or before")
    children = models.PositiveIntegerField("children's records erased")
    episodes = models.PositiveIntegerField("episodes erased")
    # The erased records' ids: what the access log's rows about them refer to.
    child_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["-erased_at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        when = timezone.localtime(self.erased_at)
        return f"{self.children} record(s) erased on {when:%d/%m/%Y %H:%M}"


class ErasedCount(models.Model):
    """Anonymous counts, for one month, of records erased: what the measures count.

    - ``episodes`` (by month last seen, per responsible council): ``count`` episodes of
      ``children`` different children;
    - ``returns`` (by month the return was first recorded, per responsible council):
      ``count`` returns, ``on_time`` of them with the safe and well check shared in time;
    - ``interviews`` (by month due, per owning agency): ``count`` due, ``on_time`` held
      by the deadline;
    - ``notifications`` (by month due, per agency that had to tell; cancelled ones
      left out): ``count`` due, ``on_time`` made by the deadline.
    """

    class Measure(models.TextChoices):
        EPISODES = "episodes", "Episodes"
        RETURNS = "returns", "Returns (safe and well check shared)"
        INTERVIEWS = "interviews", "Return interviews"
        NOTIFICATIONS = "notifications", "Notifications"

    erasure = models.ForeignKey(Erasure, on_delete=models.PROTECT, related_name="counts")
    measure = models.CharField(max_length=15, choices=Measure)
    # The first day of the month (UK time) the rows were counted in.
    month = models.DateField()
    # The children's responsible council (which managers see the counts); for interviews
    # and notifications, ``agency`` is the owning or telling agency as well.
    area = models.ForeignKey(
        LocalAuthorityArea, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    count = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)
    children = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["month", "measure", "id"]
        indexes = [
            # Managers' measures: the counts of the months shown.
            models.Index(fields=["month", "measure"], name="erasedcount_month_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(on_time__lte=models.F("count")), name="erasedcount_on_time_le_count"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_measure_display()} in {self.month:%B %Y}: {self.count}"
