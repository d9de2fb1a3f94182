"""What each automation action does, against the store.

An action reads what it acts on from its own fields (rendered from the triggering event
with :mod:`legato.event_rules.templates`) or, left out, from the event: the flow run,
deployment or work pool the event is about or related to. It returns a small result
(the run it made) or raises :class:`ActionFailed` with what went wrong, which is
recorded on the action; :class:`TryLater` puts it back to be tried again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from legato.errors import LegatoError
from legato.event_rules.templates import TemplateProblem, render
from legato.schemas.events import RESOURCE_ID, RESOURCE_ROLE
from legato.states import TERMINAL_TYPES, State, StateType
from legato.store import Store

if TYPE_CHECKING:
    from legato.notifications import Notifications

MAX_ATTEMPTS = 5


class ActionFailed(Exception):
    """The action cannot be done; the message says why."""


class TryLater(Exception):
    """The action may work later (a receiver that is away)."""


def _resource_of(event: Mapping[str, Any] | None, kind: str, key: str) -> str | None:
    """The id (without ``legato.<kind>.``) of the resource of that kind the event is
    about or related to, else the firing's ``for_each`` key if it names one."""
    prefix = f"legato.{kind}."
    if event:
        own = str(event.get("resource", {}).get(RESOURCE_ID, ""))
        if own.startswith(prefix):
            return own[len(prefix) :]
        for related in event.get("related", []):
            if related.get(RESOURCE_ROLE) == kind and str(related.get(RESOURCE_ID, "")).startswith(
                prefix
            ):
                return str(related[RESOURCE_ID])[len(prefix) :]
    for part in key.split("\x1f"):
        if part.startswith(prefix):
            return part[len(prefix) :]
    return None


def _target(value: Any, context: dict[str, Any], kind: str, what: str) -> str:
    if value is not None:
        rendered = render(value, context, what)
        if rendered:
            return str(rendered)
    found = _resource_of(context.get("event"), kind, context["firing"]["key"])
    if not found:
        raise ActionFailed(
            f"no {kind.replace('-', ' ')} to act on: the event is not about one and the "
            f"action names none (set '{what}')"
        )
    return found


def run_action(
    store: Store,
    action: Mapping[str, Any],
    context: dict[str, Any],
    notifier: Notifications | None = None,
) -> dict[str, Any]:
    """Do ``action``; its result. ``context``: ``event`` (the triggering event as read, or
    None), ``automation`` (id, name), ``firing`` (id, kind, at, key, position,
    suppressed). ``notifier`` sends notifications (None: a server without channels)."""
    try:
        if action.get("type") == "send-notification":
            return _notify(store, action, context, notifier)
        return _run(store, action, context)
    except TemplateProblem as exc:
        raise ActionFailed(f"a template failed: {exc}") from None
    except LegatoError as exc:
        raise ActionFailed(str(exc)) from None


def _run(store: Store, action: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    kind = str(action.get("type"))
    if kind == "run-deployment":
        return _run_deployment(store, action, context)
    if kind in ("cancel-flow-run", "suspend-flow-run", "resume-flow-run"):
        run_id = _target(action.get("flow_run"), context, "flow-run", "flow_run")
        return _flow_run_action(store, kind, run_id, context)
    if kind == "change-flow-run-state":
        run_id = _target(action.get("flow_run"), context, "flow-run", "flow_run")
        state_type = StateType(str(action["state"]))
        state = State(
            state_type,
            str(action.get("name") or state_type.value.title()),
            render(action.get("message"), context, "message"),
            time.time(),
        )
        verdict = store.set_flow_run_state(run_id, state)
        if not verdict.allowed:
            raise ActionFailed(f"flow run {run_id} cannot become {state.name}: {verdict.reason}")
        return {"flow_run_id": run_id, "state": state.name}
    if kind in ("pause-deployment", "resume-deployment"):
        reference = _target(action.get("deployment"), context, "deployment", "deployment")
        record = store.set_deployment_paused(
            store.read_deployment(reference).id, kind == "pause-deployment"
        )
        return {"deployment_id": record.id, "paused": record.paused}
    if kind in ("pause-schedule", "resume-schedule"):
        reference = _target(action.get("deployment"), context, "deployment", "deployment")
        record = store.set_schedule_active(
            store.read_deployment(reference).id,
            str(render(action["schedule"], context, "schedule")),
            kind == "resume-schedule",
        )
        return {"deployment_id": record.id}
    if kind in ("pause-work-pool", "resume-work-pool"):
        pool = _target(action.get("work_pool"), context, "work-pool", "work_pool")
        store.set_work_pool_paused(pool, kind == "pause-work-pool")
        return {"work_pool": pool, "paused": kind == "pause-work-pool"}
    if kind in ("pause-automation", "resume-automation"):
        reference = str(
            render(action.get("automation"), context, "automation") or context["automation"]["id"]
        )
        automation = store.automations.set_enabled(reference, kind == "resume-automation")
        return {"automation_id": automation.id, "enabled": automation.spec.enabled}
    if kind == "call-webhook":
        return _call_webhook(action, context)
    raise ActionFailed(f"unknown action type {kind!r}")


def _notify(
    store: Store,
    action: Mapping[str, Any],
    context: dict[str, Any],
    notifier: Notifications | None,
) -> dict[str, Any]:
    """Send the message: the event's (flow, run, state, message, duration, link) unless
    the action writes its own subject or body; the firings the cooldown held back are
    counted in it."""
    from legato.notifications import event_message
    from legato.schemas.events import EventRecord
    from legato.schemas.notifications import Message

    if notifier is None:
        raise ActionFailed("this server sends no notifications (it has no notifier)")
    event = context.get("event")
    automation = context["automation"]["name"]
    firing = context["firing"]
    if event:
        message = event_message(store, EventRecord.model_validate(event), notifier.public_url)
    else:  # a proactive trigger: what was awaited did not come
        message = Message(
            subject=f"automation {automation!r} fired",
            body=f"The events it waits for did not come in time ({firing['key'] or 'all'}).",
        )
    updates: dict[str, Any] = {}
    for field in ("subject", "body"):
        if action.get(field):
            updates[field] = str(render(action[field], context, field))
    held_back = int(firing.get("suppressed") or 0)
    if held_back:
        body = updates.get("body", message.body)
        updates["body"] = f"{body}\n\n(and {held_back} more since the last message)".strip()
    if updates:
        message = message.model_copy(update=updates)
    delivery = notifier.deliver(
        str(action["channel"]),
        message,
        automation_id=context["automation"]["id"],
        firing_id=firing["id"],
    )
    if delivery.status != "sent":
        raise ActionFailed(
            f"the message to {action['channel']!r} was not delivered: {delivery.last_error}"
        )
    return {"delivery_id": delivery.id, "status": delivery.status}


def _run_deployment(
    store: Store, action: Mapping[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    from legato.schemas.deployments import DeploymentRunRequest
    from legato.server.notify import notifier_for

    reference = _target(action.get("deployment"), context, "deployment", "deployment")
    deployment = store.read_deployment(reference)
    parameters = render(action.get("parameters") or {}, context, "parameters")
    if not isinstance(parameters, dict):
        raise ActionFailed("parameters must render to a mapping of names to values")
    firing = context["firing"]
    request = DeploymentRunRequest(
        parameters=parameters,
        # The same firing's action run twice (its executor died before saying it was
        # done) finds the run it made the first time.
        idempotency_key=f"automation:{firing['id']}:{firing['position']}",
        tags=["automation"],
    )
    record = store.create_deployment_run(deployment.id, request)
    notifier_for(store).poke(deployment.work_pool)
    return {"flow_run_id": record.id, "flow_run_name": record.name, "parameters": parameters}


def _flow_run_action(
    store: Store, kind: str, run_id: str, context: dict[str, Any]
) -> dict[str, Any]:
    record = store.read_flow_run(run_id)
    state_type = StateType(record.state.type)
    now = time.time()
    reason = f"by automation {context['automation']['name']!r}"
    if kind == "cancel-flow-run":
        if state_type in TERMINAL_TYPES:
            return {"flow_run_id": run_id, "state": record.state.name, "changed": False}
        if state_type in (StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED):
            state = State(StateType.CANCELLED, "Cancelled", f"cancelled {reason}", now)
            fields: dict[str, Any] | None = {"end_time": now}
        else:  # its worker stops it and ends it Cancelled
            state = State(StateType.CANCELLING, "Cancelling", f"cancelled {reason}", now)
            fields = None
    elif kind == "suspend-flow-run":
        state, fields = State(StateType.PAUSED, "Suspended", f"suspended {reason}", now), None
    else:
        if state_type is not StateType.PAUSED:
            raise ActionFailed(f"flow run {run_id} is {record.state.name}, not paused")
        state, fields = State(StateType.SCHEDULED, "Scheduled", f"resumed {reason}", now), None
    verdict = store.set_flow_run_state(run_id, state, fields=fields)
    if not verdict.allowed:
        raise ActionFailed(f"flow run {run_id} cannot become {state.name}: {verdict.reason}")
    return {"flow_run_id": run_id, "state": state.name, "changed": True}


def _call_webhook(action: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    import httpx

    url = str(render(action["url"], context, "url"))
    body = render(action.get("body") or {}, context, "body")
    headers = {
        str(k): str(v) for k, v in render(action.get("headers") or {}, context, "headers").items()
    }
    try:
        if isinstance(body, str):
            answer = httpx.post(url, content=body.encode(), headers=headers, timeout=10)
        else:
            answer = httpx.post(url, json=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise TryLater(f"could not reach {url}: {exc}") from None
    if answer.status_code >= 500:
        raise TryLater(f"{url} answered {answer.status_code}")
    if answer.status_code >= 400:
        raise ActionFailed(f"{url} answered {answer.status_code}: {answer.text[:200]}")
    return {"status_code": answer.status_code}
