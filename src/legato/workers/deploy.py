"""``flow.deploy(...)``: describe a deployment from a flow object and send it.

Everything checkable here is checked before anything is sent: the schedule
(``legato.schedules`` names the bad part), the default parameters against the
flow's signature, and that the flow can be imported again from its entrypoint
(a worker will do exactly that, with the same loader: that is why deploying lives
with the workers, and ``Flow.deploy`` reaches it through :mod:`legato.sdk.deploying`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from legato.errors import LegatoError
from legato.workers.entrypoints import load_flow

if TYPE_CHECKING:
    from legato.orchestrator.protocol import ApiClient
    from legato.schedules import Schedule
    from legato.schemas.deployments import DeploymentRecord
    from legato.sdk.flows import Flow


def build_schedules(
    *,
    cron: str | None = None,
    interval: float | timedelta | None = None,
    rrule: str | None = None,
    timezone: str | None = None,
    anchor: datetime | None = None,
    schedules: Sequence[Schedule] = (),
) -> list[Schedule]:
    """The schedules named by the shorthand keywords plus any given as objects."""
    from legato.schedules import Cron, Interval, RRule

    zone = timezone or "UTC"
    built: list[Schedule] = list(schedules)
    if cron is not None:
        built.append(Cron(cron, timezone=zone))
    if interval is not None:
        built.append(Interval(interval, anchor=anchor, timezone=zone))
    if rrule is not None:
        built.append(RRule(rrule, timezone=zone))
    return built


def parameter_schema(flow: Flow[Any, Any]) -> dict[str, Any] | None:
    """JSON Schema of the flow's parameters, or None when a type has no JSON form or the
    schema is one the server would refuse (a pattern RE2 cannot match, say): then the
    flow process checks parameters when the run starts."""
    from legato.schemas.json_schema import check_schema

    try:
        schema: dict[str, Any] = flow.parameter_model.model.model_json_schema()
        check_schema(schema)
    except Exception:  # no JSON form (pydantic) or refused (ParameterSchemaError)
        return None
    return schema


def deploy_flow(
    flow: Flow[Any, Any],
    *,
    name: str,
    work_pool: str = "default",
    cron: str | None = None,
    interval: float | timedelta | None = None,
    rrule: str | None = None,
    timezone: str | None = None,
    anchor: datetime | None = None,
    schedules: Sequence[Schedule] = (),
    parameters: dict[str, Any] | None = None,
    tags: Iterable[str] = (),
    description: str | None = None,
    concurrency_limit: int | None = None,
    retries: int = 0,
    catchup: bool = False,
    entrypoint: str | None = None,
    triggers: Sequence[Any] | None = None,
    orchestrator: ApiClient | None = None,
) -> DeploymentRecord:
    from legato.schemas.deployments import DeploymentSchedule, DeploymentSpec

    where = entrypoint or flow.entrypoint
    if where is None:
        raise LegatoError(
            f"flow {flow.name!r} has no file to run it from (defined interactively?); "
            "define it in a .py file, or pass entrypoint='path/to/file.py:function'"
        )
    path, _, attribute = where.rpartition(":")
    if path.endswith(".py"):
        where = f"{os.path.abspath(path)}:{attribute}"
    if "<locals>" in attribute:
        raise LegatoError(
            f"flow {flow.name!r} is defined inside a function ({attribute}); a worker can "
            "only import flows defined at the top level of a file"
        )
    loaded = load_flow(where)  # what a worker will do; fails here, not at 2 am
    if loaded.name != flow.name and entrypoint is None:
        raise LegatoError(f"entrypoint {where!r} names flow {loaded.name!r}, not {flow.name!r}")
    chosen = build_schedules(
        cron=cron,
        interval=interval,
        rrule=rrule,
        timezone=timezone,
        anchor=anchor,
        schedules=schedules,
    )
    from legato.sdk.parameters import jsonable

    spec = DeploymentSpec(
        flow_name=loaded.name,
        name=name,
        entrypoint=where,
        work_pool=work_pool,
        parameters=jsonable(dict(parameters or {})),
        parameter_schema=parameter_schema(loaded),
        tags=list(tags),
        description=description,
        concurrency_limit=concurrency_limit,
        retries=retries,
        catchup=catchup,
        schedules=[
            DeploymentSchedule.model_validate({"schedule": schedule.to_dict()})
            for schedule in chosen
        ],
    )
    # None: the triggers stored stay as they are; a list (even empty) replaces them.
    automations = (
        None if triggers is None else trigger_automations(f"{loaded.name}/{name}", triggers)
    )
    if orchestrator is None:
        from legato.sdk.client import get_client

        orchestrator = get_client()
    record = orchestrator.deploy(spec)
    if automations is not None:
        _save_triggers(orchestrator, record.full_name, automations)
    return record


TRIGGER_NAME = "{deployment} trigger {number}"
"""The automation each deployment trigger becomes (deploying again updates it in place,
keeping what it counted)."""


def trigger_automations(deployment: str, triggers: Sequence[Any]) -> list[Any]:
    """The automations that run ``deployment`` on its ``triggers``: each a trigger (an
    ``EventTrigger``... or its mapping), whose mapping may also hold ``name``,
    ``description``, ``enabled`` and ``parameters`` (templates rendered from the event).
    Checked before anything is deployed (LegatoError naming the bad trigger)."""
    from pydantic import BaseModel, ValidationError

    from legato.schemas.automations import AutomationSpec

    specs = []
    for number, trigger in enumerate(triggers, 1):
        fields = trigger.model_dump() if isinstance(trigger, BaseModel) else dict(trigger)
        extra = {
            key: fields.pop(key) for key in ("name", "description", "enabled") if key in fields
        }
        parameters = fields.pop("parameters", {})
        try:
            specs.append(
                AutomationSpec.model_validate(
                    {
                        "name": extra.get("name")
                        or TRIGGER_NAME.format(deployment=deployment, number=number),
                        "description": extra.get("description", f"runs {deployment}"),
                        "enabled": extra.get("enabled", True),
                        "trigger": fields,
                        "actions": [
                            {
                                "type": "run-deployment",
                                "deployment": deployment,
                                "parameters": parameters,
                            }
                        ],
                    }
                )
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'trigger'}: "
                f"{error['msg'].removeprefix('Value error, ')}"
                for error in exc.errors()
            )
            raise LegatoError(
                f"trigger {number} of {deployment} is not valid: {problems}"
            ) from None
    return specs


def _save_triggers(orchestrator: Any, deployment: str, automations: list[Any]) -> None:
    """Store the deployment's trigger automations; delete those of triggers it no longer
    has."""
    for automation in automations:
        orchestrator.save_automation(automation, update=True)
    kept = {automation.name for automation in automations}
    prefix = TRIGGER_NAME.format(deployment=deployment, number="")
    for stored in orchestrator.read_automations():
        if stored.spec.name.startswith(prefix) and stored.spec.name not in kept:
            orchestrator.delete_automation(stored.id)


class WorkersDeployer:
    """``Flow.deploy`` and ``Flow.serve`` as the package ``legato`` plugs them into the
    SDK (see :mod:`legato.sdk.deploying`)."""

    def deploy(self, flow: Flow[Any, Any], name: str, **options: Any) -> DeploymentRecord:
        record = deploy_flow(flow, name=name, **options)
        sys.stdout.write(deployed_summary(record))
        return record

    def serve(self, flow: Flow[Any, Any], name: str, **options: Any) -> None:
        # A worker and a store: imported by the first serve, not by `import legato`.
        from legato.workers.serving import serve_flow

        serve_flow(flow, name=name, **options)


def deployed_summary(record: DeploymentRecord, now: datetime | None = None) -> str:
    """What ``flow.deploy()`` prints: the deployment, its schedules in words, its next
    three run times, and how to run it (a deploy that says nothing leaves people unsure
    it happened, and when it will run)."""
    from legato.schedules.words import describe, stored_schedules, upcoming

    now = now or datetime.now(UTC)
    lines = [f"Deployed {record.full_name} ({record.id}) on work pool {record.work_pool!r}."]
    schedules = stored_schedules(item.schedule for item in record.schedules)
    for schedule in schedules:
        lines.append(f"  schedule: {describe(schedule)}")
    if not record.schedules:
        lines.append("  schedule: none (it runs when asked)")
    next_runs = [] if record.paused else upcoming(schedules, now)
    if next_runs:
        lines.append("  next runs: " + "; ".join(next_runs))
    lines.append(f"  run it now: legato deployment run {record.full_name}")
    lines.append(f"  its runs start on a worker: legato worker start --pool {record.work_pool}")
    return "\n".join(lines) + "\n"
