"""The access log (append-only, searchable, exportable) and the change history."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from incidents.actions.base import StaleEdit
from incidents.actions.children import child_update
from incidents.actions.episodes import episode_close
from incidents.models import Child, Episode
from missingkids.audit.models import AccessLogEntry, AppendOnlyError
from missingkids.spreadsheets import csv_safe
from tests.factories import DEFAULT_PASSWORD

A = AccessLogEntry.Action


def entries(**filters) -> list[AccessLogEntry]:
    return list(AccessLogEntry.objects.filter(**filters).order_by("id"))


# What is recorded ----------------------------------------------------------------------


def test_failed_sign_in_records_the_address_typed_and_no_password(client, social_worker):
    client.post(reverse("login"), {"username": "Jo.Whitfield@cwac.example.org ", "password": "x"})
    client.post(reverse("login"), {"username": "nobody@example.org", "password": "secret-typed"})
    failed = entries(action=A.SIGN_IN_FAILED)
    assert [e.username for e in failed] == ["jo.whitfield@cwac.example.org", "nobody@example.org"]
    assert all(e.user is None for e in failed)
    assert all(e.ip_address == "127.0.0.1" for e in failed)
    assert "secret-typed" not in str([e.detail for e in failed])


def test_sign_in_and_sign_out_are_recorded(client, social_worker):
    client.post(reverse("login"), {"username": social_worker.email, "password": DEFAULT_PASSWORD})
    # The password step only: "Signed in" waits for the second step (test_two_factor.py).
    assert entries(action=A.PASSWORD_ACCEPTED, user=social_worker)
    assert not entries(action=A.SIGN_IN)
    client.force_login(social_worker)
    client.post(reverse("logout"))
    [out] = entries(action=A.SIGN_OUT)
    assert out.user == social_worker and out.username == social_worker.email


def test_viewing_a_child_and_an_episode_is_recorded(client, case, social_worker):
    client.force_login(social_worker)
    client.get(reverse("incidents:child_detail", args=[case.child.pk]))
    client.get(reverse("incidents:episode_detail", args=[case.episode.pk]))
    client.get(reverse("incidents:interview_detail", args=[case.episode.pk]))
    views = entries(user=social_worker, action__in=[A.VIEW_CHILD, A.VIEW_EPISODE])
    assert [(e.action, e.child_id, e.episode_id) for e in views] == [
        (A.VIEW_CHILD, case.child.pk, None),
        (A.VIEW_EPISODE, case.child.pk, case.episode.pk),
        (A.VIEW_EPISODE, case.child.pk, case.episode.pk),
    ]


def test_refused_by_role_is_recorded_with_the_child(client, case, officer):
    client.force_login(officer)
    url = reverse("incidents:placement_add", args=[case.child.pk])
    assert client.get(url).status_code == 403
    [refused] = entries(action=A.REFUSED)
    assert (refused.user, refused.child_id, refused.status_code, refused.path) == (
        officer,
        case.child.pk,
        403,
        url,
    )


def test_refused_record_that_does_not_exist_is_recorded(client, outsider):
    client.force_login(outsider)
    client.get(reverse("incidents:episode_detail", args=[424242]))
    [refused] = entries(action=A.REFUSED)
    assert (refused.episode_id, refused.status_code) == (424242, 404)


def test_refused_manager_page_is_recorded(client, social_worker):
    client.force_login(social_worker)
    response = client.get(reverse("oversight:dashboard"))
    assert response.status_code == 403
    [refused] = entries(action=A.REFUSED)
    assert (refused.user, refused.status_code) == (social_worker, 403)


# Append-only ---------------------------------------------------------------------------


@pytest.fixture
def entry(social_worker) -> AccessLogEntry:
    return AccessLogEntry.objects.create(user=social_worker, action=A.VIEW_CHILD, child_id=1)


def test_an_entry_cannot_be_changed_or_deleted(entry):
    entry.child_id = 2
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AccessLogEntry.objects.filter(pk=entry.pk).update(child_id=2)
    with pytest.raises(AppendOnlyError):
        AccessLogEntry.objects.all().delete()
    assert AccessLogEntry.objects.get(pk=entry.pk).child_id == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_accesslogentry SET child_id = 2",
        "DELETE FROM audit_accesslogentry",
        "TRUNCATE audit_accesslogentry",
        # Emptying the people, and with them everything that refers to them.
        "TRUNCATE accounts_user CASCADE",
    ],
)
def test_the_database_refuses_changes_on_postgres(entry, sql):
    from django.db import DatabaseError, transaction

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # Check the entry's foreign key now rather than at commit: PostgreSQL will not
        # TRUNCATE a table with such checks pending, which would hide the trigger.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(sql)


# The admin -----------------------------------------------------------------------------

CHANGELIST = "admin:audit_accesslogentry_changelist"


@pytest.fixture
def log(case, social_worker, officer):
    AccessLogEntry.objects.create(
        user=social_worker,
        username=social_worker.email,
        action=A.VIEW_CHILD,
        child_id=case.child.pk,
    )
    AccessLogEntry.objects.create(
        user=officer, username=officer.email, action=A.VIEW_CHILD, child_id=case.child.pk + 1
    )
    AccessLogEntry.objects.create(username="someone@example.org", action=A.SIGN_IN_FAILED)


def test_admin_searches_by_user_child_and_action(client, admin_user, log, case, officer):
    client.force_login(admin_user)
    url = reverse(CHANGELIST)
    by_user = client.get(url, {"q": officer.email})
    assert list(by_user.context["cl"].result_list.values_list("username", flat=True)) == [
        officer.email
    ]
    by_child = client.get(url, {"q": str(case.child.pk)})
    assert [e.child_id for e in by_child.context["cl"].result_list] == [case.child.pk]
    failed = client.get(url, {"action__exact": A.SIGN_IN_FAILED})
    assert [e.username for e in failed.context["cl"].result_list] == ["someone@example.org"]
    assert client.get(url, {"q": "not a number or address"}).status_code == 200


def test_admin_cannot_add_change_or_delete(client, admin_user, log):
    client.force_login(admin_user)
    entry = AccessLogEntry.objects.first()
    assert client.get(reverse("admin:audit_accesslogentry_add")).status_code == 403
    assert (
        client.get(reverse("admin:audit_accesslogentry_delete", args=[entry.pk])).status_code == 403
    )
    change = client.post(
        reverse("admin:audit_accesslogentry_change", args=[entry.pk]), {"child_id": "5"}
    )
    assert change.status_code == 403
    listing = client.post(
        reverse(CHANGELIST), {"action": "delete_selected", "_selected_action": [entry.pk]}
    )
    assert listing.status_code in (200, 302)
    assert AccessLogEntry.objects.filter(pk=entry.pk).exists()


def test_practitioners_cannot_read_the_log(client, social_worker, log):
    client.force_login(social_worker)
    assert client.get(reverse(CHANGELIST)).status_code in (302, 403)


def test_admin_exports_the_filtered_log_and_the_export_is_logged(client, admin_user, log):
    client.force_login(admin_user)
    response = client.get(
        reverse("admin:audit_accesslogentry_export"), {"action__exact": A.VIEW_CHILD}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["at", "action"]
    assert {row[1] for row in rows[1:]} == {A.VIEW_CHILD}
    assert len(rows) == 3
    # Logged before the first byte without a count, and the rows sent when it ends.
    [export] = entries(action=A.EXPORT)
    assert export.user == admin_user
    assert export.detail == {"what": "access log", "filters": {"action__exact": A.VIEW_CHILD}}
    [sent] = entries(action=A.EXPORT_SENT)
    assert sent.user == admin_user
    assert sent.detail == {"what": "access log", "export": export.pk, "rows": 2, "complete": True}


def test_the_log_export_reads_in_time_order_across_chunks_without_counting(
    client, admin_user, log, monkeypatch
):
    """The file is every entry in time order whatever the chunk size (rows fetched from
    the one query at a time), and no query counts the entries before the first byte."""
    monkeypatch.setattr("missingkids.audit.admin.CHUNK_ROWS", 2)
    for n in range(4):
        AccessLogEntry.objects.create(username=f"{n}@example.org", action=A.SIGN_IN_FAILED)
    client.force_login(admin_user)
    url = reverse("admin:audit_accesslogentry_export")
    expected = list(AccessLogEntry.objects.order_by("at", "id").values_list("username", "action"))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))[1:]
    # The export's own entry was written before the rows were read: in the file too.
    assert len(rows) == len(expected) + 1 > 6
    assert [(row[3], row[1]) for row in rows[:-1]] == expected
    assert rows[-1][1] == A.EXPORT


def test_the_log_export_writes_each_entry_as_the_entry_reads(client, admin_user, monkeypatch):
    """The details are read as their JSON text and decoded once each (a few kept): each
    row is still the entry's own text, the detail as ``str(entry.detail)``, cells that
    a spreadsheet would run made safe."""
    monkeypatch.setattr("missingkids.audit.admin.DETAILS_KEPT", 2)
    details = [{}, {"rows": 3, "complete": True, "what": None}, ["a", 1], "=1+1", {}, 7, {}]
    for n, detail in enumerate(details):
        AccessLogEntry.objects.create(
            username=f"=x{n}@example.org" if n % 2 else f"{n}@example.org",
            action=A.VIEW_CHILD,
            child_id=n or None,
            path=f"-/{n}/",
            status_code=200,
            ip_address="10.0.0.1" if n % 3 else None,
            detail=detail,
        )
    client.force_login(admin_user)
    zone = timezone.get_current_timezone()
    expected = [
        [
            entry.at.astimezone(zone).isoformat(), entry.action, str(entry.user_id or ""),
            csv_safe(entry.username), str(entry.child_id or ""), str(entry.episode_id or ""),
            csv_safe(entry.path), str(entry.status_code or ""), entry.ip_address or "",
            csv_safe(str(entry.detail)),
        ]
        for entry in AccessLogEntry.objects.order_by("at", "id")
    ]  # fmt: skip
    response = client.get(reverse("admin:audit_accesslogentry_export"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1:-1] == expected


# Change history ------------------------------------------------------------------------


def test_versioned_edit_writes_history_and_stale_edit_writes_none(case, social_worker):
    child = case.child
    before = child.history.count()
    child_update(acting_user=social_worker, child=child, expected_version=1, known_as="Kay")
    assert child.history.count() == before + 1
    latest = child.history.first()
    assert (latest.known_as, latest.history_user, latest.history_type) == (
        "Kay",
        social_worker,
        "~",
    )
    stale = Child.objects.get(pk=child.pk)
    with pytest.raises(StaleEdit):
        child_update(acting_user=social_worker, child=stale, expected_version=1, known_as="K")
    assert child.history.count() == before + 1
    assert Child.objects.get(pk=child.pk).known_as == "Kay"


def test_conditional_update_writes_history(case, manager):
    episode_close(acting_user=manager, episode=case.episode, reason="All steps done")
    latest = Episode.history.filter(id=case.episode.pk).first()
    assert latest.closure_reason == "All steps done" and latest.history_user == manager


def test_child_page_shows_who_changed_what(client, case, social_worker):
    client.force_login(social_worker)
    child = case.child
    response = client.post(
        reverse("incidents:child_edit", args=[child.pk]),
        {
            "version": child.version,
            "first_name": child.first_name,
            "last_name": child.last_name,
            "known_as": "Kay",
            "date_of_birth_0": child.date_of_birth.day,
            "date_of_birth_1": child.date_of_birth.month,
            "date_of_birth_2": child.date_of_birth.year,
            "gender": child.gender,
            "responsible_area": child.responsible_area_id,
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Child.history.filter(id=child.pk).first().history_user == social_worker
    page = client.get(reverse("incidents:child_history", args=[child.pk])).content.decode()
    assert "Change history" in page
    history = page[page.index('id="change-history"') :]
    assert "Known as: (blank) to \u2018Kay\u2019" in history
    assert escape(f"{social_worker.name} ({social_worker.agency.name})") in history


def test_episode_page_shows_history(client, case, officer):
    client.force_login(officer)
    page = client.get(reverse("incidents:episode_detail", args=[case.episode.pk]))
    history = page.context["history"]
    assert {entry.record for entry in history} >= {"Episode", "Risk grading"}
    assert 'id="change-history"' in page.content.decode()
