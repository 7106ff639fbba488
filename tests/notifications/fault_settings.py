"""Settings for a worker run as a separate process by the fault tests: the test's
database, and the sink mail backend of tests.notifications.fault_mail."""

import os

from missingkids.settings import *  # noqa: F403
from missingkids.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["FAULT_DATABASE_NAME"]
MAILERS = {"default": {"BACKEND": "tests.notifications.fault_mail.SubprocessSinkBackend"}}
