"""Test isolation shared by the whole suite.

Every test gets its own ``LEGATO_HOME`` (so the embedded SQLite store, results
and logs live under ``tmp_path``), no inherited server/database/results URLs,
and freshly reset process-wide singletons (settings and the default
orchestrator) before and after it runs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set at import time, before any test module imports legato, so that nothing
# (not even collection-time code) can ever touch the real ~/.legato.
_SESSION_HOME = tempfile.mkdtemp(prefix="legato-test-home-")
os.environ["LEGATO_HOME"] = _SESSION_HOME
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)

_URL_VARIABLES = ("LEGATO_DATABASE_URL", "LEGATO_API_URL", "LEGATO_RESULTS_URL")


def _reset_singletons() -> None:
    """Drop the default orchestrator (it may hold a store), then the settings."""
    try:
        from legato.orchestrator.default import reset_default_orchestrator
    except ImportError as exc:
        # Tolerate only "that module is not written yet", not a broken import inside it.
        if exc.name not in {"legato.orchestrator", "legato.orchestrator.default"}:
            raise
    else:
        reset_default_orchestrator()

    from legato.settings import reset_settings

    reset_settings()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point LEGATO_HOME at a fresh ``tmp_path/"home"`` for one test; yield it."""
    home = tmp_path / "home"
    monkeypatch.setenv("LEGATO_HOME", str(home))
    for name in _URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _reset_singletons()
    yield home
    _reset_singletons()


@pytest.fixture(scope="session")
def postgres_server() -> object:
    """The machine's PostgreSQL server (see tests/postgres_support.py), or a skip."""
    from postgres_support import reachable_postgres_server

    return reachable_postgres_server()
