"""The examples, run as a user runs them (``python examples/<file>.py``), read back from the store.

Each example runs in a subprocess that inherits this test's LEGATO_HOME (set by the
autouse fixture in tests/conftest.py), so what it records is read here through
``legato.get_client()``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import legato
from legato.schemas import TaskRunRecord

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(
    name: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``python examples/<name> ARGS``; return the process and the flow run id it printed."""
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    match = re.search(r"^flow run id: (\S+)$", completed.stdout, re.MULTILINE)
    assert match is not None, (
        f"{name} printed no flow run id:\n{completed.stdout}\n{completed.stderr}"
    )
    return completed, match.group(1)


def test_etl_example_completes_with_retried_extract_mapped_transform_and_load(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    completed, flow_run_id = run_example("etl.py", str(out))

    assert completed.returncode == 0, completed.stderr
    records = json.loads((out / "weather.json").read_text())
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["temp_c"] == 20.0

    client = legato.get_client()
    flow_run = client.read_flow_run(flow_run_id)
    assert flow_run.flow_name == "etl"
    assert flow_run.state.name == "Completed"
    assert flow_run.parameters == {"output_dir": str(out)}
    by_task: dict[str, list[TaskRunRecord]] = {}
    for task_run in client.read_task_runs(flow_run_id):
        by_task.setdefault(task_run.name.rsplit("-", 1)[0], []).append(task_run)
    assert {name: len(runs) for name, runs in by_task.items()} == {
        "extract": 1,
        "transform": 5,
        "load": 1,
    }
    (extract,) = by_task["extract"]
    assert extract.state.name == "Completed"
    assert extract.run_count == 2
    history = [s.name for s in client.read_state_history(extract.id)]
    assert history == ["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"]
    assert all(t.state.name == "Completed" for t in by_task["transform"])
    (load,) = by_task["load"]
    assert load.state.name == "Completed"
    assert sorted(load.upstream_ids) == sorted(t.id for t in by_task["transform"])
    messages = [log.message for log in client.read_logs(flow_run_id, task_run_id=load.id)]
    assert any("Loaded 5 records" in m for m in messages)


def test_etl_example_second_run_serves_transform_from_cache(tmp_path: Path) -> None:
    first, _ = run_example("etl.py", str(tmp_path / "first"))
    assert first.returncode == 0, first.stderr

    second, flow_run_id = run_example("etl.py", str(tmp_path / "second"))

    assert second.returncode == 0, second.stderr
    client = legato.get_client()
    assert client.read_flow_run(flow_run_id).state.name == "Completed"
    transforms = [t for t in client.read_task_runs(flow_run_id) if t.name.startswith("transform-")]
    assert len(transforms) == 5
    assert {t.state.name for t in transforms} == {"Cached"}
    assert {t.run_count for t in transforms} == {0}


@pytest.mark.slow
def test_many_tasks_example_records_10000_square_task_runs() -> None:
    completed, flow_run_id = run_example("many_tasks.py")

    assert completed.returncode == 0, completed.stderr
    assert "task runs: 10,000" in completed.stdout
    client = legato.get_client()
    flow_run = client.read_flow_run(flow_run_id)
    assert flow_run.flow_name == "many-tasks"
    assert flow_run.state.name == "Completed"
    task_runs = client.read_task_runs(flow_run_id)
    assert len(task_runs) == 10_000
    assert {t.name.rsplit("-", 1)[0] for t in task_runs} == {"square"}
    assert {t.state.name for t in task_runs} == {"Completed"}
    assert {t.dynamic_key for t in task_runs} == set(range(10_000))


def test_resume_example_retry_reruns_only_the_failed_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps_log = tmp_path / "steps.log"
    env = {k: v for k, v in os.environ.items() if k != "RESUME_DEMO_FIXED"}
    env["RESUME_DEMO_LOG"] = str(steps_log)

    completed, flow_run_id = run_example("resume.py", env=env)

    assert completed.returncode != 0
    assert steps_log.read_text().split() == ["step_1", "step_2", "step_3", "step_4", "step_5"]
    client = legato.get_client()
    failed = client.read_flow_run(flow_run_id)
    assert failed.state.name == "Failed"
    assert "RESUME_DEMO_FIXED" in (failed.state.message or "")

    # The fix, then the retry, in this process (as `legato runs retry ID` does).
    steps_log.write_text("")
    monkeypatch.setenv("RESUME_DEMO_LOG", str(steps_log))
    monkeypatch.setenv("RESUME_DEMO_FIXED", "1")
    state = legato.retry_flow_run(flow_run_id)

    assert state.name == "Completed"
    assert steps_log.read_text().split() == ["step_5"]
    client = legato.get_client()
    flow_run = client.read_flow_run(flow_run_id)
    assert flow_run.state.name == "Completed"
    assert flow_run.run_count == 2
    task_runs = {t.name: t for t in client.read_task_runs(flow_run_id)}
    assert sorted(task_runs) == [
        "step_1_download-0",
        "step_2_clean-0",
        "step_3_enrich-0",
        "step_4_aggregate-0",
        "step_5_publish-0",
    ]
    assert {t.state.name for t in task_runs.values()} == {"Completed"}
    download_history = [
        s.name for s in client.read_state_history(task_runs["step_1_download-0"].id)
    ]
    assert download_history.count("Running") == 1
    publish_history = [s.name for s in client.read_state_history(task_runs["step_5_publish-0"].id)]
    assert publish_history.count("Running") == 2
    assert publish_history[-1] == "Completed"
    assert "Failed" in publish_history
