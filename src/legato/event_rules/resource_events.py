"""The events of changes that are not run states: a deployment created, updated, paused,
resumed or deleted, one of its schedules paused or resumed; a work pool created, its
limit changed, paused or resumed. The store writes each in the transaction that makes
the change, so an event exists exactly when its change does."""

from __future__ import annotations

import time
import uuid
from typing import Any

from legato.event_rules.state_events import NewEvent
from legato.schemas.events import RESOURCE_ID, RESOURCE_NAME


def _event(
    name: str, resource: dict[str, str], related: list[dict[str, str]], payload: dict[str, Any]
) -> NewEvent:
    return NewEvent(
        id=str(uuid.uuid4()),
        event=name,
        occurred=time.time(),
        resource=resource,
        related=related,
        payload=payload,
    )


def deployment_event(
    action: str,
    deployment_id: str,
    full_name: str,
    *,
    work_pool: str | None = None,
    payload: dict[str, Any] | None = None,
) -> NewEvent:
    """``legato.deployment.<action>`` about ``legato.deployment.<id>`` (named
    ``flow/deployment``), related to its work pool."""
    related = []
    if work_pool:
        related.append(
            {
                RESOURCE_ID: f"legato.work-pool.{work_pool}",
                "legato.resource.role": "work-pool",
                RESOURCE_NAME: work_pool,
            }
        )
    resource = {RESOURCE_ID: f"legato.deployment.{deployment_id}", RESOURCE_NAME: full_name}
    return _event(f"legato.deployment.{action}", resource, related, payload or {})


def work_pool_event(action: str, name: str, payload: dict[str, Any] | None = None) -> NewEvent:
    """``legato.work-pool.<action>`` about ``legato.work-pool.<name>``."""
    resource = {RESOURCE_ID: f"legato.work-pool.{name}", RESOURCE_NAME: name}
    return _event(f"legato.work-pool.{action}", resource, [], payload or {})


def worker_event(status: str, name: str, pool: str) -> NewEvent:
    """``legato.worker.<status>`` (started, stopped) about ``legato.worker.<name>``,
    related to its work pool."""
    resource = {RESOURCE_ID: f"legato.worker.{name}", RESOURCE_NAME: name}
    related = [
        {
            RESOURCE_ID: f"legato.work-pool.{pool}",
            "legato.resource.role": "work-pool",
            RESOURCE_NAME: pool,
        }
    ]
    return _event(f"legato.worker.{status}", resource, related, {})


def worker_lost_event(name: str, pool: str | None, flow_run_ids: list[str]) -> NewEvent:
    """``legato.worker.lost``: the reaper found the worker's runs without heartbeats."""
    resource = {RESOURCE_ID: f"legato.worker.{name}", RESOURCE_NAME: name}
    related = [
        {RESOURCE_ID: f"legato.flow-run.{run_id}", "legato.resource.role": "flow-run"}
        for run_id in flow_run_ids[:50]
    ]
    if pool:
        related.insert(
            0,
            {
                RESOURCE_ID: f"legato.work-pool.{pool}",
                "legato.resource.role": "work-pool",
                RESOURCE_NAME: pool,
            },
        )
    return _event("legato.worker.lost", resource, related, {"flow_runs": len(flow_run_ids)})


def automation_event(action: str, record: Any) -> NewEvent:
    """``legato.automation.<action>`` about ``legato.automation.<id>`` (an
    AutomationRecord)."""
    resource = {RESOURCE_ID: f"legato.automation.{record.id}", RESOURCE_NAME: record.spec.name}
    return _event(f"legato.automation.{action}", resource, [], {"enabled": record.spec.enabled})
