"""Concurrency limits: tag limits and their leases, work pools and their limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from legato.schemas.deployments import NAME_PATTERN

NO_NUL = r"^[^\x00]+$"
Tag = Annotated[str, Field(min_length=1, max_length=255, pattern=NO_NUL)]
RunId = Annotated[str, Field(min_length=1, max_length=36, pattern=NO_NUL)]
Limit = Annotated[int, Field(ge=1, le=1_000_000, description="Most runs at once (at least 1).")]
LIMIT_TAG_PATTERN = r"^([^\x00.][^\x00]*|\.[^\x00.][^\x00]*|\.\.[^\x00]+)$"
"""A limited tag is a URL path (``/api/concurrency_limits/{tag}``), where ``.`` and ``..``
vanish before the server sees them: such a limit could be made but never read or deleted."""
LimitTag = Annotated[str, Field(min_length=1, max_length=255, pattern=LIMIT_TAG_PATTERN)]


class ConcurrencyLimitSpec(BaseModel):
    """Create a tag limit, or change the limit of an existing one."""

    model_config = ConfigDict(extra="forbid")

    tag: LimitTag
    limit: Limit


class ConcurrencyLimitRecord(BaseModel):
    tag: str
    limit: int
    active_slots: int = Field(description="Leases held now (expired ones are not counted).")
    holders: list[str] = Field(default_factory=list, description="Task run ids holding a slot.")
    created: datetime


class LeaseRequest(BaseModel):
    """Ask for one slot of each tag, for one task run, until ``ttl`` seconds from now."""

    model_config = ConfigDict(extra="forbid")

    tags: Annotated[list[Tag], Field(min_length=1, max_length=100)]
    task_run_id: RunId
    flow_run_id: RunId
    holder: Annotated[str, Field(min_length=1, max_length=255, pattern=NO_NUL)]
    ttl: Annotated[float, Field(gt=0, le=86_400, strict=True)]


class LeaseAnswer(BaseModel):
    acquired: bool
    """All slots held (``blocked`` is empty), or none (each full tag is in ``blocked``)."""
    blocked: list[str] = Field(default_factory=list)


class LeaseRenewal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_run_ids: Annotated[list[RunId], Field(max_length=10_000)]
    ttl: Annotated[float, Field(gt=0, le=86_400, strict=True)]


class LeaseRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_run_ids: Annotated[list[RunId], Field(max_length=10_000)]


class WorkPoolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
    concurrency_limit: Limit | None = None


class WorkPoolLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concurrency_limit: Limit | None = Field(description="Most active runs; null for no limit.")


class WorkPoolRecord(BaseModel):
    name: str
    concurrency_limit: int | None
    paused: bool
    active_runs: int = Field(description="Runs of the pool now Pending, Running or Cancelling.")
    created: datetime
