"""CSV import: the API's council and police operations for agencies without a system.

A person of the agency uploads a file; ``read_upload`` reads it once, as a stream (its
digest, its encoding, its header, how many rows), refusing a file that is too large,
too long, empty, not text, or whose columns are wrong, with a message saying which.
``run`` then takes each row through the very path an API call takes: the API's
serializer checks the values (``CouncilChildSerializer``, ``ReportSerializer``,
``ReturnSerializer``), then ``api.council.upsert_child`` or ``api.views.report_missing``
and the action functions record them. The check is the same run inside a transaction
that is rolled back, so the preview's counts and messages are what the import will do;
the import runs it again, for real, on the rows the check passed.

Rows are keyed by the council's child identifier or the force's police reference, and a
row that the record already matches changes nothing and is counted as unchanged, so
importing the same file twice records nothing the second time.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from rest_framework import serializers

from incidents.access import episodes_visible_to, has_case_role
from incidents.actions.episodes import episode_record_return, episode_regrade_risk
from incidents.models import Episode
from missingkids import policy
from missingkids.accounts.models import Agency, User
from missingkids.spreadsheets import csv_safe

from . import serializers as s
from .council import MAX_LA_CHILD_ID, upsert_child
from .models import CsvImport
from .problems import Problem, from_validation_error
from .views import report_missing

Kind = CsvImport.Kind

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
OUTCOME_LABELS = {
    CREATED: "Added",
    UPDATED: "Updated",
    UNCHANGED: "Unchanged",
    REJECTED: "Rejected",
}

# Which agencies import which kind: a council's managers its children in care, a
# force's managers its missing reports (admins hold no case role, so import nothing).
IMPORTER_AGENCY_KIND = {
    Kind.CHILDREN: Agency.Kind.LOCAL_AUTHORITY,
    Kind.MISSING: Agency.Kind.POLICE,
}


def kinds_for(user: User) -> list[str]:
    """The kinds of file this person may import: none unless a manager with a case role
    in a council (children in care) or a police force (missing reports)."""
    if not (has_case_role(user) and user.role == User.Role.MANAGER and user.agency_id):
        return []
    return [
        kind
        for kind, agency_kind in IMPORTER_AGENCY_KIND.items()
        if user.agency.kind == agency_kind
    ]


def require_importer(user: User, kind: str | None = None) -> list[str]:
    kinds = kinds_for(user)
    if not kinds or (kind is not None and kind not in kinds):
        raise PermissionDenied(
            "Only managers of a council (children in care) or of a police force (missing "
            "reports) import files."
        )
    return kinds


def imports_visible_to(user: User):  # type: ignore[no-untyped-def]
    """The imports of this person's agency, of the kinds they may import."""
    kinds = kinds_for(user)
    if not kinds:
        return CsvImport.objects.none()
    return CsvImport.objects.filter(agency_id=user.agency_id, kind__in=kinds)


# The columns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    # Where the value goes in the API's request: ("placements", "start").
    path: tuple[str, ...]
    example: str
    required: bool = False


CHILD_COLUMNS: tuple[Column, ...] = (
    Column("child_id", (), "C100", True),
    Column("first_name", ("first_name",), "Leah", True),
    Column("last_name", ("last_name",), "Morris", True),
    Column("known_as", ("known_as",), ""),
    Column("date_of_birth", ("date_of_birth",), "01/02/2013", True),
    Column("gender", ("gender",), "female", True),
    Column("nhs_number", ("nhs_number",), ""),
    Column("responsible_area", ("responsible_area",), "E06000050", True),
    Column("legal_status", ("legal_status",), "in_care", True),
    Column("legal_status_start", ("legal_status_start",), "01/06/2025", False),
    Column("placement_start", ("placements", "start"), "01/09/2025", False),
    Column("placement_end", ("placements", "end"), ""),
    Column("placement_type", ("placements", "type"), "foster", False),
    Column("carer_name", ("placements", "carer_name"), "Mr and Mrs Shaw"),
    Column("address", ("placements", "address"), "4 Mill Lane, Crewe"),
    Column("postcode", ("placements", "postcode"), "CW1 3AB"),
    Column("host_area", ("placements", "host_area"), "E06000049", False),
)

MISSING_COLUMNS: tuple[Column, ...] = (
    Column("police_reference", ("police_reference",), "CHE-2026-0001", True),
    Column("police_person_reference", ("child", "police_person_reference"), "PP-1001"),
    Column("first_name", ("child", "first_name"), "Amelia", True),
    Column("last_name", ("child", "last_name"), "Jones", True),
    Column("date_of_birth", ("child", "date_of_birth"), "14/05/2012", True),
    Column("gender", ("child", "gender"), "female"),
    Column("responsible_area", ("child", "responsible_area"), "E06000050", False),
    Column("category", ("category",), "missing", True),
    Column("reported_at", ("reported_at",), "30/11/2026 18:30", True),
    Column("reported_by_name", ("reported_by_name",), "Foster carer", True),
    Column("last_seen_at", ("last_seen_at",), "30/11/2026 16:00", True),
    Column("last_seen_address", ("last_seen_address",), "Crewe bus station"),
    Column("circumstances", ("circumstances",), "Did not come home from school.", True),
    Column("risk", ("risk",), "medium", True),
    Column("risk_rationale", ("risk_rationale",), "Known to go to the town centre.", True),
    Column("flag_cse", ("flags", "flag_cse"), "yes", False),
    Column("flag_cce", ("flags", "flag_cce"), "no"),
    Column("flag_trafficking", ("flags", "flag_trafficking"), "no"),
    Column("flag_self_harm", ("flags", "flag_self_harm"), "no"),
    Column("flag_mental_health", ("flags", "flag_mental_health"), "no"),
    Column("flag_other", ("flags", "flag_other"), ""),
    Column("found_at", ("return", "found_at"), "", False),
    Column("how_returned", ("return", "how_returned"), "", False),
    Column("found_address", ("return", "found_address"), ""),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    Kind.CHILDREN: CHILD_COLUMNS,
    Kind.MISSING: MISSING_COLUMNS,
}
KEY_COLUMN = {Kind.CHILDREN: "child_id", Kind.MISSING: "police_reference"}


def label(column: str) -> str:
    return column.replace("_", " ")


def template_rows(kind: str) -> tuple[list[str], list[str]]:
    columns = COLUMNS[kind]
    return [c.name for c in columns], [c.example for c in columns]


# Reading the file ----------------------------------------------------------------------


class FileProblem(Exception):
    """The file as a whole cannot be imported; the message says why, in plain words."""


@dataclass
class FileFacts:
    sha256: str
    encoding: str  # "utf-8" or "cp1252"
    header: list[str]
    rows: int


def normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _names(names: list[str]) -> str:
    shown = [f"“{n[:40]}”" for n in names[:10]]
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return ", ".join(shown) + more


def check_header(kind: str, cells: list[str]) -> list[str]:
    names = [normalise_header(c) for c in cells]
    if not any(names):
        raise FileProblem("The first row must name the columns: download the template to see them")
    if len(names) == 1 and ";" in cells[0]:
        raise FileProblem(
            "The columns are separated by semicolons: save the file as CSV with commas "
            "(in Excel, CSV UTF-8 (comma delimited))"
        )
    known = {c.name for c in COLUMNS[kind]}
    problems = []
    missing = [c.name for c in COLUMNS[kind] if c.required and c.name not in names]
    if missing:
        problems.append(f"the file has no column for {_names([label(n) for n in missing])}")
    unknown = [cells[i].strip() or "(blank)" for i, n in enumerate(names) if n not in known]
    if unknown:
        problems.append(f"these columns are not part of the import: {_names(unknown)}")
    twice = sorted({n for n in names if n in known and names.count(n) > 1})
    if twice:
        problems.append(f"these columns appear more than once: {_names([label(n) for n in twice])}")
    if problems:
        message = "; ".join(problems)
        raise FileProblem(
            f"The first row does not name the right columns: {message}. "
            "Download the template to see them"
        )
    return names


BINARY_STARTS = {
    b"PK\x03\x04": "This is an Excel workbook or another zipped file, not a CSV file: in "
    "Excel choose Save As, then CSV UTF-8 (comma delimited)",
    b"\xd0\xcf\x11\xe0": "This is an old Excel workbook, not a CSV file: in Excel choose "
    "Save As, then CSV UTF-8 (comma delimited)",
    b"\xff\xfe": "This file is in UTF-16: save it again as CSV UTF-8 (comma delimited)",
    b"\xfe\xff": "This file is in UTF-16: save it again as CSV UTF-8 (comma delimited)",
}
NOT_TEXT = "This is not a CSV file: save it from your spreadsheet as CSV UTF-8 (comma delimited)"
MIXED = (
    "Part of the file is in UTF-8 and part in another encoding, so some letters would "
    "come out wrong: open it in your spreadsheet and save it again as CSV UTF-8"
)
# Two or more bytes a UTF-8 letter beyond ASCII is written with.
UTF8_LETTER = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(1, size // 1024)} KB"


def read_upload(upload: UploadedFile, kind: str) -> FileFacts:
    """Read the upload as a stream, twice at most, holding one chunk and one row at a
    time: its digest and encoding, then its header and rows. FileProblem if it cannot be
    imported.

    A file is read as UTF-8 (with or without a byte order mark), else as Windows-1252
    (what Excel on Windows writes for "CSV (comma delimited)"), unless it holds UTF-8
    letters too: a file of mixed encodings is refused rather than read wrongly.
    """
    size = upload.size or 0
    if size == 0:
        raise FileProblem("The file is empty")
    if size > policy.IMPORT_MAX_FILE_BYTES:
        raise FileProblem(
            f"The file is {_size(size)}: the largest file that can be imported is "
            f"{_size(policy.IMPORT_MAX_FILE_BYTES)}. Split it into smaller files"
        )
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, has_utf8_letters, first = True, False, True
    upload.seek(0)
    for chunk in upload.chunks():
        if first:
            for start, message in BINARY_STARTS.items():
                if chunk.startswith(start):
                    raise FileProblem(message)
            first = False
        if b"\x00" in chunk:
            raise FileProblem(NOT_TEXT)
        digest.update(chunk)
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
        has_utf8_letters = has_utf8_letters or bool(UTF8_LETTER.search(chunk))
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if not utf8 and has_utf8_letters:
        raise FileProblem(MIXED)
    encoding = "utf-8" if utf8 else "cp1252"

    upload.seek(0)
    text = io.TextIOWrapper(upload.file, encoding="utf-8-sig" if utf8 else "cp1252", newline="")
    try:
        reader = csv.reader(text)
        header: list[str] | None = None
        rows = 0
        try:
            for cells in reader:
                if header is None:
                    if not any(c.strip() for c in cells):
                        continue
                    header = check_header(kind, cells)
                    continue
                if any(c.strip() for c in cells):
                    rows += 1
                    if rows > policy.IMPORT_MAX_ROWS:
                        raise FileProblem(
                            f"The file has more than {policy.IMPORT_MAX_ROWS:,} rows: split "
                            f"it into files of {policy.IMPORT_MAX_ROWS:,} rows or fewer"
                        )
        except UnicodeDecodeError:
            raise FileProblem(NOT_TEXT) from None
        except csv.Error as error:
            raise FileProblem(
                f"Row {reader.line_num} cannot be read as CSV ({error}): check its quotes"
            ) from None
    finally:
        text.detach()
    if header is None:
        raise FileProblem("The file is empty")
    if rows == 0:
        raise FileProblem("The file has no rows under its header")
    return FileFacts(sha256=digest.hexdigest(), encoding=encoding, header=header, rows=rows)


def file_text(upload: UploadedFile, facts: FileFacts) -> str:
    """The whole text, to keep between the check and the import (at most
    IMPORT_MAX_FILE_BYTES: read_upload has refused anything larger)."""
    upload.seek(0)
    return upload.read().decode("utf-8-sig" if facts.encoding == "utf-8" else "cp1252")


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, cells) for each row under the header that
    is not blank."""
    header_seen = False
    for index, cells in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if not any(c.strip() for c in cells):
            continue
        if not header_seen:
            header_seen = True
            continue
        yield index, cells


# Checking and recording one row ------------------------------------------------------


@dataclass
class RowResult:
    row: int
    key: str
    outcome: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "key": self.key, "outcome": self.outcome, "errors": self.errors}


class RowRefused(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _error(column: str, message: str) -> dict[str, str]:
    message = message.strip().rstrip(".")
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        message = message[0].lower() + message[1:]
    return {"column": column, "message": message}


def describe(row: int, error: dict[str, str]) -> str:
    """'Row 14: date of birth: enter a real date'."""
    if error["column"]:
        return f"Row {row}: {label(error['column'])}: {error['message']}"
    return f"Row {row}: {error['message']}"


def _serializer_field(serializer: serializers.Serializer, path: tuple[str, ...]) -> Any:
    found: Any = serializer
    for part in path:
        found = getattr(found, "child", found)
        found = found.fields[part]
    return found


def _choice_values(choice_field: serializers.ChoiceField) -> dict[str, str]:
    values: dict[str, str] = {}
    for value, text in choice_field.choices.items():
        values[str(value).lower()] = value
        values[str(text).lower()] = value
    return values


UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(.*)$")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}


def _value(target: Any, cell: str) -> Any:
    """A cell as the API's field takes it: dates and times written the UK way
    (14/05/2012 18:30) as ISO 8601, yes and no as true and false, a choice by its code
    or its label in any case. Anything else is given as typed, and the field says what
    is wrong with it. A cell starting with = + - or @ is text like any other."""
    if isinstance(target, (serializers.DateField, serializers.DateTimeField)):
        match = UK_DATE.match(cell)
        if match:
            day, month, year, rest = match.groups()
            return f"{year}-{int(month):02d}-{int(day):02d}{rest}"
        return cell
    if isinstance(target, serializers.BooleanField):
        lowered = cell.lower()
        return True if lowered in YES else False if lowered in NO else cell
    if isinstance(target, serializers.ChoiceField):
        return _choice_values(target).get(re.sub(r"\s+", " ", cell.lower()), cell)
    return cell


def _plain(target: Any, column: str, detail: Any) -> str:
    code = getattr(detail, "code", "")
    if code in ("required", "blank", "null"):
        return f"enter the {label(column)}"
    if isinstance(target, serializers.DateTimeField) and code in ("invalid", "date"):
        return "enter a real date and time, like 30/11/2026 18:30"
    if isinstance(target, serializers.DateField) and code in ("invalid", "datetime"):
        return "enter a real date, like 14/05/2012"
    if isinstance(target, serializers.BooleanField):
        return "enter yes or no"
    if isinstance(target, serializers.ChoiceField) and code == "invalid_choice":
        return "enter one of " + ", ".join(str(v) for v in target.choices)
    if code == "max_length" and getattr(target, "max_length", None):
        return f"enter at most {target.max_length:,} characters"
    return str(detail)


class Form:
    """A row's cells in the shape of the API's request, and its checks."""

    def __init__(self, kind: str, header: list[str]) -> None:
        self.kind = kind
        self.columns = {c.name: c for c in COLUMNS[kind]}
        self.header = header
        if kind == Kind.CHILDREN:
            self.serializers = {"": s.CouncilChildSerializer()}
        else:
            self.serializers = {"": s.ReportSerializer(), "return": s.ReturnSerializer()}
        self.targets: dict[str, Any] = {}
        self.by_path: dict[tuple[str, ...], str] = {}
        for column in COLUMNS[kind]:
            self.by_path[column.path] = column.name
            if not column.path:
                continue
            if column.path[0] == "return":
                self.targets[column.name] = _serializer_field(
                    self.serializers["return"], column.path[1:]
                )
            else:
                self.targets[column.name] = _serializer_field(self.serializers[""], column.path)

    def column_for(self, dotted: str) -> str:
        """The column an API field error names ('placements.0.host_area', 'child.first_name')."""
        parts = tuple(p for p in dotted.split(".") if p and not p.isdigit())
        if parts and parts[0] == "child" and parts not in self.by_path:
            parts = parts[1:]
        return self.by_path.get(parts, self.by_path.get(("child", *parts), ""))

    def _walk(self, errors: Any, path: tuple[str, ...], out: list[dict[str, str]]) -> None:
        if isinstance(errors, dict):
            for name, inner in errors.items():
                name = str(name)
                # A list's errors are keyed by position: one placement to a row.
                skip = name == "non_field_errors" or name.isdigit()
                self._walk(inner, path if skip else (*path, name), out)
        elif isinstance(errors, list):
            for inner in errors:
                if isinstance(inner, (dict, list)):
                    self._walk(inner, path, out)
                else:
                    column = self.by_path.get(path, "")
                    out.append(_error(column, _plain(self.targets.get(column), column, inner)))

    def key(self, cells: list[str]) -> str:
        name = KEY_COLUMN[self.kind]
        index = self.header.index(name) if name in self.header else len(cells)
        return cells[index].strip() if index < len(cells) else ""

    def parse(self, cells: list[str]) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """(key, the API request's data as validated, the return's or None); RowRefused."""
        if len(cells) > len(self.header):
            raise RowRefused(
                [
                    _error(
                        "",
                        f"the row has {len(cells)} cells but the first row names "
                        f"{len(self.header)} columns",
                    )
                ]
            )
        values = {
            name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(self.header)
        }
        key_column = KEY_COLUMN[self.kind]
        key = self.key(cells)
        errors: list[dict[str, str]] = []
        if self.kind == Kind.CHILDREN:
            if not key:
                errors.append(_error(key_column, f"enter the {label(key_column)}"))
            elif len(key) > MAX_LA_CHILD_ID:
                errors.append(_error(key_column, f"enter at most {MAX_LA_CHILD_ID} characters"))
        data: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for name, cell in values.items():
            column = self.columns[name]
            if not column.path or not cell:
                continue
            value = _value(self.targets[name], cell)
            if len(column.path) == 1:
                data[column.path[0]] = value
            else:
                nested.setdefault(column.path[0], {})[column.path[1]] = value
        for group, given in nested.items():
            if group == "placements":
                data["placements"] = [given]
            elif group != "return":
                data[group] = given
        serializer = type(self.serializers[""])(data=data)
        if not serializer.is_valid():
            self._walk(serializer.errors, (), errors)
        returned = None
        if "return" in nested:
            return_serializer = s.ReturnSerializer(data=nested["return"])
            if return_serializer.is_valid():
                returned = return_serializer.validated_data
            else:
                self._walk(return_serializer.errors, ("return",), errors)
        if errors:
            raise RowRefused(errors)
        return key, serializer.validated_data, returned

    def refusal(self, error: Exception) -> list[dict[str, str]]:
        """What an action function (through the API's path) refused, by column."""
        if isinstance(error, DjangoValidationError):
            error = from_validation_error(error)
        if isinstance(error, Problem):
            if error.kind == "ambiguous-child":
                return [_error("", str(error.detail))]
            found = [_error(self.column_for(e["field"]), e["detail"]) for e in error.errors]
            return found or [_error("", str(error.detail))]
        if isinstance(error, PermissionDenied):
            return [_error("", str(error) or "you may not record this")]
        return [_error("", "another change was made at the same moment: import the file again")]


def _record_return(user: User, episode: Episode, returned: dict[str, Any]) -> None:
    version = Episode.objects.filter(pk=episode.pk).values_list("version", flat=True).get()
    episode_record_return(
        acting_user=user,
        episode=episode,
        expected_version=version,
        found_at=returned["found_at"],
        found_address=returned["found_address"],
        found_with=returned["found_with"],
        how_returned=returned["how_returned"],
        return_notes=returned["return_notes"],
    )


def _missing_row(user: User, data: dict[str, Any], returned: dict[str, Any] | None) -> str:
    """A report: made if the force's reference is new; else the risk re-graded if it
    differs while the child is missing, and the return recorded if given and not yet."""
    found = list(
        episodes_visible_to(user)
        .filter(police_reference=data["police_reference"])
        .select_related("child")
        .order_by("pk")[:2]
    )
    if len(found) > 1:
        raise RowRefused(
            [
                _error(
                    "police_reference",
                    "more than one episode has this reference: change them on their pages",
                )
            ]
        )
    if not found:
        episode, _ = report_missing(user, data)
        if returned is not None:
            _record_return(user, episode, returned)
        return CREATED
    episode = found[0]
    changed = False
    if episode.found_at is None and episode.risk != data["risk"]:
        episode_regrade_risk(
            acting_user=user,
            episode=episode,
            grade=data["risk"],
            rationale=data["risk_rationale"],
        )
        changed = True
    if returned is not None and episode.found_at is None:
        _record_return(user, episode, returned)
        changed = True
    return UPDATED if changed else UNCHANGED


def _children_row(user: User, key: str, data: dict[str, Any]) -> str:
    result = upsert_child(user, key, data)
    return CREATED if result.created else UPDATED if result.changed else UNCHANGED


def run(
    user: User,
    kind: str,
    text: str,
    header: list[str],
    *,
    check_only: bool,
    rows: set[int] | None = None,
) -> tuple[list[RowResult], list[dict[str, Any]]]:
    """Each row (or those numbered in ``rows``) through the API's checks and the action
    functions, as ``user``. With ``check_only`` nothing is kept: everything is rolled
    back, so this is what an import would do now. (results, rejected rows with their
    cells and errors)."""
    form = Form(kind, header)
    results: list[RowResult] = []
    rejected: list[dict[str, Any]] = []
    with transaction.atomic():
        for number, cells in records(text):
            if rows is not None and number not in rows:
                continue
            key = ""
            try:
                key, data, returned = form.parse(cells)
                try:
                    with transaction.atomic():
                        if kind == Kind.CHILDREN:
                            outcome = _children_row(user, key, data)
                        else:
                            outcome = _missing_row(user, data, returned)
                except (
                    Problem,
                    DjangoValidationError,
                    PermissionDenied,
                    IntegrityError,
                ) as error:
                    raise RowRefused(form.refusal(error)) from None
                results.append(RowResult(number, key, outcome))
            except RowRefused as refused:
                key = key or form.key(cells)
                results.append(RowResult(number, key[:40], REJECTED, refused.errors))
                rejected.append({"row": number, "cells": cells, "errors": refused.errors})
        if check_only:
            transaction.set_rollback(True)
    return results, rejected


def counts(results: list[RowResult]) -> dict[str, int]:
    found = {CREATED: 0, UPDATED: 0, UNCHANGED: 0, REJECTED: 0}
    for result in results:
        found[result.outcome] += 1
    return found


def rejected_csv_rows(header: list[str], rejected: list[dict[str, Any]]) -> Iterator[list[str]]:
    """The rejected rows as they were, with an 'errors' column, every cell safe to open
    in a spreadsheet (``csv_safe``)."""
    yield [*header, "errors"]
    for entry in rejected:
        cells = list(entry["cells"]) + [""] * (len(header) - len(entry["cells"]))
        errors = "; ".join(describe(entry["row"], e) for e in entry["errors"])
        yield [csv_safe(c) for c in [*cells, errors]]


def expire_unimported(now: datetime) -> int:
    """Clear the files checked more than ``IMPORT_CHECK_KEPT_FOR`` ago and never imported:
    their text and rows hold children's details that nobody chose to import. The upload
    stays in the history (who, when, the file's name and counts), marked expired; the
    file must be uploaded again to import it. Run by housekeeping."""
    return CsvImport.objects.filter(
        status=CsvImport.Status.CHECKED,
        uploaded_at__lt=now - policy.IMPORT_CHECK_KEPT_FOR,
    ).update(status=CsvImport.Status.EXPIRED, content="", rows=[], rejected_rows=[])
