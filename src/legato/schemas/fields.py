"""The field types of the wire records: what a run's id, name, time and count may be.

Shared by every record a client sends (:mod:`legato.schemas.task_runs`,
:mod:`legato.schemas.flow_runs`) and by the server's routes, so a limit is stated
once: a value the store cannot hold (a NUL, a time past year 9999, an integer past
32 bits) is refused where it enters, with the field named, instead of failing the
write or every later read of the run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from legato.text import clean_text

NO_NUL_PATTERN = r"^[^\x00]*$"
"""PostgreSQL text cannot hold NUL characters; refuse them up front on every backend."""

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""Run ids are UUID-shaped (see :mod:`legato.ids`); anything else is answered 422."""

MAX_TIMESTAMP = 253_402_300_799.0  # 9999-12-31T23:59:59Z
MAX_INT = 2**31 - 1


def _clean(value: Any) -> Any:
    # Free text that is not valid Unicode (a lone surrogate, from a file name that is
    # not UTF-8, sent escaped as "\udce9"), or that holds NUL (PostgreSQL text cannot):
    # stored with each such character replaced, the rest kept.
    return clean_text(value) if isinstance(value, str) else value


Id = Annotated[str, Field(pattern=UUID_PATTERN)]
Text = Annotated[str, BeforeValidator(_clean)]
"""Free text, cleaned (not refused) when it is not valid Unicode or holds NUL."""
Time = Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)]
"""Epoch seconds that a datetime can hold (read back as one: a larger value would
make every later read of the run fail)."""
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
"""The store's integer columns are 32-bit on PostgreSQL."""
Name = Annotated[str, BeforeValidator(_clean), Field(max_length=255, pattern=NO_NUL_PATTERN)]
StateName = Annotated[str, Field(max_length=32, pattern=NO_NUL_PATTERN)]
Key = Annotated[str, Field(max_length=512, pattern=NO_NUL_PATTERN)]
"""A task key, cache key or result key (the store's 512-character columns)."""


def _iso_only(value: Any) -> Any:
    """A number is not a time here: pydantic would read ``196`` as a Unix timestamp,
    which the schema (``format: date-time``) does not allow and no one means."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError(f"{value!r} is a number, not an ISO 8601 time such as 2026-12-01T09:00")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_only)]
"""A query's time: ISO 8601 text only (no offset: UTC)."""
