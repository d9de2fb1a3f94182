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


HOOK_PATH = re.compile(r"^/hooks/([^/?]{0,4})[^/?]*")
"""A webhook's URL: its slug is its secret (see :mod:`legato.schemas.webhooks`)."""


def hide_slug(path: str) -> str:
    """``/hooks/9Xo2...`` for ``/hooks/<slug>``: logs keep what ``legato webhook ls`` shows,
    never a URL that works."""
    return HOOK_PATH.sub(r"/hooks/\1...", path)


class HiddenSlugs(logging.Filter):
    """Shortens webhook slugs in uvicorn's access lines (see :func:`hide_slug`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) >= 3 else None
        if isinstance(args, tuple) and isinstance(path, str) and path.startswith("/hooks/"):
            record.args = (*args[:2], hide_slug(path), *args[3:])
        return True


def hide_webhook_slugs() -> None:
    """Install :class:`HiddenSlugs` on uvicorn's access logger (at every level)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HiddenSlugs) for f in logger.filters):
        logger.addFilter(HiddenSlugs())
