#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "missingkids.settings")
    # Commands typed by hand in a development checkout read its .env (DEBUG=true, written
    # by make install) when nothing else is configured: no ENV_FILE, and neither DEBUG nor
    # SECRET_KEY in the environment, which a production environment always sets. The
    # web server (wsgi.py, asgi.py) never reads a .env it is not told to.
    checkout_env = Path(__file__).resolve().parent / ".env"
    configured = {"ENV_FILE", "DEBUG", "SECRET_KEY"} & set(os.environ)
    if not configured and checkout_env.is_file():
        os.environ["ENV_FILE"] = str(checkout_env)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
