"""Quiet access lines: a worker long-polls for runs and heartbeats every few seconds, and
an access line for each would bury the lines people read (the worker's, errors).

Those requests are logged only at ``--log-level debug``; a failed one (4xx/5xx) always is.
"""

from __future__ import annotations

import logging
import re

POLLED_PATHS = re.compile(r"^/api/(work_pools/[^/?]+/claim|workers/heartbeat)(\?|$)")
"""Requests workers repeat on a timer: claims (long polls) and heartbeats."""


class QuietPolls(logging.Filter):
    """Drops uvicorn's access lines of successful polls (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) < 5:
            return True
        path, status = args[2], args[4]
        if not isinstance(path, str) or not POLLED_PATHS.match(path):
            return True
        return isinstance(status, int) and status >= 400


def quiet_polls_unless_debug(log_level: str) -> None:
    """Install the filter on uvicorn's access logger unless the level is debug."""
    logger = logging.getLogger("uvicorn.access")
    for existing in [f for f in logger.filters if isinstance(f, QuietPolls)]:
        logger.removeFilter(existing)
    if log_level.lower() not in ("debug", "trace"):
        logger.addFilter(QuietPolls())
