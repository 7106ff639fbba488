"""Time every manager page on a PostgreSQL database holding 100,000 synthetic episodes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/missingkids_bench \\
        .venv/bin/python scripts/benchmark_manager_pages.py [--repeat 20] [--episodes 100000]

Creates the database if it does not exist, migrates it, and fills it with
``manage.py generate_synthetic_data`` unless it already holds the episodes (so a second
run reuses it). A manager of the largest local authority signs in through the test client
(with the second factor marked done, as the tests do), each page is requested
``--repeat`` times, and the median and 95th percentile are printed, then the
EXPLAIN ANALYZE plan of the slowest query of the slowest page.

Never point it at a database with real cases: it adds synthetic data and a user.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "missingkids.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

BENCHMARK_EMAIL = "benchmark.manager@synthetic.invalid"


def ensure_database(url: str) -> None:
    """CREATE DATABASE if it is missing (connecting to the server's "postgres" database)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            print(f"Creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--children", type=int, default=25_000)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL database, e.g.", file=sys.stderr)
        print(
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/missingkids_bench", file=sys.stderr
        )
        return 2
    ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from incidents.models import Child, Episode
    from missingkids.accounts.models import Agency, User
    from oversight.views import LISTS

    # So responses carry their template context (the row counts printed below).
    setup_test_environment()
    call_command("migrate", verbosity=0)
    have = Episode.objects.count()
    if have < args.episodes:
        print(f"{have} episodes: generating {args.episodes} (this takes a few minutes)")
        started = time.perf_counter()
        call_command(
            "generate_synthetic_data", children=args.children, episodes=args.episodes - have
        )
        print(f"Generated in {time.perf_counter() - started:.0f} s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        print(f"Reusing the {have} episodes already in the database")

    # A manager of the local authority responsible for the most children.
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
    manager = User.objects.filter(email=BENCHMARK_EMAIL).first()
    if manager is None:
        manager = User.objects.create_user(
            BENCHMARK_EMAIL,
            password=None,
            name="Benchmark Manager",
            agency=agency,
            role=User.Role.MANAGER,
        )
    client = Client()
    client.force_login(manager)
    device = TOTPDevice.objects.filter(user=manager, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=manager, name="Benchmark", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    pages = [
        ("dashboard", reverse("oversight:dashboard")),
        ("measures", reverse("oversight:measures")),
        *((page.slug, reverse(page.url_name)) for page in LISTS),
    ]
    visible = Child.objects.filter(responsible_area=busiest).count()
    print(
        f"\n{Episode.objects.count()} episodes, {Child.objects.count()} children; manager at "
        f"{agency} ({visible} children in its area); {args.repeat} requests a page\n"
    )
    print(f"{'page':<28}{'median ms':>10}{'p95 ms':>10}{'queries':>9}{'rows':>8}")
    results = []
    for name, path in pages:
        response = client.get(path)  # warm up
        if response.status_code != 200:
            print(f"{name}: HTTP {response.status_code}", file=sys.stderr)
            return 1
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        page = response.context.get("page")
        rows = page.paginator.count if page is not None else ""
        median = statistics.median(timings)
        results.append((median, name, list(captured.captured_queries)))
        print(
            f"{name:<28}{median:>10.1f}{percentile(timings, 0.95):>10.1f}"
            f"{len(captured):>9}{rows!s:>8}"
        )

    median, name, queries = max(results, key=lambda item: item[0])
    slowest = max(queries, key=lambda q: float(q["time"]))
    print(f"\nSlowest page: {name} ({median:.1f} ms median).")
    print(f"Its slowest query ({float(slowest['time']) * 1000:.1f} ms):\n{slowest['sql']}\n")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        for (line,) in cursor.fetchall():
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
