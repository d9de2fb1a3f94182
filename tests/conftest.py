"""Test isolation shared by the whole suite (its helpers live in tests/fixtures/).

Every test gets its own ``LEGATO_HOME`` (so the embedded SQLite store, results
and logs live under ``tmp_path``), no inherited server/database/results URLs,
and freshly reset process-wide singletons (settings and the default
orchestrator) before and after it runs. The ``fuzz`` tests run only in CI.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.postgres import PostgresServer, reachable_postgres_server
from fixtures.reports import utf8_encodable
from fixtures.singletons import reset_singletons

# Set at import time, before any test module imports legato, so that nothing
# (not even collection-time code) can ever touch the real ~/.legato.
_SESSION_HOME = tempfile.mkdtemp(prefix="legato-test-home-")
os.environ["LEGATO_HOME"] = _SESSION_HOME
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)

# The CLI prints 200 columns wide when stdout is not a terminal, unless COLUMNS says
# otherwise; a pytest-xdist worker has COLUMNS=80 (and LINES=24) set, which would wrap
# the tables the CLI tests read. Tests that want a width set it themselves.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

# A shell starts a background job with SIGINT ignored, and the processes it starts
# inherit that: a CLI process a test interrupts (Ctrl-C) would never hear it. A signal
# handled here is back to its default in the processes started from here; an ignored
# one would stay ignored.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_URL_VARIABLES = ("LEGATO_DATABASE_URL", "LEGATO_API_URL", "LEGATO_RESULTS_URL")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
"""``.ci/run`` sets CI=true: the fuzz runs there, and not in a local ``make test``."""


@pytest.hookimpl(trylast=True)  # after the conftest.py files that name groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order and group the tests for pytest-xdist; skip the ``fuzz`` tests outside CI
    (saying how to run them).

    ``make test`` runs ``--dist loadgroup --no-loadscope-reorder``: xdist hands each
    group whole to one worker, in the order of this list. A module is a group of its
    own (its module-scoped servers and stores are built once) unless it has one already
    (``xdist_group``: tests/server/conftest.py puts the tests on its ``served`` store in
    one); the modules marked ``slow`` come first, so the long ones start at once and
    the many short ones fill the gaps.
    """
    items.sort(key=lambda item: not _in_slow_module(item))
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    if IN_CI:
        return
    skip = pytest.mark.skip(reason="the schemathesis fuzz runs in CI only (set CI=true to run it)")
    for item in items:
        if item.get_closest_marker("fuzz"):
            item.add_marker(skip)


def _in_slow_module(item: pytest.Item) -> bool:
    module = item.getparent(pytest.Module)
    return module is not None and module.get_closest_marker("slow") is not None


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: twice the CPUs this process may use. A test spends most of its time
    waiting on the processes it started (servers, workers, flows), not computing."""
    return 2 * len(os.sched_getaffinity(0))


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    config: pytest.Config, report: pytest.CollectReport | pytest.TestReport
) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
    """Reports sent by an xdist worker hold only UTF-8 text (see fixtures/reports.py)."""
    data = yield
    return None if data is None else utf8_encodable(data)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point LEGATO_HOME at a fresh ``tmp_path/"home"`` for one test; yield it."""
    home = tmp_path / "home"
    monkeypatch.setenv("LEGATO_HOME", str(home))
    for name in _URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    reset_singletons()
    yield home
    reset_singletons()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The machine's PostgreSQL server (see tests/fixtures/postgres.py), or a skip."""
    return reachable_postgres_server()
