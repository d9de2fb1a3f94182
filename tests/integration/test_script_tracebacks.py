"""What ``python my_flow.py`` prints when a task fails: the user's traceback once, without
legato's frames (all of them with LEGATO_LOG_LEVEL=DEBUG), and the line naming the run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import legato
from fixtures.singletons import reset_singletons

TASK_FAILS = textwrap.dedent(
    """
    from legato import flow, task


    @task
    def load(i):
        raise ValueError(f"bad row {i}")


    @flow
    def pipeline():
        return load(1)


    pipeline()
    """
)

FLOW_FAILS = textwrap.dedent(
    """
    from legato import flow, task


    @task
    def load(i):
        return i


    def helper(x):
        raise KeyError(x)


    @flow
    def pipeline():
        helper(load(1))


    pipeline()
    """
)


def _run(tmp_path: Path, source: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "my_flow.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "LEGATO_HOME": str(tmp_path / "home"), **env},
        timeout=120,
    )


def _frames(stderr: str) -> list[str]:
    return re.findall(r'File "([^"]+)"', stderr)


def test_a_failed_task_prints_its_traceback_once_without_legato_frames(tmp_path: Path) -> None:
    done = _run(tmp_path, TASK_FAILS)

    assert done.returncode == 1
    err = done.stderr
    assert err.count("Traceback (most recent call last)") == 1, err
    assert err.count('raise ValueError(f"bad row {i}")') == 1, err
    assert _frames(err) == [str(tmp_path / "my_flow.py")], err
    assert "Task run 'load-0' failed: ValueError: bad row 1" in err
    assert err.rstrip().endswith(
        "ValueError: bad row 1\n(raised in task run 'load-0': its traceback is in that run's "
        "log above; LEGATO_LOG_LEVEL=DEBUG shows legato's frames too)"
    ), err
    assert re.search(r"legato: flow run '.+' \([0-9a-f-]{36}\) ended Failed; see it with", err)


def test_the_stored_log_line_has_the_same_short_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(tmp_path, TASK_FAILS)
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "home"))
    reset_singletons()
    [run] = legato.get_client().read_flow_runs()
    [line] = [
        line
        for line in legato.get_client().read_logs(run.id)
        if "failed: ValueError" in line.message
    ]
    assert "Traceback (most recent call last)" in line.message
    assert _frames(line.message) == [str(tmp_path / "my_flow.py")]


def test_a_failed_flow_body_prints_the_users_frames_only(tmp_path: Path) -> None:
    done = _run(tmp_path, FLOW_FAILS)

    assert done.returncode == 1
    err = done.stderr
    assert err.count("Traceback (most recent call last)") == 1, err
    assert _frames(err) == [str(tmp_path / "my_flow.py")] * 3, err
    assert err.rstrip().endswith("KeyError: 1")


@pytest.mark.parametrize("source", [TASK_FAILS, FLOW_FAILS], ids=["task", "flow"])
def test_debug_level_shows_legato_frames(tmp_path: Path, source: str) -> None:
    done = _run(tmp_path, source, LEGATO_LOG_LEVEL="DEBUG")

    assert done.returncode == 1
    assert any("legato" in Path(frame).parts for frame in _frames(done.stderr)), done.stderr
