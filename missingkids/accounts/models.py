"""Agencies of the partnership, their contacts, and the people who sign in.

These sit below incidents and notifications in the dependency order: neither this app
nor anything it imports knows about episodes or notifications.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from missingkids.policy import FREE_TEXT_MAX_LENGTH

# What each kind of admin may do, as Django permissions; which records they may do it
# to is decided in missingkids/accounts/access.py. Case records are in neither list: an
# admin reads or edits cases only if they also hold a case role (they never do in the
# admin, which shows none). Nobody deletes a person (untick "active" instead), and an
# authenticator is removed only by a second-factor reset, which a second admin approves.
#
# A partnership admin (named in settings.PARTNERSHIP_ADMINS) manages the partnership's
# configuration: areas, agencies, contacts, people of every agency, the rules; and may
# see and clear lockouts.
PARTNERSHIP_ADMIN_APPS = frozenset({"accounts", "notifications"})
NEVER_FOR_ADMINS = frozenset({"accounts.delete_user", "accounts.delete_secondfactorreset"})
# Authenticators and recovery codes are changed only by their owner and by an approved
# second-factor reset, never directly in the admin, not even by a superuser.
DEVICE_APPS = frozenset({"otp_totp", "otp_static"})


def refused_to_every_admin(perm: str) -> bool:
    app_label, _, codename = perm.partition(".")
    return perm in NEVER_FOR_ADMINS or (
        app_label in DEVICE_APPS and not codename.startswith("view_")
    )


# An agency admin manages their own agency's people and contacts, and the agency's own
# address, phone and shared mailbox; they may read the rules and their agency's
# notifications, and see and clear lockouts of their own people.
AGENCY_ADMIN_PERMISSIONS = frozenset(
    {
        "accounts.view_agency",
        "accounts.change_agency",
        "accounts.view_contact",
        "accounts.add_contact",
        "accounts.change_contact",
        "accounts.delete_contact",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "accounts.view_secondfactorreset",
        "notifications.view_rule",
        "notifications.view_notification",
    }
)
# What an admin may do with the sign-in security records: see and clear lockouts
# (unlocking an account). Never change a device or read recovery codes.
SECURITY_PERMISSIONS = frozenset({"axes.view_accessattempt", "axes.delete_accessattempt"})


class LocalAuthorityArea(models.Model):
    """The area of one local authority (council), e.g. Cheshire West and Chester."""

    name = models.CharField(max_length=120, unique=True)
    code = models.CharField(
        "ONS code",
        max_length=9,
        unique=True,
        validators=[RegexValidator(r"^[EWSN]\d{8}$", "Enter an ONS code such as E06000050.")],
        help_text="The Office for National Statistics code of the council, e.g. E06000050.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "local authority area"

    def __str__(self) -> str:
        return self.name


class Agency(models.Model):
    class Kind(models.TextChoices):
        POLICE = "police", "Police"
        LOCAL_AUTHORITY = "la", "Local authority children's social care"
        IRO = "iro", "Independent reviewing officer service"
        GP_PRACTICE = "gp", "Health: GP practice"
        SCHOOL_NURSE = "school_nurse", "Health: school nurse service"
        SCHOOL = "school", "School"
        PROVIDER = "provider", "Return-interview provider"
        OTHER = "other", "Other"

    # Ofsted Annex A contact-source code for each kind of agency.
    ANNEX_A_CODES: ClassVar[dict[str, str]] = {
        Kind.POLICE: "6",
        Kind.LOCAL_AUTHORITY: "5A",
        Kind.IRO: "5A",
        Kind.GP_PRACTICE: "3A",
        Kind.SCHOOL_NURSE: "3C",
        Kind.SCHOOL: "2A",
        Kind.PROVIDER: "8",
        Kind.OTHER: "8",
    }

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind)
    areas = models.ManyToManyField(
        LocalAuthorityArea,
        related_name="agencies",
        help_text="The local authority areas this agency serves.",
    )
    address = models.TextField(blank=True, max_length=FREE_TEXT_MAX_LENGTH)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True, help_text="The agency's shared mailbox, if it has one.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "agencies"
        indexes = [models.Index(fields=["kind"], name="agency_kind_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def annex_a_code(self) -> str:
        return self.ANNEX_A_CODES[self.kind]

    @property
    def is_local_authority(self) -> bool:
        return self.kind == self.Kind.LOCAL_AUTHORITY


class Contact(models.Model):
    """A person or mailbox at an agency who can be told about a child."""

    class NotificationRole(models.TextChoices):
        # Managers a rule can name as the recipient (escalations while a child is still
        # missing, repeat episodes, stuck cases); everyone else is a general contact.
        GENERAL = "", "General contact"
        TEAM_MANAGER = "team_manager", "Team manager"
        HEAD_OF_SERVICE = "head_of_service", "Head of service"
        DIRECTOR = "director", "Director of children's services"

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    role_title = models.CharField("role or title", max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    out_of_hours = models.BooleanField(
        "out of hours",
        default=False,
        help_text="Reachable outside office hours (for example the emergency duty team).",
    )
    notification_role = models.CharField(
        max_length=20,
        choices=NotificationRole,
        blank=True,
        default=NotificationRole.GENERAL,
        help_text="Rules that name a team manager, head of service or director tell this contact.",
    )
    is_default = models.BooleanField(
        "default contact for notifications",
        default=False,
        help_text="Told when a rule names this agency and no particular professional is "
        "recorded against the child.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["agency__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(email="", phone=""),
                name="contact_has_email_or_phone",
                violation_error_message="Give an e-mail address or a phone number.",
            )
        ]

    def __str__(self) -> str:
        title = f", {self.role_title}" if self.role_title else ""
        return f"{self.name}{title} ({self.agency.name})"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users must have an e-mail address.")
        agency = extra.get("agency")
        if agency is not None and not isinstance(agency, Agency):
            # createsuperuser passes the agency's primary key as typed.
            extra["agency"] = Agency.objects.get(pk=agency)
        user = self.model(email=normalise_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_superuser"] = True
        extra.setdefault("role", User.Role.ADMIN)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=normalise_email(username or ""))


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        PRACTITIONER = "practitioner", "Practitioner"
        MANAGER = "manager", "Manager"
        ADMIN = "admin", "Admin"

    email = models.EmailField("e-mail address", unique=True)
    name = models.CharField(max_length=200)
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="users")
    role = models.CharField(max_length=20, choices=Role, default=Role.PRACTITIONER)
    job_title = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="Untick to stop this person signing in, instead of deleting them.",
    )
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["name", "agency"]

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        self.email = normalise_email(self.email)

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name

    @property
    def is_staff(self) -> bool:
        """Admins (and superusers) reach the configuration pages in the Django admin."""
        return self.is_active and (self.is_superuser or self.role == self.Role.ADMIN)

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.is_superuser

    @property
    def is_partnership_admin(self) -> bool:
        """An admin named in PARTNERSHIP_ADMINS (or a superuser, made from the shell).

        Read from the settings each time, so the list is the only way to make one.
        """
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        return self.role == self.Role.ADMIN and (
            normalise_email(self.email) in settings.PARTNERSHIP_ADMINS
        )

    @property
    def is_agency_admin(self) -> bool:
        return self.is_active and self.role == self.Role.ADMIN and not self.is_partnership_admin

    def _admin_permission(self, perm: str) -> bool:
        if not self.is_active or self.role != self.Role.ADMIN or refused_to_every_admin(perm):
            return False
        if perm in SECURITY_PERMISSIONS:
            return True
        if self.is_partnership_admin:
            return perm.split(".", 1)[0] in PARTNERSHIP_ADMIN_APPS
        return perm in AGENCY_ADMIN_PERMISSIONS

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        if self.is_active and self.is_superuser and refused_to_every_admin(perm):
            return False
        if self._admin_permission(perm):
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.role == self.Role.ADMIN:
            if self.is_partnership_admin and app_label in PARTNERSHIP_ADMIN_APPS:
                return True
            allowed = AGENCY_ADMIN_PERMISSIONS | SECURITY_PERMISSIONS
            if any(perm.split(".", 1)[0] == app_label for perm in allowed):
                return True
        return super().has_module_perms(app_label)


class UserSession(models.Model):
    """Which sessions belong to whom, so that all of a person's sessions can be ended.

    Django's session table stores the user only inside the encoded session data, so
    finding someone's sessions would mean decoding every session. One row is written at
    each sign-in and removed at sign-out; rows whose session has since expired are
    pruned at the person's next sign-in.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "signed-in session"

    def __str__(self) -> str:
        return f"Session of {self.user} since {self.created_at:%Y-%m-%d %H:%M}"


class ConfigurationChange(models.Model):
    """A change to what notifications depend on: a rule, an agency or a contact.

    Written by the one save path of each (the admin's pages, and
    ``notifications.rules.rule_save_with_version``) in the transaction that makes the
    change. It is the change history shown on the agency's and contact's admin pages,
    the rows of the "Configuration changes" page, and the e-mail to the managers of the
    agencies it affects and to the partnership admins; so an admin who points a
    council's contact at an outside address, or switches a rule off, is seen doing it.
    """

    class Kind(models.TextChoices):
        RULE = "rule", "Rule"
        AGENCY = "agency", "Agency"
        CONTACT = "contact", "Contact"
        PERSON = "person", "Person's access"
        SYSTEM = "system", "Connected system"

    class Action(models.TextChoices):
        ADDED = "added", "Added"
        CHANGED = "changed", "Changed"
        REMOVED = "removed", "Removed"

    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        "User", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    kind = models.CharField(max_length=10, choices=Kind)
    action = models.CharField(max_length=10, choices=Action)
    # Plain id, not a foreign key: the history outlives a removed contact.
    object_id = models.PositiveBigIntegerField()
    subject = models.CharField(max_length=300, help_text="What was changed, by name.")
    # [{"field": label, "before": text, "after": text}, ...] as shown to people.
    changes = models.JSONField(default=list)
    reason = models.TextField(blank=True)
    agencies = models.ManyToManyField(
        Agency,
        related_name="configuration_changes",
        blank=True,
        help_text="The agencies the change affects: their managers are told.",
    )

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            # The configuration changes page: newest first.
            models.Index(fields=["-changed_at", "-id"], name="configchange_recent_idx"),
            # An agency's or contact's change history on its admin page.
            models.Index(fields=["kind", "object_id"], name="configchange_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.get_action_display().lower()}: {self.subject}"


class SecondFactorReset(models.Model):
    """A request to remove someone's authenticator and recovery codes, so that they set
    up a new one at their next sign-in (a lost or replaced phone).

    One admin asks, giving a reason; it happens only when a second admin, neither the
    one who asked nor the person, approves (the database refuses the same admin twice).
    The person and the partnership admins are e-mailed at each step, and each step is
    in the access log; see ``missingkids.accounts.resets``.
    """

    person = models.ForeignKey(
        "User", on_delete=models.PROTECT, related_name="second_factor_resets"
    )
    reason = models.TextField()
    requested_by = models.ForeignKey("User", on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        "User", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        "User", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "second-factor reset"
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=models.Q(approved_at__isnull=True, cancelled_at__isnull=True),
                name="one_pending_second_factor_reset",
                violation_error_message="A reset of this person's second factor is already "
                "waiting for approval.",
            ),
            models.CheckConstraint(
                condition=~models.Q(requested_by=models.F("person"))
                & ~models.Q(approved_by=models.F("requested_by"))
                & ~models.Q(approved_by=models.F("person")),
                name="second_factor_reset_by_two_other_admins",
            ),
        ]

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second admin"
        DONE = "done", "Approved and done"
        CANCELLED = "cancelled", "Cancelled"

    def __str__(self) -> str:
        return f"Second-factor reset for {self.person}"

    @property
    def status(self) -> str:
        if self.approved_at is not None:
            return self.Status.DONE
        if self.cancelled_at is not None:
            return self.Status.CANCELLED
        return self.Status.PENDING

    def get_status_display(self) -> str:
        return self.Status(self.status).label

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class HousekeepingRun(models.Model):
    """One pass of housekeeping (``missingkids.accounts.housekeeping``) and what it cleared.

    The time of the latest pass decides when the next is due; the counts show an IT team
    that housekeeping runs. Rows older than ``HOUSEKEEPING_RUNS_KEPT`` are removed by
    housekeeping itself.
    """

    ran_at = models.DateTimeField(default=timezone.now)
    # Null when the session engine cannot say how many it cleared.
    sessions = models.PositiveIntegerField("expired sessions cleared", null=True, blank=True)
    user_sessions = models.PositiveIntegerField("signed-in session records cleared", default=0)
    lockout_attempts = models.PositiveIntegerField("lockout counters cleared", default=0)
    import_files = models.PositiveIntegerField("checked CSV files cleared", default=0)

    class Meta:
        ordering = ["-ran_at", "-id"]
        indexes = [
            # Whether a pass is due: the latest pass, on every scheduler pass.
            models.Index(fields=["-ran_at"], name="housekeeping_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"Housekeeping at {timezone.localtime(self.ran_at):%d/%m/%Y %H:%M}"
