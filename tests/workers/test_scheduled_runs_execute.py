"""End to end: a schedule makes runs, the server's own worker runs them."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from fixtures.commands import legato_env, run_legato
from fixtures.servers import start_server
from legato.orchestrator.client import ClientOrchestrator

FLOW = textwrap.dedent(
    """
    from legato import flow, get_run_context, get_run_logger


    @flow
    def tick() -> str:
        slot = get_run_context().scheduled_time
        get_run_logger().info("tick for %s", slot.isoformat())
        return slot.isoformat()
    """
)


def test_a_scheduled_run_executes_on_its_slot(tmp_path: Path) -> None:
    (tmp_path / "ticks.py").write_text(FLOW)
    server = start_server(
        tmp_path / "home",
        tmp_path / "server.log",
        worker=True,
        env={"LEGATO_SCHEDULER_INTERVAL": "0.2", "LEGATO_WORKER_POLL_INTERVAL": "0.5"},
    )
    env = legato_env(tmp_path / "client", server.url)
    orchestrator = ClientOrchestrator(server.url)
    try:
        run_legato(
            "deploy",
            "ticks.py:tick",
            "--name",
            "every-2s",
            "--interval",
            "2",
            env=env,
            cwd=tmp_path,
            check=True,
        )
        deadline = time.monotonic() + 90
        while True:
            done = [
                run
                for run in orchestrator.read_flow_runs(flow_name="tick", state="COMPLETED")
                if run.expected_start_time is not None
            ]
            if done:
                break
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        run = done[0]
        row = orchestrator.read_flow_run_row(run.id)
        assert row.schedule_id is not None  # made by the scheduler, not asked for
        assert run.start_time is not None and run.expected_start_time is not None
        assert run.start_time >= run.expected_start_time
        slot = run.expected_start_time.isoformat()
        deadline = time.monotonic() + 30
        while f"tick for {slot}" not in [line.message for line in orchestrator.read_logs(run.id)]:
            assert time.monotonic() < deadline, orchestrator.read_logs(run.id)
            time.sleep(0.1)
    finally:
        orchestrator.close()
        code = server.stop(timeout=120)
    assert code == 0, server.log()
