"""What a notification asks of its recipient, and by when: the one place the e-mails
take it from.

A rule says who must tell whom, and by when *the teller* must tell. The recipient needs
something else: what they are now asked to do, by *their own* deadline (the provider
told of a return must hold the interview by the return + 72 hours, whatever day the
council told them), and the few facts that let them act. ``recipient_ask`` works that
out per step and recipient role from the record; the e-mail templates render it.

Within the data-minimising rules (README, "E-mail"): dates and times, whether harm or a
crime was disclosed at the safe and well check (yes or no), who holds the return
interview; never places, what the child said or disclosed, or anything typed about
them. Health and school recipients usually have no account on the service, so what
they are asked says whom to ask rather than "read it on the service".

A rule's own message, if an admin wrote one, is the partnership's wording of what is
asked and replaces the standard sentence; the deadline and the facts still come from
here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from incidents.models import Episode, ReturnInterview, SafeAndWellCheck

from .models import Notification, RecipientRole, Step

R = RecipientRole

# Where a deadline comes from (the second item of each entry below).
INTERVIEW = "interview"  # the return interview: Episode.interview_due_at
STRATEGY = "strategy"  # the strategy discussion, due when the child is still missing at 24 h
NOTIFICATION = "notification"  # the rule's own time (see REPEAT_THRESHOLD below)

# (step, recipient role): (what they are asked to do, where their deadline comes from).
# Placeholders: {strategy_due}, {interview_due}, {interview_contact} (whom to ask about
# the interview: its provider, else the council) and {owner}.
ASKS: dict[tuple[str, str], tuple[str, str | None]] = {
    # Reported missing.
    (Step.REPORTED, R.RESPONSIBLE_LA): (
        "Tell the child's social worker, check the child's plan, and give the police "
        "anything that may help find the child. If the child is still missing at "
        "{strategy_due}, a strategy discussion is due.",
        None,
    ),
    (Step.REPORTED, R.HOST_LA): (
        "The child is placed in your area: give the police anything your services know "
        "that may help find them.",
        None,
    ),
    (Step.REPORTED, R.IRO): (
        "Check that the child's care plan keeps them safe, and note the episode for "
        "their next review.",
        None,
    ),
    (Step.REPORTED, R.SOCIAL_WORKER): (
        "Give the police anything that may help find the child, and check the child's plan.",
        None,
    ),
    (Step.REPORTED, R.GP): (
        "Check the child's health record for anything that affects the risk to them or "
        "may help find them (for example medication they need), and give it to the police.",
        None,
    ),
    (Step.REPORTED, R.SCHOOL_NURSE): (
        "Check your record for anything that affects the risk to the child or may help "
        "find them (for example medication they need), and give it to the police.",
        None,
    ),
    (Step.REPORTED, R.SCHOOL): (
        "Tell the police at once if the child comes to school or you hear where they may be.",
        None,
    ),
    # Still missing: escalation inside the council.
    (Step.STILL_MISSING_24H, R.TEAM_MANAGER): (
        "Hold a strategy discussion with the police and the agencies involved.",
        STRATEGY,
    ),
    (Step.STILL_MISSING_72H, R.HEAD_OF_SERVICE): (
        "Review now the plan to find the child and the actions agreed at the strategy discussion.",
        None,
    ),
    (Step.STILL_MISSING_7D, R.DIRECTOR): (
        "Review now, with the head of service, the partnership's plan to find the child.",
        None,
    ),
    # Found or returned.
    (Step.RETURNED, R.RESPONSIBLE_LA): (
        "Make sure the return interview is offered and held, or the child's refusal "
        "recorded, by the deadline, and check the child's plan.",
        INTERVIEW,
    ),
    (Step.RETURNED, R.PROVIDER): (
        "Offer the child a return interview and hold it, or record their refusal, by the deadline.",
        INTERVIEW,
    ),
    (Step.RETURNED, R.SOCIAL_WORKER): (
        "Contact the child and their carers, and make sure the return interview is held "
        "by the deadline.",
        INTERVIEW,
    ),
    (Step.RETURNED, R.HOST_LA): (
        "The child has returned to a placement in your area. The return interview is "
        "owned by {owner}: support it if asked.",
        None,
    ),
    (Step.RETURNED, R.IRO): (
        "Note the episode for the child's next review, and check their care plan still "
        "keeps them safe.",
        None,
    ),
    (Step.RETURNED, R.GP): (
        "Check whether the child needs health care after being missing (injury, sexual "
        "health, drugs or alcohol, emotional wellbeing), and give {interview_contact} "
        "anything relevant before the return interview.",
        INTERVIEW,
    ),
    (Step.RETURNED, R.SCHOOL_NURSE): (
        "Offer the child a health contact, and give {interview_contact} anything relevant "
        "before the return interview.",
        INTERVIEW,
    ),
    (Step.RETURNED, R.SCHOOL): (
        "Support the child's return to school, and give {interview_contact} anything that "
        "may help before the return interview.",
        INTERVIEW,
    ),
    # The safe and well check (see SAFE_AND_WELL_DISCLOSED for harm or a crime).
    (Step.SAFE_AND_WELL_DONE, R.RESPONSIBLE_LA): (
        "Read the check's outcome on the service, and make sure the return interview "
        "takes it into account.",
        INTERVIEW,
    ),
    # The interview held or declined.
    (Step.INTERVIEW_DONE, R.RESPONSIBLE_LA): (
        "Read the interview (or the decision not to hold one) on the service, and update "
        "the child's plan with what the child said and the actions agreed.",
        None,
    ),
    (Step.INTERVIEW_DONE, R.SOCIAL_WORKER): (
        "Read the interview (or the decision not to hold one) on the service, and update "
        "the child's plan with what the child said and the actions agreed.",
        None,
    ),
    (Step.INTERVIEW_DONE, R.IRO): (
        "Read the interview (or the decision not to hold one) on the service, and "
        "consider it at the child's next review.",
        None,
    ),
    (Step.INTERVIEW_DONE, R.GP): (
        "Ask {interview_contact} about any health needs the interview found or actions "
        "agreed for your practice, and act on them.",
        None,
    ),
    (Step.INTERVIEW_DONE, R.SCHOOL_NURSE): (
        "Ask {interview_contact} about any health needs the interview found or actions "
        "agreed for your service, and act on them.",
        None,
    ),
    (Step.INTERVIEW_DONE, R.SCHOOL): (
        "Ask {interview_contact} about any actions agreed for the school, and support the "
        "child in school.",
        None,
    ),
    # The Philomena Protocol: the profile kept ready for a child in care.
    (Step.PROFILE_SHARED, R.POLICE): (
        "Open the child's missing person profile on the service (the link below) and give "
        "it to those searching: a description, a photo, places they may go, people they "
        "may be with and their health needs, kept ready by those who look after them.",
        None,
    ),
    # Across episodes.
    (Step.REPEAT_THRESHOLD, R.TEAM_MANAGER): (
        "Convene a strategy meeting or multi-agency review of the child's repeated episodes.",
        # The partnership's table gives 5 days for this step: the time to convene the
        # meeting, which is also the rule's time to tell the team manager.
        NOTIFICATION,
    ),
    (Step.NOT_ENGAGING, R.SOCIAL_WORKER): (
        "Plan with {interview_contact} a different way to reach the child: another "
        "worker, a trusted adult, or a place the child chooses.",
        INTERVIEW,
    ),
    (Step.NOT_ENGAGING, R.TEAM_MANAGER): (
        "Make sure a different way to reach the child is tried (another worker, a "
        "trusted adult, a place the child chooses), and decide whether to escalate.",
        INTERVIEW,
    ),
}

SAFE_AND_WELL_DISCLOSED: tuple[str, str | None] = (
    "Harm or a crime was disclosed at the check: read it on the service today and act "
    "under your safeguarding procedures.",
    None,
)

# What a recipient with no line above is asked, by step.
STEP_DEFAULTS: dict[str, tuple[str, str | None]] = {
    Step.REPORTED: (
        "Tell the police at once if you hear from the child or learn where they may be.",
        None,
    ),
    Step.RETURNED: ("For your information: the child has returned.", None),
    Step.SAFE_AND_WELL_DONE: (
        "For your information: the police have done the safe and well check.",
        None,
    ),
    Step.SAFE_AND_WELL_DUE: (
        "The safe and well check is not recorded 24 hours after the return: make sure it is done.",
        None,
    ),
    Step.INTERVIEW_DUE: (
        "The return interview is not recorded 72 hours after the return: make sure it "
        "is held, or the child's refusal recorded, as soon as you can.",
        None,
    ),
    Step.INTERVIEW_DONE: (
        "For your information: the return interview has been held or declined.",
        None,
    ),
}
DEFAULT: tuple[str, str | None] = ("For your information.", None)

# Steps after the return: their e-mails say when the interview is due and who holds it.
AFTER_RETURN = frozenset(
    {
        Step.RETURNED,
        Step.SAFE_AND_WELL_DONE,
        Step.SAFE_AND_WELL_DUE,
        Step.INTERVIEW_DONE,
        Step.INTERVIEW_DUE,
        Step.NOT_ENGAGING,
    }
)


# What the ask reads of the episode, and what an e-mail reads of its notification: one
# query for a batch of e-mails (``notifications.sending.claim_batch``).
EPISODE_RELATED = ("interview", "interview__owner", "interview__provider", "safe_and_well")
EMAIL_RELATED = (
    "child",
    "rule",
    "event",
    "recipient_agency",
    "responsible_agency",
    *(f"episode__{name}" for name in EPISODE_RELATED),
)


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Ask:
    """What the recipient is asked to do, by when (their deadline), and what they need."""

    action: str
    by: dt.datetime | None = None
    facts: list[Fact] = field(default_factory=list)

    def by_has_passed(self, now: dt.datetime | None = None) -> bool:
        return self.by is not None and self.by < (now or timezone.now())


def uk_time(moment: dt.datetime) -> str:
    """As the e-mails show a time: '27 Oct 2026 11:00' in UK time (GMT or BST)."""
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b %Y %H:%M}"


def interview_contact(interview: ReturnInterview | None) -> str:
    """Whom to ask about the return interview: its provider, else the council owning it."""
    if interview is None:
        return "the child's council"
    return interview.provider.name if interview.provider is not None else interview.owner.name


def interview_holder(interview: ReturnInterview) -> str:
    """Who holds the return interview: the provider, for the council that owns it."""
    if interview.provider is not None and interview.provider_id != interview.owner_id:
        return f"{interview.provider.name}, for {interview.owner.name}"
    return interview.owner.name


def _facts(
    notification: Notification,
    episode: Episode,
    interview: ReturnInterview | None,
    check: SafeAndWellCheck | None,
) -> list[Fact]:
    facts = [Fact("Last seen", uk_time(episode.last_seen_at))]
    if episode.found_at is not None:
        facts.append(Fact("Found", uk_time(episode.found_at)))
    step = notification.step
    if step == Step.SAFE_AND_WELL_DONE and check is not None:
        # Whether, never what: the details stay behind sign-in.
        facts.append(Fact("Harm disclosed at the check", "Yes" if check.harm_disclosed else "No"))
        facts.append(Fact("Crime disclosed at the check", "Yes" if check.crime_disclosed else "No"))
    if step in AFTER_RETURN and interview is not None:
        holder = interview_holder(interview)
        if interview.outcome == ReturnInterview.Outcome.HELD and interview.held_at:
            facts.append(Fact("Return interview", f"Held {uk_time(interview.held_at)}"))
            facts.append(Fact("Held by", holder))
        elif interview.outcome == ReturnInterview.Outcome.DECLINED and interview.declined_at:
            facts.append(
                Fact(
                    "Return interview",
                    f"Declined {uk_time(interview.declined_at)}; the decision not to hold "
                    "one is recorded",
                )
            )
            facts.append(Fact("Owned by", interview.owner.name))
        elif episode.interview_due_at is not None:
            facts.append(Fact("Return interview due by", uk_time(episode.interview_due_at)))
            facts.append(Fact("Held by", holder))
    if step == Step.NOT_ENGAGING and notification.event is not None:
        failed = (notification.event.data or {}).get("failed_attempts")
        if isinstance(failed, int):
            facts.append(Fact("Failed attempts to hold the interview", str(failed)))
    return facts


def _deadline(
    source: str | None,
    notification: Notification,
    episode: Episode,
    interview: ReturnInterview | None,
) -> dt.datetime | None:
    if source == INTERVIEW:
        # Sent late (after retries), the interview may be done: nothing is then due by it.
        if interview is not None and interview.outcome != ReturnInterview.Outcome.PENDING:
            return None
        return episode.interview_due_at
    if source == STRATEGY:
        return episode.strategy_discussion_due_at
    if source == NOTIFICATION:
        return notification.due_at
    return None


def recipient_ask(notification: Notification) -> Ask:
    """What this notification's recipient is asked to do, by when, and the facts to act.

    Reads the episode, its interview and its check once, unless the notification came
    with them (``EMAIL_RELATED``: the worker reads a whole batch in one query)."""
    if Notification.episode.is_cached(notification):
        episode = notification.episode
    else:
        episode = Episode.objects.select_related(*EPISODE_RELATED).get(pk=notification.episode_id)
    interview = getattr(episode, "interview", None)
    check = getattr(episode, "safe_and_well", None)
    step, role = notification.step, notification.recipient_role

    entry = ASKS.get((step, role)) or STEP_DEFAULTS.get(step) or DEFAULT
    disclosed = check is not None and check.anything_disclosed
    if (step, role) == (Step.SAFE_AND_WELL_DONE, R.RESPONSIBLE_LA) and disclosed:
        entry = SAFE_AND_WELL_DISCLOSED
    text, source = entry
    action = (notification.rule.message or "").strip() or text.format(
        strategy_due=uk_time(episode.strategy_discussion_due_at),
        interview_due=uk_time(episode.interview_due_at) if episode.interview_due_at else "",
        interview_contact=interview_contact(interview),
        owner=interview.owner.name if interview else "the child's council",
    )
    return Ask(
        action=action,
        by=_deadline(source, notification, episode, interview),
        facts=_facts(notification, episode, interview, check),
    )
