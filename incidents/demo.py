"""Demo children and episodes, one in each situation the partnership meets.

- Kayla: in care, placed out of area (Cheshire West and Chester's child in a Cheshire
  East children's home), missing now at high risk with exploitation concerns.
- Liam: at home with a child protection plan; went missing once, came back, and his
  return interview was held: his own words are on his record.
- Tyler: in foster care, repeat missing (four episodes in three months); back now, his
  safe and well check is done and his interview is due.
- Kayla and Tyler have missing person profiles (Tyler's not reviewed for four months);
  Maisie, not in care, has none.
- Maisie: a child in need who will not engage: three failed attempts, then declined.

Kayla and Tyler have associates recorded by the police, and an "Other" push or pull
factor said in words, for their story on the child's page.

Built through the same action functions the pages use, so the timeline, history and
protocol events are what a real case would show. Times are relative to now, so the demo
always looks current. A child already loaded (matched on the council's child id) is left
as it is, which makes loading idempotent.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from missingkids.accounts.models import Agency, LocalAuthorityArea, User

from .actions.agreed_actions import agreed_action_mark_done
from .actions.associates import associate_add
from .actions.children import (
    child_create,
    child_set_legal_status,
    involvement_add,
    location_find_or_create,
    placement_add,
)
from .actions.episodes import episode_record_return, episode_regrade_risk, episode_report
from .actions.interviews import (
    interview_record_attempt,
    interview_record_declined,
    interview_record_held,
    safe_and_well_record,
)
from .actions.profiles import profile_save
from .models import (
    Associate,
    Child,
    Episode,
    InterviewAttempt,
    Involvement,
    LegalStatus,
    MissingPersonProfile,
    RiskGrade,
    SharingMethod,
)


def _people() -> dict[str, User]:
    return {
        "officer": User.objects.get(email="officer@demo.example.org"),
        "social_worker": User.objects.get(email="social.worker@demo.example.org"),
        "return_worker": User.objects.get(email="return.worker@demo.example.org"),
        "manager": User.objects.get(email="manager@demo.example.org"),
    }


def _agency(name: str) -> Agency:
    return Agency.objects.get(name=name)


def _involve(
    child: Child, who: User, agency: Agency, role: str, start: dt.date, name: str = ""
) -> None:
    involvement_add(
        acting_user=who,
        child=child,
        agency=agency,
        role=role,
        professional_name=name,
        start=start,
    )


def _episode(
    *,
    child: Child,
    people: dict[str, User],
    last_seen: dt.datetime,
    place: tuple[str, str, str],
    circumstances: str,
    risk: str,
    category: str = Episode.Category.MISSING,
    flags: dict[str, object] | None = None,
    found_after: dt.timedelta | None = None,
    found_place: tuple[str, str, str] | None = None,
    safe_and_well: bool = False,
) -> Episode:
    description, address, postcode = place
    episode = episode_report(
        acting_user=people["officer"],
        child=child,
        category=category,
        reported_at=last_seen + dt.timedelta(hours=2),
        reported_by_name="Carer",
        reported_by_agency=None,
        last_seen_at=last_seen,
        last_seen_location=location_find_or_create(description=description, postcode=postcode),
        last_seen_address=address,
        circumstances=circumstances,
        police_reference=f"CH-{last_seen:%y%m%d}-{child.pk:04d}",
        flags=flags or {},
        risk=risk,
        risk_rationale="Initial grading on the information from the carer and police checks.",
    )
    if found_after is not None:
        found_description, found_address, found_postcode = found_place or place
        episode = episode_record_return(
            acting_user=people["officer"],
            episode=episode,
            expected_version=episode.version,
            found_at=last_seen + found_after,
            found_location=location_find_or_create(
                description=found_description, postcode=found_postcode
            ),
            found_address=found_address,
            found_with="Found alone" if not found_place else "Two older teenagers",
            how_returned=Episode.HowReturned.FOUND_POLICE,
        )
        if safe_and_well:
            told = people["social_worker"]
            safe_and_well_record(
                acting_user=people["officer"],
                episode=episode,
                officer_name=people["officer"].name,
                conducted_at=episode.found_at + dt.timedelta(hours=1),
                face_to_face=True,
                outcome="Seen at home, tired but unhurt. No disclosures.",
                shared_with_la_at=episode.found_at + dt.timedelta(hours=3),
                shared_method=SharingMethod.PHONE,
                shared_with=f"{told.name}, {told.agency.name}",
            )
    return episode


BUS_STATION = ("Chester bus interchange", "Gorse Stacks, Chester", "CH1 3EQ")
RETAIL_PARK = ("Crewe retail park car park", "Weston Road, Crewe", "CW1 6NE")


def load() -> list[str]:
    if Child.objects.filter(
        la_child_id__in=["CW100231", "CW100412", "CW100587", "CW100733"]
    ).exists():
        return []
    people = _people()
    west = LocalAuthorityArea.objects.get(code="E06000050")
    east = LocalAuthorityArea.objects.get(code="E06000049")
    now = timezone.now()
    today = timezone.localdate()
    sw, officer = people["social_worker"], people["officer"]
    la_west = _agency("Cheshire West and Chester Council Children's Services")
    iro = _agency("Cheshire West and Chester IRO Service")
    provider = _agency("Catch22 Missing from Home Service")

    # Kayla: in care, placed out of area, missing now.
    kayla = child_create(
        acting_user=sw,
        first_name="Kayla",
        last_name="Morris",
        date_of_birth=today.replace(year=today.year - 15) - dt.timedelta(days=40),
        gender="female",
        ethnicity="WBRI",
        la_child_id="CW100231",
        nhs_number="9434765919",
        legal_status=LegalStatus.IN_CARE,
        legal_status_start=today - dt.timedelta(days=600),
        care_legal_status="C2",
        responsible_area=west,
        physical_description="5ft 4in, slim, long dark hair usually tied back; grey hoodie.",
        places_they_go="Crewe bus station, the retail park, a friend's flat off Mill Street.",
        people_they_may_be_with="Older males in a silver car; a friend called Jade.",
    )
    placement_add(
        acting_user=sw,
        child=kayla,
        start=today - dt.timedelta(days=120),
        type="home",
        carer_name="Willow House children's home",
        address="14 Willow Lane, Crewe",
        postcode="CW2 6PL",
        host_area=east,
    )
    _involve(
        kayla, sw, la_west, Involvement.Role.SOCIAL_WORKER, today - dt.timedelta(days=400), sw.name
    )
    _involve(kayla, sw, iro, Involvement.Role.IRO, today - dt.timedelta(days=400), "Anne Roberts")
    _involve(kayla, sw, provider, Involvement.Role.PROVIDER, today - dt.timedelta(days=300))
    _involve(
        kayla,
        sw,
        _agency("Crewe Road Surgery"),
        Involvement.Role.GP_PRACTICE,
        today - dt.timedelta(days=110),
    )
    _involve(
        kayla,
        sw,
        _agency("Macclesfield Park High School"),
        Involvement.Role.SCHOOL,
        today - dt.timedelta(days=110),
    )
    # Her missing person profile, kept by her social worker: copied to each episode at
    # the report and offered to the police at once.
    profile_save(
        acting_user=sw,
        child=kayla,
        expected_version=None,
        physical_description="5ft 4in, slim, long dark hair usually tied back, pierced ears.",
        clothing="Grey hoodie, black leggings, white trainers; a small pink rucksack.",
        phone_numbers="07700 900231 (her own); she borrows Jade's phone.",
        social_media="Snapchat and TikTok as 'kaylam_x'.",
        associates="Jade (friend, lives off Mill Street); older males in a silver car.",
        places="Crewe bus station, the retail park, a flat off Mill Street; her sister's.",
        health_needs="Asthma.",
        medication="Salbutamol inhaler: she needs it with her.",
        what_helped="Her sister texting her; the police checking the retail park first.",
    )
    earlier = _episode(
        child=kayla,
        people=people,
        last_seen=now - dt.timedelta(days=40),
        place=RETAIL_PARK,
        circumstances="Left the home after an argument about phone use.",
        risk=RiskGrade.MEDIUM,
        found_after=dt.timedelta(hours=20),
        found_place=BUS_STATION,
        safe_and_well=True,
    )
    interview_record_held(
        acting_user=people["return_worker"],
        interview=earlier.interview,
        expected_version=earlier.interview.version,
        held_at=earlier.found_at + dt.timedelta(hours=50),
        held_by=people["return_worker"].name,
        child_voice=(
            "I don't like it at Willow House, nobody from home is near. Jade's mates have "
            "a car and they take me places. I only go because I'm bored."
        ),
        push_factors=["unhappy_placement", "rules_boundaries", "other"],
        push_other="Missing her sister since she moved to Willow House",
        pull_factors=["friends", "older_people"],
        where_they_were="Driven around Crewe, then a flat off Mill Street.",
        who_with="Jade and two older males she did not name.",
        what_would_help="Seeing her sister more; something to do in the evenings.",
        actions=[
            # Overdue: still open three weeks after it was due.
            {
                "description": "Arrange weekly contact with her sister",
                "owner_person": sw,
                "owner_agency": la_west,
                "due_date": today - dt.timedelta(days=20),
            },
            {
                "description": "Refer Kayla to the exploitation panel",
                "owner_person": sw,
                "owner_agency": la_west,
                "due_date": today - dt.timedelta(days=30),
            },
        ],
    )
    # Done: what happened is on Kayla's page.
    referral = earlier.interview.actions.get(description__startswith="Refer Kayla")
    agreed_action_mark_done(
        acting_user=sw,
        action=referral,
        expected_version=referral.version,
        what_happened="Referred; the panel met and Kayla has a CSE worker from Barnardo's.",
    )
    current = _episode(
        child=kayla,
        people=people,
        last_seen=now - dt.timedelta(hours=30),
        place=RETAIL_PARK,
        circumstances="Did not return to the home after school; phone switched off.",
        risk=RiskGrade.MEDIUM,
        flags={"flag_cse": True, "flag_cce": True},
    )
    episode_regrade_risk(
        acting_user=officer,
        episode=current,
        grade=RiskGrade.HIGH,
        rationale="Seen getting into a silver car with older males; CSE concerns last time.",
        graded_at=now - dt.timedelta(hours=20),
    )
    # Who she goes with: police intelligence, seen by the police and her councils only.
    associate_add(
        acting_user=officer,
        child=kayla,
        episode=earlier,
        name="Jade Walsh",
        relationship=Associate.Relationship.FRIEND,
        concern="17; her friends drive Kayla around Crewe.",
    )
    associate_add(
        acting_user=officer,
        child=kayla,
        episode=current,
        name="Unnamed older male, silver Vauxhall Astra",
        relationship=Associate.Relationship.SUSPECTED_EXPLOITER,
        concern="Seen picking Kayla up at the retail park; reported for CSE concerns.",
    )

    # Liam: at home with a child protection plan; his interview was held.
    liam = child_create(
        acting_user=sw,
        first_name="Liam",
        last_name="Carter",
        date_of_birth=today.replace(year=today.year - 13) - dt.timedelta(days=100),
        gender="male",
        ethnicity="WBRI",
        upn="H801200001001",
        la_child_id="CW100412",
        legal_status=LegalStatus.CHILD_PROTECTION,
        legal_status_start=today - dt.timedelta(days=200),
        responsible_area=west,
        physical_description="Small for his age, short fair hair, school uniform.",
        places_they_go="His nan's house in Blacon; the skate park.",
    )
    _involve(
        liam, sw, la_west, Involvement.Role.SOCIAL_WORKER, today - dt.timedelta(days=200), sw.name
    )
    _involve(
        liam,
        sw,
        _agency("Chester Riverside Academy"),
        Involvement.Role.SCHOOL,
        today - dt.timedelta(days=200),
    )
    _involve(
        liam,
        sw,
        _agency("Northgate Medical Centre"),
        Involvement.Role.GP_PRACTICE,
        today - dt.timedelta(days=200),
    )
    _involve(
        liam,
        sw,
        _agency("Cheshire and Wirral School Nursing Service"),
        Involvement.Role.SCHOOL_NURSE,
        today - dt.timedelta(days=200),
    )
    liams = _episode(
        child=liam,
        people=people,
        last_seen=now - dt.timedelta(days=12),
        place=("Blacon skate park", "Western Avenue, Chester", "CH1 5PX"),
        circumstances="Ran off after shouting at home; mum called police at 10pm.",
        risk=RiskGrade.LOW,
        found_after=dt.timedelta(hours=6),
        found_place=("Nan's house", "Blacon, Chester", "CH1 5BD"),
        safe_and_well=True,
    )
    interview_record_held(
        acting_user=people["return_worker"],
        interview=liams.interview,
        expected_version=liams.interview.version,
        held_at=liams.found_at + dt.timedelta(hours=30),
        held_by=people["return_worker"].name,
        child_voice="When mum and Dave shout I go to nan's. Nan doesn't shout. I feel safe there.",
        push_factors=["conflict_home"],
        pull_factors=["family"],
        where_they_were="At his nan's house all evening.",
        who_with="His nan.",
        what_would_help="Being allowed to stay at nan's when it kicks off at home.",
        actions=[
            {
                "description": "Talk to mum about a safety plan that includes nan",
                "owner_person": sw,
                "owner_agency": la_west,
                "due_date": today + dt.timedelta(days=5),
            },
            {
                "description": "Give Liam a trusted adult to go to at school",
                "owner_agency": _agency("Chester Riverside Academy"),
                "due_date": today + dt.timedelta(days=10),
            },
        ],
    )

    # Tyler: in foster care, repeat missing; back now with his interview due.
    tyler = child_create(
        acting_user=sw,
        first_name="Tyler",
        last_name="Hughes",
        date_of_birth=today.replace(year=today.year - 14) - dt.timedelta(days=10),
        gender="male",
        ethnicity="MWBC",
        upn="U801200002001",
        la_child_id="CW100587",
        legal_status=LegalStatus.IN_CARE,
        legal_status_start=today - dt.timedelta(days=900),
        care_legal_status="V2",
        responsible_area=west,
        people_they_may_be_with="Boys from his old estate in Ellesmere Port.",
    )
    # He went home to his mother for a while, then came back into care on a care order:
    # two periods of care, as the SSDA903 return sees them.
    child_set_legal_status(
        acting_user=sw, child=tyler, status=LegalStatus.NONE, start=today - dt.timedelta(days=700)
    )
    child_set_legal_status(
        acting_user=sw,
        child=tyler,
        status=LegalStatus.IN_CARE,
        start=today - dt.timedelta(days=420),
        care_legal_status="C2",
    )
    placement_add(
        acting_user=sw,
        child=tyler,
        start=today - dt.timedelta(days=300),
        type="foster",
        carer_name="Mr and Mrs Patel",
        address="7 Orchard Close, Ellesmere Port",
        postcode="CH65 2AB",
        host_area=west,
    )
    _involve(
        tyler, sw, la_west, Involvement.Role.SOCIAL_WORKER, today - dt.timedelta(days=300), sw.name
    )
    _involve(tyler, sw, iro, Involvement.Role.IRO, today - dt.timedelta(days=300), "Anne Roberts")
    # His profile was kept by his social worker four months ago and not reviewed since:
    # the child's page marks it as due for review. (Set back in time here, for the demo.)
    profile_save(
        acting_user=sw,
        child=tyler,
        expected_version=None,
        physical_description="5ft 7in, thin, short brown hair, a scar through his left eyebrow.",
        clothing="Black tracksuit, a black puffer jacket, a cap.",
        associates="Boys from his old estate in Ellesmere Port; an older male called Carl.",
        places="Ellesmere Port: the estate where he used to live, the bus station.",
    )
    months_ago = now - dt.timedelta(days=125)
    MissingPersonProfile.objects.filter(child=tyler).update(
        reviewed_at=months_ago, updated_at=months_ago
    )
    # His earlier interviews were held, the last one late (after 72 hours): the kind of
    # thing the managers' measures are there to find.
    for days_ago, hours, held_after, words in (
        (80, 9, 40, "I just wanted to see my mates from the estate. They're all I know."),
        (51, 14, 30, "Carl said he'd give me a tenner to take a bag to his cousin's."),
        (23, 30, 90, "I don't want to talk about where I was. I was fine."),
    ):
        past = _episode(
            child=tyler,
            people=people,
            last_seen=now - dt.timedelta(days=days_ago),
            place=BUS_STATION,
            circumstances="Did not come home after school.",
            risk=RiskGrade.MEDIUM,
            flags={"flag_cce": True},
            found_after=dt.timedelta(hours=hours),
            safe_and_well=True,
        )
        interview_record_held(
            acting_user=people["return_worker"],
            interview=past.interview,
            expected_version=past.interview.version,
            held_at=past.found_at + dt.timedelta(hours=held_after),
            held_by=people["return_worker"].name,
            child_voice=words,
            push_factors=["unhappy_placement"],
            pull_factors=["friends", "exploitation", "other"],
            pull_other="Football with his old team",
            where_they_were="Ellesmere Port, around the estate where he used to live.",
            who_with="Boys from his old estate; an older male called Carl.",
            what_would_help="Being able to see his friends without going missing.",
        )
    associate_add(
        acting_user=officer,
        child=tyler,
        episode=past,
        name="Carl (surname not known), about 25",
        relationship=Associate.Relationship.OLDER_ADULT,
        concern="Named by Tyler at his interviews; known to police for county lines.",
    )
    _episode(
        child=tyler,
        people=people,
        last_seen=now - dt.timedelta(hours=40),
        place=BUS_STATION,
        circumstances="Went out to the shop and did not come back.",
        risk=RiskGrade.MEDIUM,
        flags={"flag_cce": True},
        found_after=dt.timedelta(hours=16),
        safe_and_well=True,
    )

    # Maisie: a child in need who will not engage.
    maisie = child_create(
        acting_user=sw,
        first_name="Maisie",
        last_name="Doyle",
        date_of_birth=today.replace(year=today.year - 16) - dt.timedelta(days=200),
        gender="female",
        ethnicity="NOBT",
        la_child_id="CW100733",
        legal_status=LegalStatus.CHILD_IN_NEED,
        legal_status_start=today - dt.timedelta(days=150),
        responsible_area=west,
    )
    _involve(maisie, sw, provider, Involvement.Role.PROVIDER, today - dt.timedelta(days=150))
    maisies = _episode(
        child=maisie,
        people=people,
        last_seen=now - dt.timedelta(days=9),
        place=BUS_STATION,
        circumstances="Stayed out overnight; told mum she was at a friend's.",
        risk=RiskGrade.LOW,
        flags={"flag_mental_health": True},
        found_after=dt.timedelta(hours=14),
        safe_and_well=True,
    )
    worker = people["return_worker"]
    attempts = [
        (
            dt.timedelta(hours=20),
            InterviewAttempt.Method.PHONE,
            InterviewAttempt.Outcome.NO_CONTACT,
            "No answer; left a voicemail.",
        ),
        (
            dt.timedelta(hours=40),
            InterviewAttempt.Method.VISIT,
            InterviewAttempt.Outcome.REARRANGED,
            "Maisie was going out; agreed to try tomorrow.",
        ),
        (
            dt.timedelta(hours=62),
            InterviewAttempt.Method.VISIT,
            InterviewAttempt.Outcome.DECLINED,
            "Said she is fine and does not want to talk to anyone.",
        ),
    ]
    for after, method, outcome, notes in attempts:
        interview_record_attempt(
            acting_user=worker,
            interview=maisies.interview,
            attempted_at=maisies.found_at + after,
            method=method,
            outcome=outcome,
            notes=notes,
        )
    maisies.interview.refresh_from_db()
    interview_record_declined(
        acting_user=worker,
        interview=maisies.interview,
        expected_version=maisies.interview.version,
        declined_at=maisies.found_at + dt.timedelta(hours=63),
        carers_information="Mum says Maisie has been low and is staying in her room a lot.",
        decision_not_to_hold=(
            "Maisie declined three times. Not holding an interview now; the school nurse "
            "she trusts will offer to meet her at school instead."
        ),
    )
    return []
