"""``legato.get_client()``: read what was recorded, from Python."""

from __future__ import annotations

from legato.orchestrator.protocol import Orchestrator


def get_client() -> Orchestrator:
    """The reader of this process's store (or server, once configured).

    Offers ``read_flow_runs(flow_name=, state=, limit=, offset=)``,
    ``read_flow_run(id)``, ``read_task_runs(flow_run_id)``, ``read_task_run(id)``,
    ``read_state_history(run_id)`` and ``read_logs(flow_run_id)``; for big runs,
    ``iter_logs(flow_run_id)``, ``read_log_page(...)``, ``read_task_run_page(...)`` and
    ``read_task_run_summary(flow_run_id)`` read a page at a time. See
    :mod:`legato.schemas` for the records they return. Pending writes of this
    process are flushed first, so what was just run is visible.
    """
    from legato.orchestrator import get_orchestrator

    orchestrator = get_orchestrator()
    orchestrator.flush()
    return orchestrator
