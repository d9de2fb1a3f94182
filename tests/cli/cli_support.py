"""Flow files and CLI runners shared by the CLI tests (imported by conftest and tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner, Result

from legato.cli.app import app

PIPELINE_FILE = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from legato import flow, get_run_logger, task

    HERE = Path(__file__).parent


    @task
    def extract():
        return [1, 2]


    @task
    def double(x):
        return x * 2


    @task(retries=1, retry_delay_seconds=0)
    def flaky(label):
        marker = HERE / f"flaky-{label}.done"
        if not marker.exists():
            marker.write_text("")
            raise RuntimeError("first attempt fails")
        return 1


    @task
    def load(values, extra):
        get_run_logger().info("loaded %d rows", sum(values))
        return sum(values) + extra


    @flow
    def pipeline(label: str = "x"):
        get_run_logger().info("pipeline %s starting", label)
        rows = extract.submit()
        doubled = double.map([1, 2], wait_for=[rows])
        extra = flaky.submit(label)
        return load.submit(doubled, extra).result()


    @flow
    def broken():
        raise ValueError("boom [/x] :x:")


    if __name__ == "__main__":
        if sys.argv[1] == "pipeline":
            pipeline(sys.argv[2])
        else:
            broken()
    """
)

RESUMABLE_FILE = textwrap.dedent(
    """
    from pathlib import Path

    from legato import flow, task

    HERE = Path(__file__).parent


    def count(name):
        path = HERE / f"{name}.count"
        path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))


    @task
    def extract():
        count("extract")
        return 21


    @task
    def load(value):
        count("load")
        if not (HERE / "fixed").exists():
            raise RuntimeError("not fixed yet")
        return value * 2


    @flow
    def resumable():
        return load(extract.submit())


    if __name__ == "__main__":
        resumable()
    """
)


def run_file(path: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a flow file as ``python path args...`` against ``home`` (default: the test's)."""
    env = dict(os.environ)
    if home is not None:
        env["LEGATO_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=path.parent,
        timeout=120,
    )


def cli_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m legato args...`` as a real process, on the current ``LEGATO_HOME``."""
    return subprocess.run(
        [sys.executable, "-m", "legato", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def cli(*args: str) -> Result:
    """The CLI in this process (typer's runner), on the current ``LEGATO_HOME``."""
    return CliRunner().invoke(app, list(args))


@dataclass(frozen=True)
class Recorded:
    """The shared store of the ``recorded`` fixture and the ids of its three runs."""

    home: Path
    first_pipeline_id: str
    broken_id: str
    last_pipeline_id: str
