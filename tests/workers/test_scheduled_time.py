"""A run of a deployment knows the time of its slot: ``get_run_context().scheduled_time``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import legato
from legato.schemas.deployments import DeploymentRunRequest
from legato.workers.entrypoints import load_flow

FLOW = textwrap.dedent(
    """
    import sys

    from legato import flow, get_run_context


    @flow
    def report(out: str) -> None:
        slot = get_run_context().scheduled_time
        with open(out, "w") as handle:
            handle.write("none" if slot is None else slot.isoformat())
    """
)


def test_a_backfilled_slot_is_what_the_flow_sees(tmp_path: Path, isolated_home: Path) -> None:
    (tmp_path / "report.py").write_text(FLOW)
    deployment = load_flow(f"{tmp_path / 'report.py'}:report").deploy("daily")
    slot = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    out = tmp_path / "seen.txt"
    run = legato.get_client().create_deployment_run(
        deployment.id,
        DeploymentRunRequest(parameters={"out": str(out)}, scheduled_time=slot),
    )
    done = subprocess.run(
        [sys.executable, "-m", "legato", "flow-run", "execute", run.id],
        env={**os.environ, "LEGATO_HOME": str(isolated_home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == slot.isoformat()
    assert legato.get_client().read_flow_run(run.id).state.name == "Completed"


def test_a_flow_called_from_code_has_no_slot(tmp_path: Path) -> None:
    (tmp_path / "report.py").write_text(FLOW)
    out = tmp_path / "seen.txt"
    load_flow(f"{tmp_path / 'report.py'}:report")(str(out))
    assert out.read_text() == "none"
