"""Deployments: what is sent to create or update one, and what is read back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from legato.text import require_storable

NAME_PATTERN = r"^([^/\x00.][^/\x00]*|\.[^/\x00.][^/\x00]*|\.\.[^/\x00]+)$"
"""Deployment and flow names are joined as ``flow/deployment``: no slash, no NUL. Names
are also path segments of URLs (``/api/work_pools/{pool}/claim``), where ``.`` and ``..``
are taken away before the server sees them: those two names are refused."""

Name = Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]


Zone = Annotated[
    str, Field(max_length=64, pattern=r"^[^\x00]+$", description="An IANA time zone name.")
]


class CronSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["cron"]
    expr: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]+$")] = Field(
        description="Five fields (minute hour day-of-month month day-of-week) or @daily etc."
    )
    timezone: Zone = "UTC"
    day_or: bool = True


class IntervalSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["interval"]
    every: Annotated[float, Field(gt=0, le=10 * 366 * 86400)] = Field(
        description="Seconds between runs, in elapsed time."
    )
    anchor: datetime | None = Field(default=None, description="The first run; slots follow.")
    timezone: Zone = "UTC"


class RRuleSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["rrule"]
    rule: Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]+$")] = Field(
        description="RFC 5545: optional DTSTART line, then the RRULE."
    )
    timezone: Zone = "UTC"


ScheduleSpec = Annotated[
    CronSchedule | IntervalSchedule | RRuleSchedule, Field(discriminator="kind")
]
"""The JSON form of a ``legato.schedules`` value (its ``to_dict``)."""


class DeploymentSchedule(BaseModel):
    """One schedule of a deployment."""

    model_config = ConfigDict(extra="forbid")

    schedule: ScheduleSpec
    active: bool = True


class DeploymentSpec(BaseModel):
    """Everything a deployment is; sending it again for the same flow and name updates
    that deployment in place (its id, its past runs and its paused flag stay)."""

    model_config = ConfigDict(extra="forbid")

    flow_name: Name
    name: Name
    entrypoint: Annotated[str, Field(min_length=3, max_length=4096, pattern=r"^[^\x00]+:[^\x00]+$")]
    work_pool: Name = "default"
    parameters: dict[str, Any] = {}
    parameter_schema: dict[str, Any] | None = Field(
        default=None,
        description="JSON Schema of the flow's parameters; runs are checked against it.",
    )
    tags: list[Annotated[str, Field(max_length=255, pattern=r"^[^\x00]*$")]] = []
    description: Annotated[str, Field(max_length=10_000, pattern=r"^[^\x00]*$")] | None = None
    concurrency_limit: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    retries: Annotated[int, Field(ge=0, le=1000)] = 0
    catchup: bool = Field(
        default=False,
        description="After downtime: run every missed slot (true) or only the next (false).",
    )
    schedules: list[DeploymentSchedule] = []

    @model_validator(mode="after")
    def _storable(self) -> DeploymentSpec:
        # Text the store cannot hold (a lone surrogate, from a name that is not UTF-8):
        # refused here, naming the field, rather than a 500 now or on every later read.
        require_storable(self.model_dump(mode="json"))
        return self


class ScheduleRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    schedule: dict[str, Any]
    active: bool


class DeploymentRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    flow_name: str
    name: str
    entrypoint: str
    work_pool: str
    parameters: dict[str, Any]
    parameter_schema: dict[str, Any] | None = None
    tags: list[str] = []
    description: str | None = None
    concurrency_limit: int | None = None
    retries: int = 0
    catchup: bool = False
    paused: bool = False
    schedules: list[ScheduleRecord] = []
    created: datetime
    updated: datetime

    @property
    def full_name(self) -> str:
        """``flow/deployment``, how commands name it."""
        return f"{self.flow_name}/{self.name}"


class DeploymentRunRequest(BaseModel):
    """Ask for a run of a deployment now (or at ``scheduled_time``)."""

    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = Field(
        default={}, description="Merged over the deployment's own parameters."
    )
    scheduled_time: datetime | None = Field(
        default=None, description="When it is due; default: now."
    )
    idempotency_key: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = None
    tags: list[Annotated[str, Field(max_length=255, pattern=r"^[^\x00]*$")]] = []

    @model_validator(mode="after")
    def _storable(self) -> DeploymentRunRequest:
        require_storable(self.model_dump(mode="json"))
        return self


class BackfillRequest(BaseModel):
    """Make runs for the past slots of a deployment's schedules in [start, end)."""

    model_config = ConfigDict(extra="forbid")

    start: datetime = Field(description="First slot time included (with a time zone).")
    end: datetime = Field(description="Slots before this time; not in the future.")


class BackfillResult(BaseModel):
    """What a backfill made: ``created`` new runs for ``slots`` slots (the others existed
    already, made by the scheduler or an earlier backfill)."""

    model_config = ConfigDict(frozen=True)

    deployment_id: str
    start: datetime
    end: datetime
    slots: int
    created: int
    runs: list[str] = Field(default=[], description="Ids of the runs made, oldest slot first.")
