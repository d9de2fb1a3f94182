"""The event a stored state change becomes.

A flow run moving to Failed is ``legato.flow-run.Failed`` about the resource
``legato.flow-run.<id>`` (its name, state type, name and message as labels), related to
its flow, deployment, work pool and tags; a task run's event is related to its flow run
too. The payload says where the run came from and went to (``intended.from`` and
``intended.to``, state types), as Prefect's does, so triggers written for one read the
other.

The event id is derived from the state change itself, so making the same change an
event twice reads back the same event (its id does not depend on when it is read).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from legato.schemas.events import MAX_LABEL_VALUE, RESOURCE_ID, RESOURCE_NAME, RESOURCE_ROLE

_NAMESPACE = uuid.UUID("6f1c9d0e-3f4a-4b8e-9d2a-6c0b5e7f1a23")


@dataclass(frozen=True, slots=True)
class StoredState:
    """One ``state_history`` row and the facts about its run an event names."""

    history_id: int
    flow_run_id: str | None
    task_run_id: str | None
    type: str
    name: str
    message: str | None
    timestamp: float
    run_name: str | None = None
    flow_id: str | None = None
    flow_name: str | None = None
    deployment_id: str | None = None
    deployment_name: str | None = None
    work_pool: str | None = None
    tags: tuple[str, ...] = ()
    prior_type: str | None = None
    prior_name: str | None = None

    @property
    def kind(self) -> str:
        return "task-run" if self.task_run_id else "flow-run"

    @property
    def run_id(self) -> str:
        return self.task_run_id or self.flow_run_id or ""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event ready to store (times are epoch seconds)."""

    id: str
    event: str
    occurred: float
    resource: dict[str, str]
    related: list[dict[str, str]]
    payload: dict[str, Any]

    @property
    def resource_id(self) -> str:
        return self.resource[RESOURCE_ID]


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL_VALUE else text[: MAX_LABEL_VALUE - 1] + "…"


def related_resource(resource_id: str, role: str, name: str | None = None) -> dict[str, str]:
    labels = {RESOURCE_ID: resource_id, RESOURCE_ROLE: role}
    if name:
        labels[RESOURCE_NAME] = _label(name)
    return labels


def state_event(state: StoredState) -> NewEvent:
    kind = state.kind
    resource = {
        RESOURCE_ID: f"legato.{kind}.{state.run_id}",
        "legato.state-type": state.type,
        "legato.state-name": state.name,
    }
    if state.run_name:
        resource[RESOURCE_NAME] = _label(state.run_name)
    if state.message:
        resource["legato.state-message"] = _label(state.message)
    related: list[dict[str, str]] = []
    if state.task_run_id and state.flow_run_id:
        related.append(related_resource(f"legato.flow-run.{state.flow_run_id}", "flow-run"))
    if state.flow_id:
        related.append(related_resource(f"legato.flow.{state.flow_id}", "flow", state.flow_name))
    if state.deployment_id:
        related.append(
            related_resource(
                f"legato.deployment.{state.deployment_id}", "deployment", state.deployment_name
            )
        )
    if state.work_pool:
        related.append(
            related_resource(f"legato.work-pool.{state.work_pool}", "work-pool", state.work_pool)
        )
    for tag in state.tags:
        related.append(related_resource(f"legato.tag.{tag}", "tag"))
    payload: dict[str, Any] = {
        "intended": {"from": state.prior_type, "to": state.type},
        "initial_state": (
            {"type": state.prior_type, "name": state.prior_name} if state.prior_type else None
        ),
        "validated_state": {"type": state.type, "name": state.name, "message": state.message},
    }
    key = f"{state.history_id}/{state.run_id}/{state.timestamp!r}/{state.name}"
    return NewEvent(
        id=str(uuid.uuid5(_NAMESPACE, key)),
        event=f"legato.{kind}.{state.name}",
        occurred=state.timestamp,
        resource=resource,
        related=related,
        payload=payload,
    )
