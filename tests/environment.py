"""Loaded by pytest (``-p tests.environment``) before Django reads its settings.

Tests run with the development defaults, so a developer needs no configuration; the
production behaviour of the settings is tested in a subprocess with its own environment.
"""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789abcdef")
