"""What deploying says: ``flow.deploy()`` and ``legato deploy`` print the deployment, its
schedules in words and its next run times; ``deployment run --watch`` prints the run's log
lines as they arrive, not only its states."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from fixtures.commands import run_legato
from fixtures.workers import FAST_WORKER, start_worker

FLOWS = textwrap.dedent(
    """
    from legato import flow, get_run_logger, task


    @task
    def step(i):
        get_run_logger().info("step %d done", i)
        return i


    @flow
    def etl(n: int = 3):
        get_run_logger().info("etl starting")
        return sum(step(i) for i in range(n))


    if __name__ == "__main__":
        etl.deploy("weekdays", cron="0 9 * * 1-5", timezone="Europe/London", work_pool="p")
    """
)

NEXT_TIME = r"\d{4}-\d\d-\d\d 09:00 (GMT|BST) \(0[89]:00 UTC\)"


def test_flow_deploy_prints_the_deployment_its_schedule_in_words_and_next_runs(
    tmp_path: Path,
) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)

    done = subprocess.run(
        [sys.executable, "flows.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ},
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"Deployed etl/weekdays \([0-9a-f-]{36}\) on work pool 'p'\.", lines[0])
    assert lines[1] == "  schedule: At 09:00, Monday through Friday (Europe/London)"
    assert re.fullmatch(rf"  next runs: {NEXT_TIME}; {NEXT_TIME}; {NEXT_TIME}", lines[2]), lines
    assert lines[3] == "  run it now: legato deployment run etl/weekdays"
    assert lines[4] == "  its runs start on a worker: legato worker start --pool p"


def test_deploy_and_show_list_schedules_in_words_and_next_runs(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)

    deployed = run_legato(
        "deploy", "flows.py:etl", "--name", "weekdays", "--cron", "0 9 * * 1-5",
        "--timezone", "Europe/London", cwd=tmp_path,
    )  # fmt: skip
    shown = run_legato("deployment", "show", "weekdays", cwd=tmp_path)

    for done in (deployed, shown):
        assert done.returncode == 0, done.stderr
        text = done.stdout
        assert "At 09:00, Monday through Friday (Europe/London) - cron '0 9 * * 1-5'" in text
        assert len(re.findall(NEXT_TIME, text)) == 3, text
    paused = run_legato("deployment", "pause", "weekdays", cwd=tmp_path)
    assert paused.returncode == 0
    shown = run_legato("deployment", "show", "weekdays", cwd=tmp_path)
    assert "next runs   none: paused" in shown.stdout
    assert re.findall(NEXT_TIME, shown.stdout) == []


def test_deployment_run_watch_prints_log_lines_and_states(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    env = {**os.environ, **FAST_WORKER}
    deployed = run_legato("deploy", "flows.py:etl", "--name", "now", "--pool", "p", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    worker = start_worker(tmp_path, env)
    try:
        done = run_legato("deployment", "run", "now", "--watch", env=env, cwd=tmp_path)
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    starting = next(i for i, line in enumerate(lines) if "| flow | etl starting" in line)
    steps = [i for i, line in enumerate(lines) if re.search(r"\| step-\d \| step \d done", line)]
    assert len(steps) == 3
    assert starting < min(steps)
    assert any(line.endswith("Completed") for line in lines), lines
