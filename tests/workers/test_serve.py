"""``flow.serve()``: one process deploys the flow, schedules it and runs its runs; SIGINT
stops it with exit code 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from fixtures.commands import legato_env
from legato.orchestrator.local import LocalOrchestrator
from legato.schemas import FlowRunFilter
from legato.store import Store

SCRIPT = textwrap.dedent(
    """
    from legato import flow

    @flow
    def tick() -> str:
        print("tick", flush=True)
        return "tock"

    if __name__ == "__main__":
        tick.serve("every-second", interval=1)
    """
)


def test_serve_runs_its_schedule_until_interrupted(tmp_path: Path) -> None:
    (tmp_path / "ticker.py").write_text(SCRIPT)
    home = tmp_path / "home"
    env = legato_env(home, LEGATO_SCHEDULER_INTERVAL="1")
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "ticker.py"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not (home / "legato.db").exists() or "Serving deployment" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        store = Store(f"sqlite:///{home / 'legato.db'}")
        orch = LocalOrchestrator(store)
        try:
            while True:
                page = orch.read_flow_run_page(FlowRunFilter(state="Completed"), limit=10)
                if len(page.flow_runs) >= 2:
                    break
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            runs = page.flow_runs
            assert all(run.work_pool == "serve-every-second" for run in runs)
            assert all(run.flow_name == "tick" for run in runs)
        finally:
            store.close()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        code = process.wait(timeout=120)
    assert code == 0, log.read_text()
    text = log.read_text()
    assert "tick" in text and "SIGINT, stopping" in text and "stopped" in text
