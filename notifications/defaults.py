"""The default rule set: domain.md's "who must be told, and when" table, as data.

One entry per recipient: a line of the table that names several recipients ("GP,
school nurse, school") becomes one rule each, so an admin can change or switch off one
without touching the others, and each notification names exactly the rule behind it.

Loaded by the data migration ``0002_default_rules``. Keep this module free of model
imports: migrations import it, and must not depend on the current models.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from missingkids.policy import (
    DEFAULT_REPEAT_COUNT,
    DEFAULT_REPEAT_DAYS,
    DEFAULT_STUCK_FAILED_ATTEMPTS,
)

REPEAT = f"{DEFAULT_REPEAT_COUNT} in {DEFAULT_REPEAT_DAYS} days"

AUDIT_NOT_TOLD_LA = "Audit finding: police did not always notify the local authority."
AUDIT_KEY_EVENTS = (
    "Audit finding: GPs, school nurses and schools were not kept up to date with key events."
)
AUDIT_OUT_OF_AREA = "Audit finding: the out-of-area protocol was not followed."
IRO_PROCEDURE = "Local procedures: the IRO is told of every missing episode of a child in care."
ESCALATION = "Common local escalation while a child is still missing."
PHILOMENA = (
    "The Philomena Protocol: carers and councils keep a profile of each child in care "
    "ready, so the police have it at once when the child goes missing."
)


def _rule(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "condition": "any",
        "risk_at_least": "",
        "threshold_count": None,
        "threshold_days": None,
        "use_out_of_hours_contact": False,
        "due_after_hours_if_high_risk": None,
        "send_email": True,
        "message": "",
        "active": True,
    }
    values.update(fields)
    return values


def _each(recipients: dict[str, str], **fields: Any) -> list[dict[str, Any]]:
    """One rule per recipient; ``name`` may use {whom}."""
    name = fields.pop("name")
    return [
        _rule(name=name.format(whom=whom), recipient=role, **fields)
        for role, whom in recipients.items()
    ]


HEALTH_AND_SCHOOL = {"gp": "GP practice", "school_nurse": "school nurse", "school": "school"}

DEFAULT_RULES: list[dict[str, Any]] = [
    # Reported missing.
    _rule(
        name="Reported: police tell the responsible local authority",
        step="reported",
        teller="police",
        recipient="responsible_la",
        use_out_of_hours_contact=True,
        due_after_hours=24,
        due_after_hours_if_high_risk=2,
        basis=AUDIT_NOT_TOLD_LA
        + " Within 2 hours for a high-risk child, otherwise 24 hours; the out-of-hours "
        "team at night.",
    ),
    _rule(
        name="Reported: tell the IRO of a child in care",
        step="reported",
        condition="in_care",
        teller="reporting_agency",
        recipient="iro",
        due_after_hours=24,
        basis=IRO_PROCEDURE,
    ),
    _rule(
        name="Reported: responsible local authority tells the host local authority",
        step="reported",
        condition="out_of_area",
        teller="responsible_la",
        recipient="host_la",
        due_after_hours=24,
        basis=AUDIT_OUT_OF_AREA,
    ),
    *_each(
        HEALTH_AND_SCHOOL,
        name="Reported: local authority tells the involved {whom}",
        step="reported",
        condition="involved",
        teller="responsible_la",
        due_after_hours=24,
        basis=AUDIT_KEY_EVENTS,
    ),
    # Still missing: escalation inside the local authority, at once.
    _rule(
        name="Still missing at 24 hours: tell the team manager",
        step="still_missing_24h",
        condition="still_open",
        teller="responsible_la",
        recipient="team_manager",
        due_after_hours=0,
        message="A strategy discussion is due.",
        basis=ESCALATION,
    ),
    _rule(
        name="Still missing at 72 hours: tell the head of service",
        step="still_missing_72h",
        condition="still_open",
        teller="responsible_la",
        recipient="head_of_service",
        due_after_hours=0,
        basis=ESCALATION,
    ),
    _rule(
        name="Still missing at 7 days: tell the director of children's services",
        step="still_missing_7d",
        condition="still_open",
        teller="responsible_la",
        recipient="director",
        due_after_hours=0,
        basis=ESCALATION,
    ),
    # Found or returned.
    _rule(
        name="Returned: police tell the responsible local authority",
        step="returned",
        teller="police",
        recipient="responsible_la",
        due_after_hours=24,
        basis=AUDIT_NOT_TOLD_LA,
    ),
    _rule(
        name="Returned: responsible local authority tells the return-interview provider",
        step="returned",
        teller="responsible_la",
        recipient="provider",
        due_after_hours=24,
        message="The return interview is due within 72 hours of the return.",
        basis="Statutory guidance: a return interview is offered within 72 hours of return.",
    ),
    _rule(
        name="Returned: responsible local authority tells the host local authority",
        step="returned",
        condition="out_of_area",
        teller="responsible_la",
        recipient="host_la",
        due_after_hours=24,
        basis=AUDIT_OUT_OF_AREA,
    ),
    _rule(
        name="Returned: local authority tells the IRO of a child in care",
        step="returned",
        condition="in_care",
        teller="responsible_la",
        recipient="iro",
        due_after_hours=72,
        basis=IRO_PROCEDURE,
    ),
    *_each(
        HEALTH_AND_SCHOOL,
        name="Returned: local authority tells the involved {whom}",
        step="returned",
        condition="involved",
        teller="responsible_la",
        due_after_hours=72,
        basis=AUDIT_KEY_EVENTS,
    ),
    # Safe and well check.
    _rule(
        name="Safe and well check: police share the outcome with the responsible local authority",
        step="safe_and_well_done",
        teller="police",
        recipient="responsible_la",
        due_after_hours=24,
        basis="Audit finding: safe and well checks were not shared with the local authority.",
    ),
    # Return interview held or declined.
    _rule(
        name="Interview held or declined: provider tells the responsible local authority",
        step="interview_done",
        teller="provider",
        recipient="responsible_la",
        due_after_hours=72,
        basis="Audit finding: what the child said was not passed on to the local authority.",
    ),
    *_each(
        HEALTH_AND_SCHOOL,
        name="Interview held or declined: provider tells the involved {whom}",
        step="interview_done",
        condition="involved",
        teller="provider",
        due_after_hours=72,
        basis=AUDIT_KEY_EVENTS,
    ),
    _rule(
        name="Interview held or declined: provider tells the IRO of a child in care",
        step="interview_done",
        condition="in_care",
        teller="provider",
        recipient="iro",
        due_after_hours=72,
        basis=IRO_PROCEDURE,
    ),
    # The Philomena Protocol: the missing person profile kept ready for a child in care
    # goes to the police the moment the child is reported (or the profile is first
    # kept while they are missing). Out of hours too: the search does not wait.
    _rule(
        name="Profile shared: tell the police of the missing person profile",
        step="profile_shared",
        teller="responsible_la",
        recipient="police",
        use_out_of_hours_contact=True,
        due_after_hours=0,
        basis=PHILOMENA,
    ),
    # Across episodes.
    _rule(
        name=f"Repeat missing ({REPEAT}): tell the team manager",
        step="repeat_threshold",
        condition="repeat",
        threshold_count=DEFAULT_REPEAT_COUNT,
        threshold_days=DEFAULT_REPEAT_DAYS,
        teller="responsible_la",
        recipient="team_manager",
        due_after_hours=120,
        message="Convene a strategy meeting or multi-agency review.",
        basis="Local practice: several episodes in a short window call for a strategy "
        f"meeting ({REPEAT} by default).",
    ),
    *_each(
        {"social_worker": "allocated social worker", "team_manager": "team manager"},
        name=f"Not engaging ({DEFAULT_STUCK_FAILED_ATTEMPTS} failed interview attempts): "
        "provider tells the {whom}",
        step="not_engaging",
        condition="failed_attempts",
        threshold_count=DEFAULT_STUCK_FAILED_ATTEMPTS,
        teller="provider",
        due_after_hours=48,
        message="The child is not engaging: plan a different way to reach them.",
        basis="Audit finding: a quarter of children would not engage and cases became "
        "process-driven; repeated failed attempts must reach a manager.",
    ),
]

# The fields a RuleVersion keeps (everything an admin can change).
VERSIONED_FIELDS = (
    "name",
    "step",
    "condition",
    "risk_at_least",
    "threshold_count",
    "threshold_days",
    "teller",
    "recipient",
    "use_out_of_hours_contact",
    "due_after_hours",
    "due_after_hours_if_high_risk",
    "send_email",
    "message",
    "basis",
    "active",
)


def rule_snapshot(rule: Any) -> dict[str, Any]:
    """A rule's versioned fields as JSON-safe data (works on historical models too)."""
    data: dict[str, Any] = {}
    for field in VERSIONED_FIELDS:
        value = getattr(rule, field)
        # Decimals become strings to two places (as the field stores them): JSON has no
        # exact decimal, and 2.50 hours must not come back as 2.4999.
        if isinstance(value, (Decimal, int, float)) and field.startswith("due_after"):
            value = str(Decimal(value).quantize(Decimal("0.01")))
        data[field] = value
    return data
