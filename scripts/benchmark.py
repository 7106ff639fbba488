"""Measure the service at national scale: every practitioner and manager page, every
download, a concurrent load, a mixed load with locust, the e-mail worker and the
scheduler's idle pass, on PostgreSQL, under gunicorn, DEBUG off.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/missingkids_bench \\
        .venv/bin/python scripts/benchmark.py [--episodes 100000 --children 25000]
        [--repeat 15] [--export-repeat 5] [--concurrency 8] [--notifications 3000]
        [--locust /path/to/locust --locust-users 50 --locust-minutes 5] [--pool]
        [--output report.md]

- Creates the database if missing, migrates it and fills it with
  ``generate_synthetic_data`` unless it already holds the episodes (a second run reuses
  it). Never point it at a database with real cases: it adds synthetic data, users,
  sessions, interview attempts and e-mails, and sends queued e-mails to its own sink.
- Runs gunicorn (``--gunicorn-workers`` processes of ``--gunicorn-threads`` threads) with
  the production settings (scripts/bench_settings.py: DEBUG off, static files
  collected, plus the floor view /bench-floor/: one indexed query over the episodes, the
  cheapest signed-in page there can be), on a free port.
- Pages: a practitioner and a manager of the council with the most children, signed in
  (second factor done). Every page is requested once in-process first, to count its
  queries (and a download's rows); a page that does not answer 200 is reported and
  left out, the run goes on.
- Sequential: each page ``--repeat`` times and each download ``--export-repeat`` times,
  every request after a floor request; p50 and p95 of the whole response (ms), the
  page's p50 over the floor's; for downloads also the first byte's p50, rows a second
  and the largest growth of a gunicorn worker's resident memory during one download
  (its peak RSS from /proc, reset before each download): flat when the file is streamed.
- Concurrent: ``--concurrency`` threads (like wrk) requesting every page and download in
  turn, ``--repeat`` rounds: throughput, p50, p95 and errors.
- ``--pool``: the sequential and concurrent parts again with DATABASE_POOL=true, side by
  side with the run without it.
- Mixed load with locust if ``--locust PATH`` (install it from requirements-bench.txt in
  a virtualenv of its own, outside the repository): ``--locust-users`` people (4
  practitioners to 1 manager), 1 to 4 s between their clicks, for ``--locust-minutes``,
  about 6 % of requests writes (an attempt to hold a return interview, recorded through
  the real form with its CSRF token); errors, p50, p95 and throughput.
- The worker: ``--notifications`` queued e-mails sent to a local SMTP sink by
  ``send_notifications --once``, for each of ``--worker-batches`` (EMAIL_SEND_BATCH: 1 is
  one message a connection, as before batching; ``default`` the setting's default): the
  rate over the command's whole run, and from the first message the sink took to the
  last (the worker at work, without starting Django).
- The scheduler: an idle pass (outbox events, timed steps, the hotspots' tallies moved
  on), and the full anti-join of events against receipts that every pass used to run.

Progress goes to the terminal as it runs; the report, markdown tables to paste into
README.md, is printed at the end and written to ``--output`` if given.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import csv
import http.client
import io
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
MANAGER_EMAIL = "benchmark.manager@synthetic.invalid"
PRACTITIONER_EMAIL = "benchmark.practitioner@synthetic.invalid"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


APP_PORT = free_port()

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "scripts.bench_settings",
    "DEBUG": "false",
    "SECRET_KEY": "benchmark-only-secret-key-not-used-anywhere-else-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "SECURE_SSL_REDIRECT": "false",
    "EMAIL_ALLOW_UNENCRYPTED": "true",
    "DEFAULT_FROM_EMAIL": "missingkids@synthetic.invalid",
    "SITE_URL": f"http://127.0.0.1:{APP_PORT}",
    "LOG_LEVEL": "WARNING",
    "PYTHONPATH": str(ROOT),
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            print(f"Creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


class Report:
    """Markdown: printed at the end, and written to --output."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def text(self, line: str = "") -> None:
        self.lines.append(line)

    def table(self, header: list[str], rows: list[list[str]], left: int = 1) -> None:
        """A markdown table; the first ``left`` columns aligned left, the rest right."""
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append(
            "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"
        )
        self.lines.extend("| " + " | ".join(row) + " |" for row in rows)
        self.lines.append("")

    def __str__(self) -> str:
        return "\n".join(self.lines)


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


# A mail server that takes everything ------------------------------------------------------


class SinkHandler(socketserver.StreamRequestHandler):
    taken = 0
    first = last = 0.0  # when the first and the latest message were taken
    lock = threading.Lock()

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 sink ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.reply("250 sink")
            elif verb == b"DATA":
                self.reply("354 go on")
                while self.rfile.readline() not in (b".\r\n", b""):
                    pass
                with SinkHandler.lock:
                    SinkHandler.taken += 1
                    SinkHandler.last = time.perf_counter()
                    SinkHandler.first = SinkHandler.first or SinkHandler.last
                self.reply("250 taken")
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.reply("250 ok")


def start_sink() -> socketserver.ThreadingTCPServer:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SinkHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# HTTP --------------------------------------------------------------------------------------


@dataclass
class Page:
    name: str
    path: str
    who: str  # "practitioner" or "manager"
    download: bool = False
    queries: int = 0
    rows: int | None = None  # a CSV download's rows, header left out
    problem: str = ""  # why it was left out


@dataclass
class Timing:
    first: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    growth: list[float] = field(default_factory=list)  # a worker's peak RSS growth, MB
    errors: int = 0


def fetch(path: str, cookie: str) -> tuple[float, float, int]:
    """(first byte ms, whole response ms, status)."""
    conn = http.client.HTTPConnection("127.0.0.1", APP_PORT, timeout=900)
    try:
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read(1)
        first_byte = time.perf_counter() - started
        while response.read(65536):
            pass
        total = time.perf_counter() - started
        return first_byte * 1000, total * 1000, response.status
    finally:
        conn.close()


class Gunicorn:
    """The service under gunicorn, and its workers' memory from /proc."""

    def __init__(self, args: argparse.Namespace, extra: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [
                GUNICORN, "missingkids.wsgi", "-b", f"127.0.0.1:{APP_PORT}",
                "-w", str(args.gunicorn_workers), "-k", "gthread",
                "--threads", str(args.gunicorn_threads), "--timeout", "900",
                "--log-level", "warning",
            ],
            cwd=ROOT, env={**os.environ, **extra},
        )  # fmt: skip
        for _ in range(480):
            if self.process.poll() is not None:
                raise SystemExit("gunicorn exited while starting")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", APP_PORT, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status in (200, 503):
                    break
            except OSError:
                time.sleep(0.25)
        else:
            self.stop()
            raise SystemExit("gunicorn did not start")

    def workers(self) -> list[int]:
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [int(child) for child in children]

    @staticmethod
    def _status(pid: int, key: str) -> float:
        """A /proc/PID/status memory line, in MB."""
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def rss(self) -> dict[int, float]:
        return {pid: self._status(pid, "VmRSS") for pid in self.workers()}

    def reset_peaks(self) -> dict[int, float]:
        """Reset each worker's peak RSS to its current RSS (clear_refs 5); the RSS."""
        for pid in self.workers():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        return self.rss()

    def growth(self, before: dict[int, float]) -> float:
        """The largest rise of a worker's peak RSS over its RSS before, in MB."""
        return max((self._status(pid, "VmHWM") - rss for pid, rss in before.items()), default=0.0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


# The run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--children", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=15, help="Each page, sequentially.")
    parser.add_argument("--export-repeat", type=int, default=5, help="Each download.")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--notifications", type=int, default=3000)
    parser.add_argument(
        "--worker-batches",
        default="1,100,default",
        help="Comma list of EMAIL_SEND_BATCH values to run the worker with (default: the "
        "setting's default).",
    )
    parser.add_argument("--pool", action="store_true", help="Compare with DATABASE_POOL=true")
    parser.add_argument("--locust", default="", help="The locust program (its own venv).")
    parser.add_argument("--locust-users", type=int, default=50)
    parser.add_argument("--locust-minutes", type=float, default=5)
    parser.add_argument(
        "--skip", default="", help="Comma list: pages,downloads,concurrent,worker,scheduler"
    )
    parser.add_argument("--only", default="", help="Only the pages whose name contains this")
    parser.add_argument("--output", default="", help="Also write the report to this file")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL database.", file=sys.stderr)
        return 2
    if args.locust and not Path(args.locust).is_file():
        print(f"No locust program at {args.locust}", file=sys.stderr)
        return 2
    ensure_database(url)
    sink = start_sink()
    os.environ.update(PRODUCTION)
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{sink.server_address[1]}"
    os.environ["BENCH_STATIC_ROOT"] = tempfile.mkdtemp(prefix="missingkids-bench-static-")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from incidents.models import CaseEvent, Child, Episode
    from notifications.models import Notification

    report = Report()
    started_at = time.strftime("%Y-%m-%d %H:%M")
    call_command("migrate", verbosity=0)
    have = Episode.objects.count()
    if have < args.episodes:
        print(f"{have} episodes: generating {args.episodes - have}", flush=True)
        started = time.perf_counter()
        call_command(
            "generate_synthetic_data",
            children=max(1, args.children * (args.episodes - have) // args.episodes),
            episodes=args.episodes - have,
        )
        generated = time.perf_counter() - started
        print(f"Generated in {generated:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        data_note = f"generated in {generated:,.0f} s"
    else:
        data_note = "reused"
    call_command("collectstatic", interactive=False, verbosity=0)

    setup = prepare_pages(args)
    pages: list[Page] = setup["pages"]
    report.text(f"## Benchmark, {started_at}")
    report.text()
    report.text(
        f"{Episode.objects.count():,} episodes ({data_note}), {Child.objects.count():,} "
        f"children, {CaseEvent.objects.count():,} case events, "
        f"{Notification.objects.count():,} notifications. People of {setup['agency']} "
        f"(sees {setup['visible']:,} children; the busiest child has {setup['most']} "
        f"episodes, the typical {setup['typical']}). gunicorn {args.gunicorn_workers} "
        f"workers x {args.gunicorn_threads} threads, DEBUG off; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the start."
    )
    report.text()
    left_out = [p for p in pages if p.problem]
    pages = [p for p in pages if not p.problem]

    runs: dict[str, dict] = {}
    configs = [("no pool", {"DATABASE_POOL": "false"})]
    if args.pool:
        configs.append(("pool", {"DATABASE_POOL": "true"}))
    try:
        for label, extra in configs:
            if {"pages", "concurrent"} <= skip and not (args.locust and label == "no pool"):
                continue
            print(f"\ngunicorn, {label}", flush=True)
            server = Gunicorn(args, extra)
            try:
                run: dict = {}
                warm_up(pages, setup, args)
                if "pages" not in skip:
                    run["sequential"] = run_sequential(pages, setup, args, server)
                if "concurrent" not in skip:
                    run["concurrent"] = run_concurrent(pages, setup, args)
                run["rss"] = sorted(server.rss().values())
                if args.locust and label == "no pool":
                    run["locust"] = run_locust(args, setup)
                runs[label] = run
            finally:
                server.stop()

        write_pages(report, pages, left_out, runs, args)
        if "no pool" in runs and "locust" in runs["no pool"]:
            write_locust(report, runs["no pool"]["locust"], args)
        if "worker" not in skip:
            run_worker(report, args)
        if "scheduler" not in skip:
            run_scheduler(report)
    finally:
        sink.shutdown()

    text = str(report)
    print("\n" + text)
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(f"(written to {args.output})")
    return 0


def prepare_pages(args: argparse.Namespace) -> dict:
    """The people, their sessions, the pages and downloads, each counted once."""
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from incidents import access, rights
    from incidents.models import Child, Episode, ReturnInterview
    from incidents.rights import Right
    from missingkids.accounts.models import Agency, User
    from oversight import returns
    from oversight.return_requests import build_queued_returns, council_areas, return_request
    from oversight.views import LISTS

    busiest_area = (
        Child.objects.values("responsible_area")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("responsible_area", flat=True)
        .first()
    )
    agency = Agency.objects.filter(
        kind=Agency.Kind.LOCAL_AUTHORITY, areas=busiest_area, active=True
    ).first()

    def person(email: str, role: str) -> User:
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email, password=None, name=email.split("@")[0], agency=agency, role=role
        )
        if user.agency_id != agency.pk:
            user.agency = agency
            user.save(update_fields=["agency"])
        return user

    def signed_in(user: User) -> tuple[str, Client]:
        """A new session, second factor done: its cookie, and a client holding it."""
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        device = device or TOTPDevice.objects.create(user=user, name="Benchmark", confirmed=True)
        client = Client()
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return f"{settings.SESSION_COOKIE_NAME}={session.session_key}", client

    worker = person(PRACTITIONER_EMAIL, User.Role.PRACTITIONER)
    manager = person(MANAGER_EMAIL, User.Role.MANAGER)
    worker_cookie, worker_client = signed_in(worker)
    manager_cookie, manager_client = signed_in(manager)

    visible = access.children_visible_to(worker)
    counted = visible.annotate(n=Count("episodes")).filter(n__gt=0).order_by("-n", "pk")
    busiest = counted.first()
    typical = counted[counted.count() // 2]
    episode = Episode.objects.filter(child=busiest).order_by("-last_seen_at").first()
    place = (
        Episode.objects.filter(child__in=visible, last_seen_location__isnull=False)
        .values("last_seen_location")
        .annotate(n=Count("pk"), child=Count("child", distinct=True))
        .order_by("-child", "-n")
        .first()
    )
    place_child = (
        Episode.objects.filter(child__in=visible, last_seen_location=place["last_seen_location"])
        .values_list("child_id", flat=True)
        .first()
    )
    # Interviews the practitioner may record an attempt on (the mixed load's writes).
    pending = list(
        ReturnInterview.objects.filter(
            outcome=ReturnInterview.Outcome.PENDING,
            episode__child__in=visible,
            episode__found_at__isnull=False,
        )
        .select_related("episode__child")
        .order_by("-episode__found_at")[:200]
    )
    writable = [
        i.episode_id
        for i in pending
        if rights.allowed(worker, Right.RECORD_INTERVIEW, i.episode.child, interview=i)
    ][:50]
    interview_episode = writable[0] if writable else episode.pk

    def searched(words: str) -> str:
        """The results page of a search, by its token (the words stay in the session)."""
        response = worker_client.post(reverse("incidents:child_search"), {"q": words})
        return response.headers.get("Location", reverse("incidents:child_search"))

    dob = typical.date_of_birth
    practitioner = [
        ("home", reverse("home")),
        ("find a child (the form)", reverse("incidents:child_search")),
        ("find a child by name", searched(typical.last_name)),
        ("find a child by date of birth", searched(f"{dob.day}/{dob.month}/{dob.year}")),
        ("find a child by identifier", searched(typical.la_child_id or typical.last_name)),
        ("child page (typical)", reverse("incidents:child_detail", args=[typical.pk])),
        ("child page (most episodes)", reverse("incidents:child_detail", args=[busiest.pk])),
        ("profile sheet (typical)", reverse("incidents:profile_sheet", args=[typical.pk])),
        ("episode page", reverse("incidents:episode_detail", args=[episode.pk])),
        (
            "return interview page",
            reverse("incidents:interview_detail", args=[interview_episode]),
        ),
        (
            "place page (most children)",
            reverse("incidents:place_detail", args=[place_child, place["last_seen_location"]]),
        ),
        ("open episodes", reverse("incidents:episode_list_open")),
        ("recent work", reverse("incidents:recent_work")),
        ("agency work", reverse("agency_work:list")),
        ("guidance", reverse("guidance:list")),
    ]
    if writable:
        practitioner.append(
            (
                "record an interview attempt (the form)",
                reverse("incidents:interview_attempt_add", args=[writable[0]]),
            )
        )
    # The subject access record is for the child's responsible council only: the child
    # of the manager's councils with most episodes.
    record_child = (
        Child.objects.filter(responsible_area__agencies=agency)
        .annotate(n=Count("episodes"))
        .order_by("-n", "pk")
        .first()
    ) or busiest
    areas = list(council_areas(manager)[:1])
    year = returns.latest_year() - 1
    returns_url = reverse("oversight:returns")
    checked = ""
    asked = None
    if areas:
        # Asked for as a manager asks, then built by the scheduler's step (timed).
        asked = return_request(
            acting_user=manager, area=areas[0], year=year, as_at=timezone.localdate()
        )
        started = time.perf_counter()
        build_queued_returns(worker="benchmark")
        asked.refresh_from_db()
        print(
            f"Built the returns of {areas[0].name} for {year} ({asked.missing_rows} Missing "
            f"rows, {asked.list_8_rows} in List 8) in {time.perf_counter() - started:.2f} s "
            f"(the build itself {asked.build_seconds or 0:.2f} s; {asked.get_status_display()}"
            f"{': ' + asked.error if asked.error else ''})",
            flush=True,
        )
        checked = reverse("oversight:return_request", args=[asked.pk])
    managers = [
        ("dashboard", reverse("oversight:dashboard")),
        ("measures", reverse("oversight:measures")),
        *((f"list: {page.title}", reverse(page.url_name)) for page in LISTS),
        ("returns (the form)", returns_url),
        ("returns (a built request's page)", checked),
        (
            "subject access record (most episodes)",
            reverse("oversight:subject_access", args=[record_child.pk]),
        ),
    ]
    downloads = [
        *((f"{page.slug}.csv", f"{reverse(page.url_name)}?format=csv") for page in LISTS),
        ("measures.csv", f"{reverse('oversight:measures')}?format=csv"),
        *(
            (
                f"returns: {what}.csv",
                reverse("oversight:return_download", args=[asked.pk, what]) if asked else "",
            )
            for what in ("missing", "header", "list8")
        ),
        (
            "subject access record.json",
            reverse("oversight:subject_access", args=[record_child.pk]) + "?format=json",
        ),
    ]
    pages = [Page(n, p, "practitioner") for n, p in practitioner]
    pages += [Page(n, p, "manager") for n, p in managers]
    pages += [Page(n, p, "manager", download=True) for n, p in downloads]
    pages = [p for p in pages if args.only.lower() in p.name.lower()]
    if "downloads" in args.skip.split(","):
        pages = [p for p in pages if not p.download]

    print("Counting each page's queries (in-process, once)", flush=True)
    clients = {"practitioner": worker_client, "manager": manager_client}
    for page in pages:
        if not page.path:
            page.problem = "no council to make returns for"
            continue
        with CaptureQueriesContext(connection) as captured:
            response = clients[page.who].get(page.path)
            pieces = (
                response.streaming_content
                if getattr(response, "streaming", False)
                else [response.content]
            )
            kind = response.headers.get("Content-Type", "")
            if page.name.endswith(".csv") and kind.startswith("text/csv"):
                # Counted as it comes (a national list does not sit whole in memory);
                # the pieces end with whole rows, a row may span lines.
                decoder = codecs.getincrementaldecoder("utf-8-sig")()
                lines = (
                    line for piece in pieces for line in io.StringIO(decoder.decode(piece), "")
                )
                # A download's cell may be long (an address, a note): no field limit.
                csv.field_size_limit(sys.maxsize)
                page.rows = sum(1 for _ in csv.reader(lines)) - 1
            else:
                for _ in pieces:
                    pass
        page.queries = len(captured)
        if response.status_code != 200:
            page.problem = f"HTTP {response.status_code}"
        elif page.name.endswith(".csv") and not kind.startswith("text/csv"):
            page.problem = "refused (the returns' checks block it)"
        print(f"  {page.name}: {page.queries} queries {page.problem}", flush=True)

    from incidents.models import InterviewAttempt

    return {
        "pages": pages,
        "agency": agency,
        "visible": visible.count(),
        "most": busiest.n,
        "typical": typical.n,
        "cookies": {"practitioner": worker_cookie, "manager": manager_cookie},
        "floor": reverse("bench_floor"),
        "signed_in": signed_in,
        "worker": worker,
        "manager": manager,
        "writable": writable,
        "practitioner_reads": [p for p in pages if p.who == "practitioner" and not p.problem],
        "manager_reads": [p for p in pages if p.who == "manager" and not p.problem],
        "search": reverse("incidents:child_search"),
        "search_words": [typical.last_name, busiest.last_name, f"{dob.day}/{dob.month}/{dob.year}"],
        "attempt": reverse("incidents:interview_attempt_add", args=[0]).replace("/0/", "/{}/"),
        "methods": [InterviewAttempt.Method.PHONE, InterviewAttempt.Method.TEXT],
        "outcomes": [InterviewAttempt.Outcome.NO_CONTACT, InterviewAttempt.Outcome.REARRANGED],
    }


def warm_up(pages: list[Page], setup: dict, args: argparse.Namespace) -> None:
    """Every page once a worker thread, so each has loaded its code and templates."""
    cookies = setup["cookies"]
    work = [p for p in pages if not p.download] * args.gunicorn_workers
    with ThreadPoolExecutor(args.gunicorn_workers * 2) as pool:
        list(pool.map(lambda p: fetch(p.path, cookies[p.who]), work))
    for _ in range(args.gunicorn_workers * 2):
        fetch(setup["floor"], cookies["practitioner"])


def run_sequential(
    pages: list[Page], setup: dict, args: argparse.Namespace, server: Gunicorn
) -> dict:
    cookies = setup["cookies"]
    floors: list[float] = []
    timings = {p.name: Timing() for p in pages}
    print(
        f"Sequential: pages {args.repeat} times, downloads {args.export_repeat} times, "
        "each after a floor request",
        flush=True,
    )
    for round_ in range(max(args.repeat, args.export_repeat)):
        for page in pages:
            if round_ >= (args.export_repeat if page.download else args.repeat):
                continue
            floors.append(fetch(setup["floor"], cookies["practitioner"])[1])
            before = server.reset_peaks() if page.download else {}
            first, total, status = fetch(page.path, cookies[page.who])
            timing = timings[page.name]
            if status != 200:
                timing.errors += 1
                continue
            timing.first.append(first)
            timing.total.append(total)
            if page.download:
                timing.growth.append(server.growth(before))
        print(f"  round {round_ + 1} done", flush=True)
    return {"floor": floors, "timings": timings}


def run_concurrent(pages: list[Page], setup: dict, args: argparse.Namespace) -> dict:
    cookies = setup["cookies"]
    work = [
        (p.path, cookies[p.who])
        for round_ in range(max(args.repeat, args.export_repeat))
        for p in pages
        if round_ < (args.export_repeat if p.download else args.repeat)
    ]
    work += [(setup["floor"], cookies["practitioner"])] * args.repeat
    print(f"Concurrent: {args.concurrency} threads, {len(work)} requests", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(lambda w: fetch(*w), work))
    elapsed = time.perf_counter() - started
    totals = [total for _first, total, status in results if status == 200]
    return {
        "requests": len(work),
        "seconds": elapsed,
        "errors": sum(1 for *_rest, status in results if status != 200),
        "p50": statistics.median(totals) if totals else None,
        "p95": percentile(totals, 0.95) if totals else None,
    }


def write_pages(
    report: Report, pages: list[Page], left_out: list[Page], runs: dict, args: argparse.Namespace
) -> None:
    labels = [label for label in runs if "sequential" in runs[label]]
    if labels:
        pooled = len(labels) > 1
        report.text(
            f"### Pages, one at a time ({args.repeat} requests each, each after a floor "
            "request; ms)"
        )
        report.text()
        floors = {label: runs[label]["sequential"]["floor"] for label in labels}
        base = {label: statistics.median(floors[label]) for label in labels}
        header = ["Page", "Who", "Queries", "p50", "p95", "x floor"]
        if pooled:
            header += ["p50 pool", "p95 pool", "x floor pool"]
        rows = [
            ["floor (1 indexed query)", "", "1"]
            + [
                cell
                for label in labels
                for cell in (ms(base[label]), ms(percentile(floors[label], 0.95)), "1.0")
            ]
        ]
        for page in pages:
            if page.download:
                continue
            row = [page.name, page.who, str(page.queries)]
            for label in labels:
                timing = runs[label]["sequential"]["timings"][page.name]
                row += timing_cells(timing, base[label])
            rows.append(row)
        report.table(header, rows, left=2)

        report.text(
            f"### Downloads, one at a time ({args.export_repeat} each; ms; memory: the "
            "growth of a gunicorn worker's peak RSS during one download, p50 and max)"
        )
        report.text()
        header = ["Download", "Rows", "Queries", "First byte p50", "p50", "p95", "Rows/s"]
        header.append("RSS MB p50 / max")
        if pooled:
            header += ["p50 pool", "Rows/s pool", "RSS MB pool p50 / max"]
        rows = []
        for page in pages:
            if not page.download:
                continue
            row = [page.name, "-" if page.rows is None else f"{page.rows:,}", str(page.queries)]
            for index, label in enumerate(labels):
                timing = runs[label]["sequential"]["timings"][page.name]
                if not timing.total:
                    row += ["failed"] * (5 if index == 0 else 3)
                    continue
                p50 = statistics.median(timing.total)
                rate = f"{page.rows / (p50 / 1000):,.0f}" if page.rows else "-"
                growth = f"{statistics.median(timing.growth):+.1f} / {max(timing.growth):+.1f}"
                if timing.errors:
                    growth += f" ({timing.errors} errors)"
                if index == 0:
                    row += [
                        ms(statistics.median(timing.first)),
                        ms(p50),
                        ms(percentile(timing.total, 0.95)),
                        rate,
                        growth,
                    ]
                else:
                    row += [ms(p50), rate, growth]
            rows.append(row)
        report.table(header, rows)
        for label in labels:
            rss = ", ".join(f"{value:.0f}" for value in runs[label]["rss"])
            report.text(f"gunicorn workers' RSS after the run ({label}): {rss} MB.")
        report.text()
    if left_out:
        report.text(
            "Left out: " + "; ".join(f"{page.name} ({page.problem})" for page in left_out) + "."
        )
        report.text()

    labels = [label for label in runs if "concurrent" in runs[label]]
    if labels:
        report.text(
            f"### Concurrent ({args.concurrency} threads, every page and the floor "
            f"{args.repeat} times, every download {args.export_repeat} times)"
        )
        report.text()
        rows = []
        for label in labels:
            result = runs[label]["concurrent"]
            rows.append(
                [
                    label,
                    f"{result['requests']:,}",
                    f"{result['seconds']:.1f}",
                    f"{result['requests'] / result['seconds']:.1f}",
                    ms(result["p50"]),
                    ms(result["p95"]),
                    str(result["errors"]),
                ]
            )
        report.table(["Database", "Requests", "Seconds", "Requests/s", "p50 ms", "p95 ms",
                      "Errors"], rows)  # fmt: skip


def timing_cells(timing: Timing, base: float) -> list[str]:
    if not timing.total:
        return [f"{timing.errors} errors", "", ""]
    p50 = statistics.median(timing.total)
    cells = [ms(p50), ms(percentile(timing.total, 0.95)), f"{p50 / base:.1f}"]
    if timing.errors:
        cells[0] += f" ({timing.errors} errors)"
    return cells


# Mixed load -------------------------------------------------------------------------------

LOCUSTFILE = '''
"""The mixed load: practitioners (4 in 5) and managers reading their pages, practitioners
searching and, about 6 % of requests, recording an attempt to hold a return interview
through the real form (GET, then POST with the CSRF token)."""
import datetime as dt
import itertools
import random
import re
import zoneinfo

from locust import HttpUser, between, task

SETUP = {setup!r}
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LONDON = zoneinfo.ZoneInfo("Europe/London")
_next = itertools.count()


class Person(HttpUser):
    abstract = True
    wait_time = between(1, 4)
    who = ""

    def on_start(self):
        sessions = SETUP["sessions"][self.who]
        self.cookies = {{"session": sessions[next(_next) % len(sessions)]}}

    def header(self):
        # A connection a request, as through nginx's proxy_pass (no upstream keep-alive):
        # a kept connection that gunicorn closes during the think time is not an error.
        return {{"Cookie": "; ".join(self.cookies.values()), "Connection": "close"}}

    def keep(self, response):
        token = response.cookies.get(SETUP["csrf_cookie"])
        if token:
            self.cookies["csrf"] = f"{{SETUP['csrf_cookie']}}={{token}}"

    def get(self, path, name):
        response = self.client.get(path, name=name, headers=self.header())
        self.keep(response)
        return response

    def post(self, path, name, data):
        """The form's page, then the form sent back with its token; a redirect is success."""
        page = self.get(path, name)
        found = TOKEN.search(page.text)
        if not found:
            return None
        headers = {{**self.header(), "Referer": f"{{self.host}}{{path}}"}}
        with self.client.post(
            path, data={{**data, "csrfmiddlewaretoken": found[1]}}, name=name + " (POST)",
            headers=headers, allow_redirects=False, catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"HTTP {{response.status_code}}, not a redirect")
                return None
            response.success()
            return response.headers.get("Location")


class Practitioner(Person):
    weight = 4
    who = "practitioner"

    @task(18)
    def read(self):
        name, path = random.choice(SETUP["reads"]["practitioner"])
        self.get(path, name)

    @task(2)
    def search(self):
        found = self.post(SETUP["search"], "find a child", {{"q": random.choice(SETUP["words"])}})
        if found:
            self.get(found, "find a child: results")

    @task(2)
    def record_attempt(self):
        if not SETUP["writable"]:
            return
        episode = random.choice(SETUP["writable"])
        at = dt.datetime.now(LONDON) - dt.timedelta(minutes=5)
        self.post(SETUP["attempt"].format(episode), "record an interview attempt", {{
            "attempted_at_0": at.day, "attempted_at_1": at.month,
            "attempted_at_2": at.year, "attempted_at_3": at.strftime("%H:%M"),
            "method": random.choice(SETUP["methods"]),
            "outcome": random.choice(SETUP["outcomes"]),
            "notes": "Benchmark: no answer at the door",
        }})


class Manager(Person):
    weight = 1
    who = "manager"

    @task(100)
    def read(self):
        name, path = random.choice(SETUP["reads"]["manager"])
        self.get(path, name)

    @task(1)
    def download(self):
        """A download, about once in a hundred of a manager's clicks."""
        if SETUP["downloads"]:
            name, path = random.choice(SETUP["downloads"])
            self.get(path, name)
'''


def run_locust(args: argparse.Namespace, setup: dict) -> dict:
    from django.conf import settings

    # A session of its own for each simulated person.
    sessions = {
        "practitioner": [setup["signed_in"](setup["worker"])[0] for _ in range(args.locust_users)],
        "manager": [
            setup["signed_in"](setup["manager"])[0] for _ in range(max(1, args.locust_users // 4))
        ],
    }
    manager_reads = [(p.name, p.path) for p in setup["manager_reads"] if not p.download]
    downloads = [(p.name, p.path) for p in setup["manager_reads"] if p.download]
    given = {
        "sessions": sessions,
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
        "reads": {
            "practitioner": [(p.name, p.path) for p in setup["practitioner_reads"]],
            "manager": manager_reads,
            "downloads": downloads,
        },
        "search": setup["search"],
        "words": setup["search_words"],
        "writable": setup["writable"],
        "attempt": setup["attempt"],
        "methods": [str(m) for m in setup["methods"]],
        "outcomes": [str(o) for o in setup["outcomes"]],
    }
    seconds = int(args.locust_minutes * 60)
    print(f"Mixed load: {args.locust_users} users for {seconds} s (locust)", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        locustfile = Path(folder) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE.format(setup=given))
        prefix = str(Path(folder) / "stats")
        done = subprocess.run(  # noqa: S603
            [
                args.locust, "-f", str(locustfile), "--headless",
                "-u", str(args.locust_users), "-r", str(max(1, args.locust_users // 10)),
                "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{APP_PORT}",
                "--csv", prefix, "--only-summary", "--stop-timeout", "30",
            ],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        stats = Path(f"{prefix}_stats.csv")
        if not stats.exists():
            print(done.stderr[-3000:], file=sys.stderr)
            return {"problem": f"locust exited {done.returncode} without statistics"}
        rows = list(csv.DictReader(stats.open()))
        failures = Path(f"{prefix}_failures.csv")
        failed = list(csv.DictReader(failures.open())) if failures.exists() else []
    return {"rows": rows, "failures": failed, "seconds": seconds}


def write_locust(report: Report, result: dict, args: argparse.Namespace) -> None:
    report.text(
        f"### Mixed load (locust: {args.locust_users} people, 4 practitioners to 1 manager, "
        f"1 to 4 s between clicks, {args.locust_minutes:g} min, without the pool)"
    )
    report.text()
    if "problem" in result:
        report.text(result["problem"])
        report.text()
        return
    rows = result["rows"]
    total = next(row for row in rows if row["Name"] == "Aggregated")
    posts = [row for row in rows if row["Type"] == "POST"]
    writes = sum(int(r["Request Count"]) for r in posts if r["Name"].startswith("record"))
    searches = sum(int(r["Request Count"]) for r in posts) - writes
    count = int(total["Request Count"])
    report.table(
        ["Requests", "Writes", "Searches", "Errors", "p50 ms", "p95 ms", "Requests/s"],
        [
            [
                f"{count:,}",
                f"{writes:,} ({100 * writes / max(count, 1):.1f} %)",
                f"{searches:,}",
                total["Failure Count"],
                total["50%"],
                total["95%"],
                f"{float(total['Requests/s']):.1f}",
            ]
        ],
        left=0,
    )
    slow = sorted(
        (row for row in rows if row["Name"] != "Aggregated" and row["Request Count"] != "0"),
        key=lambda row: -float(row["95%"]),
    )[:5]
    report.text(
        "Writes: attempts to hold a return interview, posted through the form (a record and "
        "its history written, the protocol's events recorded); searches: the search form "
        "posted (the words kept in the session), then its results."
    )
    report.text(
        "Slowest under the load (p95): "
        + "; ".join(f"{row['Name']} {row['95%']} ms" for row in slow)
        + "."
    )
    for row in result["failures"][:5]:
        report.text(f"Error: {row['Method']} {row['Name']}: {row['Error']} ({row['Occurrences']})")
    report.text()


# The e-mail worker and the scheduler ------------------------------------------------------


def run_worker(report: Report, args: argparse.Namespace) -> None:
    from django.utils import timezone

    from notifications.models import Notification

    D = Notification.Delivery
    print(f"E-mail worker: {args.notifications} queued e-mails to a local SMTP sink", flush=True)
    rows = []
    runs = [batch.strip() for batch in args.worker_batches.split(",") if batch.strip()]
    for batch in runs:
        label = {"1": "one message a connection", "default": "batches (default size)"}.get(
            batch, f"batches of {batch}"
        )
        ids = list(
            Notification.objects.exclude(delivery__in=[D.QUEUED, D.SENDING])
            .order_by("?")
            .values_list("pk", flat=True)[: args.notifications]
        )
        Notification.objects.filter(pk__in=ids).update(
            delivery=D.QUEUED, next_attempt_at=timezone.now(), status="due",
            recipient_email="duty@synthetic.invalid", claimed_at=None, claimed_by="",
            attempt_count=0, failing_since=None,
        )  # fmt: skip
        before = SinkHandler.taken
        SinkHandler.first = 0.0
        env = {**os.environ, "EMAIL_SEND_BATCH": batch}
        if batch == "default":
            del env["EMAIL_SEND_BATCH"]
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", "send_notifications", "--once", "--worker-name", "bench"],
            cwd=ROOT, env=env, check=False, capture_output=True, text=True,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        sent = SinkHandler.taken - before
        # The command's whole run (starting Django included), and the worker at work:
        # from the first message the sink took to the last.
        working = SinkHandler.last - SinkHandler.first
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
        rows.append(
            [
                label,
                f"{sent:,}",
                f"{elapsed:.1f}",
                f"{sent / elapsed:,.0f}",
                f"{(sent - 1) / working:,.0f}" if sent > 1 and working > 0 else "-",
                "" if done.returncode == 0 else f"exit {done.returncode}",
            ]
        )
    report.text(f"### E-mail worker ({args.notifications:,} queued e-mails, local SMTP sink)")
    report.text()
    report.table(["How", "Sent", "Seconds", "A second", "A second, first to last", "Problem"], rows)


def run_scheduler(report: Report) -> None:
    from django.conf import settings
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from incidents.models import CaseEvent
    from notifications.engine import fire_timed_steps, outbox_mark, process_pending_events
    from notifications.models import ProcessedEvent
    from oversight.due import roll_places

    print("Scheduler: idle passes", flush=True)
    now = timezone.now()
    # Two full checks an interval apart, the last half an interval ago: the mark has
    # reached the latest event, and the passes timed are between full checks.
    started = time.perf_counter()
    outbox_mark(now - 1.5 * settings.OUTBOX_SWEEP_INTERVAL)
    outbox_mark(now - 0.5 * settings.OUTBOX_SWEEP_INTERVAL)
    full_check = (time.perf_counter() - started) * 500

    def timed(what: str, run) -> list[str]:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            run()
            times.append((time.perf_counter() - started) * 1000)
        return [what, ms(statistics.median(times)), ms(max(times))]

    unprocessed = CaseEvent.objects.filter(is_protocol=True).filter(
        ~Exists(ProcessedEvent.objects.filter(event_id=OuterRef("pk")))
    )
    rows = [
        timed("outbox events from the mark", process_pending_events),
        timed("timed steps", fire_timed_steps),
        # The first moves the start on by the time since the last pass (or the rebuild).
        timed("hotspots' tallies moved on", roll_places),
        timed(
            "full anti-join (every pass, before the mark)",
            lambda: list(unprocessed.order_by("id").values_list("id", flat=True)[:500]),
        ),
    ]
    report.text("### Scheduler, idle (nothing pending; 5 passes, ms)")
    report.text()
    report.table(["Step", "p50", "max"], rows)
    report.text(f"Full outbox check (hourly): {full_check:,.0f} ms each.")
    report.text()


if __name__ == "__main__":
    raise SystemExit(main())
