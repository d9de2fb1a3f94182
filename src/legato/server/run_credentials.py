"""A run's credential: the attempt token a worker hands the process of a claimed run.

A worker never gives its own API key to the flows it runs: a flow can print anything,
and whoever reads its logs would hold the worker's key. The process gets its run's
attempt token instead (``lgr_<run id>_<secret>``, see :mod:`legato.store.run_tokens`),
sent as ``Authorization: Bearer`` like a key. It opens only what a flow run needs, and
only for its own run and its subflows:

- write its flow-run states, create its subflows, send its task runs and logs;
- read its own rows (the run, its task runs by key, their histories and logs), the
  cached results of tasks, the concurrency limits of tags (and take their slots).

Everything else - other runs, deployments, work pools, API keys, listings - is answered
403. The credential stops working the moment the attempt ends: its run's final state, a
cancel, the reaper taking it back, another claim. It is then answered 401 with the
``Legato-Run-Taken-Back`` header, and the client stops the process
(:func:`legato.workers.execute.stop_taken_back`).

On a server without keys nothing is required, but a request carrying a run token is
still the proposal of that attempt: the endpoints fence it with :func:`attempt_token`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request

from legato.attempts import TAKEN_BACK_HEADER, is_run_token, run_of_token

if TYPE_CHECKING:
    from legato.store import Store

RUN_WRITES = frozenset(
    {
        ("POST", "/orchestrator/flow_runs"),
        ("POST", "/orchestrator/flow_runs/{flow_run_id}/state"),
        ("POST", "/bulk"),
        ("POST", "/events"),
        ("POST", "/concurrency_limits/leases"),
        ("POST", "/concurrency_limits/leases/renew"),
        ("POST", "/concurrency_limits/leases/release"),
    }
)
RUN_READS = frozenset(
    {
        "/orchestrator/cached_result",
        "/orchestrator/resolve_flow_run_id",
        "/concurrency_limits/tags",
    }
)
RUN_READ_PREFIXES = ("/orchestrator/flow_runs/{flow_run_id}/", "/flow_runs/{flow_run_id}")
"""Reads of one flow run (the path names it): only of the credential's own run tree."""


def attempt_token(request: Request) -> str | None:
    """The attempt token the request was sent with (its bearer), if it is a run's."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and is_run_token(value):
        return value
    return None


AttemptToken = Annotated[str | None, Depends(attempt_token)]


def in_scope(method: str, route_path: str) -> bool:
    """Whether a run's credential may call this route (its path template under ``/api``)
    at all; the run it names is checked apart."""
    if (method, route_path) in RUN_WRITES:
        return True
    if method not in ("GET", "HEAD"):
        return False
    return route_path in RUN_READS or route_path.startswith(RUN_READ_PREFIXES)


def taken_back_error(flow_run_id: str) -> HTTPException:
    return HTTPException(
        401,
        detail=f"this run credential is no longer valid: flow run {flow_run_id} ended or was "
        "taken back from the process it was given to",
        headers={"WWW-Authenticate": "Bearer", TAKEN_BACK_HEADER: "true"},
    )


def admit_run_credential(store: Store, request: Request, token: str) -> None:
    """Let a request with a run's credential through, or raise 401/403 (see the module)."""
    own_run = run_of_token(token)
    if own_run is None:
        raise HTTPException(
            401,
            detail="the run credential is malformed (a worker hands each run's process its "
            "own; it is not an API key)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    route = request.scope.get("route")
    route_path = str(getattr(route, "path", request.url.path)).removeprefix("/api")
    if not in_scope(request.method, route_path):
        raise HTTPException(
            403,
            detail=f"a flow run's credential may only write that run's states, logs and task "
            f"runs and read what the run needs; not {request.method} {request.url.path}",
        )
    if not store.run_in_attempt(own_run, token):
        raise taken_back_error(own_run)
    target = request.path_params.get("flow_run_id")
    if target is not None and not store.run_in_attempt(str(target).lower(), token):
        raise HTTPException(
            403,
            detail=f"a flow run's credential opens only its own run and subflows, not flow "
            f"run {target}",
        )
