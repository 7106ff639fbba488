"""Children, their missing episodes, and everything recorded about them.

State changes go through the functions in ``incidents.actions``: they validate, write the
row, and write a ``CaseEvent`` (the child's timeline and the outbox of protocol events
that the notifications app reads). Nothing here imports notifications.

Several tables carry a ``version`` number: an edit is saved only if the version it was
based on is still current, so two people editing the same record cannot silently
overwrite each other (see ``incidents.actions.base.update_versioned``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Upper
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import LazyObject, empty
from simple_history.models import HistoricalRecords

from missingkids import policy
from missingkids.accounts.models import Agency, LocalAuthorityArea
from missingkids.choices import QuickChoiceLabels

from .feed import CurrentTransactionId
from .validators import validate_nhs_number, validate_uk_postcode, validate_upn


def correction_reason_field() -> models.TextField:
    """The history's "why it was changed": in full, for records that can be corrected."""
    return models.TextField(null=True, blank=True)


class Gender(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Another gender"
    NOT_KNOWN = "not_known", "Not known"


class ReturnSex(models.TextChoices):
    """Sex as the DfE returns code it (SSDA903 Header ``SEX``)."""

    MALE = "1", "Male"
    FEMALE = "2", "Female"


# The gender recorded for the child gives the return's sex where it can.
SEX_FOR_GENDER: dict[str, str] = {"male": ReturnSex.MALE, "female": ReturnSex.FEMALE}


def return_sex(gender: str, sex: str) -> str:
    """1 or 2 as the SSDA903 return codes sex, or "" when not known."""
    return SEX_FOR_GENDER.get(gender, sex)


class Ethnicity(models.TextChoices):
    """DfE ethnicity codes (SSDA903 Header ``ETHNIC``)."""

    WBRI = "WBRI", "White British"
    WIRI = "WIRI", "White Irish"
    WOTH = "WOTH", "Any other White background"
    WIRT = "WIRT", "Traveller of Irish heritage"
    WROM = "WROM", "Gypsy or Roma"
    MWBC = "MWBC", "White and Black Caribbean"
    MWBA = "MWBA", "White and Black African"
    MWAS = "MWAS", "White and Asian"
    MOTH = "MOTH", "Any other mixed background"
    AIND = "AIND", "Indian"
    APKN = "APKN", "Pakistani"
    ABAN = "ABAN", "Bangladeshi"
    AOTH = "AOTH", "Any other Asian background"
    BCRB = "BCRB", "Black Caribbean"
    BAFR = "BAFR", "Black African"
    BOTH = "BOTH", "Any other Black background"
    CHNE = "CHNE", "Chinese"
    OOTH = "OOTH", "Any other ethnic group"
    REFU = "REFU", "Refused"
    NOBT = "NOBT", "Information not yet obtained"


class CareLegalStatus(models.TextChoices):
    """The SSDA903 legal status of a period in care (``LS``)."""

    C1 = "C1", "C1: interim care order"
    C2 = "C2", "C2: full care order"
    D1 = "D1", "D1: freeing order granted"
    E1 = "E1", "E1: placement order granted"
    J1 = "J1", "J1: remanded to local authority accommodation or youth detention"
    J2 = "J2", "J2: placed in local authority accommodation under PACE 1984"
    J3 = "J3", "J3: sentenced to a youth rehabilitation order with residence requirement"
    L1 = "L1", "L1: under police protection in local authority accommodation"
    L2 = "L2", "L2: emergency protection order"
    L3 = "L3", "L3: under a child assessment order, away from home"
    V2 = "V2", "V2: single period of accommodation under section 20"
    V3 = "V3", "V3: short-term breaks, each episode of care recorded"
    V4 = "V4", "V4: short-term breaks, the agreement recorded"


class LegalStatus(models.TextChoices):
    IN_CARE = "in_care", "Child in care"
    CHILD_PROTECTION = "cp_plan", "Child protection plan"
    CHILD_IN_NEED = "cin", "Child in need"
    NONE = "none", "None"


class RiskGrade(models.TextChoices):
    # Ordered lowest to highest; RISK_ORDER gives the rank used for sorting and rules.
    NO_APPARENT_RISK = "no_apparent", "No apparent risk (very low)"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


RISK_ORDER: dict[str, int] = {
    RiskGrade.NO_APPARENT_RISK: 1,
    RiskGrade.LOW: 2,
    RiskGrade.MEDIUM: 3,
    RiskGrade.HIGH: 4,
}

# The episode's risk is the police grade. Until the police grade, it is "not yet graded"
# (rank 0): anyone else reporting gives a reporter's concern, kept as a RiskGrading of
# that kind and shown as such, never as the police grade.
NOT_GRADED = "not_graded"
EPISODE_RISK_CHOICES: list[tuple[str, str]] = [(NOT_GRADED, "Not yet graded"), *RiskGrade.choices]


def risk_label(value: str) -> str:
    return dict(EPISODE_RISK_CHOICES).get(value, value)


class Location(models.Model):
    """A place. One record per place, so a place seen across children is visible.

    Shared by every child seen there, so it holds what identifies the place (its name,
    postcode and coordinates), not what one person typed about it for one child: the
    address typed with an episode is kept on the episode. ``address`` holds only what
    was typed before that change for places no episode names; it is never shown.
    """

    description = models.CharField(
        max_length=200, help_text="For example 'Chester bus station' or 'friend's flat'."
    )
    address = models.TextField(blank=True)
    postcode = models.CharField(max_length=8, blank=True, validators=[validate_uk_postcode])
    latitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    longitude = models.DecimalField(max_digits=8, decimal_places=5, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["description"]
        indexes = [
            # Matching an existing place when a new one is typed in.
            models.Index(fields=["postcode"], name="location_postcode_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(
                    latitude__gte=-90,
                    latitude__lte=90,
                    longitude__gte=-180,
                    longitude__lte=180,
                ),
                name="location_coordinates_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.description}, {self.postcode}" if self.postcode else self.description


class Child(models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    known_as = models.CharField(max_length=100, blank=True)
    # The names as searched (incidents.views.children): upper case, one space between.
    # On PostgreSQL a trigram GiST index on it both finds a name part and reads the
    # closest names first (migration 0035).
    search_name = models.GeneratedField(
        expression=Upper(Concat("first_name", Value(" "), "last_name", Value(" "), "known_as")),
        output_field=models.TextField(),
        db_persist=True,
    )
    date_of_birth = models.DateField()
    gender = models.CharField(max_length=20, choices=Gender)
    # Only asked for when the gender does not give it (see ``return_sex``).
    sex = models.CharField(
        "sex for statutory returns",
        max_length=1,
        choices=ReturnSex,
        blank=True,
        help_text="As the DfE returns record it. Needed only when the gender is not male "
        "or female.",
    )
    ethnicity = models.CharField(max_length=4, choices=Ethnicity, blank=True)
    upn = models.CharField(
        "unique pupil number",
        max_length=13,
        blank=True,
        validators=[validate_upn],
    )
    la_child_id = models.CharField(
        "local authority child identifier",
        max_length=10,
        unique=True,
        null=True,
        blank=True,
        help_text="The CHILD identifier the council uses in its SSDA903 return.",
    )
    nhs_number = models.CharField(
        "NHS number",
        max_length=10,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_nhs_number],
    )
    police_person_reference = models.CharField(max_length=40, blank=True)
    legal_status = models.CharField(
        max_length=20,
        choices=LegalStatus,
        default=LegalStatus.NONE,
        help_text="The current status; its history is in LegalStatusPeriod.",
    )
    responsible_area = models.ForeignKey(
        LocalAuthorityArea,
        on_delete=models.PROTECT,
        related_name="responsible_for_children",
        verbose_name="responsible local authority",
    )
    # Profile that helps police find the child.
    physical_description = models.TextField(blank=True)
    places_they_go = models.TextField(blank=True)
    people_they_may_be_with = models.TextField(blank=True)
    frequented_locations = models.ManyToManyField(
        Location, blank=True, related_name="frequented_by"
    )
    # Added by a police force's system (the API) from a report that matched no child
    # the force can see: the council checks whether the child is already recorded
    # under other details, and clears the flag once it has.
    to_be_matched_by_council = models.BooleanField(
        "to be matched by the council",
        default=False,
        help_text="Added by a police system from a report that matched no recorded child.",
    )

    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    # Who changed which field from what to what, and when (incidents.history); the
    # search name follows the names and is not kept.
    history = HistoricalRecords(excluded_fields=["search_name"])

    class Meta:
        ordering = ["last_name", "first_name"]
        verbose_name_plural = "children"
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="child_name_idx"),
            models.Index(fields=["date_of_birth"], name="child_dob_idx"),
            # Search by identifier (incidents.views.children.search_results): exact, any
            # case. Names use the search name's trigram index on PostgreSQL (migration 0035).
            models.Index(Upper("la_child_id"), name="child_la_child_id_upper_idx"),
            models.Index(Upper("police_person_reference"), name="child_police_ref_upper_idx"),
            models.Index(fields=["upn"], name="child_upn_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def return_sex(self) -> str:
        """1 or 2 as the SSDA903 return codes sex, or "" when not known."""
        return return_sex(self.gender, self.sex)

    @property
    def is_in_care(self) -> bool:
        return self.legal_status == LegalStatus.IN_CARE

    def age_on(self, day: dt.date) -> int:
        years = day.year - self.date_of_birth.year
        if (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day):
            years -= 1
        return years


class LegalStatusPeriod(QuickChoiceLabels, models.Model):
    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="legal_statuses")
    status = models.CharField(max_length=20, choices=LegalStatus)
    start = models.DateField()
    end = models.DateField(null=True, blank=True)
    # A period with status "in care" is a period of care for the SSDA903 return; this is
    # its legal status in the return's terms, where the council records it.
    care_legal_status = models.CharField(
        "SSDA903 legal status", max_length=2, choices=CareLegalStatus, blank=True
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=F("start")),
                name="legal_status_end_after_start",
            ),
            models.UniqueConstraint(
                fields=["child"],
                condition=Q(end__isnull=True),
                name="one_current_legal_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} from {self.start:%d/%m/%Y}"


class Placement(QuickChoiceLabels, models.Model):
    class Type(models.TextChoices):
        FOSTER = "foster", "Foster care"
        KINSHIP = "kinship", "Family and friends (kinship) care"
        CHILDRENS_HOME = "home", "Children's home"
        RESIDENTIAL_SCHOOL = "residential_school", "Residential school"
        SEMI_INDEPENDENT = "semi_independent", "Supported or semi-independent living"
        SECURE = "secure", "Secure unit"
        PARENTS = "parents", "Placed with parents"
        OTHER = "other", "Other"

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="placements")
    start = models.DateField()
    end = models.DateField(null=True, blank=True)
    type = models.CharField(max_length=30, choices=Type)
    carer_name = models.CharField("carer or home", max_length=200, blank=True)
    address = models.TextField()
    postcode = models.CharField(max_length=8, validators=[validate_uk_postcode])
    host_area = models.ForeignKey(
        LocalAuthorityArea,
        on_delete=models.PROTECT,
        related_name="hosted_placements",
        verbose_name="host local authority",
        help_text="The council in whose area the placement is.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-start"]
        indexes = [
            # Host-authority access: children currently placed in an agency's area.
            models.Index(fields=["host_area", "end"], name="placement_host_idx"),
            # The daily visibility pass: placements that started or ended since the last.
            models.Index(fields=["start"], name="placement_start_idx"),
            models.Index(fields=["end"], name="placement_end_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=F("start")),
                name="placement_end_after_start",
            ),
            models.UniqueConstraint(
                fields=["child"],
                condition=Q(end__isnull=True),
                name="one_current_placement",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} from {self.start:%d/%m/%Y}"

    @property
    def placed_out_of_area(self) -> bool:
        """Derived, never typed: the host council is not the responsible one."""
        return self.host_area_id != self.child.responsible_area_id

    def is_current_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or self.end >= day)


class Involvement(QuickChoiceLabels, models.Model):
    """An agency or professional recorded as working with the child."""

    class Role(models.TextChoices):
        SOCIAL_WORKER = "social_worker", "Allocated social worker"
        IRO = "iro", "Independent reviewing officer"
        GP_PRACTICE = "gp", "GP practice"
        SCHOOL = "school", "School"
        SCHOOL_NURSE = "school_nurse", "School nurse"
        PROVIDER = "provider", "Return-interview provider"
        # The carer or home the child lives with: keeps the missing person profile.
        PLACEMENT_PROVIDER = "placement_provider", "Placement provider (carer or home)"
        OTHER = "other", "Other"

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="involvements")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="involvements")
    role = models.CharField(max_length=20, choices=Role)
    professional_name = models.CharField(max_length=200, blank=True)
    professional_email = models.EmailField(blank=True)
    professional_phone = models.CharField(max_length=40, blank=True)
    start = models.DateField()
    end = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["role", "start"]
        indexes = [
            # Access: children an agency is involved with.
            models.Index(fields=["agency", "end"], name="involvement_agency_idx"),
            # The daily visibility pass: involvements that started or ended since the last.
            models.Index(fields=["start"], name="involvement_start_idx"),
            models.Index(fields=["end"], name="involvement_end_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=F("start")),
                name="involvement_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        who = f"{self.professional_name}, " if self.professional_name else ""
        return f"{self.get_role_display()}: {who}{self.agency.name}"

    def is_current_on(self, day: dt.date) -> bool:
        """From its start day to its end day, as a placement: one that starts later
        grants nothing yet (``incidents.visibility.involvement_current``)."""
        return self.start <= day and (self.end is None or self.end >= day)


class InvolvementRequest(QuickChoiceLabels, models.Model):
    """The host council asks the responsible council to record an agency as involved.

    The council where a child placed out of area lives learns things locally (a school,
    a GP) but does not decide who works with the child or who is told about them: it
    asks, and the responsible council accepts (the involvement is then recorded through
    the normal action) or declines, with a reason.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the responsible council"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="involvement_requests")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20, choices=Involvement.Role)
    professional_name = models.CharField(max_length=200, blank=True)
    professional_email = models.EmailField(blank=True)
    professional_phone = models.CharField(max_length=40, blank=True)
    start = models.DateField()
    note = models.TextField("what the requester knows", blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_by_agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    involvement = models.ForeignKey(
        Involvement, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["requested_at", "id"]
        indexes = [
            # The child's page: requests still waiting for an answer.
            models.Index(
                fields=["child", "requested_at"],
                condition=Q(status="pending"),
                name="involvement_request_wait_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_at__isnull=False)),
                name="involvement_request_decided_when_answered",
            ),
        ]

    def __str__(self) -> str:
        return f"Request to record {self.agency.name} ({self.get_role_display()})"


class Episode(QuickChoiceLabels, models.Model):
    class Category(models.TextChoices):
        MISSING = "missing", "Missing"
        AWAY = "away", "Away from placement without authorisation"

    class HowReturned(models.TextChoices):
        RETURNED_SELF = "self", "Returned of their own accord"
        FOUND_POLICE = "police", "Found by police"
        FOUND_CARER = "carer", "Found or brought back by carer or family"
        FOUND_OTHER = "other_agency", "Found by another agency"
        OTHER = "other", "Other"

    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="episodes")
    category = models.CharField(max_length=10, choices=Category)
    reported_at = models.DateTimeField()
    reported_by_name = models.CharField("reported by", max_length=200)
    reported_by_agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="reported_episodes", null=True, blank=True
    )
    last_seen_at = models.DateTimeField()
    # The earliest last-seen time ever recorded for the episode. Anyone reporting may
    # correct the last-seen time, but the strategy discussion's deadline counts from
    # this, so a correction can make it sooner, never later: the council measured on it
    # cannot move it by editing the episode.
    earliest_last_seen_at = models.DateTimeField(
        "earliest last-seen time recorded", null=True, blank=True, editable=False
    )
    last_seen_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="last_seen_episodes", null=True
    )
    # The address as typed by whoever recorded this episode. The place (Location) is
    # shared by every child seen there, so it holds only what matches it (its name and
    # postcode); an address typed for one child is never shown on another's record.
    last_seen_address = models.TextField("address where last seen", blank=True)
    circumstances = models.TextField()
    police_reference = models.CharField(max_length=40, blank=True)
    # Exploitation and vulnerability flags.
    flag_cse = models.BooleanField("child sexual exploitation", default=False)
    flag_cce = models.BooleanField("criminal exploitation or county lines", default=False)
    flag_trafficking = models.BooleanField("trafficking", default=False)
    flag_self_harm = models.BooleanField("self-harm", default=False)
    flag_mental_health = models.BooleanField("mental health", default=False)
    flag_other = models.CharField("other vulnerability", max_length=200, blank=True)
    # The latest police grading, kept here so lists sort by it ("not yet graded", rank 0,
    # until the police grade); the history, reporters' concerns too, is RiskGrading.
    risk = models.CharField(max_length=20, choices=EPISODE_RISK_CHOICES, default=NOT_GRADED)
    risk_rank = models.PositiveSmallIntegerField(default=0)
    # Found / returned.
    found_at = models.DateTimeField(null=True, blank=True)
    # The return time as first recorded. A correction of the return time (by the police
    # or the responsible council, ReturnTimeCorrection) moves ``found_at`` but never
    # this: the safe and well check's deadline counts from it, so the police cannot move
    # the deadline they are measured on (the interview keeps its own, ReturnInterview.due_at).
    first_found_at = models.DateTimeField(
        "return time as first recorded", null=True, blank=True, editable=False
    )
    found_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="found_episodes", null=True, blank=True
    )
    found_address = models.TextField("address where found", blank=True)
    found_with = models.CharField("who they were with", max_length=300, blank=True)
    how_returned = models.CharField(max_length=20, choices=HowReturned, blank=True)
    return_notes = models.TextField(blank=True)
    # Closed by a manager with a reason, or when every required step is done.
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    closure_reason = models.TextField(blank=True)
    # When the episode's next timed step of the notification rules falls due ("still
    # missing at 72 hours", "return interview not done" ...), so that the scheduler reads
    # only the episodes due (episode_next_timed_step_idx), whatever the history. The
    # notifications engine works it out, in the same transaction as each change that can
    # move it; empty when none is left (closed, or every step evaluated). A change saved
    # here to the times the steps count from (a new episode, an earlier last-seen time,
    # the return) brings it forward to that time, so a row written without an outbox
    # event is still looked at, and then worked out.
    next_timed_step_at = models.DateTimeField(
        "next timed step at", null=True, blank=True, editable=False
    )

    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    FLAG_FIELDS: ClassVar[list[str]] = [
        "flag_cse",
        "flag_cce",
        "flag_trafficking",
        "flag_self_harm",
        "flag_mental_health",
    ]

    # The next timed step is the scheduler's bookkeeping, not part of the record.
    history = HistoricalRecords(excluded_fields=["next_timed_step_at"])

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [
            # Open-episodes list: still missing, highest risk and longest first, a page
            # at a time by key (the id breaks ties).
            models.Index(
                fields=["-risk_rank", "last_seen_at", "id"],
                condition=Q(found_at__isnull=True),
                name="episode_missing_idx",
            ),
            # Open-episodes list: returned and not closed, in the order their return
            # interviews fall due (set from the time the return was first recorded).
            models.Index(
                fields=["first_found_at", "id"],
                condition=Q(found_at__isnull=False, closed_at__isnull=True),
                name="episode_returned_open_idx",
            ),
            # Repeat counts: a child's episodes in the repeat threshold's window.
            models.Index(fields=["child", "-last_seen_at"], name="episode_child_seen_idx"),
            # Managers' measures (episodes by month) and hotspots: episodes last seen in
            # the period.
            models.Index(fields=["last_seen_at"], name="episode_last_seen_idx"),
            # Repeat missing: the children last seen in the period, from the index alone.
            models.Index(fields=["last_seen_at", "child"], name="episode_seen_at_child_idx"),
            # A place's page (incidents.views.story.place_detail): the latest episodes
            # last seen, and found, at one place, newest first, a page at a time.
            models.Index(
                fields=["last_seen_location", "-last_seen_at", "-id"],
                condition=Q(last_seen_location__isnull=False),
                name="episode_seen_place_idx",
            ),
            models.Index(
                fields=["found_location", "-last_seen_at", "-id"],
                condition=Q(found_location__isnull=False),
                name="episode_found_place_idx",
            ),
            # Strategy discussions overdue: counted from the earliest last-seen time.
            models.Index(fields=["earliest_last_seen_at"], name="episode_earliest_seen_idx"),
            # ... of the episodes not yet closed, with what the list's count reads (an
            # index-only scan on PostgreSQL).
            models.Index(
                fields=["earliest_last_seen_at", "found_at", "child", "last_seen_at"],
                condition=Q(closed_at__isnull=True),
                name="episode_unclosed_seen_idx",
            ),
            # Hotspots: the period's sightings (place, child, time) read from the index
            # alone, last seen and found.
            models.Index(
                fields=["last_seen_at", "last_seen_location", "child"],
                condition=Q(last_seen_location__isnull=False),
                name="episode_seen_sighting_idx",
            ),
            models.Index(
                fields=["found_at", "found_location", "child"],
                condition=Q(found_location__isnull=False),
                name="episode_found_sighting_idx",
            ),
            # A hotspot's latest sightings: the latest found at one place.
            models.Index(
                fields=["found_location", "-found_at", "-id"],
                condition=Q(found_location__isnull=False),
                name="episode_found_place_at_idx",
            ),
            # Managers' safe and well list (oldest return first), measures (returns and
            # median length by month found) and hotspots: episodes found in the period.
            models.Index(
                fields=["found_at"],
                condition=Q(found_at__isnull=False),
                name="episode_found_idx",
            ),
            # Managers' safe and well list and measure: returns by the time first recorded.
            models.Index(
                fields=["first_found_at"],
                condition=Q(first_found_at__isnull=False),
                name="episode_first_found_idx",
            ),
            # Episodes not yet closed, in id order: working out again when their next
            # timed step falls due, after a change to the rules (notifications.engine).
            # With the child: what an agency must do (oversight.agency_work) reads its
            # open episodes' children from the index alone, not from each episode's row.
            models.Index(
                fields=["id", "child"],
                condition=Q(closed_at__isnull=True),
                name="episode_open_idx",
            ),
            # The scheduler's pass: the episodes whose next timed step is due, earliest
            # first (notifications.engine.fire_timed_steps). Only those with one left.
            models.Index(
                fields=["next_timed_step_at", "id"],
                condition=Q(next_timed_step_at__isnull=False),
                name="episode_next_timed_step_idx",
            ),
            # The child's story: the other children linked to a place, stepped through
            # one child at a time (incidents.story._other_children), never reading the
            # place's episodes.
            models.Index(
                fields=["last_seen_location", "child"], name="episode_seen_place_child_idx"
            ),
            models.Index(fields=["found_location", "child"], name="episode_found_place_child_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["child"],
                condition=Q(found_at__isnull=True),
                name="one_open_episode_per_child",
                violation_error_message="This child already has an open missing episode.",
            ),
            models.CheckConstraint(
                condition=Q(found_at__isnull=True) | Q(found_at__gte=F("last_seen_at")),
                name="episode_found_after_last_seen",
            ),
            models.CheckConstraint(
                condition=Q(reported_at__gte=F("last_seen_at")),
                name="episode_reported_after_last_seen",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(found_at__isnull=False),
                name="episode_closed_only_after_return",
            ),
        ]

    def __str__(self) -> str:
        seen = timezone.localtime(self.last_seen_at)
        return f"{self.get_category_display()} from {seen:%d/%m/%Y %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        # Whatever records the return first (the action, a factory, an import) sets the
        # time deadlines count from; nothing afterwards changes it.
        also: set[str] = set()
        if self.last_seen_at is not None and (
            self.earliest_last_seen_at is None or self.last_seen_at < self.earliest_last_seen_at
        ):
            self.earliest_last_seen_at = self.last_seen_at
            also |= {"earliest_last_seen_at", *self._timed_steps_from(self.last_seen_at)}
        if self.found_at is not None and self.first_found_at is None:
            self.first_found_at = self.found_at
            also |= {"first_found_at", *self._timed_steps_from(self.found_at)}
        if self.closed_at is not None and self.next_timed_step_at is not None:
            self.next_timed_step_at = None
            also.add("next_timed_step_at")
        update_fields = kwargs.get("update_fields")
        if also and update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *also}  # type: ignore[misc]
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def _timed_steps_from(self, at: dt.datetime) -> set[str]:
        """Bring the next timed step forward to a time the steps count from (no step
        falls due before it; the scheduler works out the exact time when it looks)."""
        if self.closed_at is not None or (
            self.next_timed_step_at is not None and self.next_timed_step_at <= at
        ):
            return set()
        self.next_timed_step_at = at
        return {"next_timed_step_at"}

    @property
    def is_missing(self) -> bool:
        return self.found_at is None

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def status(self) -> str:
        if self.found_at is None:
            return "Missing" if self.category == self.Category.MISSING else "Away"
        return "Closed" if self.closed_at else "Returned"

    def duration(self, now: dt.datetime | None = None) -> dt.timedelta:
        end = self.found_at or now or timezone.now()
        return end - self.last_seen_at

    @property
    def flags(self) -> list[str]:
        labels = [
            str(self._meta.get_field(name).verbose_name)
            for name in self.FLAG_FIELDS
            if getattr(self, name)
        ]
        if self.flag_other:
            labels.append(self.flag_other)
        return labels

    @property
    def interview_due_at(self) -> dt.datetime | None:
        """The return interview's deadline: the one stored on the interview when the
        return was first recorded, which a later correction of the return time never
        moves; before that, 72 real hours after the return, whatever the clocks do."""
        if self.found_at is None:
            return None
        try:
            return self.interview.due_at
        except ReturnInterview.DoesNotExist:
            return self.found_at + policy.interview_due_after()

    @property
    def safe_and_well_due_at(self) -> dt.datetime | None:
        returned = self.first_found_at or self.found_at
        return returned + policy.safe_and_well_due_after() if returned else None

    @property
    def missing_since(self) -> dt.datetime:
        """The earliest last-seen time ever recorded: what every "missing for" deadline
        counts from (the strategy discussion, the still-missing escalations), so that a
        later correction of the last-seen time can bring them forward, never push them back.
        """
        return min(filter(None, (self.earliest_last_seen_at, self.last_seen_at)))

    @property
    def strategy_discussion_due_at(self) -> dt.datetime:
        # Real hours across a clock change: added in UTC, since adding to a time in
        # Europe/London (one typed in, not yet saved) would add clock-face hours.
        return self.missing_since.astimezone(dt.UTC) + policy.strategy_discussion_due_after()


class ReturnTimeCorrection(models.Model):
    """The return (found) time corrected after the fact, with the reason.

    Only the police and the responsible council may correct it (incidents.rights), and
    the return interview keeps the deadline set when the return was first recorded: the
    provider measured against it cannot move it, and nor can the correction.
    """

    episode = models.ForeignKey(
        Episode, on_delete=models.CASCADE, related_name="return_time_corrections"
    )
    previous_found_at = models.DateTimeField("return time before the correction")
    found_at = models.DateTimeField("corrected return time")
    reason = models.TextField()
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    corrected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["corrected_at", "id"]
        indexes = [
            models.Index(fields=["episode", "corrected_at"], name="return_correction_idx"),
        ]

    def __str__(self) -> str:
        return f"Return time corrected at {timezone.localtime(self.corrected_at):%d/%m/%Y %H:%M}"


class RiskGrading(QuickChoiceLabels, models.Model):
    """A police grade, or a reporter's concern: the grade someone other than the police
    gave when reporting. Only police grades are the episode's risk and count for the
    notification rules."""

    class Kind(models.TextChoices):
        POLICE = "police", "Police grade"
        CONCERN = "concern", "Reporter's concern"

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="gradings")
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.POLICE)
    grade = models.CharField(max_length=20, choices=RiskGrade)
    graded_at = models.DateTimeField()
    graded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    rationale = models.TextField("information the grading rests on")

    history = HistoricalRecords()

    class Meta:
        ordering = ["-graded_at", "-id"]

    def __str__(self) -> str:
        when = f"{timezone.localtime(self.graded_at):%d/%m/%Y %H:%M}"
        if self.kind == self.Kind.CONCERN:
            return f"Reporter's concern: {self.get_grade_display()} at {when}"
        return f"{self.get_grade_display()} at {when}"


class SharingMethod(models.TextChoices):
    """How a safe and well check reached the local authority.

    The same values as the notifications app's ``Method``, so a sharing recorded on the
    check and the local authority's notification marked told from it say the same thing.
    """

    PHONE = "phone", "Phone"
    SECURE_EMAIL = "secure_email", "Secure e-mail"
    IN_PERSON = "in_person", "In person"
    MEETING = "meeting", "Meeting"
    EMAIL = "email", "E-mail"


class SafeAndWellCheck(models.Model):
    """Police check on return (also called the prevention interview).

    The ``shared_*`` fields are the one record of its sharing with the child's local
    authority: when, how, with whom and by which agency. They are written once, by the
    first sharing: the service's own e-mail to the local authority when the worker
    delivers it, or a person recording a sharing made another way.
    """

    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="safe_and_well")
    officer_name = models.CharField(max_length=200)
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    conducted_at = models.DateTimeField()
    face_to_face = models.BooleanField()
    outcome = models.TextField()
    harm_disclosed = models.BooleanField(default=False)
    crime_disclosed = models.BooleanField(default=False)
    disclosure_details = models.TextField(blank=True)
    shared_with_la_at = models.DateTimeField(
        "shared with the local authority at", null=True, blank=True
    )
    shared_method = models.CharField(
        "how it was shared", max_length=15, choices=SharingMethod, blank=True
    )
    shared_with = models.CharField(
        "who it was shared with", max_length=200, blank=True, help_text="Name and agency."
    )
    shared_by_agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name="shared by",
    )
    # Empty when the service recorded its own e-mail: nobody typed that record.
    shared_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name="sharing recorded by",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)

    history = HistoricalRecords(history_change_reason_field=correction_reason_field())

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(shared_with_la_at__isnull=True)
                | Q(shared_with_la_at__gte=F("conducted_at")),
                name="safe_and_well_shared_after_check",
            ),
            # How, with whom and by whom belong to a sharing: never without its time.
            models.CheckConstraint(
                condition=Q(shared_with_la_at__isnull=False)
                | Q(
                    shared_method="",
                    shared_with="",
                    shared_by_agency__isnull=True,
                    shared_recorded_by__isnull=True,
                ),
                name="safe_and_well_sharing_has_a_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Safe and well check at {timezone.localtime(self.conducted_at):%d/%m/%Y %H:%M}"

    @property
    def is_shared(self) -> bool:
        return self.shared_with_la_at is not None

    @property
    def shared_by_service(self) -> bool:
        """Shared by the service's own e-mail to the local authority, not typed in."""
        return (
            self.is_shared
            and self.shared_method == SharingMethod.EMAIL
            and self.shared_recorded_by_id is None
        )

    @property
    def anything_disclosed(self) -> bool:
        return self.harm_disclosed or self.crime_disclosed


# The factor that needs saying what it was (ReturnInterview.push_other, pull_other).
OTHER_FACTOR = "other"
PUSH_FACTORS = [
    ("conflict_home", "Conflict at home or in placement"),
    ("rules_boundaries", "Rules or boundaries"),
    ("unhappy_placement", "Unhappy in placement"),
    ("abuse_neglect", "Abuse or neglect"),
    ("bullying", "Bullying"),
    ("school", "Problems at school"),
    ("mental_health", "Mental health or emotional wellbeing"),
    ("bereavement", "Loss or bereavement"),
    # Choosing it needs the interview's ``push_other``: what it was, in a few words.
    (OTHER_FACTOR, "Other (say what)"),
]
PULL_FACTORS = [
    ("family", "Wanting to be with family"),
    ("friends", "Wanting to be with friends"),
    ("partner", "Boyfriend, girlfriend or partner"),
    ("older_people", "Older people or adults met online"),
    ("substances", "Drugs or alcohol"),
    ("exploitation", "Exploitation: sexual, criminal or county lines"),
    ("money_gifts", "Money, gifts or status"),
    ("excitement", "Excitement or fun"),
    # Choosing it needs the interview's ``pull_other``.
    (OTHER_FACTOR, "Other (say what)"),
]


def factor_labels(choices: list[tuple[str, str]], codes: list[str], other: str) -> list[str]:
    """The factors as people read them: "Other" as what was typed for it."""
    names = dict(choices)
    return [
        f"Other: {other}" if code == OTHER_FACTOR and other else names.get(code, code)
        for code in codes
    ]


class ReturnInterview(QuickChoiceLabels, models.Model):
    """Offered to every child after every episode, independently, within 72 hours."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Not yet held"
        HELD = "held", "Held"
        DECLINED = "declined", "Declined, decision recorded"

    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="interview")
    owner = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        related_name="owned_interviews",
        help_text="The responsible local authority, whoever provides the interview.",
    )
    provider = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="provided_interviews", null=True, blank=True
    )
    # 72 hours after the return as first recorded, and kept: a later correction of the
    # return time (ReturnTimeCorrection) never moves it. Stored so that the overdue lists
    # and measures count from it, and can use an index.
    due_at = models.DateTimeField()
    offered_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome, default=Outcome.PENDING)
    held_at = models.DateTimeField(null=True, blank=True)
    held_by = models.CharField(max_length=200, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    carers_information = models.TextField("information from carers", blank=True)
    decision_not_to_hold = models.TextField(blank=True)
    child_voice = models.TextField("the child's own words", blank=True)
    push_factors = models.JSONField(default=list, blank=True)
    pull_factors = models.JSONField(default=list, blank=True)
    # What "Other" stands for, when it is one of the factors (empty otherwise).
    push_other = models.CharField("other push factor", max_length=200, blank=True)
    pull_other = models.CharField("other pull factor", max_length=200, blank=True)
    factors_notes = models.TextField("more about why they went", blank=True)
    where_they_were = models.TextField(blank=True)
    who_with = models.TextField("who they were with", blank=True)
    harm_disclosed = models.BooleanField(default=False)
    harm_details = models.TextField(blank=True)
    what_would_help = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(history_change_reason_field=correction_reason_field())

    class Meta:
        indexes = [
            # Overdue return interviews (manager dashboard): not yet held or declined.
            models.Index(
                fields=["due_at"],
                condition=Q(outcome="pending"),
                name="interview_pending_due_idx",
            ),
            # What an agency must do (oversight.agency_work.work_rows): the interviews it
            # owns, and those it provides, not yet held or declined, soonest first, read
            # only as far as the pages offered.
            models.Index(
                fields=["owner", "due_at", "id"],
                condition=Q(outcome="pending"),
                name="interview_owner_pending_idx",
            ),
            models.Index(
                fields=["provider", "due_at", "id"],
                condition=Q(outcome="pending"),
                name="interview_provider_pending_idx",
            ),
            # Managers' measures (interviews due by month) and out-of-area list
            # (interviews due in the period), whatever the outcome.
            models.Index(fields=["due_at"], name="interview_due_idx"),
            # Managers' measures: push and pull factors at interviews held in the period.
            models.Index(
                fields=["held_at"], condition=Q(outcome="held"), name="interview_held_idx"
            ),
            # Managers' stuck cases: interviews declined in the period.
            models.Index(
                fields=["declined_at"],
                condition=Q(outcome="declined"),
                name="interview_declined_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="pending")
                | Q(outcome="held", held_at__isnull=False)
                | Q(outcome="declined", declined_at__isnull=False),
                name="interview_outcome_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"Return interview ({self.get_outcome_display()})"

    @property
    def is_done(self) -> bool:
        return self.outcome != self.Outcome.PENDING

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        if self.is_done:
            done_at = self.held_at or self.declined_at
            return done_at is not None and done_at > self.due_at
        return (now or timezone.now()) > self.due_at

    def push_factor_labels(self) -> list[str]:
        return factor_labels(PUSH_FACTORS, self.push_factors, self.push_other)

    def pull_factor_labels(self) -> list[str]:
        return factor_labels(PULL_FACTORS, self.pull_factors, self.pull_other)


class InterviewAttempt(QuickChoiceLabels, models.Model):
    class Method(models.TextChoices):
        VISIT = "visit", "Visit in person"
        PHONE = "phone", "Phone call"
        TEXT = "text", "Text or message"
        LETTER = "letter", "Letter"
        VIA_CARER = "carer", "Through carer or key worker"
        SCHOOL = "school", "At school"
        OTHER = "other", "Other"

    class Outcome(models.TextChoices):
        HELD = "held", "Interview held"
        DECLINED = "declined", "Declined"
        NO_CONTACT = "no_contact", "No contact"
        REARRANGED = "rearranged", "Rearranged"

    FAILED_OUTCOMES: ClassVar[tuple[str, ...]] = ("declined", "no_contact", "rearranged")

    interview = models.ForeignKey(
        ReturnInterview, on_delete=models.CASCADE, related_name="attempts"
    )
    attempted_at = models.DateTimeField()
    method = models.CharField(max_length=10, choices=Method)
    outcome = models.CharField(max_length=12, choices=Outcome)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)

    history = HistoricalRecords(history_change_reason_field=correction_reason_field())

    class Meta:
        ordering = ["attempted_at", "id"]
        indexes = [
            # Managers' stuck cases: failed attempts counted per interview.
            models.Index(fields=["interview", "outcome"], name="attempt_interview_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()}: {self.get_outcome_display()}"


class Challenge(models.Model):
    """A practitioner challenged a partner's decision (escalation policy)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        ESCALATED = "escalated", "Escalated"

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="challenges")
    episode = models.ForeignKey(
        Episode, on_delete=models.SET_NULL, related_name="challenges", null=True, blank=True
    )
    challenged_agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    decision = models.TextField("decision challenged")
    reason = models.TextField("why it was challenged")
    raised_at = models.DateTimeField()
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    outcome = models.TextField(blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    history = HistoricalRecords(history_change_reason_field=correction_reason_field())

    class Meta:
        ordering = ["-raised_at"]

    def __str__(self) -> str:
        return f"Challenge to {self.challenged_agency.name}"


class StrategyMeeting(models.Model):
    """A strategy meeting or multi-agency review about a child, recorded by a manager.

    Called for when a child goes missing repeatedly (default: 3 episodes in 90 days);
    the managers' pages list children over that threshold with no meeting since.
    """

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="strategy_meetings")
    held_on = models.DateField()
    attendee_agencies = models.ManyToManyField(
        Agency,
        through="StrategyMeetingAttendee",
        related_name="+",
        verbose_name="agencies that attended",
    )
    attendee_names = models.TextField("who attended", blank=True)
    decisions = models.TextField("decisions and actions")
    next_review = models.DateField("next review", null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    version = models.PositiveIntegerField(default=1)

    history = HistoricalRecords(history_change_reason_field=correction_reason_field())

    class Meta:
        ordering = ["-held_on", "-id"]
        indexes = [
            # Managers' pattern list: repeat-missing children with no meeting since a date.
            models.Index(fields=["child", "-held_on"], name="strategy_meeting_child_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(next_review__isnull=True) | Q(next_review__gte=F("held_on")),
                name="strategy_meeting_review_after_meeting",
            ),
        ]

    def __str__(self) -> str:
        return f"Strategy meeting on {self.held_on:%d/%m/%Y}"


class StrategyMeetingAttendee(models.Model):
    """An agency represented at a strategy meeting."""

    meeting = models.ForeignKey(StrategyMeeting, on_delete=models.CASCADE, related_name="attendees")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["meeting", "agency__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "agency"], name="strategy_meeting_agency_once"
            ),
        ]

    def __str__(self) -> str:
        return str(self.agency_id)


class SupervisionNote(models.Model):
    """A manager's supervision note on a child's case: seen by managers only."""

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="supervision_notes")
    note = models.TextField()
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    written_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    history = HistoricalRecords(history_change_reason_field=correction_reason_field())

    class Meta:
        ordering = ["-written_at", "-id"]
        indexes = [
            models.Index(fields=["child", "-written_at"], name="supervision_note_child_idx"),
        ]

    def __str__(self) -> str:
        return f"Supervision note of {timezone.localtime(self.written_at):%d/%m/%Y %H:%M}"


# The missing person profile (Philomena Protocol) ------------------------------------------


class ProfilePhotoStorage(LazyObject):
    """settings.STORAGES["profile_photos"], looked up when first used (as Django's
    ``default_storage`` is), so that a changed setting (a test's own folder) is seen."""

    def _setup(self) -> None:
        self._wrapped = storages["profile_photos"]


PROFILE_PHOTOS = ProfilePhotoStorage()


@receiver(setting_changed)
def _profile_photo_storage_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "STORAGES":
        PROFILE_PHOTOS._wrapped = empty


def profile_photo_storage() -> Storage:
    """The private storage of profile photos (settings.STORAGES["profile_photos"])."""
    return PROFILE_PHOTOS  # type: ignore[return-value]


def profile_photo_path(instance: models.Model, filename: str) -> str:
    """A random name, never the uploaded one (which may carry the child's name): the
    extension is the type the content was checked to be."""
    extension = Path(filename).suffix.lower()
    folder = "snapshots" if isinstance(instance, EpisodeProfileSnapshot) else "profiles"
    return f"{folder}/{uuid.uuid4().hex}{extension}"


class ProfileFields(models.Model):
    """What a missing person profile holds: the grab sheet the police need at once."""

    physical_description = models.TextField(
        "physical description",
        blank=True,
        help_text="Height, build, hair, eyes, skin, marks, scars, tattoos, piercings.",
    )
    clothing = models.TextField(
        "clothing and style", blank=True, help_text="What they usually wear; bags, shoes."
    )
    phone_numbers = models.TextField("phone numbers", blank=True)
    social_media = models.TextField(
        "social media accounts", blank=True, help_text="Each platform and the name they use."
    )
    associates = models.TextField(
        "friends and associates",
        blank=True,
        help_text="People they may be with, and how to reach them if known.",
    )
    places = models.TextField("places they may go", blank=True)
    health_needs = models.TextField("health needs", blank=True)
    medication = models.TextField(
        "medication",
        blank=True,
        help_text="What they take, how often, and what happens without it.",
    )
    what_helped = models.TextField("what has helped find them before", blank=True)
    photo = models.FileField(
        "photo",
        upload_to=profile_photo_path,
        storage=profile_photo_storage,
        blank=True,
        max_length=200,
    )
    photo_type = models.CharField("photo type", max_length=20, blank=True, editable=False)

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = (
        "physical_description",
        "clothing",
        "phone_numbers",
        "social_media",
        "associates",
        "places",
        "health_needs",
        "medication",
        "what_helped",
    )

    class Meta:
        abstract = True

    @property
    def is_empty(self) -> bool:
        return not self.photo and not any(getattr(self, f).strip() for f in self.TEXT_FIELDS)


class MissingPersonProfile(ProfileFields):
    """A child in care's missing person profile, kept current by the responsible council
    and the placement provider so that the police have it the moment the child is
    reported missing (see ``incidents.actions.profiles``)."""

    child = models.OneToOneField(
        Child, on_delete=models.CASCADE, related_name="missing_person_profile"
    )
    reviewed_at = models.DateTimeField("last reviewed")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="reviewed by",
    )
    updated_at = models.DateTimeField("last changed")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="changed by",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "missing person profile"

    def __str__(self) -> str:
        return "Missing person profile"

    @property
    def review_due_at(self) -> dt.datetime:
        return policy.profile_review_due_from(self.reviewed_at)

    def review_due_on(self, now: dt.datetime | None = None) -> bool:
        """Not reviewed for PROFILE_REVIEW_MONTHS (derived, never stored)."""
        return (now or timezone.now()) >= self.review_due_at

    @property
    def review_due(self) -> bool:
        return self.review_due_on()

    @property
    def review_months(self) -> int:
        return policy.PROFILE_REVIEW_MONTHS


class EpisodeProfileSnapshot(ProfileFields):
    """The profile as it stood when the episode was reported (or when a profile was first
    kept while the child was still missing): a copy, photo file included, that later
    edits of the profile never change. Nothing edits a snapshot."""

    episode = models.OneToOneField(
        Episode, on_delete=models.CASCADE, related_name="profile_snapshot"
    )
    profile_version = models.PositiveIntegerField("version of the profile")
    reviewed_at = models.DateTimeField("profile last reviewed")
    updated_at = models.DateTimeField("profile last changed")
    taken_at = models.DateTimeField("shared at")
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="by"
    )
    # Taken after the report: the profile was first kept while the child was missing.
    after_report = models.BooleanField("shared after the report", default=False)

    class Meta:
        verbose_name = "missing person profile as shared"

    def __str__(self) -> str:
        return "Missing person profile as shared with the police"


class Associate(models.Model):
    """Someone the child is known to go missing with or to, recorded by the police or
    the responsible council: police intelligence, seen only by those with the right
    (``incidents.rights.Right.SEE_ASSOCIATES``). Recorded and corrected through
    ``incidents.actions.associates``."""

    class Relationship(models.TextChoices):
        FRIEND = "friend", "Friend"
        PARTNER = "partner", "Boyfriend, girlfriend or partner"
        FAMILY = "family", "Family member"
        OLDER_ADULT = "older_adult", "Older person or adult"
        MET_ONLINE = "online", "Someone met online"
        OTHER_CHILD = "other_child", "Another child who goes missing"
        SUSPECTED_EXPLOITER = "exploiter", "Suspected of exploiting the child"
        OTHER = "other", "Other (say what)"

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="associates")
    # The episode during which they were recorded, if any.
    episode = models.ForeignKey(
        Episode, on_delete=models.SET_NULL, related_name="associates", null=True, blank=True
    )
    name = models.CharField(max_length=200, help_text="A name, nickname or description, as known.")
    relationship = models.CharField(max_length=20, choices=Relationship)
    relationship_other = models.CharField("other relationship", max_length=200, blank=True)
    concern = models.TextField("the concern about them", blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    history = HistoricalRecords(history_change_reason_field=correction_reason_field())

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["child", "name"], name="associate_child_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.relationship_text})"

    @property
    def relationship_text(self) -> str:
        if self.relationship == self.Relationship.OTHER and self.relationship_other:
            return self.relationship_other
        return str(self.get_relationship_display())


class AgreedAction(QuickChoiceLabels, models.Model):
    """Something agreed for a child, by whom and by when, followed up until it is done.

    Agreed at a return interview, a strategy meeting or in a supervision note (``source``
    and the one matching link). Owned by an agency, and optionally a person of it; only
    someone at that agency marks it done (saying what happened) or no longer needed
    (saying why): ``incidents.actions.agreed_actions``.
    """

    class Source(models.TextChoices):
        INTERVIEW = "interview", "Return interview"
        STRATEGY_MEETING = "strategy_meeting", "Strategy meeting"
        SUPERVISION_NOTE = "supervision_note", "Supervision note"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        NOT_NEEDED = "not_needed", "No longer needed"

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="agreed_actions")
    source = models.CharField(max_length=20, choices=Source, default=Source.INTERVIEW)
    interview = models.ForeignKey(
        ReturnInterview,
        on_delete=models.CASCADE,
        related_name="actions",
        null=True,
        blank=True,
    )
    strategy_meeting = models.ForeignKey(
        StrategyMeeting,
        on_delete=models.CASCADE,
        related_name="actions",
        null=True,
        blank=True,
    )
    supervision_note = models.ForeignKey(
        SupervisionNote,
        on_delete=models.CASCADE,
        related_name="actions",
        null=True,
        blank=True,
    )
    description = models.TextField("action")
    owner_agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="+", verbose_name="agency that owns it"
    )
    owner_person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name="person who owns it",
    )
    # Who owned it, as typed before owners were chosen from the agency's people.
    owner_name = models.CharField("who owns it", max_length=200, blank=True)
    agreed_on = models.DateField()
    due_date = models.DateField("due by", null=True, blank=True)
    state = models.CharField(max_length=10, choices=State, default=State.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    what_happened = models.TextField(blank=True)
    not_needed_at = models.DateTimeField(null=True, blank=True)
    not_needed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    not_needed_reason = models.TextField("why it is no longer needed", blank=True)

    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    history = HistoricalRecords(history_change_reason_field=correction_reason_field())

    class Meta:
        ordering = ["id"]
        indexes = [
            # Managers' "Agreed actions overdue" and the owner's home page: open, by due.
            models.Index(
                fields=["due_date"], condition=Q(state="open"), name="agreed_action_open_due_idx"
            ),
            models.Index(
                fields=["owner_agency", "due_date"],
                condition=Q(state="open"),
                name="agreed_action_owner_open_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(source="interview", interview__isnull=False)
                | Q(source="strategy_meeting", strategy_meeting__isnull=False)
                | Q(source="supervision_note", supervision_note__isnull=False),
                name="agreed_action_has_source",
            ),
            models.CheckConstraint(
                condition=Q(state="open")
                | Q(state="done", done_at__isnull=False)
                | Q(state="not_needed", not_needed_at__isnull=False),
                name="agreed_action_state_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN

    def is_overdue(self, today: dt.date | None = None) -> bool:
        """Open after its due date (due today is not yet late)."""
        return (
            self.is_open
            and self.due_date is not None
            and (today or timezone.localdate()) > self.due_date
        )

    @property
    def owner_text(self) -> str:
        """Who owns it: the person (or the name first typed) and the agency."""
        person = self.owner_person.name if self.owner_person_id else self.owner_name
        agency = self.owner_agency.name if self.owner_agency_id else ""
        return ", ".join(part for part in (person, agency) if part)


class CaseEvent(QuickChoiceLabels, models.Model):
    """One thing that happened on a child's record: the timeline and the outbox.

    Protocol events (``kind`` in PROTOCOL_KINDS) and fact changes (FACT_KINDS), together
    OUTBOX_KINDS and marked ``is_protocol``, are read by the notifications app to
    work out who must be told; every other kind is history for the timeline. Rows are
    only ever added, in the same transaction as the change they describe.
    """

    class Kind(models.TextChoices):
        # Protocol events.
        REPORTED = "reported", "Reported missing"
        RISK_REGRADED = "risk_regraded", "Risk re-graded"
        RETURNED = "returned", "Found or returned"
        SAFE_AND_WELL_DONE = "safe_and_well_done", "Safe and well check done"
        SAFE_AND_WELL_SHARED = "safe_and_well_shared", "Safe and well check shared"
        INTERVIEW_ATTEMPT = "interview_attempt", "Return interview attempt"
        INTERVIEW_HELD = "interview_held", "Return interview held"
        INTERVIEW_DECLINED = "interview_declined", "Return interview declined"
        CLOSED = "closed", "Episode closed"
        # The missing person profile offered to the police at the report (or when first
        # kept while the child is missing): its own notification.
        PROFILE_SHARED = "profile_shared", "Missing person profile shared with the police"
        # History only.
        EPISODE_EDITED = "episode_edited", "Episode details changed"
        INTERVIEW_UPDATED = "interview_updated", "Return interview updated"
        # Corrections of a saved record (history, and facts the notifications use).
        SAFE_AND_WELL_CORRECTED = "safe_and_well_corrected", "Safe and well check corrected"
        INTERVIEW_CORRECTED = "interview_corrected", "Return interview corrected"
        INTERVIEW_ATTEMPT_CORRECTED = (
            "interview_attempt_corrected",
            "Return interview attempt corrected",
        )
        SUPERVISION_NOTE_CORRECTED = "supervision_note_corrected", "Supervision note corrected"
        STRATEGY_MEETING_CORRECTED = "strategy_meeting_corrected", "Strategy meeting corrected"
        AGREED_ACTION_CORRECTED = "agreed_action_corrected", "Agreed action corrected"
        CHALLENGE_CORRECTED = "challenge_corrected", "Challenge corrected"
        AGREED_ACTION_ADDED = "agreed_action_added", "Agreed action recorded"
        AGREED_ACTION_DONE = "agreed_action_done", "Agreed action done"
        AGREED_ACTION_NOT_NEEDED = "agreed_action_not_needed", "Agreed action no longer needed"
        AGREED_ACTION_REOPENED = "agreed_action_reopened", "Agreed action reopened"
        CHILD_CREATED = "child_created", "Child added"
        CHILD_EDITED = "child_edited", "Child's details changed"
        LEGAL_STATUS_CHANGED = "legal_status_changed", "Legal status changed"
        PLACEMENT_ADDED = "placement_added", "Placement added"
        PLACEMENT_ENDED = "placement_ended", "Placement ended"
        INVOLVEMENT_ADDED = "involvement_added", "Agency involvement added"
        INVOLVEMENT_ENDED = "involvement_ended", "Agency involvement ended"
        INVOLVEMENT_REQUESTED = "involvement_requested", "Agency involvement requested"
        INVOLVEMENT_REQUEST_ANSWERED = (
            "involvement_request_answered",
            "Request to record an agency answered",
        )
        CHALLENGE_RAISED = "challenge_raised", "Challenge raised"
        CHALLENGE_UPDATED = "challenge_updated", "Challenge outcome recorded"
        STRATEGY_MEETING = "strategy_meeting", "Strategy meeting recorded"
        SUPERVISION_NOTE = "supervision_note", "Supervision note recorded"
        PROFILE_SAVED = "profile_saved", "Missing person profile changed"
        PROFILE_REVIEWED = "profile_reviewed", "Missing person profile reviewed"
        # Named in the timeline only as "an associate": who they are is police
        # intelligence, seen only with the right (incidents.rights.SEE_ASSOCIATES).
        ASSOCIATE_ADDED = "associate_added", "Associate recorded"
        ASSOCIATE_CORRECTED = "associate_corrected", "Associate corrected"

    PROTOCOL_KINDS: ClassVar[frozenset[str]] = frozenset(
        {
            Kind.REPORTED,
            Kind.RISK_REGRADED,
            Kind.RETURNED,
            Kind.SAFE_AND_WELL_DONE,
            Kind.SAFE_AND_WELL_SHARED,
            Kind.INTERVIEW_ATTEMPT,
            Kind.INTERVIEW_HELD,
            Kind.INTERVIEW_DECLINED,
            Kind.CLOSED,
            Kind.PROFILE_SHARED,
        }
    )
    # Changes to facts that decide who must be told (where the child lives, who works
    # with them, their legal status, the episode's dates): read by the notifications
    # app like protocol events, so that who must be told follows the record whatever
    # order the facts arrive in.
    FACT_KINDS: ClassVar[frozenset[str]] = frozenset(
        {
            Kind.EPISODE_EDITED,
            Kind.CHILD_EDITED,
            Kind.LEGAL_STATUS_CHANGED,
            Kind.PLACEMENT_ADDED,
            Kind.PLACEMENT_ENDED,
            Kind.INVOLVEMENT_ADDED,
            Kind.INVOLVEMENT_ENDED,
            # A corrected check, interview or attempt: its time (and so whether it was in
            # time) may have changed.
            Kind.SAFE_AND_WELL_CORRECTED,
            Kind.INTERVIEW_CORRECTED,
            Kind.INTERVIEW_ATTEMPT_CORRECTED,
        }
    )
    # Corrections of a saved check, interview or attempt: facts, and the record's time.
    CORRECTION_KINDS: ClassVar[frozenset[str]] = frozenset(
        {
            Kind.SAFE_AND_WELL_CORRECTED,
            Kind.INTERVIEW_CORRECTED,
            Kind.INTERVIEW_ATTEMPT_CORRECTED,
        }
    )
    # Written to the outbox (``is_protocol``) for the notifications app to read.
    OUTBOX_KINDS: ClassVar[frozenset[str]] = PROTOCOL_KINDS | FACT_KINDS

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="events")
    episode = models.ForeignKey(
        Episode, on_delete=models.CASCADE, related_name="events", null=True, blank=True
    )
    kind = models.CharField(max_length=30, choices=Kind)
    is_protocol = models.BooleanField(default=False)
    occurred_at = models.DateTimeField(help_text="When it happened, as recorded.")
    recorded_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    summary = models.CharField(max_length=500)
    # Field changes ({"field": [old, new]}) and facts the notifications app needs.
    data = models.JSONField(default=dict, blank=True)
    # The transaction that wrote the row, set by the database: readers that follow
    # events in order (the API's events feed) use it to skip none (``incidents.feed``).
    txid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["child", "-occurred_at"], name="event_child_timeline_idx"),
            # The notifications app reads protocol events in the order they were written.
            models.Index(fields=["id"], condition=Q(is_protocol=True), name="event_protocol_idx"),
            models.Index(fields=["actor_agency", "-recorded_at"], name="event_agency_recent_idx"),
            # The API's events feed, in the order events become final (incidents.feed).
            models.Index(fields=["txid", "id"], name="event_feed_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.child_id})"


class ChildVisibility(models.Model):
    """Which agency may see which child, and why: the rule of ``incidents.access`` kept
    as rows, so that every list and count joins one indexed table.

    Written only by ``incidents.visibility`` (in the same transaction as each change to
    the facts it follows: the child's responsible area, placements, involvements, the
    areas an agency serves; and by the daily pass for placements that start or end).
    ``manage.py rebuild_visibility`` rebuilds it from those facts, ``--check`` compares.
    """

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="+")
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    # The reasons (one or more): the agency serves the child's responsible area; serves
    # the area of the child's current placement; is currently involved with the child.
    responsible = models.BooleanField(default=False)
    host = models.BooleanField(default=False)
    involved = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agency", "child"], name="child_visibility_unique"),
        ]
        indexes = [models.Index(fields=["child"], name="child_visibility_child_idx")]

    def __str__(self) -> str:
        return f"Agency {self.agency_id} sees child {self.child_id}"


class VisibilityClock(models.Model):
    """One row: the day up to which placements and involvements starting or ending have
    been applied to ``ChildVisibility`` (by the scheduler's daily pass)."""

    applied_through = models.DateField()

    def __str__(self) -> str:
        return f"Visibility applied through {self.applied_through}"
