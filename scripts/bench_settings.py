"""Production settings for scripts/benchmark.py: the service's own settings (run with
DEBUG off, as deployed), static files collected to a folder of the benchmark's own, and
a URL configuration that adds the benchmark's floor view."""

import os

from missingkids.settings import *  # noqa: F403

ROOT_URLCONF = "scripts.bench_urls"
STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
