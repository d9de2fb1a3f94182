"""Fixtures for the CLI tests: real flow files run as real processes.

``recorded`` is a store filled once per module by running a flow file three
times (``python flows.py ...``); tests that only read share it. Tests that
write (retries) build their own runs in the per-test ``LEGATO_HOME``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.cli import PIPELINE_FILE, RESUMABLE_FILE, Recorded, run_file
from fixtures.singletons import reset_singletons


@pytest.fixture(scope="module")
def recorded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recorded")
    home = folder / "home"
    flow_file = folder / "flows.py"
    flow_file.write_text(PIPELINE_FILE)
    for args in (("pipeline", "first"), ("broken",), ("pipeline", "last")):
        done = run_file(flow_file, *args, home=home)
        assert (done.returncode == 0) == (args[0] == "pipeline"), done.stderr
    return home


@pytest.fixture
def recorded(recorded_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    """Point this test at the shared store of three runs (pipeline, broken, pipeline)."""
    monkeypatch.setenv("LEGATO_HOME", str(recorded_home))
    reset_singletons()
    import legato

    runs = sorted(legato.get_client().read_flow_runs(limit=10), key=lambda run: run.created)
    assert [run.flow_name for run in runs] == ["pipeline", "broken", "pipeline"]
    yield Recorded(recorded_home, runs[0].id, runs[1].id, runs[2].id)
    reset_singletons()


@pytest.fixture
def resumable_file(tmp_path: Path) -> Path:
    path = tmp_path / "project" / "resumable.py"
    path.parent.mkdir()
    path.write_text(RESUMABLE_FILE)
    return path
