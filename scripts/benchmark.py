"""Measure the service at national scale: pages, CSV downloads, the e-mail worker, the
scheduler's idle pass and a mixed load, on PostgreSQL, under gunicorn, DEBUG off.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/missingkids_bench \\
        .venv/bin/python scripts/benchmark.py [--episodes 100000 --children 25000]
        [--repeat 15] [--concurrency 8] [--notifications 3000]
        [--locust /path/to/locust --locust-users 50 --locust-minutes 5] [--pool]

- Creates the database if missing, migrates it and fills it with
  ``generate_synthetic_data`` unless it already holds the episodes (a second run reuses
  it). Never point it at a database with real cases: it adds synthetic data, users and
  e-mails, and sends queued e-mails to its own sink.
- Runs gunicorn (``--gunicorn-workers`` processes of ``--gunicorn-threads`` threads) with
  the production settings (scripts/bench_settings.py: DEBUG off, static files
  collected, plus the floor view /bench-floor/: one indexed query over the episodes, the
  cheapest signed-in page there can be).
- Sequential: each page and download ``--repeat`` times, each request after a floor
  request; prints first byte and whole response p50/p95 (ms), queries (counted once
  in-process), rows a second for downloads, and the page's p50 over the floor's.
- Concurrent: ``--concurrency`` threads requesting every page in turn.
- The worker: ``--notifications`` queued e-mails sent to a local SMTP sink by
  ``send_notifications --once``, for each of ``--worker-batches`` (EMAIL_SEND_BATCH: 1 is
  one message a connection, as before batching; ``default`` the setting's default): the
  rate over the command's whole run, and from the first message the sink took to the
  last (the worker at work, without starting Django).
- The scheduler: an idle pass (outbox events, timed steps), and the full anti-join of
  events against receipts that every pass used to run.
- Mixed load with locust (requirements-bench.txt, its own virtualenv) if ``--locust``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
MANAGER_EMAIL = "benchmark.manager@synthetic.invalid"
PRACTITIONER_EMAIL = "benchmark.practitioner@synthetic.invalid"
SINK_PORT = 8625
APP_PORT = 8626

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "scripts.bench_settings",
    "DEBUG": "false",
    "SECRET_KEY": "benchmark-only-secret-key-not-used-anywhere-else-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "SECURE_SSL_REDIRECT": "false",
    "EMAIL_URL": f"smtp://127.0.0.1:{SINK_PORT}",
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
    server = socketserver.ThreadingTCPServer(("127.0.0.1", SINK_PORT), SinkHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# HTTP --------------------------------------------------------------------------------------


def fetch(path: str, cookie: str) -> tuple[float, float, int, int]:
    """(first byte ms, whole response ms, status, lines)."""
    conn = http.client.HTTPConnection("127.0.0.1", APP_PORT, timeout=600)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie, "X-Forwarded-Proto": "https"})
    response = conn.getresponse()
    first = response.read(1)
    first_byte = time.perf_counter() - started
    lines = first.count(b"\n")
    while chunk := response.read(65536):
        lines += chunk.count(b"\n")
    total = time.perf_counter() - started
    conn.close()
    return first_byte * 1000, total * 1000, response.status, lines


def wait_for_app() -> None:
    for _ in range(240):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", APP_PORT, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status in (200, 503):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("gunicorn did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--children", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=15)
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
    parser.add_argument("--pool", action="store_true", help="DATABASE_POOL=true")
    parser.add_argument("--locust", default="", help="The locust program (its own venv).")
    parser.add_argument("--locust-users", type=int, default=50)
    parser.add_argument("--locust-minutes", type=float, default=5)
    parser.add_argument("--skip", default="", help="Comma list: pages,worker,scheduler")
    parser.add_argument("--only", default="", help="Only the pages whose name contains this")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL database.", file=sys.stderr)
        return 2
    ensure_database(url)
    os.environ.update(PRODUCTION)
    if args.pool:
        os.environ["DATABASE_POOL"] = "true"
    os.environ["BENCH_STATIC_ROOT"] = tempfile.mkdtemp(prefix="missingkids-bench-static-")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from incidents.models import CaseEvent, Child, Episode
    from missingkids.accounts.models import Agency, User
    from notifications.models import Notification, ProcessedEvent
    from oversight.views import LISTS

    call_command("migrate", verbosity=0)
    have = Episode.objects.count()
    if have < args.episodes:
        print(f"{have} episodes: generating {args.episodes - have}")
        started = time.perf_counter()
        call_command(
            "generate_synthetic_data",
            children=args.children * (args.episodes - have) // args.episodes,
            episodes=args.episodes - have,
        )
        print(f"Generated in {time.perf_counter() - started:.0f} s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    call_command("collectstatic", interactive=False, verbosity=0)

    busiest = (
        Child.objects.values("responsible_area")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("responsible_area", flat=True)
        .first()
    )
    agency = Agency.objects.filter(
        kind=Agency.Kind.LOCAL_AUTHORITY, areas=busiest, active=True
    ).first()

    def person(email: str, role: str) -> tuple[User, str, Client]:
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email, password=None, name=email.split("@")[0], agency=agency, role=role
        )
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        device = device or TOTPDevice.objects.create(user=user, name="Benchmark", confirmed=True)
        client = Client()
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return user, f"{settings.SESSION_COOKIE_NAME}={session.session_key}", client

    _manager, manager_cookie, manager_client = person(MANAGER_EMAIL, User.Role.MANAGER)
    _worker, worker_cookie, worker_client = person(PRACTITIONER_EMAIL, User.Role.PRACTITIONER)

    # The busiest child of the area: the heaviest child page, and its latest episode.
    child = (
        Child.objects.filter(responsible_area=busiest)
        .annotate(n=Count("episodes"))
        .order_by("-n")
        .first()
    )
    episode = Episode.objects.filter(child=child).order_by("-last_seen_at").first()
    practitioner = [
        ("child page (busiest)", reverse("incidents:child_detail", args=[child.pk])),
        ("episode page", reverse("incidents:episode_detail", args=[episode.pk])),
        ("child search", reverse("incidents:child_search")),
        ("open episodes", reverse("incidents:episode_list_open")),
        ("recent work", reverse("incidents:recent_work")),
        ("agency work", reverse("agency_work:list")),
    ]
    manager = [
        ("dashboard", reverse("oversight:dashboard")),
        ("measures", reverse("oversight:measures")),
        *((page.slug, reverse(page.url_name)) for page in LISTS),
    ]
    exports = [(f"{page.slug}.csv", f"{reverse(page.url_name)}?format=csv") for page in LISTS] + [
        ("measures.csv", f"{reverse('oversight:measures')}?format=csv")
    ]
    floor = reverse("bench_floor")
    practitioner = [p for p in practitioner if args.only in p[0]]
    manager = [p for p in manager if args.only in p[0]]
    exports = [p for p in exports if args.only in p[0]]
    pages = [(n, p, worker_cookie, worker_client) for n, p in practitioner] + [
        (n, p, manager_cookie, manager_client) for n, p in manager + exports
    ]
    print(
        f"\n{Episode.objects.count():,} episodes, {Child.objects.count():,} children, "
        f"{CaseEvent.objects.count():,} case events, {Notification.objects.count():,} "
        f"notifications; people at {agency}; child page: {child.n} episodes"
    )

    server = None
    if "pages" not in skip or args.locust:
        env = {**os.environ}
        server = subprocess.Popen(  # noqa: S603
            [
                GUNICORN, "missingkids.wsgi", "-b", f"127.0.0.1:{APP_PORT}",
                "-w", str(args.gunicorn_workers), "-k", "gthread",
                "--threads", str(args.gunicorn_threads), "--timeout", "600",
                "--log-level", "warning",
            ],
            cwd=ROOT, env=env,
        )  # fmt: skip
        wait_for_app()
        print("gunicorn is up", flush=True)
    try:
        if "pages" not in skip:
            run_pages(pages, floor, manager_cookie, args, CaptureQueriesContext, connection)
        if args.locust:
            run_locust(args, pages, floor)
    finally:
        if server is not None:
            server.terminate()
            server.wait()

    if "worker" not in skip:
        run_worker(args, Notification, timezone)
    if "scheduler" not in skip:
        run_scheduler(connection, CaseEvent, ProcessedEvent)
    return 0


def run_pages(pages, floor, floor_cookie, args, capture, connection) -> None:
    queries: dict[str, int] = {}
    for name, path, _cookie, client in pages:
        with capture(connection) as captured:
            response = client.get(path)
            if getattr(response, "streaming", False):
                b"".join(response.streaming_content)
        if response.status_code != 200:
            raise SystemExit(f"{name}: HTTP {response.status_code}")
        queries[name] = len(captured)
        print(f"  {name}: {len(captured)} queries", flush=True)
    for _name, path, cookie, _client in pages:  # warm up every worker
        for _ in range(args.gunicorn_workers):
            fetch(path, cookie)
            fetch(floor, floor_cookie)

    print(f"\nSequential, {args.repeat} requests each, each after a floor request")
    floors: list[float] = []
    results: dict[str, list[tuple[float, float, int]]] = {}
    for _ in range(args.repeat):
        for name, path, cookie, _client in pages:
            floors.append(fetch(floor, floor_cookie)[1])
            first, total, status, lines = fetch(path, cookie)
            if status != 200:
                raise SystemExit(f"{name}: HTTP {status}")
            results.setdefault(name, []).append((first, total, lines))
    base = statistics.median(floors)
    print(f"floor: p50 {base:.1f} ms, p95 {percentile(floors, 0.95):.1f} ms (1 query)")
    header = f"{'page':<34}{'first p50':>10}{'p50 ms':>9}{'p95 ms':>9}{'queries':>8}"
    print(header + f"{'x floor':>9}{'rows/s':>10}")
    for name, _path, _cookie, _client in pages:
        firsts = [r[0] for r in results[name]]
        totals = [r[1] for r in results[name]]
        p50 = statistics.median(totals)
        rows = ""
        if name.endswith(".csv"):
            lines = results[name][0][2] - 1
            rows = f"{lines / (p50 / 1000):,.0f}" if lines > 0 else "0 rows"
        print(
            f"{name:<34}{statistics.median(firsts):>10.1f}{p50:>9.1f}"
            f"{percentile(totals, 0.95):>9.1f}{queries[name]:>8}{p50 / base:>9.1f}{rows:>10}"
        )

    print(f"\nConcurrent: {args.concurrency} at once, every page {args.repeat} times")
    work = [(n, p, c) for _ in range(args.repeat) for n, p, c, _client in pages]
    work += [("floor", floor, floor_cookie)] * args.repeat
    timings: dict[str, list[float]] = {}
    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        for name, (_first, total, status, _lines) in zip(
            [w[0] for w in work], pool.map(lambda w: fetch(w[1], w[2]), work), strict=True
        ):
            if status != 200:
                raise SystemExit(f"{name}: HTTP {status}")
            timings.setdefault(name, []).append(total)
    elapsed = time.perf_counter() - started
    print(f"{len(work)} requests in {elapsed:.1f} s: {len(work) / elapsed:.1f} a second")
    base = statistics.median(timings["floor"])
    for name in ["floor", *(n for n, _p, _c, _cl in pages)]:
        p50 = statistics.median(timings[name])
        print(f"{name:<34}{p50:>9.1f}{percentile(timings[name], 0.95):>9.1f}{p50 / base:>9.1f}")


LOCUSTFILE = """
import os, random
from locust import HttpUser, between, task
PAGES = {pages!r}
class Person(HttpUser):
    wait_time = between(1, 3)
    @task
    def page(self):
        name, path, cookie = random.choice(PAGES)
        self.client.get(path, name=name, headers={{"Cookie": cookie, "X-Forwarded-Proto": "https"}})
"""


def run_locust(args, pages, floor) -> None:
    listed = [(n, p, c) for n, p, c, _client in pages]
    with tempfile.TemporaryDirectory() as folder:
        locustfile = Path(folder) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE.format(pages=listed))
        prefix = str(Path(folder) / "stats")
        seconds = int(args.locust_minutes * 60)
        print(f"\nMixed load: {args.locust_users} users for {seconds} s (locust)")
        subprocess.run(  # noqa: S603
            [
                args.locust, "-f", str(locustfile), "--headless", "-u", str(args.locust_users),
                "-r", "10", "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{APP_PORT}",
                "--csv", prefix, "--only-summary",
            ],
            check=False, capture_output=True,
        )  # fmt: skip
        import csv

        with open(f"{prefix}_stats.csv") as handle:
            for row in csv.DictReader(handle):
                if row["Name"] == "Aggregated":
                    print(
                        f"requests {row['Request Count']}, errors {row['Failure Count']}, "
                        f"p50 {row['50%']} ms, p95 {row['95%']} ms, "
                        f"{float(row['Requests/s']):.1f} a second"
                    )


def run_worker(args, Notification, timezone) -> None:
    sink = start_sink()
    D = Notification.Delivery
    print(f"\nE-mail worker: {args.notifications} queued e-mails to a local SMTP sink")
    try:
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
            started = time.perf_counter()
            env = {**os.environ, "EMAIL_SEND_BATCH": batch}
            if batch == "default":
                del env["EMAIL_SEND_BATCH"]
            subprocess.run(  # noqa: S603
                [PYTHON, "manage.py", "send_notifications", "--once", "--worker-name", "bench"],
                cwd=ROOT, env=env, check=True, capture_output=True,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            sent = SinkHandler.taken - before
            # The command's whole run (starting Django included), and the worker at work:
            # from the first message the sink took to the last.
            working = SinkHandler.last - SinkHandler.first
            print(
                f"{label:<28}{sent} sent in {elapsed:.1f} s: {sent / elapsed:,.0f} a second; "
                f"{(sent - 1) / working:,.0f} a second from the first message to the last"
                if sent > 1 and working > 0
                else f"{label:<28}{sent} sent in {elapsed:.1f} s"
            )
    finally:
        sink.shutdown()


def run_scheduler(connection, CaseEvent, ProcessedEvent) -> None:
    from django.conf import settings
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from notifications.engine import fire_timed_steps, outbox_mark, process_pending_events

    now = timezone.now()
    # Two full checks an interval apart, the last half an interval ago: the mark has
    # reached the latest event, and the passes timed are between full checks.
    started = time.perf_counter()
    outbox_mark(now - 1.5 * settings.OUTBOX_SWEEP_INTERVAL)
    outbox_mark(now - 0.5 * settings.OUTBOX_SWEEP_INTERVAL)
    print(f"\nTwo full outbox checks (hourly): {(time.perf_counter() - started) * 500:.0f} ms each")
    print("Scheduler, idle (nothing pending), 5 passes")

    def timed(what, run) -> None:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            run()
            times.append((time.perf_counter() - started) * 1000)
        print(f"{what:<44}p50 {statistics.median(times):>8.1f} ms, max {max(times):>8.1f} ms")

    timed("outbox events from the mark", process_pending_events)
    timed("timed steps", fire_timed_steps)
    unprocessed = CaseEvent.objects.filter(is_protocol=True).filter(
        ~Exists(ProcessedEvent.objects.filter(event_id=OuterRef("pk")))
    )
    timed(
        "full anti-join (every pass, before)",
        lambda: list(unprocessed.order_by("id").values_list("id", flat=True)[:500]),
    )


if __name__ == "__main__":
    raise SystemExit(main())
