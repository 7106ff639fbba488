"""What is kept when children's records are erased at the end of retention.

``Erasure`` records each erasure: who confirmed it, when, and how many records went.
``ErasedCount`` keeps, per erasure, month and council (or agency), the anonymous counts
the managers' measures are made of, so that the measures of a past period do not drop
when the records they counted are erased (``oversight.queries.measures`` adds them in).
Neither holds anything about a child but their record's id, which the access log
also names.
"""

from __future__ import annotations

import datetime as dt

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


class MeasureMonth(models.Model):
    """One month of the managers' measures kept in ``MonthlyCount``: when it was counted
    (``built_at``: as of then, for a month still open), and whether a fact about it has
    changed since (``stale``: the measures count that month from the records again until
    the scheduler counts it anew). Written only by ``oversight.aggregates``."""

    month = models.DateField(unique=True)
    built_at = models.DateTimeField()
    # Changes to the records recorded up to this time are counted.
    checked_at = models.DateTimeField()
    stale = models.BooleanField(default=False)

    class Meta:
        ordering = ["month"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"Measures of {self.month:%B %Y}{' (stale)' if self.stale else ''}"


class MonthlyCount(models.Model):
    """The managers' measures of one month, counted from the records, for the managers
    of one agency (``viewer``: the children the agency sees, as
    ``incidents.ChildVisibility`` says), by the children's responsible council (``area``)
    and, for interviews and notifications, by owning or telling agency (``agency``). Kept
    by ``oversight.aggregates``; what each measure counts is
    ``oversight.queries.measures``'s, and the counts equal it (an open month's, as of
    when it was counted).

    - ``episodes``: ``count`` episodes last seen in the month, of ``children`` children;
    - ``first_seen``: ``count`` children with an episode in the month whose previous
      episode was ``code`` months before ("" for none), so that the children of a period
      are counted once each;
    - ``interviews``, ``returns``, ``notifications``: ``count`` due, ``on_time``;
    - ``push``, ``pull``: ``count`` interviews held in the month citing factor ``code``;
    - ``durations``: the lengths in seconds (``lengths``: sorted, packed by
      ``oversight.medians``) of the ``count`` episodes found in the month (for the
      medians, which cannot be added up: found by bisecting the months' runs).
    """

    class Measure(models.TextChoices):
        EPISODES = "episodes", "Episodes"
        FIRST_SEEN = "first_seen", "Children, by months since their previous episode"
        INTERVIEWS = "interviews", "Return interviews"
        RETURNS = "returns", "Returns (safe and well check shared)"
        NOTIFICATIONS = "notifications", "Notifications"
        PUSH = "push", "Push factors"
        PULL = "pull", "Pull factors"
        DURATIONS = "durations", "Lengths of episodes found"

    month = models.DateField()
    viewer = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    measure = models.CharField(max_length=15, choices=Measure)
    area = models.ForeignKey(
        LocalAuthorityArea, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    agency = models.ForeignKey(
        Agency, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    code = models.CharField(max_length=40, blank=True)
    count = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)
    children = models.PositiveIntegerField(default=0)
    lengths = models.BinaryField(default=bytes, blank=True)

    class Meta:
        ordering = ["month", "measure", "id"]
        default_permissions = ()
        indexes = [
            # A manager's measures: their agency's counts of the months shown.
            models.Index(fields=["viewer", "month"], name="monthlycount_viewer_month_idx"),
            models.Index(fields=["month"], name="monthlycount_month_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_measure_display()} in {self.month:%B %Y}: {self.count}"


class ReturnRequest(models.Model):
    """A council's statutory returns for a collection year, asked for by one of its
    managers and built by the scheduler (``oversight.return_requests``): the SSDA903
    Missing and Header tables checked against DfE's rules, and Annex A List 8 as at a
    date. Written only through the functions there, each of which changes ``status``
    from a known state to the next (a conditional update), so two schedulers never both
    finish one request.

    queued → building → ready, or failed (with ``error``). A building request whose
    claim is older than ``policy.RETURN_BUILD_LEASE`` had its builder die: it is claimed
    again, ``attempts`` counting the tries. What was built is kept here (the row counts,
    the failing rows as ``checks``) and in ``ReturnFilePart`` (the files), read by the
    page and the downloads; the files and checks are removed after
    ``policy.RETURN_FILES_KEPT_FOR``, the request itself is kept as the record of who
    asked for what.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to be prepared"
        BUILDING = "building", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    # PROTECT: people are deactivated, never deleted, and this must keep naming them.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The agency whose managers may see the request and its files.
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    area = models.ForeignKey(LocalAuthorityArea, on_delete=models.PROTECT, related_name="+")
    # The collection year, by the year it ends (2026: 1 April 2025 to 31 March 2026).
    year = models.PositiveSmallIntegerField()
    # Annex A List 8: the children in care on this date.
    as_at = models.DateField()
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The builder's claim (a lease, see above), and how many builds were started.
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # What was built: the rows of each file, and every row failing one of DfE's rules
    # (``oversight.return_requests.failure_to_json``); ``blocking`` of them stop the
    # Missing and Header files (no council child identifier).
    missing_rows = models.PositiveIntegerField(null=True, blank=True)
    header_rows = models.PositiveIntegerField(null=True, blank=True)
    list_8_rows = models.PositiveIntegerField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(null=True, blank=True)
    blocking_count = models.PositiveIntegerField(null=True, blank=True)
    checks = models.JSONField(default=list, blank=True)
    build_seconds = models.FloatField(null=True, blank=True)
    files_removed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        default_permissions = ()
        indexes = [
            # The scheduler's claim (oversight.return_requests.claim_next): the requests
            # not yet built, oldest first; built ones (nearly all) are not in it.
            models.Index(
                fields=["requested_at", "id"],
                name="returnrequest_claim_idx",
                condition=Q(status__in=["queued", "building"]),
            ),
            # The returns page: an agency's latest requests.
            models.Index(fields=["agency", "-requested_at"], name="returnrequest_agency_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(year__gte=2000) & Q(year__lte=9999), name="returnrequest_year_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "building", "ready", "failed"]),
                name="returnrequest_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Returns of {self.area} for {self.year} ({self.get_status_display()})"

    @property
    def pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.BUILDING)


class ReturnFilePart(models.Model):
    """A piece of one of a built return's files, as sent (CSV text, a few thousand
    lines): the download streams the pieces in order, so neither the build nor the
    download holds a whole year's file in one value."""

    class Kind(models.TextChoices):
        MISSING = "missing", "SSDA903 Missing table"
        HEADER = "header", "SSDA903 Header table"
        LIST_8 = "list8", "Annex A List 8"

    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="parts")
    kind = models.CharField(max_length=10, choices=Kind)
    part = models.PositiveIntegerField()
    content = models.TextField()

    class Meta:
        ordering = ["request", "kind", "part"]
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["request", "kind", "part"], name="one_returnfilepart_per_place"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}, part {self.part}"


class DueItem(models.Model):
    """One item on a managers' overdue list (``kind``: the list's slug), for the managers
    of one agency (``viewer``: an agency that may see the item's child, as
    ``incidents.ChildVisibility`` says). Kept by ``oversight.due`` in the same
    transaction as every change to what it follows; what each list holds is
    ``oversight.queries``'s, and the kept lists equal it.

    The item is on the list while ``due_at < now`` and, when ``until`` is set,
    ``now <= until`` (a period looked back over), so a deadline passing needs no job.
    ``sort_*`` carry the list's order (``oversight.due.KINDS``), ``item_id`` the id of
    the interview, episode or notification, and ``agency`` the agency that must tell
    (notifications, for the list's groups). A list of children (repeat missing, out of
    area) keeps a row for each period in which the child is on it with the same order
    (``item_id``: ``oversight.due.period_id``), so a child is shown once at any time.
    """

    viewer = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    child = models.ForeignKey("incidents.Child", on_delete=models.CASCADE, related_name="+")
    item_id = models.BigIntegerField()
    due_at = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True)
    agency = models.ForeignKey(
        Agency, on_delete=models.SET_NULL, related_name="+", null=True, blank=True, db_index=False
    )
    # Empty (NULL) sorts last, as a notification with no agency to tell does.
    sort_text = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # A second text key, after ``sort_text`` (a child's first name after the last name).
    sort_text2 = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    sort_num = models.IntegerField(default=0)
    sort_flag = models.BooleanField(default=False)
    sort_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["viewer", "kind", "item_id"], name="dueitem_viewer_kind_item_uniq"
            ),
        ]
        indexes = [
            # The dashboard's counts: an index-only range count for each list.
            models.Index(fields=["viewer", "kind", "due_at", "until"], name="dueitem_count_idx"),
            # Keeping the rows: a child's rows, replaced when its items change.
            models.Index(fields=["child", "kind"], name="dueitem_child_idx"),
            # ... and a notification's rows alone (the e-mail worker's deliveries).
            models.Index(
                fields=["item_id"],
                condition=Q(
                    kind__in=["notifications_overdue", "emails_failing", "notification_problems"]
                ),
                name="dueitem_notification_idx",
            ),
            # Each list's pages, read by key in the list's order.
            models.Index(
                fields=["viewer", "sort_at", "item_id"],
                condition=Q(
                    kind__in=[
                        "interviews_overdue",
                        "safe_and_well_outstanding",
                        "strategy_discussions_overdue",
                    ]
                ),
                name="dueitem_oldest_first_idx",
            ),
            models.Index(
                fields=["viewer", "sort_text", "sort_at", "item_id"],
                condition=Q(kind__in=["notifications_overdue", "emails_failing"]),
                name="dueitem_by_agency_idx",
            ),
            models.Index(
                fields=["viewer", "-sort_at", "-item_id"],
                condition=Q(kind="notification_problems"),
                name="dueitem_newest_first_idx",
            ),
            models.Index(
                fields=["viewer", "-sort_num", "-sort_flag", "sort_at", "item_id"],
                condition=Q(kind="stuck_cases"),
                name="dueitem_stuck_idx",
            ),
            # The kept counts' today: the rows whose period ends today (``DueCount``).
            models.Index(
                fields=["viewer", "kind", "until"],
                condition=Q(until__isnull=False),
                name="dueitem_until_idx",
            ),
            models.Index(
                fields=["viewer", "-sort_num", "-sort_at", "item_id"],
                condition=Q(kind="repeat_missing"),
                name="dueitem_repeat_idx",
            ),
            models.Index(
                fields=["viewer", "-sort_flag", "sort_text", "sort_text2", "item_id"],
                condition=Q(kind="out_of_area"),
                name="dueitem_out_of_area_idx",
            ),
            # The hotspots' sightings: the viewer's in the period, read from the index
            # alone (by ``until``: the period's end) ...
            models.Index(
                fields=["viewer", "until", "due_at", "sort_num", "child", "sort_at"],
                condition=Q(kind="hotspots"),
                name="dueitem_sighting_idx",
            ),
            # ... and a place's, newest first.
            models.Index(
                fields=["viewer", "sort_num", "-sort_at", "-item_id"],
                condition=Q(kind="hotspots"),
                name="dueitem_sighting_place_idx",
            ),
            # ... and those whose period is over, whoever the viewer (deleted by the
            # scheduler's pass, ``oversight.due.roll_places``).
            models.Index(
                fields=["until"], condition=Q(kind="hotspots"), name="dueitem_sighting_until_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.item_id} for agency {self.viewer_id}"


class DueCount(models.Model):
    """How many ``DueItem`` rows share a key: the viewer, the list (``kind``), the agency
    that must tell (``agency``: its id, 0 for none or a list without one) and the UTC days
    of ``due_at`` (``due_on``) and of ``until`` (``until_on``; ``NO_END`` when none). Kept
    by ``oversight.due`` from the rows it deletes and inserts, in the same statements'
    transaction; a key whose count falls to 0 is deleted.

    A list's count now is the sum over the keys due before today that end after today
    (every row of them is on the list all day), plus the rows due today or ending today,
    counted from ``DueItem`` (``oversight.due.count_parts``). So the dashboard sums a few
    thousand counts rather than counting hundreds of thousands of rows.
    """

    NO_END = dt.date(9999, 12, 31)

    # Indexed by the key's constraint, which starts with it.
    viewer = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=40)
    # Not a foreign key: 0 stands for "none" so that the key is unique on every database
    # (NULLs are distinct in a unique index). Notifications protect their agency.
    agency = models.BigIntegerField(default=0)
    due_on = models.DateField()
    until_on = models.DateField()
    n = models.IntegerField()

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["viewer", "kind", "due_on", "until_on", "agency"],
                name="duecount_key_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.n} {self.kind} due {self.due_on} for agency {self.viewer_id}"


class PlaceChild(models.Model):
    """A child's latest kept sighting at a place (``DueItem`` rows of the hotspots'
    sightings, ``place`` their ``sort_num``), for the managers of one agency: a row for
    each viewer, place and child whose latest sighting there is on or after the
    tallies' start (``DueState.places_since``). Kept by ``oversight.due`` with the
    sightings, in the same transaction; the scheduler deletes the rows that fall before
    the start as it moves on (``due.roll_places``)."""

    viewer = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+", db_index=False)
    # A place's id (``incidents.Location``), as ``DueItem.sort_num``.
    place = models.IntegerField()
    child = models.ForeignKey(
        "incidents.Child", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    latest_at = models.DateTimeField()

    class Meta:
        default_permissions = ()
        constraints = [
            # Also a child's rows, replaced when its sightings change.
            models.UniqueConstraint(
                fields=["child", "viewer", "place"], name="placechild_child_viewer_place_uniq"
            ),
        ]
        indexes = [
            # A manager's rows fallen out of the period since the start, and any after now.
            models.Index(fields=["viewer", "latest_at"], name="placechild_viewer_at_idx"),
            # The rows before a new start, whoever the viewer (the scheduler's pass).
            models.Index(fields=["latest_at"], name="placechild_at_idx"),
        ]

    def __str__(self) -> str:
        return f"Child {self.child_id} at place {self.place} for agency {self.viewer_id}"


class PlaceTally(models.Model):
    """How many ``PlaceChild`` rows a viewer has at a place (``children``), the latest
    of their times (``latest``) and how many kept sightings (``sightings``): the
    hotspots, read as the tallies with enough children less the children and sightings
    fallen out of the period since the scheduler's last pass
    (``oversight.due.hotspot_places_sql``), a few rows rather than a period of sightings
    grouped. Kept by ``oversight.due`` from the rows it deletes and inserts (adding to
    the counts); a tally fallen to 0 is deleted."""

    viewer = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+", db_index=False)
    place = models.IntegerField()
    children = models.IntegerField()
    # How many kept sightings (``DueItem`` rows) the viewer has at the place.
    sightings = models.IntegerField(default=0)
    latest = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["viewer", "place"], name="placetally_viewer_place_uniq"
            ),
        ]
        indexes = [
            # A manager's busiest places, read from the index alone on PostgreSQL.
            models.Index(
                fields=["viewer", "children", "latest", "place"],
                name="placetally_busiest_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.children} children at place {self.place} for agency {self.viewer_id}"


class DueState(models.Model):
    """How ``DueItem`` was filled: one row at most. ``filled`` is false from migrating a
    database that held records until ``manage.py rebuild_due_items`` fills the table;
    until then the managers' pages count from the records (exact, only slower). No row:
    filled (a new database)."""

    filled = models.BooleanField(default=True)
    built_at = models.DateTimeField()
    # The stuck cases' threshold the rows were counted with (``policy``, from a rule).
    stuck_threshold = models.PositiveSmallIntegerField(default=0)
    # The repeat threshold (episodes, days) the repeat missing were counted with.
    repeat_count = models.PositiveSmallIntegerField(default=0)
    repeat_days = models.PositiveSmallIntegerField(default=0)
    # The start of the hotspots' tallies (``PlaceChild``, ``PlaceTally``): no row is kept
    # for a child whose latest sighting at a place is before it. None: every one is kept.
    # Moved on by the scheduler (``oversight.due.roll_places``) to the default period's start.
    places_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"Overdue lists kept since {self.built_at:%d/%m/%Y %H:%M}"
