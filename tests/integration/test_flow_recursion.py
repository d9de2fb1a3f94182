"""A flow that calls itself as a subflow without end runs out of stack; every flow run
and task run it stored still ends Failed with the RecursionError, wherever the stack ran
out (the padding moves that point through the engine's steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import legato
from fixtures.scripts import Scripts
from legato.states import TERMINAL_TYPES, StateType

RECURSIVE_FLOW = """
import json
import sys
from pathlib import Path

from legato import flow

HERE = Path(__file__).parent


def pad(depth, then):
    # Frames between two flow calls: moves the point where the stack runs out.
    return pad(depth - 1, then) if depth else then()


@flow
def forever(n: int, padding: int) -> int:
    return pad(padding, lambda: forever(n + 1, padding))


if __name__ == "__main__":
    sys.setrecursionlimit(int(sys.argv[1]))
    raised = []
    for padding in range(int(sys.argv[2])):
        try:
            forever(0, padding)
        except RecursionError as exc:
            raised.append(type(exc).__name__)
    (HERE / "raised.json").write_text(json.dumps(raised))
"""


@pytest.mark.parametrize("limit", [400, 1000])
def test_every_run_of_a_flow_recursing_without_end_ends_final(
    limit: int, scripts: Scripts, tmp_path: Path
) -> None:
    paddings = 12
    path = scripts.write("recursive.py", RECURSIVE_FLOW)

    done = scripts.run(path, str(limit), str(paddings), timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    raised = json.loads((scripts.folder / "raised.json").read_text())
    assert raised == ["RecursionError"] * paddings
    client = legato.get_client()
    runs = client.read_flow_runs(limit=100_000)
    assert len(runs) > 2 * paddings
    unfinished = [
        (r.name, r.flow_name, r.state.name) for r in runs if r.state.type not in TERMINAL_TYPES
    ]
    assert unfinished == []
    task_runs = []
    for run in runs:
        assert run.state.type is StateType.FAILED, (run.flow_name, run.state)
        assert "RecursionError" in (run.state.message or "")
        for task_run in client.read_task_runs(run.id):
            assert task_run.state.type in TERMINAL_TYPES, (run.flow_name, task_run.state)
            task_runs.append(task_run)
    # Some runs could not record their end on the stack they ran out of: it was recorded
    # from a fresh stack, on the run's task run in its parent (and on the run itself when
    # the stack ran out after it was stored: where exactly it runs out moves with every
    # frame legato's code adds, so which paddings land there is chance).
    ended_elsewhere = [
        item for item in (*runs, *task_runs) if "ran out of stack" in (item.state.message or "")
    ]
    assert ended_elsewhere
