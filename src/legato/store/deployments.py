"""Deployments in the store: create or update in place, read, pause, delete, and make runs.

A run of a deployment is a flow run in a Scheduled state with the deployment's
entrypoint, work pool and merged parameters, and its slot time in
``expected_start_time``; a worker of that pool claims it when it is due. Runs
made with an ``idempotency_key`` (every scheduled slot has one) exist at most
once: making one again returns the stored run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.errors import ObjectNotFound, ParameterSchemaError, ParameterValidationError
from legato.schemas.deployments import (
    DeploymentRecord,
    DeploymentRunRequest,
    DeploymentSpec,
    ScheduleRecord,
)
from legato.states import State, StateType
from legato.store.database import insert_if_absent
from legato.store.flows import FlowIds
from legato.store.state_door import StateDoor
from legato.store.tables import (
    deployment_schedules,
    deployments,
    flow_run_tags,
    flow_runs,
    state_history,
    work_pools,
)

UUID_LENGTH = 36


def canonical_schedules(spec: DeploymentSpec) -> list[dict[str, Any]]:
    """Each schedule rebuilt through ``legato.schedules`` (a bad one raises ScheduleError
    naming its fault) and stored in that kind's own canonical form."""
    from legato.schedules import schedule_from_dict

    return [
        schedule_from_dict(item.schedule.model_dump(mode="json", exclude_none=True)).to_dict()
        for item in spec.schedules
    ]


def check_parameters(
    schema: Mapping[str, Any] | None,
    parameters: dict[str, Any],
    where: str,
    *,
    partial: bool = False,
) -> None:
    """Refuse parameters the flow's signature would refuse, before any run exists
    (``partial``: missing required ones are fine, as for a deployment's defaults)."""
    if not schema:
        return
    from legato.schemas.json_schema import parameter_errors

    try:
        found = parameter_errors(schema, parameters)
    except ParameterSchemaError as exc:  # stored before schemas were checked, or too costly
        raise ParameterValidationError(
            f"{where}: {exc} (deploy it again with a parameter schema legato accepts)"
        ) from None
    problems = [
        problem
        for problem in found
        if not (partial and problem.validator == "required" and not problem.path)
    ]
    if not problems:
        return
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        properties = {}
    known = ", ".join(properties) or "none"
    messages = []
    for problem in problems[:5]:
        if problem.validator == "additionalProperties":
            extra = sorted(set(parameters) - set(properties))
            messages.append(f"unknown parameter(s) {', '.join(map(repr, extra))}")
        elif problem.validator == "required" and not problem.path:
            messages.append(problem.message.replace("is a required property", "is required"))
        else:
            name = ".".join(str(part) for part in problem.path) or "parameters"
            message = problem.message
            if len(message) > 300:  # it quotes the value, which may be large
                message = message[:297] + "..."
            messages.append(f"parameter {name!r}: {message}")
    raise ParameterValidationError(f"{where}: {'; '.join(messages)} (the flow takes: {known})")


def deployment_record(row: Mapping[Any, Any], schedules: list[ScheduleRecord]) -> DeploymentRecord:
    """The record of a stored deployment row and its schedules."""
    return DeploymentRecord(
        id=row["id"],
        flow_name=row["flow_name"],
        name=row["name"],
        entrypoint=row["entrypoint"],
        work_pool=row["work_pool"],
        parameters=row["parameters"] or {},
        parameter_schema=row["parameter_schema"],
        tags=row["tags"] or [],
        description=row["description"],
        concurrency_limit=row["concurrency_limit"],
        retries=row["retries"],
        catchup=bool(row["catchup"]),
        paused=bool(row["paused"]),
        schedules=schedules,
        created=datetime.fromtimestamp(row["created"], UTC),
        updated=datetime.fromtimestamp(row["updated"], UTC),
    )


@dataclass(frozen=True)
class RunRows:
    """One new deployment run: its flow_runs row (but its state), its first state, its
    tag rows. The state door writes the first two (:mod:`legato.store.state_door`)."""

    run: dict[str, Any]
    state: State
    tags: list[dict[str, Any]]


def deployment_run_rows(
    deployment: DeploymentRecord,
    *,
    flow_id: str,
    parameters: dict[str, Any],
    tags: list[str],
    due: float,
    now: float,
    schedule_id: str | None,
    idempotency_key: str | None,
) -> RunRows:
    """A Scheduled run of ``deployment`` due at ``due``: the one shape shared by runs asked
    for by hand, by the scheduler and by backfill, so a worker cannot tell them apart."""
    from legato.ids import new_id
    from legato.names import generate_run_name

    run_id = new_id()
    state = State(StateType.SCHEDULED, "Scheduled", None, timestamp=now, scheduled_time=due)
    run = {
        "id": run_id,
        "flow_id": flow_id,
        "flow_name": deployment.flow_name,
        "name": generate_run_name(),
        "parameters": parameters,
        "tags": tags,
        "entrypoint": deployment.entrypoint,
        "run_count": 0,
        "created": now,
        "deployment_id": deployment.id,
        "work_pool": deployment.work_pool,
        "schedule_id": schedule_id,
        "expected_start_time": due,
        "idempotency_key": idempotency_key,
    }
    tag_rows = [{"tag": tag, "flow_run_id": run_id, "created": now} for tag in tags]
    return RunRows(run, state, tag_rows)


# -- writes ---------------------------------------------------------------------


def deploy(conn: Connection, spec: DeploymentSpec, flow_ids: FlowIds) -> str:
    """Create the deployment ``spec.flow_name/spec.name``, or update it in place; its id.

    Changing its schedules removes the runs they made that have not started (the
    scheduler makes the new ones); runs asked for by hand are kept.
    """
    schedules = canonical_schedules(spec)
    if spec.parameter_schema is not None:
        from legato.schemas.json_schema import check_schema

        check_schema(spec.parameter_schema)  # before it is stored or used (422 if bad)
    now = time.time()
    columns = {
        "entrypoint": spec.entrypoint,
        "work_pool": spec.work_pool,
        "parameters": spec.parameters,
        "parameter_schema": spec.parameter_schema,
        "tags": list(dict.fromkeys(spec.tags)),
        "description": spec.description,
        "concurrency_limit": spec.concurrency_limit,
        "retries": spec.retries,
        "catchup": spec.catchup,
        "updated": now,
    }
    # Defaults must fit the flow; required parameters may be left to each run.
    check_parameters(
        spec.parameter_schema,
        spec.parameters,
        f"deployment {spec.flow_name}/{spec.name} has bad default parameters",
        partial=True,
    )
    from legato.ids import new_id

    flow_ids.of(conn, spec.flow_name)
    insert_if_absent(
        conn,
        work_pools,
        {
            "name": spec.work_pool,
            "concurrency_limit": None,
            "paused": False,
            "created": now,
        },
        ["name"],
    )
    inserted = insert_if_absent(
        conn,
        deployments,
        {
            "id": new_id(),
            "flow_name": spec.flow_name,
            "name": spec.name,
            **columns,
            "paused": False,
            "created": now,
        },
        ["flow_name", "name"],
    )
    query = sa.select(deployments.c.id).where(
        deployments.c.flow_name == spec.flow_name, deployments.c.name == spec.name
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    deployment_id = str(conn.execute(query).scalar_one())
    if not inserted:
        conn.execute(
            deployments.update().where(deployments.c.id == deployment_id).values(**columns)
        )
    stored = [
        (row.schedule, bool(row.active))
        for row in conn.execute(
            sa.select(deployment_schedules.c.schedule, deployment_schedules.c.active)
            .where(deployment_schedules.c.deployment_id == deployment_id)
            .order_by(deployment_schedules.c.position)
        )
    ]
    wanted = [
        (schedule, item.active) for schedule, item in zip(schedules, spec.schedules, strict=True)
    ]
    if stored != wanted:
        conn.execute(
            deployment_schedules.delete().where(
                deployment_schedules.c.deployment_id == deployment_id
            )
        )
        _drop_unstarted_runs(conn, deployment_id, made_by_schedules=True)
        if wanted:
            conn.execute(
                deployment_schedules.insert(),
                [
                    {
                        "id": new_id(),
                        "deployment_id": deployment_id,
                        "position": position,
                        "schedule": schedule,
                        "active": active,
                        "created": now,
                    }
                    for position, (schedule, active) in enumerate(wanted)
                ],
            )
    return deployment_id


def _drop_unstarted_runs(
    conn: Connection,
    deployment_id: str,
    *,
    made_by_schedules: bool,
    schedule_id: str | None = None,
) -> int:
    """Delete runs of the deployment that never started (Scheduled or Late, no
    attempt yet), with their history; ``made_by_schedules``: only those a schedule
    made, not those asked for by hand. A run rescheduled after a crash has a past
    and stays."""
    doomed = sa.select(flow_runs.c.id).where(
        flow_runs.c.deployment_id == deployment_id,
        flow_runs.c.state_type == StateType.SCHEDULED.value,
        flow_runs.c.state_name.in_(("Scheduled", "Late")),
        flow_runs.c.run_count == 0,
    )
    if made_by_schedules:
        doomed = doomed.where(flow_runs.c.schedule_id.is_not(None))
    if schedule_id is not None:
        doomed = doomed.where(flow_runs.c.schedule_id == schedule_id)
    ids = list(conn.execute(doomed).scalars())
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(state_history.delete().where(state_history.c.flow_run_id.in_(chunk)))
        conn.execute(flow_run_tags.delete().where(flow_run_tags.c.flow_run_id.in_(chunk)))
        conn.execute(flow_runs.delete().where(flow_runs.c.id.in_(chunk)))
    return len(ids)


def set_deployment_paused(conn: Connection, deployment_id: str, paused: bool) -> None:
    """Pause: the scheduler makes no runs, and the runs its schedules made that have
    not started are removed (as Prefect does; resuming makes them again). Runs asked
    for by hand stay. Resume: scheduling goes on."""
    result = conn.execute(
        deployments.update()
        .where(deployments.c.id == deployment_id)
        .values(paused=paused, updated=time.time())
    )
    if not result.rowcount:
        raise ObjectNotFound(f"no deployment with id {deployment_id!r}")
    if paused:
        _drop_unstarted_runs(conn, deployment_id, made_by_schedules=True)


def set_schedule_active(
    conn: Connection, deployment: DeploymentRecord, schedule: str, active: bool
) -> None:
    """Pause or resume one schedule of a deployment, named by its id or by its
    position (1 for the first, as ``legato deployment show`` numbers them). Pausing
    removes the runs it made that have not started."""
    ids = [item.id for item in deployment.schedules]
    if schedule.isdigit() and 1 <= int(schedule) <= len(ids):
        schedule_id = ids[int(schedule) - 1]
    elif schedule.lower() in ids:
        schedule_id = schedule.lower()
    else:
        raise ObjectNotFound(
            f"deployment {deployment.full_name} has no schedule {schedule!r}; it has "
            f"{len(ids)} (name one by its number, 1 to {len(ids)}, or its id)"
            if ids
            else f"deployment {deployment.full_name} has no schedules"
        )
    conn.execute(
        deployment_schedules.update()
        .where(deployment_schedules.c.id == schedule_id)
        .values(active=active)
    )
    if not active:
        _drop_unstarted_runs(conn, deployment.id, made_by_schedules=True, schedule_id=schedule_id)


def delete_deployment(conn: Connection, deployment_id: str) -> int:
    """Delete a deployment, its schedules and its runs that have not started; runs
    that started stay, for their history. How many unstarted runs went with it."""
    found = conn.execute(
        sa.select(deployments.c.id).where(deployments.c.id == deployment_id)
    ).first()
    if found is None:
        raise ObjectNotFound(f"no deployment with id {deployment_id!r}")
    dropped = _drop_unstarted_runs(conn, deployment_id, made_by_schedules=False)
    conn.execute(
        deployment_schedules.delete().where(deployment_schedules.c.deployment_id == deployment_id)
    )
    conn.execute(deployments.delete().where(deployments.c.id == deployment_id))
    return dropped


def check_run_parameters(
    deployment: DeploymentRecord, request: DeploymentRunRequest
) -> dict[str, Any]:
    """The parameters of a run of ``deployment`` asked for by ``request`` (its defaults
    overridden), checked against the flow's signature."""
    parameters = {**deployment.parameters, **request.parameters}
    check_parameters(
        deployment.parameter_schema,
        parameters,
        f"deployment {deployment.full_name} cannot run with these parameters",
    )
    return parameters


def create_deployment_run(
    door: StateDoor,
    deployment: DeploymentRecord,
    request: DeploymentRunRequest,
    parameters: dict[str, Any],
    flow_ids: FlowIds,
    *,
    now: float,
    schedule_id: str | None,
) -> str:
    """A Scheduled run of the deployment, due at ``request.scheduled_time`` (``now`` if
    unset), with ``parameters`` (see :func:`check_run_parameters`); its id. With an
    idempotency key already used, the id of the run made then."""
    due = request.scheduled_time.timestamp() if request.scheduled_time else now
    tags = list(dict.fromkeys([*deployment.tags, *request.tags]))
    conn = door.conn
    made = deployment_run_rows(
        deployment,
        flow_id=flow_ids.of(conn, deployment.flow_name),
        parameters=parameters,
        tags=tags,
        due=due,
        now=now,
        schedule_id=schedule_id,
        idempotency_key=request.idempotency_key,
    )
    inserted = door.create_flow_runs(
        [(made.run, made.state)],
        unique="idempotency_key" if request.idempotency_key else "id",
    )
    if inserted:
        if made.tags:
            conn.execute(flow_run_tags.insert(), made.tags)
        return str(made.run["id"])
    return str(
        conn.execute(
            sa.select(flow_runs.c.id).where(flow_runs.c.idempotency_key == request.idempotency_key)
        ).scalar_one()
    )


# -- reads ----------------------------------------------------------------------


def schedules_of(conn: Connection, ids: list[str]) -> dict[str, list[ScheduleRecord]]:
    """The schedules of these deployments, each deployment's in order."""
    found: dict[str, list[ScheduleRecord]] = {deployment_id: [] for deployment_id in ids}
    if not ids:
        return found
    rows = conn.execute(
        sa.select(deployment_schedules)
        .where(deployment_schedules.c.deployment_id.in_(ids))
        .order_by(deployment_schedules.c.deployment_id, deployment_schedules.c.position)
    ).mappings()
    for row in rows:
        found[row["deployment_id"]].append(
            ScheduleRecord(id=row["id"], schedule=row["schedule"], active=bool(row["active"]))
        )
    return found


def read_deployments(conn: Connection, *, limit: int, offset: int) -> list[DeploymentRecord]:
    """Deployments by flow name, then name."""
    rows = list(
        conn.execute(
            sa.select(deployments)
            .order_by(deployments.c.flow_name, deployments.c.name)
            .limit(limit)
            .offset(offset)
        ).mappings()
    )
    schedules = schedules_of(conn, [row["id"] for row in rows])
    return [deployment_record(row, schedules[row["id"]]) for row in rows]


def read_deployment(conn: Connection, reference: str) -> DeploymentRecord:
    """By id, by ``flow/name``, or by name alone when only one flow has it."""
    reference = reference.strip()
    if "/" in reference:
        flow_name, _, name = reference.partition("/")
        where = sa.and_(deployments.c.flow_name == flow_name, deployments.c.name == name)
    elif len(reference) == UUID_LENGTH and reference.count("-") == 4:
        where = deployments.c.id == reference.lower()
    else:
        where = deployments.c.name == reference
    rows = list(conn.execute(sa.select(deployments).where(where).limit(10)).mappings())
    if len(rows) > 1:
        names = ", ".join(f"{row['flow_name']}/{row['name']}" for row in rows)
        raise ObjectNotFound(
            f"deployment name {reference!r} is ambiguous: {names}; name it as FLOW/DEPLOYMENT"
        )
    if not rows:
        raise ObjectNotFound(
            f"no deployment {reference!r} (name it as FLOW/DEPLOYMENT, by its name "
            "alone, or by id; `legato deployment ls` lists them)"
        )
    row = rows[0]
    schedules = schedules_of(conn, [row["id"]])
    return deployment_record(row, schedules[row["id"]])
