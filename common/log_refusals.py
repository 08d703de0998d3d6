"""Expected refusals logged as what they are: one WARNING line, no traceback.

Django answers a SuspiciousOperation (a Host header not in ALLOWED_HOSTS, a path that leaves the
media folder, a body over DATA_UPLOAD_MAX_MEMORY_SIZE...) with a 400 and logs it on
`django.security.<its class>` at ERROR with the whole traceback. Each one is anyone's request
refused as it should be, not a fault of the shop: a scanner sending a few hundred of them
buried the log's real errors under their tracebacks.
"""

from __future__ import annotations

import logging

from django.core.exceptions import SuspiciousOperation

# Django's SuspiciousOperation subclasses (core, sessions, admin), each logged on
# django.security.<name>; a filter on a logger applies to its own records only, not to its
# children's, so each is named.
REFUSAL_LOGGERS = [
    f"django.security.{name}"
    for name in (
        "SuspiciousOperation",
        "DisallowedHost",
        "DisallowedRedirect",
        "SuspiciousFileOperation",
        "SuspiciousMultipartForm",
        "RequestDataTooBig",
        "TooManyFieldsSent",
        "TooManyFilesSent",
        "SuspiciousSession",
        "InvalidSessionKey",
        "DisallowedModelAdminLookup",
        "DisallowedModelAdminToField",
    )
]


class RefusalAsWarning(logging.Filter):
    """A record of a SuspiciousOperation becomes one WARNING line without its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, SuspiciousOperation):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True
