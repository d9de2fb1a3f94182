"""The home folder, the SQLite store and task results are private to their owner.

They hold parameters, logs and results; under the usual umask (022) they used to be
created readable by every user of the machine.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from legato import flow, task
from legato.settings import get_settings
from legato.store import Store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_store_files_are_private_when_a_new_home_is_created(isolated_home: Path) -> None:
    store = Store(get_settings().effective_database_url)
    try:
        store.create_api_key("someone")  # a write: SQLite makes the -wal and -shm files
        database = isolated_home / "legato.db"
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert all(file.exists() for file in files)
        assert {file.name: _mode(file) for file in files} == {file.name: 0o600 for file in files}
    finally:
        store.close()
    assert _mode(isolated_home) == 0o700


def test_store_files_are_made_private_when_an_older_store_was_open_to_others(
    isolated_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    isolated_home.mkdir(mode=0o755)
    database = isolated_home / "legato.db"
    sqlite3.connect(database).close()
    database.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="legato.store"):
        Store(get_settings().effective_database_url).close()

    assert _mode(database) == 0o600
    assert f"{database} was readable by other users (mode 644)" in caplog.text
    assert _mode(isolated_home) == 0o755  # a folder the user made keeps its mode


def test_results_folder_and_files_are_private_when_a_flow_persists_a_result(
    isolated_home: Path,
) -> None:
    @task(persist_result=True)
    def secret() -> str:
        return "s3cr3t"

    @flow
    def keeps_a_secret() -> str:
        return secret()

    assert keeps_a_secret() == "s3cr3t"

    results = isolated_home / "results"
    written = [path for path in results.rglob("*")]
    assert any(path.is_file() for path in written)
    assert _mode(results) == 0o700
    modes = {str(path.relative_to(results)): _mode(path) for path in written}
    expected = {
        str(path.relative_to(results)): 0o700 if path.is_dir() else 0o600 for path in written
    }
    assert modes == expected


def test_results_are_written_where_a_file_url_points_when_result_storage_is_file_url(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``file:///abs/path`` is an fsspec URL like ``s3://``: its results were written
    below the working directory, in a folder named ``file:``."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "elsewhere" / "results"

    @task(persist_result=True, result_storage=f"file://{target}")
    def secret() -> str:
        return "s3cr3t"

    @flow
    def keeps_a_secret_there() -> str:
        return secret()

    assert keeps_a_secret_there() == "s3cr3t"

    assert not (tmp_path / "file:").exists()
    written = [path for path in target.rglob("*") if path.is_file()]
    assert len(written) == 1
    assert _mode(written[0]) == 0o600
    assert _mode(target) == 0o700


def test_config_folder_is_private_when_config_set_creates_home(isolated_home: Path) -> None:
    from legato.settings import write_config_file

    write_config_file(isolated_home / "config.toml", {"log_level": "DEBUG"})

    assert _mode(isolated_home) == 0o700
    assert _mode(isolated_home / "config.toml") == 0o600
