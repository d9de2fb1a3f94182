"""What ``make demo`` runs: the three examples, each as a real ``python file.py`` run.

1. ``etl.py`` twice: extract fails once and is retried; the second run's mapped
   transform task runs are served from the cache.
2. ``many_tasks.py``: 10,000 mapped task runs, every one recorded.
3. ``resume.py``: a five-step pipeline fails at step 5; the demo "fixes" it
   (``RESUME_DEMO_FIXED=1``) and runs ``legato runs retry ID``: only step 5 runs again.

Everything is recorded in your LEGATO_HOME (default ``~/.legato``), the same store
the ``legato`` command reads, so the demo ends by printing how to look at it. It
can be run any number of times; each run adds new flow runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
PYTHON = sys.executable
RUN_ID = re.compile(r"^flow run id: (\S+)$", re.MULTILINE)


def heading(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def run(args: list[str], env: dict[str, str], shown: str | None = None) -> tuple[int, str]:
    """Run a command, streaming its output (stdout and log lines) as it comes."""
    if shown is None:
        shown = " ".join("python" if a == PYTHON else a for a in args)
    print(f"$ {shown}", flush=True)
    lines: list[str] = []
    with subprocess.Popen(
        args,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            sys.stdout.write(f"  | {line}")
            sys.stdout.flush()
    return process.returncode, "".join(lines)


def run_example(name: str, *args: str, env: dict[str, str], ok: bool = True) -> str:
    """Run ``examples/<name>`` as ``python examples/<name>``; return the flow run id it printed."""
    path = EXAMPLES / name
    try:
        shown = f"python {path.relative_to(Path.cwd())}"
    except ValueError:
        shown = f"python {path}"
    returncode, output = run([PYTHON, str(path), *args], env, " ".join([shown, *args]))
    if ok and returncode != 0:
        sys.exit(f"demo: {name} exited with {returncode}")
    match = RUN_ID.search(output)
    if match is None:
        sys.exit(f"demo: {name} did not print its flow run id")
    return match.group(1)


def retry(flow_run_id: str, env: dict[str, str]) -> int:
    """``legato runs retry ID`` through the CLI, or through the Python API without one."""
    if importlib.util.find_spec("legato.cli.app") is not None:
        args = [PYTHON, "-m", "legato", "runs", "retry", flow_run_id]
        return run(args, env, f"legato runs retry {flow_run_id}")[0]
    code = (
        "import sys, legato; "
        f"state = legato.retry_flow_run({flow_run_id!r}); "
        "print(f'flow run {state.run_id} ended {state.name}'); "
        "sys.exit(0 if state.is_completed() else 1)"
    )
    shown = f"python -c 'import legato; legato.retry_flow_run(\"{flow_run_id}\")'"
    return run([PYTHON, "-c", code], env, f"{shown}    # no legato CLI in this install")[0]


def summarize(flow_run_id: str) -> None:
    """Print the stored flow run and its task runs, read back through legato.get_client()."""
    import legato

    client = legato.get_client()
    record = client.read_flow_run(flow_run_id)
    print(
        f"stored: flow run {record.name!r} ({record.flow_name}) {record.state.name}, "
        f"attempts: {record.run_count}"
    )
    for task_run in client.read_task_runs(flow_run_id):
        print(
            f"  {task_run.name:<20} {task_run.state.name:<10} starts in its last attempt: {task_run.run_count}"
        )


def main() -> None:
    from legato.settings import get_settings

    home = get_settings().home_path
    print(f"legato demo: runs are recorded under {home} (LEGATO_HOME)")
    env = {k: v for k, v in os.environ.items() if k not in ("RESUME_DEMO_FIXED", "RESUME_DEMO_LOG")}

    with tempfile.TemporaryDirectory(prefix="legato-demo-") as scratch:
        output = str(Path(scratch) / "etl-output")

        heading("1. ETL: extract (fails once, retried) -> transform.map (cached) -> load")
        etl_id = run_example("etl.py", output, env=env)

        heading("2. ETL again: the transform task runs are served from the cache")
        etl_again_id = run_example("etl.py", output, env=env)
        summarize(etl_again_id)

        heading("3. 10,000 mapped tasks")
        many_id = run_example("many_tasks.py", env=env)

        heading("4. Resume from failure: the pipeline fails at step 5")
        steps_log = Path(scratch) / "steps.log"
        failing_env = {**env, "RESUME_DEMO_LOG": str(steps_log)}
        resume_id = run_example("resume.py", env=failing_env, ok=False)
        summarize(resume_id)

        heading("5. Fix it (RESUME_DEMO_FIXED=1) and retry the same flow run")
        steps_log.write_text("")
        fixed_env = {**failing_env, "RESUME_DEMO_FIXED": "1"}
        returncode = retry(resume_id, fixed_env)
        summarize(resume_id)
        rerun = steps_log.read_text().split()
        print(f"steps that ran again: {', '.join(rerun) or 'none'}")
        if returncode != 0 or rerun != ["step_5"]:
            sys.exit("demo: the retry did not rerun only step 5 and complete")

    legato_cmd = Path(PYTHON).with_name("legato")
    with contextlib.suppress(ValueError):
        legato_cmd = legato_cmd.relative_to(Path.cwd())
    heading("What was recorded")
    print(f"flow runs: etl {etl_id}, {etl_again_id}; many-tasks {many_id}; resume {resume_id}")
    print("Look at them with the legato command (add --json for scripts):")
    print(f"  {legato_cmd} runs ls")
    print(f"  {legato_cmd} runs show {resume_id}")
    print(f"  {legato_cmd} runs logs {resume_id}")
    print(f"  {legato_cmd} runs retry ID    # resume a failed flow run")
    print('or from Python: legato.get_client().read_flow_runs(), read_task_runs("ID"), ...')
    print(f"Data: {home}/legato.db (SQLite, WAL mode) and {home}/results/ (task results).")
    print("Set LEGATO_HOME to keep them elsewhere.")


if __name__ == "__main__":
    main()
