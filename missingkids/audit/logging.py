"""Keep personal data out of the logs."""

from __future__ import annotations

import logging
import traceback


class WithholdExceptionMessages(logging.Filter):
    """Log an error's traceback without the exception's message.

    Messages can carry what was being saved: a database error quotes the duplicate
    NHS number, a validation error the value typed. The traceback (file, line,
    function) and the exception's type are enough to find the fault; the request path
    logged with it names records by id only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            kind, _value, tb = record.exc_info
            frames = "".join(traceback.format_tb(tb))
            record.exc_text = (
                f"Traceback (most recent call last):\n{frames}"
                f"{kind.__module__}.{kind.__qualname__}: (message withheld)"
            )
            record.exc_info = None
        return True
