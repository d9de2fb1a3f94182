"""``legato.retry_flow_run(id)`` in a process that has the flow loaded already uses that
flow object: it does not import the file again (which would run a script's top level
a second time) and it reaches a flow defined inside a function."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from fixtures.commands import legato_env, run_legato

TASKS = """
    @task
    def extract():
        with open("extract.txt", "a") as marks:
            marks.write("ran\\n")
        return 21

    @task
    def load(value):
        flag = pathlib.Path("fail-once")
        if flag.exists():
            flag.unlink()
            raise RuntimeError("the first attempt fails")
        return value * 2

    @flow
    def pipeline():
        return load(extract())
"""

HEADER = """
import pathlib
import sys

import legato
from legato import flow, task

with open("top-level.txt", "a") as marks:
    marks.write("ran\\n")
"""

RETRY_HERE = """
final = legato.retry_flow_run(state.run_id)
print("retry:", final.name, final.result())
"""


def _inside_a_function(retry: str) -> str:
    """A script that defines its flow inside a function, calls it, then ``retry``."""
    body = textwrap.dedent(TASKS) + textwrap.dedent(
        """
        state = pipeline(return_state=True)
        print("first:", state.name, state.run_id)
        """
    )
    return HEADER + "\n\ndef _():" + textwrap.indent(body + retry, "    ") + "\n\n_()\n"


AT_TOP_LEVEL = (
    HEADER
    + textwrap.dedent(TASKS)
    + textwrap.dedent(
        """
        if len(sys.argv) > 1:
            final = legato.retry_flow_run(sys.argv[1])
            print("retry:", final.name, final.result())
        else:
            state = pipeline(return_state=True)
            print("first:", state.name, state.run_id)
        """
    )
)


def _python(folder: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "script.py", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def _first_run_id(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("first:"))
    assert line.split()[1] == "Failed", output
    return line.split()[2]


def _shown(flow_run_id: str, env: dict[str, str]) -> dict[str, object]:
    done = run_legato("runs", "show", flow_run_id, "--json", env=env, check=True)
    return dict(json.loads(done.stdout))


def test_retry_of_a_flow_defined_in_a_function_runs_in_the_same_process(tmp_path: Path) -> None:
    env = legato_env(tmp_path / "home")
    (tmp_path / "script.py").write_text(_inside_a_function(RETRY_HERE))
    (tmp_path / "fail-once").touch()
    output = _python(tmp_path, env)
    flow_run_id = _first_run_id(output)
    assert "retry: Completed 42" in output
    assert _lines(tmp_path / "top-level.txt") == 1  # the file was not imported again
    assert _lines(tmp_path / "extract.txt") == 1  # its finished task run was reused
    shown = _shown(flow_run_id, env)
    assert shown["state"]["name"] == "Completed"  # type: ignore[index]
    assert shown["run_count"] == 2


def test_retry_called_at_a_scripts_top_level_does_not_import_it_again(tmp_path: Path) -> None:
    env = legato_env(tmp_path / "home")
    (tmp_path / "script.py").write_text(AT_TOP_LEVEL)
    (tmp_path / "fail-once").touch()
    flow_run_id = _first_run_id(_python(tmp_path, env))
    output = _python(tmp_path, env, flow_run_id)
    assert "retry: Completed 42" in output
    assert _lines(tmp_path / "top-level.txt") == 2  # once per process
    assert _lines(tmp_path / "extract.txt") == 1
    assert _shown(flow_run_id, env)["run_count"] == 2


def test_retry_of_a_flow_defined_in_a_function_elsewhere_names_the_way_out(
    tmp_path: Path,
) -> None:
    env = legato_env(tmp_path / "home")
    (tmp_path / "script.py").write_text(_inside_a_function(""))
    (tmp_path / "fail-once").touch()
    flow_run_id = _first_run_id(_python(tmp_path, env))
    done = run_legato("runs", "retry", flow_run_id, env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "defined inside a function" in done.stderr
    assert "legato.retry_flow_run" in done.stderr
    assert _lines(tmp_path / "top-level.txt") == 1
