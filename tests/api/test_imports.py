"""CSV import: upload, check every row, import the good ones, and the history."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tracemalloc
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.urls import reverse
from django.utils import timezone

from api import imports
from api.models import CsvImport
from incidents.models import Child, Episode, LegalStatus, Placement
from missingkids import policy
from missingkids.accounts.housekeeping import housekeeping_run
from missingkids.accounts.models import User
from missingkids.audit.models import AccessLogEntry
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

CHILD_HEADER = [c.name for c in imports.CHILD_COLUMNS]
MISSING_HEADER = [c.name for c in imports.MISSING_COLUMNS]


@pytest.fixture
def police_manager(police) -> User:
    return UserFactory(
        email="inspector.reid@police.example.org",
        name="Insp Dana Reid",
        agency=police,
        role=User.Role.MANAGER,
    )


def uk(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def child_row(child_id="C100", **overrides) -> dict[str, str]:
    today = timezone.localdate()
    row = {
        "child_id": child_id,
        "first_name": "Leah",
        "last_name": "Morris",
        "known_as": "",
        "date_of_birth": uk(today - dt.timedelta(days=13 * 365)),
        "gender": "female",
        "nhs_number": "",
        "responsible_area": "E06000050",
        "legal_status": "in_care",
        "legal_status_start": uk(today - dt.timedelta(days=400)),
        "placement_start": uk(today - dt.timedelta(days=300)),
        "placement_end": "",
        "placement_type": "Foster care",
        "carer_name": "Mr and Mrs Shaw",
        "address": "4 Mill Lane, Crewe",
        "postcode": "CW1 3AB",
        "host_area": "E06000049",
    }
    row.update(overrides)
    return row


def missing_row(reference="CHE-1", **overrides) -> dict[str, str]:
    now = timezone.localtime()
    row = dict.fromkeys(MISSING_HEADER, "")
    row.update(
        {
            "police_reference": reference,
            "police_person_reference": "PP-1",
            "first_name": "Amelia",
            "last_name": "Jones",
            "date_of_birth": "14/05/2012",
            "gender": "female",
            "responsible_area": "E06000050",
            "category": "missing",
            "reported_at": (now - dt.timedelta(hours=2)).strftime("%d/%m/%Y %H:%M"),
            "reported_by_name": "Foster carer",
            "last_seen_at": (now - dt.timedelta(hours=3)).strftime("%d/%m/%Y %H:%M"),
            "circumstances": "Did not come home from school.",
            "risk": "Medium",
            "risk_rationale": "Known to go to the town centre.",
            "flag_cse": "yes",
        }
    )
    row.update(overrides)
    return row


def csv_bytes(header, rows, encoding="utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header] if isinstance(row, dict) else row)
    return out.getvalue().encode(encoding)


def upload(client, kind, content: bytes, name="file.csv"):
    return client.post(
        reverse("imports:new"),
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )


def checked(client, kind, content, name="file.csv") -> CsvImport:
    response = upload(client, kind, content, name)
    assert response.status_code == 302, response.content.decode()[:3000]
    return CsvImport.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1])


def run_import(client, record: CsvImport) -> CsvImport:
    response = client.post(reverse("imports:run", args=[record.pk]))
    assert response.status_code == 302
    record.refresh_from_db()
    return record


def test_a_council_manager_checks_then_imports_only_the_good_rows(
    client, manager, area_east, police
):
    client.force_login(manager)
    content = csv_bytes(
        CHILD_HEADER,
        [
            child_row("C100"),
            child_row("C101", date_of_birth="31/02/2013", first_name="Noah"),
            child_row("C102", first_name="Ava", placement_type="tent", host_area="E00000000"),
            child_row("C103", first_name="Ben", last_name=""),
        ],
    )
    record = checked(client, "children", content, "children.csv")
    assert (record.created, record.updated, record.unchanged, record.rejected) == (1, 0, 0, 3)
    assert not Child.objects.exists(), "the check records nothing"

    page = client.get(reverse("imports:detail", args=[record.pk])).content.decode()
    assert "Row 3: date of birth: enter a real date, like 14/05/2012" in page
    assert "Row 4: placement type: enter one of foster" in page
    assert "Row 5: last name: enter the last name" in page
    assert "Import the 1 good row" in page

    record = run_import(client, record)
    assert record.status == CsvImport.Status.IMPORTED
    assert (record.created, record.rejected) == (1, 3)
    assert record.content == ""
    child = Child.objects.get()
    assert (child.la_child_id, child.legal_status) == ("C100", LegalStatus.IN_CARE)
    assert child.placements.get().host_area == area_east
    # The change history names the person who imported.
    assert child.history.first().history_user == manager
    # Row 4's host area exists nowhere, but its placement type is refused first (by the
    # serializer); the action's refusal of a council code comes once the values are right.
    assert [r["row"] for r in record.rejected_rows] == [3, 4, 5]
    log = AccessLogEntry.objects.filter(action="csv_import").order_by("pk")
    assert [e.detail["step"] for e in log] == ["checked", "imported"]
    assert log.last().detail["created"] == 1


def test_importing_the_same_file_again_changes_nothing(client, manager, area_east, police):
    client.force_login(manager)
    content = csv_bytes(CHILD_HEADER, [child_row("C100"), child_row("C101", first_name="Noah")])
    first = run_import(client, checked(client, "children", content))
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    history = {c.pk: c.history.count() for c in Child.objects.all()}
    placements = Placement.objects.count()

    again = checked(client, "children", content)
    page = client.get(reverse("imports:detail", args=[again.pk])).content.decode()
    assert "This is the same file as one imported on" in page
    again = run_import(client, again)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 0)
    assert {c.pk: c.history.count() for c in Child.objects.all()} == history
    assert Placement.objects.count() == placements

    # A changed row is an update, through the same steps as the council's pages.
    ended = uk(timezone.localdate() - dt.timedelta(days=1))
    changed = csv_bytes(
        CHILD_HEADER,
        [child_row("C100", placement_end=ended), child_row("C101", first_name="Noah")],
    )
    third = run_import(client, checked(client, "children", changed))
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    assert Placement.objects.get(child__la_child_id="C100").end is not None


def test_the_import_button_imports_once(client, manager, area_east, police):
    client.force_login(manager)
    record = checked(client, "children", csv_bytes(CHILD_HEADER, [child_row()]))
    run_import(client, record)
    response = client.post(reverse("imports:run", args=[record.pk]), follow=True)
    assert "already been imported" in response.content.decode()
    assert Child.objects.count() == 1


def test_a_police_manager_imports_missing_reports_and_returns(
    client, police_manager, area_west, la_west
):
    client.force_login(police_manager)
    content = csv_bytes(MISSING_HEADER, [missing_row("CHE-1"), missing_row("CHE-2", risk="x")])
    record = checked(client, "missing", content)
    assert (record.created, record.rejected) == (1, 1)
    page = client.get(reverse("imports:detail", args=[record.pk])).content.decode()
    assert "Row 3: risk: enter one of no_apparent, low, medium, high" in page
    run_import(client, record)
    episode = Episode.objects.get()
    assert (episode.police_reference, episode.risk, episode.flag_cse) == ("CHE-1", "medium", True)
    assert episode.history.first().history_user == police_manager

    # The same again: unchanged. Then the return and a re-grading: updated.
    again = run_import(client, checked(client, "missing", content))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    found = (timezone.localtime() - dt.timedelta(minutes=30)).strftime("%d/%m/%Y %H:%M")
    returned = csv_bytes(
        MISSING_HEADER,
        [missing_row("CHE-1", risk="high", found_at=found, how_returned="police")],
    )
    later = run_import(client, checked(client, "missing", returned))
    assert (later.created, later.updated, later.unchanged) == (0, 1, 0)
    episode.refresh_from_db()
    assert episode.found_at is not None and episode.risk == "high"
    final = run_import(client, checked(client, "missing", returned))
    assert (final.updated, final.unchanged) == (0, 1)


def test_the_rules_of_the_action_functions_come_back_by_row(client, police_manager, la_west):
    client.force_login(police_manager)
    future = (timezone.localtime() + dt.timedelta(days=2)).strftime("%d/%m/%Y %H:%M")
    record = checked(
        client, "missing", csv_bytes(MISSING_HEADER, [missing_row("CHE-9", last_seen_at=future)])
    )
    assert record.rejected == 1
    found = [imports.describe(r["row"], e) for r in record.rows for e in r["errors"]]
    assert any(m.startswith("Row 2: last seen at: ") for m in found), found


@pytest.mark.parametrize(
    ("who", "kind"),
    [
        ("social_worker", "children"),  # a practitioner
        ("admin_user", "children"),  # admins hold no case role
        ("gp_manager", "children"),  # a manager, but not of a council
        ("manager", "missing"),  # a council manager: not missing reports
        ("police_manager", "children"),
    ],
)
def test_who_may_import_what(client, request, who, kind, police_manager):
    user = request.getfixturevalue(who)
    client.force_login(user)
    response = upload(client, kind, csv_bytes(CHILD_HEADER, [child_row()]))
    expected = 200 if who in ("manager", "police_manager") else 403
    # A kind the person may not import is not offered: the form refuses it.
    assert response.status_code == expected
    assert not CsvImport.objects.exists()


def test_an_import_is_seen_only_by_its_agency(
    client, request, manager, host_manager, police_manager
):
    client.force_login(manager)
    record = checked(client, "children", csv_bytes(CHILD_HEADER, [child_row()]))
    for other, status in ((host_manager, 404), (police_manager, 404)):
        client.force_login(other)
        assert client.get(reverse("imports:detail", args=[record.pk])).status_code == status
        assert client.post(reverse("imports:run", args=[record.pk])).status_code == status
        assert client.get(reverse("imports:rejected", args=[record.pk])).status_code == status
    for other in (request.getfixturevalue("social_worker"), request.getfixturevalue("admin_user")):
        client.force_login(other)
        for name in ("imports:detail", "imports:rejected"):
            assert client.get(reverse(name, args=[record.pk])).status_code == 404
            assert client.get(reverse(name, args=[999999])).status_code == 404
    client.logout()
    response = client.get(reverse("imports:detail", args=[record.pk]))
    assert urlsplit(response.url).path == reverse("login")
    for path in (reverse("imports:list"), reverse("imports:new")):
        client.force_login(User.objects.get(role=User.Role.MANAGER, agency=manager.agency))
        assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"\n\n", "The file is empty"),
        (",".join(CHILD_HEADER).encode() + b"\n", "The file has no rows under its header"),
        (b"child_id,first_name,colour\nC1,A,blue\n", "the file has no column for “last name”"),
        (b"child_id,first_name,colour\nC1,A,blue\n", "not part of the import: “colour”"),
        (b"child_id;first_name;last_name\n", "separated by semicolons"),
        (b"PK\x03\x04rest-of-a-workbook", "This is an Excel workbook"),
        (b"a,b\x00,c\n", "This is not a CSV file"),
        (b"\xff\xfec\x00h\x00", "UTF-16"),
        ("caf\u00e9,".encode() + "caf\u00e9".encode("cp1252"), "Part of the file is in UTF-8"),
    ],
)
def test_files_that_cannot_be_imported_say_why(client, manager, content, message):
    client.force_login(manager)
    response = upload(client, "children", content)
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert message in page.replace("&#x27;", "'")
    assert not CsvImport.objects.exists()


def test_a_file_over_the_limits_says_so(client, manager, monkeypatch):
    client.force_login(manager)
    monkeypatch.setattr(imports.policy, "IMPORT_MAX_ROWS", 2)
    rows = [child_row(f"C{i}") for i in range(3)]
    page = upload(client, "children", csv_bytes(CHILD_HEADER, rows)).content.decode()
    assert "The file has more than 2 rows" in page
    monkeypatch.setattr(imports.policy, "IMPORT_MAX_FILE_BYTES", 100)
    page = upload(client, "children", csv_bytes(CHILD_HEADER, rows)).content.decode()
    assert "the largest file that can be imported is 1 KB" in page


def test_byte_order_mark_and_windows_1252_are_read(client, manager, area_east, police):
    client.force_login(manager)
    row = child_row("C100", first_name="Zoë", carer_name="Mr and Mrs O\u2019Neill")
    with_bom = b"\xef\xbb\xbf" + csv_bytes(CHILD_HEADER, [row])
    record = checked(client, "children", with_bom)
    assert (record.encoding, record.created, record.header[0]) == ("utf-8", 1, "child_id")
    run_import(client, record)
    assert Child.objects.get().first_name == "Zoë"

    windows = csv_bytes(CHILD_HEADER, [child_row("C101", first_name="Zoë")], encoding="cp1252")
    record = run_import(client, checked(client, "children", windows))
    assert (record.encoding, record.created) == ("cp1252", 1)
    assert Child.objects.get(la_child_id="C101").first_name == "Zoë"
    page = client.get(reverse("imports:detail", args=[record.pk])).content.decode()
    assert "Read as Windows-1252" in page


def test_formulas_are_text_and_neutralised_in_the_rejected_rows(client, manager, area_east, police):
    client.force_login(manager)
    rows = [
        child_row("C100", carer_name='=HYPERLINK("http://x")'),
        child_row("C101", first_name="@SUM(A1)", date_of_birth="=1+1"),
    ]
    record = run_import(client, checked(client, "children", csv_bytes(CHILD_HEADER, rows)))
    assert (record.created, record.rejected) == (1, 1)
    # Kept as typed, as text: nothing runs it here.
    assert Placement.objects.get().carer_name == '=HYPERLINK("http://x")'

    response = client.get(reverse("imports:rejected", args=[record.pk]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, rejected = list(csv.reader(io.StringIO(text)))
    assert header == [*CHILD_HEADER, "errors"]
    assert rejected[CHILD_HEADER.index("first_name")] == "'@SUM(A1)"
    assert rejected[CHILD_HEADER.index("date_of_birth")] == "'=1+1"
    assert rejected[-1] == "Row 3: date of birth: enter a real date, like 14/05/2012"
    exports = AccessLogEntry.objects.filter(action="export")
    assert exports.get().detail["what"] == "csv_import_rejected_rows"


def test_templates_download(client, manager, police_manager):
    client.force_login(manager)
    response = client.get(reverse("imports:template", args=["children"]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, example = list(csv.reader(io.StringIO(text)))
    assert header == CHILD_HEADER and example[0] == "C100"
    assert client.get(reverse("imports:template", args=["missing"])).status_code == 404
    client.force_login(police_manager)
    response = client.get(reverse("imports:template", args=["missing"]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text))) == MISSING_HEADER


def test_the_template_example_imports(client, police_manager, manager, area_east, area_west):
    """The templates' example rows are valid rows (the dates in them are in the past)."""
    client.force_login(manager)
    header, example = imports.template_rows("children")
    record = checked(client, "children", csv_bytes(header, [example]))
    assert record.rejected == 0, record.rows


def test_the_history_list_costs_a_fixed_number_of_queries(
    client, manager, django_assert_num_queries
):
    client.force_login(manager)
    for i in range(3):
        checked(client, "children", csv_bytes(CHILD_HEADER, [child_row(f"C{i}", first_name="")]))
    client.get(reverse("imports:list"))  # warm the session
    # Session, user and their second factor; the user's agency (who may import); the
    # list with its uploaders.
    with django_assert_num_queries(5):
        response = client.get(reverse("imports:list"))
    assert response.content.decode().count("imports/") >= 3
    for i in range(3, 8):
        checked(client, "children", csv_bytes(CHILD_HEADER, [child_row(f"C{i}", first_name="")]))
    with django_assert_num_queries(5):
        client.get(reverse("imports:list"))


def test_reading_a_100000_row_file_holds_one_row_at_a_time(tmp_path, settings, monkeypatch):
    """Streamed: the memory the read takes does not grow with the file."""
    monkeypatch.setattr(imports.policy, "IMPORT_MAX_FILE_BYTES", 10**9)
    monkeypatch.setattr(imports.policy, "IMPORT_MAX_ROWS", 200_000)
    line = ",".join(child_row("C1").get(name, "") for name in CHILD_HEADER) + "\r\n"
    upload_file = TemporaryUploadedFile("big.csv", "text/csv", 0, "utf-8")
    upload_file.write((",".join(CHILD_HEADER) + "\r\n").encode())
    for _ in range(100_000):
        upload_file.write(line.encode())
    upload_file.size = upload_file.tell()
    upload_file.seek(0)
    tracemalloc.start()
    try:
        facts = imports.read_upload(upload_file, "children")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        upload_file.close()
    assert facts.rows == 100_000
    print(f"100,000 rows, {upload_file.size / 1e6:.1f} MB: peak {peak / 1e6:.2f} MB")
    assert peak < 2_000_000, f"peak {peak} bytes for a {upload_file.size}-byte file"
    # With the service's limits, the same file is refused for its size before it is read.
    monkeypatch.undo()
    assert upload_file.size > imports.policy.IMPORT_MAX_FILE_BYTES


def test_the_upload_page_takes_a_body_larger_than_other_pages_and_says_how_large(client, manager):
    client.force_login(manager)
    big = csv_bytes(CHILD_HEADER, []) + b"x" * (3 * 1024 * 1024)
    response = upload(client, "children", big)
    assert response.status_code == 200
    assert "The file is 3.0 MB: the largest file that can be imported is 2.0 MB" in (
        response.content.decode()
    )
    # Any other page still refuses such a body before reading it.
    response = client.post(reverse("imports:list"), {"file": SimpleUploadedFile("a.csv", big)})
    assert response.status_code == 413


def test_a_file_checked_and_not_imported_is_cleared_by_housekeeping(
    client, manager, area_east, police
):
    client.force_login(manager)
    content = csv_bytes(CHILD_HEADER, [child_row("C100"), child_row("C101", first_name="")])
    stale = checked(client, "children", content, "old.csv")
    fresh = checked(client, "children", content, "new.csv")
    CsvImport.objects.filter(pk=stale.pk).update(
        uploaded_at=timezone.now() - policy.IMPORT_CHECK_KEPT_FOR - dt.timedelta(minutes=1)
    )
    assert housekeeping_run().import_files == 1
    stale.refresh_from_db()
    assert stale.status == CsvImport.Status.EXPIRED
    assert (stale.content, stale.rows, stale.rejected_rows) == ("", [], [])
    # What was uploaded, by whom and its counts stay in the history.
    assert stale.file_name == "old.csv" and stale.created == 1
    fresh.refresh_from_db()
    assert fresh.status == CsvImport.Status.CHECKED and fresh.content

    page = client.get(reverse("imports:detail", args=[stale.pk])).content.decode()
    assert "not imported within 24 hours" in page
    assert 'data-testid="import-form"' not in page
    response = client.post(reverse("imports:run", args=[stale.pk]), follow=True)
    assert "This check has expired: upload the file again" in response.content.decode()
    assert not Child.objects.exists()
