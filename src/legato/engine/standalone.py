"""A task called outside any flow: a task run of its own, with no flow run.

As in Prefect 3, calling a ``@task`` where no flow runs records the call: its task run
has no flow run (``flow_run_id`` is None, NULL in the store) and goes through the same
machine as a task run of a flow, so it has its states, its log lines, its retries and
timeout, and its cache (``cache_key_fn``: a cached value is found by key, whoever wrote
it). The call runs here, in the caller's thread, and its records are durable before it
returns.

What a standalone task run does not have, because it needs a flow run: edges to the
task runs its arguments came from (they are plain values here), a place in ``legato
runs`` (which lists flow runs; read it by its id, as ``legato.get_client()`` can), and a
rerun by ``legato runs retry``. A task called inside a standalone task is a standalone
task run too.
"""

from __future__ import annotations

from typing import Any

from legato.engine.context import FlowRunContext
from legato.engine.protocols import TaskLike
from legato.engine.results import ResultStore
from legato.engine.runner import TaskRunner
from legato.engine.task_engine import prepare_task_run, run_task_async, run_task_sync
from legato.orchestrator.protocol import EngineBackend
from legato.states import State


def standalone_context(
    orchestrator: EngineBackend,
    task_runner: TaskRunner,
    result_store: ResultStore,
    log_prints: bool,
) -> FlowRunContext:
    """The engine's context for one standalone call: that of a flow run that is not
    there (no id, no flow), holding what the task machine needs."""
    return FlowRunContext(
        flow=None,
        flow_run_id=None,
        flow_run_name="",
        orchestrator=orchestrator,
        task_runner=task_runner,
        result_store=result_store,
        log_prints=log_prints,
        parent=None,
    )


def run_standalone_sync(
    ctx: FlowRunContext, task: TaskLike, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> State:
    """Record and run one call of ``task`` outside any flow; its final state, durable."""
    prepared = prepare_task_run(ctx, task, args, kwargs)
    try:
        return run_task_sync(ctx, task, prepared)
    finally:
        ctx.orchestrator.flush()


async def run_standalone_async(
    ctx: FlowRunContext, task: TaskLike, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> State:
    """:func:`run_standalone_sync` for an async task, on the running event loop."""
    import asyncio

    prepared = prepare_task_run(ctx, task, args, kwargs)
    try:
        return await run_task_async(ctx, task, prepared)
    finally:
        await asyncio.to_thread(ctx.orchestrator.flush)
