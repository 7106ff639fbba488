"""The missing person profile (the Philomena Protocol): kept, reviewed, shared at the
report, its photo checked and private, erased with the record, in the subject access
export.

The cast: Kayla, in the care of Cheshire West and Chester, lives at Oakwood children's
home (an agency recorded as her placement provider). West's social worker and manager
and Oakwood's carer keep her profile; the police see it; the return-interview
provider, a school, West's admin and a council elsewhere do not.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from incidents.actions import episodes as episode_actions
from incidents.actions import profiles as actions
from incidents.actions.base import StaleEdit
from incidents.models import (
    CaseEvent,
    Child,
    Episode,
    EpisodeProfileSnapshot,
    Involvement,
    LegalStatus,
    LegalStatusPeriod,
    MissingPersonProfile,
    RiskGrade,
)
from incidents.rights import Relation, relation_to
from missingkids import policy
from missingkids.accounts.models import Agency, User
from notifications.emails import render_notification_email
from notifications.engine import process_event
from notifications.models import Notification, Step
from oversight import retention, subject_access
from tests.factories import AgencyFactory, UserFactory
from tests.factories.incidents import ChildFactory, EpisodeFactory, InvolvementFactory
from tests.factories.notifications import default_contact

pytestmark = pytest.mark.django_db

# The smallest files that start as each accepted type does.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200


def jpeg(name: str = "kayla.jpg", content: bytes = JPEG) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/jpeg")


@pytest.fixture(autouse=True)
def photo_root(settings, tmp_path) -> Path:
    """Photos go to a folder of this test's own, never the project's."""
    root = tmp_path / "photos"
    settings.STORAGES = {
        **settings.STORAGES,
        "profile_photos": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture
def home(area_west) -> Agency:
    return AgencyFactory(name="Oakwood Children's Home", kind=Agency.Kind.OTHER, areas=[area_west])


@pytest.fixture
def carer(home) -> User:
    return UserFactory(agency=home, name="Jo Carer")


@pytest.fixture
def teacher(school) -> User:
    return UserFactory(agency=school)


@pytest.fixture
def kayla(area_west, social_worker, home, provider, school) -> Child:
    child = ChildFactory(
        first_name="Kayla",
        last_name="Morris",
        responsible_area=area_west,
        legal_status=LegalStatus.IN_CARE,
        created_by=social_worker,
    )
    since = timezone.localdate() - dt.timedelta(days=400)
    LegalStatusPeriod.objects.create(child=child, status=LegalStatus.IN_CARE, start=since)
    # From before any time a test travels back to: an involvement grants from its start.
    InvolvementFactory(
        child=child, agency=home, role=Involvement.Role.PLACEMENT_PROVIDER, start=since
    )
    InvolvementFactory(child=child, agency=provider, role=Involvement.Role.PROVIDER, start=since)
    InvolvementFactory(child=child, agency=school, role=Involvement.Role.SCHOOL, start=since)
    return child


def keep(user: User, child: Child, **fields) -> MissingPersonProfile:
    current = MissingPersonProfile.objects.filter(child=child).first()
    values = {
        "physical_description": "Slim, 5ft 4, long dark hair",
        "places": "Chester bus station",
    }
    values.update(fields)
    return actions.profile_save(
        acting_user=user,
        child=Child.objects.get(pk=child.pk),
        expected_version=current.version if current else None,
        **values,
    )


def report(user: User, child: Child, *, hours_ago: float = 1) -> Episode:
    now = timezone.now()
    return episode_actions.episode_report(
        acting_user=user,
        child=Child.objects.get(pk=child.pk),
        category=Episode.Category.MISSING,
        reported_at=now - dt.timedelta(minutes=10),
        reported_by_name="Jo Carer",
        last_seen_at=now - dt.timedelta(hours=hours_ago),
        circumstances="Did not come back from school.",
        risk=RiskGrade.MEDIUM,
        risk_rationale="Known to go to the bus station.",
    )


# Keeping it --------------------------------------------------------------------------


def test_placement_provider_is_its_own_relation(kayla, carer):
    assert relation_to(carer, kayla) == Relation.PLACEMENT_PROVIDER


def test_create_then_edit_keeps_history_and_counts_as_review(kayla, carer, social_worker):
    with time_machine.travel(timezone.now() - dt.timedelta(days=10)):
        profile = keep(carer, kayla, photo=jpeg())
    assert profile.version == 1 and profile.reviewed_by == carer
    assert profile.photo_type == "image/jpeg"
    assert not profile.photo.name.endswith("kayla.jpg")  # never the uploaded name

    profile = keep(social_worker, kayla, clothing="Grey hoodie, white trainers")
    profile.refresh_from_db()
    assert profile.version == 2
    assert profile.clothing == "Grey hoodie, white trainers"
    assert profile.reviewed_by == social_worker
    assert timezone.now() - profile.reviewed_at < dt.timedelta(minutes=1)
    versions = list(MissingPersonProfile.history.filter(child_id=kayla.pk).order_by("history_id"))
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].clothing == "" and versions[1].clothing == "Grey hoodie, white trainers"
    kinds = list(CaseEvent.objects.filter(child=kayla).values_list("kind", flat=True))
    assert kinds.count(CaseEvent.Kind.PROFILE_SAVED) == 2


def test_a_stale_edit_is_refused(kayla, carer, social_worker):
    keep(carer, kayla)
    keep(social_worker, kayla, clothing="Black coat")
    with pytest.raises(StaleEdit):
        actions.profile_save(
            acting_user=carer, child=kayla, expected_version=1, clothing="Red coat"
        )
    with pytest.raises(StaleEdit):  # a second "first" profile
        actions.profile_save(acting_user=carer, child=kayla, expected_version=None)
    assert MissingPersonProfile.objects.get(child=kayla).clothing == "Black coat"


def test_only_for_a_child_in_care(area_west, social_worker):
    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    with pytest.raises(ValidationError) as refused:
        actions.profile_save(acting_user=social_worker, child=child, expected_version=None)
    assert actions.NOT_IN_CARE in refused.value.messages
    assert not MissingPersonProfile.objects.exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (jpeg("big.jpg", JPEG + b"\x00" * policy.PROFILE_PHOTO_MAX_BYTES), "smaller than 5 MB"),
        (SimpleUploadedFile("x.jpg", b"GIF89a" + b"\x00" * 50, "image/jpeg"), "JPEG or PNG"),
        (SimpleUploadedFile("x.png", b"<svg onload=alert(1)>", "image/png"), "JPEG or PNG"),
        (SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png"), "JPEG"),
        (SimpleUploadedFile("x.jpg", b"", "image/jpeg"), "empty"),
    ],
    ids=["too-large", "gif", "svg", "png-without-header", "empty"],
)
def test_a_photo_is_checked_by_size_and_content(kayla, carer, photo_root, upload, message):
    with pytest.raises(ValidationError) as refused:
        keep(carer, kayla, photo=upload)
    assert any(message in m for m in refused.value.message_dict["photo"])
    assert not MissingPersonProfile.objects.exists()
    assert not photo_root.exists() or not any(photo_root.rglob("*.*"))


def test_a_png_is_kept(kayla, carer):
    profile = keep(carer, kayla, photo=SimpleUploadedFile("p.png", PNG, "image/png"))
    assert profile.photo_type == "image/png" and profile.photo.name.endswith(".png")


def test_a_replaced_photo_is_deleted_after_commit(kayla, carer, django_capture_on_commit_callbacks):
    first = keep(carer, kayla, photo=jpeg()).photo.name
    storage = storages["profile_photos"]
    with django_capture_on_commit_callbacks(execute=True):
        second = keep(carer, kayla, photo=jpeg(content=JPEG + b"2")).photo.name
    assert storage.exists(second) and not storage.exists(first)


def test_mark_reviewed_moves_the_date_only(kayla, carer):
    with time_machine.travel(timezone.now() - dt.timedelta(days=120)):
        profile = keep(carer, kayla)
    assert profile.review_due
    actions.profile_mark_reviewed(acting_user=carer, profile=profile, expected_version=1)
    profile.refresh_from_db()
    assert not profile.review_due and profile.version == 2
    assert profile.physical_description == "Slim, 5ft 4, long dark hair"
    assert CaseEvent.objects.filter(child=kayla, kind=CaseEvent.Kind.PROFILE_REVIEWED).exists()


def test_review_falls_due_at_three_months(kayla, carer):
    reviewed = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)
    with time_machine.travel(reviewed, tick=False):
        profile = keep(carer, kayla)
    # 3 calendar months on by the UK calendar and clock: 30 April (the last day of the
    # month), 10:00 as on the day of the review, which is 09:00 UTC in summer time.
    due = dt.datetime(2026, 4, 30, 9, 0, tzinfo=dt.UTC)
    assert profile.review_due_at == due
    assert not profile.review_due_on(due - dt.timedelta(seconds=1))
    assert profile.review_due_on(due)
    with time_machine.travel(due - dt.timedelta(minutes=1), tick=False):
        assert not MissingPersonProfile.objects.get(pk=profile.pk).review_due
    with time_machine.travel(due, tick=False):
        assert MissingPersonProfile.objects.get(pk=profile.pk).review_due


@pytest.mark.parametrize("who", ["officer", "provider_worker", "teacher", "admin_user", "outsider"])
def test_others_may_not_keep_it(kayla, carer, who, request):
    keep(carer, kayla)
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        keep(user, kayla, clothing="Changed")
    profile = MissingPersonProfile.objects.get(child=kayla)
    with pytest.raises(PermissionDenied):
        actions.profile_mark_reviewed(acting_user=user, profile=profile, expected_version=1)


# At the moment of report ------------------------------------------------------------


def test_the_report_takes_a_copy_that_later_edits_do_not_change(kayla, carer, officer):
    keep(carer, kayla, photo=jpeg(), medication="Inhaler, twice a day")
    episode = report(officer, kayla)
    snapshot = EpisodeProfileSnapshot.objects.get(episode=episode)
    assert snapshot.medication == "Inhaler, twice a day" and not snapshot.after_report
    original_photo = snapshot.photo.name
    assert original_photo.startswith("snapshots/")

    keep(carer, kayla, medication="None now", photo=jpeg(content=JPEG + b"new"))
    snapshot.refresh_from_db()
    assert snapshot.medication == "Inhaler, twice a day"
    assert snapshot.photo.name == original_photo
    with snapshot.photo.open("rb") as handle:
        assert handle.read() == JPEG
    events = CaseEvent.objects.filter(episode=episode, kind=CaseEvent.Kind.PROFILE_SHARED)
    assert events.count() == 1 and events.get().is_protocol


def test_no_profile_no_copy_and_the_episode_page_says_so(client, kayla, officer):
    episode = report(officer, kayla)
    assert not EpisodeProfileSnapshot.objects.exists()
    client.force_login(officer)
    page = client.get(reverse("incidents:episode_detail", args=[episode.pk])).content.decode()
    assert 'data-testid="profile-snapshot-missing"' in page


def test_the_police_are_told_once_with_a_link(kayla, carer, officer, police, la_west):
    default_contact(police, email="missing.persons@police.example.org")
    default_contact(la_west)
    keep(carer, kayla)
    episode = report(officer, kayla)
    shared = CaseEvent.objects.get(episode=episode, kind=CaseEvent.Kind.PROFILE_SHARED)
    process_event(shared.pk)
    process_event(shared.pk)  # a retry changes nothing
    told = Notification.objects.filter(episode=episode, step=Step.PROFILE_SHARED)
    assert told.count() == 1
    notification = told.get()
    assert notification.recipient_agency == police
    assert notification.due_at == shared.occurred_at  # at once
    _subject, text, html = render_notification_email(notification)
    link = reverse("incidents:profile_snapshot", args=[episode.pk])
    assert link in text and link in html
    # Nothing of the profile itself leaves by e-mail.
    assert "Chester bus station" not in text and "5ft 4" not in text

    # Changing the profile later tells nobody again.
    keep(carer, kayla, clothing="Blue coat")
    assert Notification.objects.filter(step=Step.PROFILE_SHARED).count() == 1


def test_a_profile_kept_while_the_child_is_missing_is_shared_then(kayla, carer, officer):
    episode = report(officer, kayla)
    keep(carer, kayla)
    snapshot = EpisodeProfileSnapshot.objects.get(episode=episode)
    assert snapshot.after_report
    keep(carer, kayla, clothing="Blue coat")  # a change is not a second sharing
    assert EpisodeProfileSnapshot.objects.count() == 1
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.PROFILE_SHARED).count() == 1


def test_a_profile_kept_after_the_return_is_not_shared_with_that_episode(kayla, carer, officer):
    now = timezone.now()
    EpisodeFactory(
        child=kayla,
        created_by=officer,
        last_seen_at=now - dt.timedelta(days=3),
        reported_at=now - dt.timedelta(days=3),
        found_at=now - dt.timedelta(days=2),
    )
    keep(carer, kayla)
    assert not EpisodeProfileSnapshot.objects.exists()


# Pages and photos: who may see what ----------------------------------------------------


def test_pages_for_those_who_keep_it(client, kayla, carer):
    client.force_login(carer)
    page = client.get(reverse("incidents:child_detail", args=[kayla.pk])).content.decode()
    assert 'data-testid="profile-missing"' in page
    edit = reverse("incidents:profile_edit", args=[kayla.pk])
    assert f'href="{edit}"' in page
    assert client.get(edit).status_code == 200
    response = client.post(
        edit,
        {"version": "", "physical_description": "Tall", "photo": jpeg()},
    )
    assert response.status_code == 302
    profile = MissingPersonProfile.objects.get(child=kayla)
    page = client.get(reverse("incidents:child_detail", args=[kayla.pk])).content.decode()
    assert "Mark as reviewed, nothing changed" in page
    assert reverse("incidents:profile_photo", args=[kayla.pk]) in page
    response = client.post(
        reverse("incidents:profile_review", args=[kayla.pk]), {"version": profile.version}
    )
    assert response.status_code == 302
    assert MissingPersonProfile.objects.get(child=kayla).version == profile.version + 1


def test_a_wrong_photo_is_refused_at_the_field_and_the_text_kept(client, kayla, carer):
    client.force_login(carer)
    response = client.post(
        reverse("incidents:profile_edit", args=[kayla.pk]),
        {
            "version": "",
            "physical_description": "Tall, freckles",
            "photo": SimpleUploadedFile("a.gif", b"GIF89a" + b"\x00" * 10, "image/gif"),
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The photo must be a JPEG or PNG" in page
    assert 'class="govuk-error-summary' in page
    assert "Tall, freckles" in page
    assert not MissingPersonProfile.objects.exists()


def test_a_body_over_the_upload_limit_is_refused_before_it_is_read(client, kayla, carer):
    client.force_login(carer)
    url = reverse("incidents:profile_edit", args=[kayla.pk])
    response = client.generic(
        "POST",
        url,
        b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(2 * policy.PROFILE_PHOTO_MAX_BYTES + 1),
    )
    assert response.status_code == 413


def test_the_edit_page_explains_for_a_child_not_in_care(client, area_west, social_worker):
    child = ChildFactory(responsible_area=area_west, created_by=social_worker)
    client.force_login(social_worker)
    page = client.get(reverse("incidents:profile_edit", args=[child.pk])).content.decode()
    assert 'data-testid="profile-not-in-care"' in page
    assert "<form" not in page.split("govuk-main-wrapper")[-1].split("Cancel")[0]


@pytest.mark.parametrize(
    ("who", "sees", "keeps"),
    [
        ("social_worker", True, True),
        ("manager", True, True),
        ("carer", True, True),
        ("officer", True, False),
        ("provider_worker", False, False),
        ("teacher", False, False),
        ("admin_user", False, False),
        ("outsider", False, False),
    ],
)
def test_who_may_see_and_keep_it(client, kayla, carer, officer, who, sees, keeps, request):
    """Refused (403) to those who see the child but not the profile; admins and other
    councils do not see the child at all, so for them it does not exist (404)."""
    keep(carer, kayla, photo=jpeg())
    episode = report(officer, kayla)
    client.force_login(request.getfixturevalue(who))
    expect = 200 if sees else (404 if who in ("outsider", "admin_user") else 403)
    for name, pk in (
        ("incidents:profile_sheet", kayla.pk),
        ("incidents:profile_photo", kayla.pk),
        ("incidents:profile_snapshot", episode.pk),
        ("incidents:profile_snapshot_photo", episode.pk),
    ):
        response = client.get(reverse(name, args=[pk]))
        assert response.status_code == expect, name
        if sees and name.endswith("photo"):
            assert response["Content-Type"] == "image/jpeg"
            assert response["X-Content-Type-Options"] == "nosniff"
            assert b"".join(response.streaming_content) == JPEG
    edit = client.get(reverse("incidents:profile_edit", args=[kayla.pk]))
    assert edit.status_code == (200 if keeps else 403 if expect == 200 else expect)
    if who != "outsider" and who != "admin_user":
        page = client.get(reverse("incidents:child_detail", args=[kayla.pk])).content.decode()
        assert ('data-testid="missing-person-profile"' in page) == sees
        episode_page = client.get(reverse("incidents:episode_detail", args=[episode.pk]))
        assert ('data-testid="profile-snapshot"' in episode_page.content.decode()) == sees


def test_photos_are_not_public_files(settings, kayla, carer):
    profile = keep(carer, kayla, photo=jpeg())
    root = Path(settings.STORAGES["profile_photos"]["OPTIONS"]["location"])
    assert (root / profile.photo.name).exists()
    assert not str(root).startswith(str(settings.STATIC_ROOT))
    assert "profile_photos" not in str(settings.MEDIA_URL)


# Erasure and subject access -------------------------------------------------------------


def test_erasure_deletes_the_photo_files(
    settings, kayla, carer, officer, django_capture_on_commit_callbacks
):
    profile = keep(carer, kayla, photo=jpeg())
    episode = report(officer, kayla)
    names = [profile.photo.name, EpisodeProfileSnapshot.objects.get(episode=episode).photo.name]
    storage = storages["profile_photos"]
    assert all(storage.exists(name) for name in names)
    partnership_admin = UserFactory(role=User.Role.ADMIN, email="partnership@example.org")
    settings.PARTNERSHIP_ADMINS = [partnership_admin.email]
    Child.objects.filter(pk=kayla.pk).update(date_of_birth=dt.date(2000, 1, 1))
    with django_capture_on_commit_callbacks(execute=True):
        erasure = retention.records_erase(confirmed_by=partnership_admin)
    assert erasure is not None
    assert not MissingPersonProfile.objects.exists()
    assert not MissingPersonProfile.history.exists()
    assert not EpisodeProfileSnapshot.objects.exists()
    assert not any(storage.exists(name) for name in names)


def test_subject_access_includes_the_profile_and_its_photo(kayla, carer, officer, manager):
    keep(carer, kayla, photo=jpeg())
    report(officer, kayla)
    record = subject_access.child_record(user=manager, child=kayla)
    exported = subject_access.record_as_json(record)
    profile = exported["missing_person_profile"]
    assert profile["places"] == "Chester bus station"
    assert base64.b64decode(profile["photo"]["base64"]) == JPEG
    assert profile["photo"]["content_type"] == "image/jpeg"
    shared = exported["episodes"][0]["missing_person_profile_shared"]
    assert base64.b64decode(shared["photo"]["base64"]) == JPEG
    assert exported["missing_person_profile_changes"]
    titles = [section.title for section in subject_access.record_as_page(record)]
    assert "Missing person profile" in titles


def test_the_child_page_flags_a_profile_due_for_review(client, kayla, carer):
    reviewed = timezone.now() - dt.timedelta(days=200)
    with time_machine.travel(reviewed, tick=False):
        keep(carer, kayla)
    due = MissingPersonProfile.objects.get(child=kayla).review_due_at
    client.force_login(carer)
    url = reverse("incidents:child_detail", args=[kayla.pk])
    with time_machine.travel(due - dt.timedelta(minutes=1)):
        page = client.get(url).content.decode()
    assert 'data-testid="profile-age"' in page
    assert 'data-testid="profile-review-due"' not in page
    with time_machine.travel(due):
        page = client.get(url).content.decode()
    assert 'data-testid="profile-review-due"' in page
    assert "Not reviewed for 3 months or more" in page
