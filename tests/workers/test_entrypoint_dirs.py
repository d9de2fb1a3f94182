"""A worker limited to entrypoint directories runs nothing from elsewhere.

Whoever can create deployments chooses the entrypoint, and importing it runs its code
on the worker. `legato worker start --entrypoint-dir DIR` refuses, before importing it,
an entrypoint whose file (symlinks followed) or module lies outside DIR.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.commands import run_legato
from fixtures.processes import stop
from fixtures.runs import wait_all_final
from fixtures.workers import start_worker
from legato.schemas.deployments import DeploymentRunRequest, DeploymentSpec
from legato.store import Store
from legato.workers.entrypoints import EntrypointRefused, load_flow

GOOD = textwrap.dedent(
    """
    from legato import flow


    @flow
    def good() -> str:
        return "ran"
    """
)

EVIL = textwrap.dedent(
    """
    from pathlib import Path

    from legato import flow

    Path({marker!r}).write_text("imported")


    @flow
    def evil() -> str:
        return "ran"
    """
)


@dataclass
class Layout:
    allowed: Path
    outside: Path
    marker: Path


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    marker = tmp_path / "evil-was-imported"
    (allowed / "good.py").write_text(GOOD)
    (allowed / "goodmod.py").write_text(GOOD)
    (outside / "evil.py").write_text(EVIL.format(marker=str(marker)))
    (outside / "evilmod.py").write_text(EVIL.format(marker=str(marker)))
    (outside / "evilpkg").mkdir()
    (outside / "evilpkg" / "__init__.py").write_text(EVIL.format(marker=str(marker)))
    (allowed / "link.py").symlink_to(outside / "evil.py")
    (allowed / "linked-folder").symlink_to(outside)
    return Layout(allowed, outside, marker)


def _entrypoints(layout: Layout) -> dict[str, str]:
    return {
        "inside": f"{layout.allowed / 'good.py'}:good",
        "inside-module": "goodmod:good",
        "outside": f"{layout.outside / 'evil.py'}:evil",
        "dot-dot": f"{layout.allowed}/../outside/evil.py:evil",
        "symlinked-file": f"{layout.allowed / 'link.py'}:evil",
        "symlinked-folder": f"{layout.allowed / 'linked-folder' / 'evil.py'}:evil",
        "outside-module": "evilmod:evil",
        "outside-package-module": "evilpkg.sub:evil",
        "stdlib-module": "json:loads",
    }


@pytest.fixture
def worker_env(layout: Layout, isolated_home: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "LEGATO_HOME": str(isolated_home),
        "PYTHONPATH": os.pathsep.join([str(layout.outside), str(layout.allowed)]),
        "LEGATO_WORKER_POLL_INTERVAL": "0.1",
        "LEGATO_WORKER_HEARTBEAT_INTERVAL": "0.5",
    }
    yield env


@pytest.mark.parametrize("launcher", ["process", "fork"])
def test_worker_refuses_entrypoints_outside_its_dirs_without_importing_them(
    layout: Layout, worker_env: dict[str, str], isolated_home: Path, launcher: str
) -> None:
    store = Store(f"sqlite:///{isolated_home / 'legato.db'}")
    try:
        run_ids: dict[str, str] = {}
        for name, entrypoint in _entrypoints(layout).items():
            deployment = store.deploy(
                DeploymentSpec(flow_name=name, name="d", entrypoint=entrypoint, work_pool="limited")
            )
            run_ids[name] = store.create_deployment_run(deployment.id, DeploymentRunRequest()).id

        output = isolated_home.parent / "worker.log"
        worker = start_worker(
            layout.allowed,
            worker_env,
            *("--launcher", launcher, "--entrypoint-dir", str(layout.allowed)),
            pool="limited",
            output=output,
        )
        try:
            finals = wait_all_final(store, list(run_ids.values()))
            runs = dict(zip(run_ids, finals, strict=True))
        finally:
            stop(worker)
    finally:
        store.close()

    states = {name: run.state.name for name, run in runs.items()}
    assert states == {
        "inside": "Completed",
        "inside-module": "Completed",
        **{name: "Failed" for name in runs if name not in ("inside", "inside-module")},
    }, output.read_text()
    for name, run in runs.items():
        if run.state.name == "Failed":
            message = run.state.message or ""
            assert "outside the directories this worker runs flows from" in message, name
            assert str(layout.allowed) in message, name
    assert "symlinked" not in runs["symlinked-file"].state.message
    assert f"is the file {layout.outside / 'evil.py'}" in runs["symlinked-file"].state.message
    assert f"imports 'evilmod' from {layout.outside / 'evilmod.py'}" in (
        runs["outside-module"].state.message or ""
    )
    assert not layout.marker.exists(), "code outside the entrypoint directories was imported"
    assert f"runs flows only from {layout.allowed}" in output.read_text()


def test_worker_refuses_to_start_when_an_entrypoint_dir_does_not_exist(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    done = run_legato(
        *("worker", "start", "--pool", "p", "--entrypoint-dir", str(tmp_path / "typo")),
        env=worker_env,
        timeout=60,
    )

    assert done.returncode == 1
    assert f"the entrypoint directory {tmp_path / 'typo'} does not exist" in done.stderr


def test_load_flow_follows_the_module_path_without_importing_when_limited(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(layout.allowed))
    monkeypatch.syspath_prepend(str(layout.outside))
    (layout.allowed / "okpkg").mkdir()
    (layout.allowed / "okpkg" / "__init__.py").write_text("")
    (layout.allowed / "okpkg" / "flows.py").write_text(GOOD)

    assert load_flow("okpkg.flows:good", allowed_dirs=[layout.allowed]).name == "good"
    with pytest.raises(EntrypointRefused, match="imports 'evilpkg' from"):
        load_flow("evilpkg.sub:evil", allowed_dirs=[layout.allowed])
    with pytest.raises(EntrypointRefused, match="imports 'json' from"):
        load_flow("json:loads", allowed_dirs=[layout.allowed])
    with pytest.raises(EntrypointRefused, match="'sys', which is not a file"):
        load_flow("sys:exit", allowed_dirs=[layout.allowed])
    assert not layout.marker.exists()
    assert "evilpkg" not in sys.modules
