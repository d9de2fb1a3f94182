"""The message an event becomes (pure: the event, the run if known, the public URL).

A flow run's state event names the flow, the run, the state and its message, how long
the run took (when its start is known) and links to it. The web UI is not built yet, so
the link is the run's REST resource, ``{public_url}/api/flow_runs/{id}``; it will point at
the UI's page of the run once that exists.
"""

from __future__ import annotations

from legato.schemas.events import RESOURCE_NAME, RESOURCE_ROLE, EventRecord
from legato.schemas.notifications import Message
from legato.schemas.runs import FlowRunRecord

FLOW_RUN_PREFIX = "legato.flow-run."
TASK_RUN_PREFIX = "legato.task-run."


def run_link(public_url: str | None, flow_run_id: str) -> str | None:
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/api/flow_runs/{flow_run_id}"


def flow_run_id_of(event: EventRecord) -> str | None:
    """The flow run an event is about: its resource, or the flow run of its task run."""
    resource_id = event.resource_id
    if resource_id.startswith(FLOW_RUN_PREFIX):
        return resource_id[len(FLOW_RUN_PREFIX) :]
    for related in event.related:
        if related.get(RESOURCE_ROLE) == "flow-run":
            rid = related.get("legato.resource.id", "")
            if rid.startswith(FLOW_RUN_PREFIX):
                return rid[len(FLOW_RUN_PREFIX) :]
    return None


def _related_name(event: EventRecord, role: str) -> str | None:
    for related in event.related:
        if related.get(RESOURCE_ROLE) == role:
            return related.get(RESOURCE_NAME)
    return None


def message_for_event(
    event: EventRecord, public_url: str | None, *, run: FlowRunRecord | None = None
) -> Message:
    """What to say about ``event``. ``run``: the flow run it is about, read from the store
    by the caller (:func:`legato.notifications.delivery.event_message`), for the duration
    and the names the event may lack; without it the duration is left out."""
    resource = event.resource
    state = resource.get("legato.state-name")
    is_run = event.resource_id.startswith((FLOW_RUN_PREFIX, TASK_RUN_PREFIX)) and state
    if not is_run:
        return Message(
            subject=f"legato event {event.event}",
            body=f"{event.event} about {event.resource_id} at {event.occurred:%Y-%m-%d %H:%M:%S %Z}",
        )
    kind = "task run" if event.resource_id.startswith(TASK_RUN_PREFIX) else "flow run"
    flow = _related_name(event, "flow") or (run.flow_name if run else None)
    name = resource.get(RESOURCE_NAME) or (run.name if run and kind == "flow run" else None)
    flow_run_id = flow_run_id_of(event)
    duration = None
    if run is not None and run.start_time is not None and kind == "flow run":
        end = run.end_time or event.occurred
        duration = max(0.0, (end - run.start_time).total_seconds())
    what = f"{flow}/{name}" if flow and name else (name or event.resource_id)
    state_message = resource.get("legato.state-message")
    body = f"The {kind} {what} is {state}."
    if state_message:
        body += f"\n{state_message}"
    return Message(
        subject=f"{what}: {state}",
        body=body,
        flow=flow,
        run=name,
        run_id=event.resource_id.rsplit(".", 1)[-1],
        state=state,
        message=state_message,
        duration=duration,
        link=run_link(public_url, flow_run_id) if flow_run_id else None,
    )
