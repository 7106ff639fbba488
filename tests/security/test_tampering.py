"""Tampered ids in URLs and forms, forged CSRF tokens, script typed into free text, and
oversized fields and uploads: each refused or neutralised."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.models import Challenge, Child, Placement, ReturnInterview
from missingkids.policy import FREE_TEXT_MAX_LENGTH
from tests.factories.incidents import ChildFactory, EpisodeFactory

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def edit_data(child: Child, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "version": child.version,
        "first_name": child.first_name,
        "last_name": child.last_name,
        "date_of_birth_0": child.date_of_birth.day,
        "date_of_birth_1": child.date_of_birth.month,
        "date_of_birth_2": child.date_of_birth.year,
        "gender": child.gender,
        "responsible_area": child.responsible_area_id,
    }
    data.update(changes)
    return data


# Tampered ids --------------------------------------------------------------------------


def test_another_agencys_child_in_the_url_is_a_404(client, social_worker, area_other):
    theirs = ChildFactory(responsible_area=area_other)
    client.force_login(social_worker)
    for name in ("child_detail", "child_edit", "placement_add"):
        assert client.get(reverse(f"incidents:{name}", args=[theirs.pk])).status_code == 404
    response = client.post(
        reverse("incidents:child_edit", args=[theirs.pk]), edit_data(theirs, known_as="X")
    )
    assert response.status_code == 404
    assert Child.objects.get(pk=theirs.pk).known_as == ""


def test_placement_of_another_child_through_this_childs_url_is_a_404(
    client, case, social_worker, area_west
):
    other = ChildFactory(responsible_area=area_west)
    theirs = Placement.objects.create(
        child=other,
        start=timezone.localdate(),
        type="foster",
        address="1 Road",
        postcode="CH1 1AA",
        host_area=area_west,
    )
    client.force_login(social_worker)
    url = reverse("incidents:placement_end", args=[case.child.pk, theirs.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"end_0": "1", "end_1": "1", "end_2": "2030"}).status_code == 404


def test_a_posted_child_id_is_ignored(client, case, social_worker, area_west):
    other = ChildFactory(responsible_area=area_west)
    client.force_login(social_worker)
    today = timezone.localdate()
    response = client.post(
        reverse("incidents:placement_add", args=[case.child.pk]),
        {
            "child": other.pk,
            "type": "foster",
            "address": "3 Hill Road",
            "postcode": "CH1 2AB",
            "host_area": area_west.pk,
            "start_0": today.day,
            "start_1": today.month,
            "start_2": today.year,
        },
    )
    assert response.status_code in (200, 302)
    assert not other.placements.exists()


def test_an_area_posted_by_someone_not_offered_it_is_ignored(client, case, officer, area_other):
    client.force_login(officer)
    response = client.post(
        reverse("incidents:child_edit", args=[case.child.pk]),
        edit_data(case.child, known_as="Kay", responsible_area=area_other.pk),
    )
    assert response.status_code == 302
    child = Child.objects.get(pk=case.child.pk)
    assert (child.known_as, child.responsible_area_id) == ("Kay", case.child.responsible_area_id)


def test_another_childs_episode_in_a_challenge_is_refused(client, case, social_worker, police):
    other_episode = EpisodeFactory(child=ChildFactory(responsible_area=case.child.responsible_area))
    client.force_login(social_worker)
    response = client.post(
        reverse("incidents:challenge_add", args=[case.child.pk]),
        {
            "challenged_agency": police.pk,
            "episode": other_episode.pk,
            "decision": "Graded low",
            "reason": "Known risks",
        },
    )
    assert response.status_code == 200
    assert "episode" in response.context["form"].errors
    assert not Challenge.objects.filter(episode=other_episode).exists()


# CSRF ----------------------------------------------------------------------------------


def test_a_forged_csrf_token_is_refused(case, social_worker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(social_worker)
    url = reverse("incidents:child_edit", args=[case.child.pk])
    client.get(url)  # sets the real CSRF cookie
    response = client.post(
        url, edit_data(case.child, known_as="Forged", csrfmiddlewaretoken="x" * 64)
    )
    assert response.status_code == 403
    assert "403_csrf.html" in [t.name for t in response.templates]
    assert Child.objects.get(pk=case.child.pk).known_as == ""


# Script typed into free text -----------------------------------------------------------


def test_script_in_every_free_text_field_is_shown_as_text(client, case, social_worker):
    client.force_login(social_worker)
    child = case.child
    response = client.post(
        reverse("incidents:child_edit", args=[child.pk]),
        edit_data(
            child,
            known_as=SCRIPT,
            physical_description=SCRIPT,
            places_they_go=SCRIPT,
            people_they_may_be_with=SCRIPT,
        ),
    )
    assert response.status_code == 302, response.context["form"].errors
    # The other free-text fields, stored as typed (the forms accept any text in them).
    episode = case.episode
    for name in ("circumstances", "reported_by_name", "found_with", "return_notes", "flag_other"):
        setattr(episode, name, SCRIPT)
    episode.save()
    ReturnInterview.objects.filter(pk=case.interview.pk).update(
        outcome="held",
        held_at=timezone.now(),
        held_by=SCRIPT,
        child_voice=SCRIPT,
        factors_notes=SCRIPT,
        where_they_were=SCRIPT,
        who_with=SCRIPT,
        harm_details=SCRIPT,
        what_would_help=SCRIPT,
    )
    Challenge.objects.filter(pk=case.challenge.pk).update(
        decision=SCRIPT, reason=SCRIPT, outcome=SCRIPT
    )
    pages = [
        reverse("incidents:child_detail", args=[child.pk]),
        reverse("incidents:child_edit", args=[child.pk]),
        reverse("incidents:episode_detail", args=[episode.pk]),
        reverse("incidents:episode_edit", args=[episode.pk]),
        reverse("incidents:interview_detail", args=[episode.pk]),
        reverse("incidents:challenge_outcome", args=[child.pk, case.challenge.pk]),
    ]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert SCRIPT not in html, url
        assert ESCAPED in html, url


# Oversized input -----------------------------------------------------------------------


def test_an_overlong_field_is_refused_with_a_message(client, case, social_worker):
    client.force_login(social_worker)
    response = client.post(
        reverse("incidents:child_edit", args=[case.child.pk]),
        edit_data(case.child, physical_description="x" * (FREE_TEXT_MAX_LENGTH + 1)),
    )
    assert response.status_code == 200
    assert f"Enter {FREE_TEXT_MAX_LENGTH:,} characters or fewer" in str(
        response.context["form"].errors["physical_description"]
    )
    assert Child.objects.get(pk=case.child.pk).physical_description == ""


def test_a_megabyte_field_is_refused(client, case, social_worker, settings):
    client.force_login(social_worker)
    body = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post(
        reverse("incidents:episode_edit", args=[case.episode.pk]),
        {"circumstances": body, "version": case.episode.version},
    )
    assert response.status_code == 413
    assert "too large" in response.content.decode()


def test_a_large_upload_is_refused(client, case, social_worker, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(social_worker)
    upload = SimpleUploadedFile("big.bin", b"\0" * (5 * 1024 * 1024))
    response = client.post(
        reverse("incidents:child_edit", args=[case.child.pk]),
        {**edit_data(case.child), "file": upload},
    )
    assert response.status_code == 413
    assert Child.objects.get(pk=case.child.pk).version == case.child.version


@pytest.mark.parametrize("fields", [1001, 5000])
def test_too_many_fields_are_refused(client, case, social_worker, fields):
    client.force_login(social_worker)
    data = {f"f{n}": "1" for n in range(fields)}
    response = client.post(reverse("incidents:child_edit", args=[case.child.pk]), data)
    assert response.status_code == 400


def test_normal_sized_posts_still_work(client, case, social_worker):
    client.force_login(social_worker)
    text = "A long account. " * 1000  # 16,000 characters
    response = client.post(
        reverse("incidents:child_edit", args=[case.child.pk]),
        edit_data(case.child, physical_description=text.strip()),
    )
    assert response.status_code == 302
    assert Child.objects.get(pk=case.child.pk).physical_description == text.strip()
