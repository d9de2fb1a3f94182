"""An unusable SQLite store gives one clear StoreError naming the file, and is left as it was.

Covers: a corrupt file, a read-only folder, a lock held by another connection, a
schema newer than this code, and the same seen by a user running a flow file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.store_rows import flow_run_row
from legato import flow
from legato.errors import StoreError
from legato.states import State, StateType
from legato.store import Store

HEADER = b"SQLite format 3\x00"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def schema_of(path: Path) -> list[tuple[str, ...]]:
    """Every schema object and the alembic revision, read without changing the file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        objects = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        conn.close()
    return [*objects, *revision]


def migrated_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{path}")
    store.create_flow_run(flow_run_row(), State(StateType.PENDING, "Pending"))
    store.close()
    return path


def open_store(path: Path, **kwargs: float) -> StoreError:
    with pytest.raises(StoreError) as info:
        store = Store(f"sqlite:///{path}", **kwargs)
        store.close()  # pragma: no cover - only reached when the test fails
    return info.value


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


# -- corrupt files -----------------------------------------------------------------------


def random_bytes(path: Path) -> None:
    path.write_bytes(b"\x13\x37" + os.urandom(8190))


def text_file(path: Path) -> None:
    path.write_text("these are my notes, not a database\n" * 100)


def garbled_pages(path: Path) -> None:
    migrated_db(path)
    data = bytearray(path.read_bytes())
    assert data.startswith(HEADER)
    data[100:] = os.urandom(len(data) - 100)  # keep the header, garble every page
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("spoil", [random_bytes, text_file, garbled_pages])
def test_corrupt_file_gives_store_error_and_is_not_modified(tmp_path: Path, spoil: object) -> None:
    db = tmp_path / "legato.db"
    spoil(db)  # type: ignore[operator]
    before = digest(db)
    error = open_store(db)
    message = one_line(error)
    assert str(db) in message
    assert "damaged or not a legato database" in message
    assert "was not modified" in message
    assert digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legato.db"]  # no -wal/-shm left


def test_corrupt_file_error_is_raised_again_on_retry(tmp_path: Path) -> None:
    db = tmp_path / "legato.db"
    text_file(db)
    before = digest(db)
    for _ in range(2):
        open_store(db)
    assert digest(db) == before


# -- read-only folder -------------------------------------------------------------------


def is_writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_text("x")
    except OSError:
        return False
    probe.unlink()
    return True


def make_read_only(paths: list[Path], request: pytest.FixtureRequest) -> None:
    """chmod the paths read-only; as root (where chmod does not stop writes) mark them
    immutable with chattr instead; skip when neither can stop writes here."""
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        request.addfinalizer(lambda path=path, mode=mode: path.chmod(mode))
    folder = next(p for p in paths if p.is_dir())
    if is_writable(folder):
        # root ignores permission bits: use the immutable attribute instead.
        why = "chattr is not installed"
        if shutil.which("chattr"):
            result = subprocess.run(
                ["chattr", "+i", *map(str, paths)], capture_output=True, text=True, check=False
            )
            # always undo, even after a partial success, or tmp_path cannot be removed
            request.addfinalizer(
                lambda: subprocess.run(
                    ["chattr", "-i", *map(str, paths)], capture_output=True, check=False
                )
            )
            why = result.stderr.strip() or "chattr +i had no effect"
        if is_writable(folder):
            pytest.skip(f"running as root, where chmod does not stop writes, and {why}")


def test_read_only_folder_with_migrated_store(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    folder = tmp_path / "home"
    db = migrated_db(folder / "legato.db")
    before = digest(db)
    make_read_only([db, folder], request)
    message = one_line(open_store(db))
    assert str(db) in message
    assert "writable" in message
    assert digest(db) == before


def test_read_only_folder_without_store(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    folder = tmp_path / "home"
    folder.mkdir()
    make_read_only([folder], request)
    db = folder / "legato.db"
    message = one_line(open_store(db))
    assert str(db) in message
    assert "writable" in message
    assert not db.exists()


def test_home_under_a_file_names_the_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    message = one_line(open_store(blocker / "home" / "legato.db"))
    assert str(blocker / "home") in message
    assert "LEGATO_HOME" in message
    assert blocker.read_text() == "x"


# -- locked --------------------------------------------------------------------------------


@pytest.fixture
def exclusive_lock(tmp_path: Path) -> Iterator[Path]:
    """A migrated store whose file another connection holds with BEGIN EXCLUSIVE."""
    db = migrated_db(tmp_path / "home" / "legato.db")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield db
    finally:
        holder.rollback()
        holder.close()


def test_write_while_locked_gives_store_error(exclusive_lock: Path) -> None:
    db = exclusive_lock
    store = Store(f"sqlite:///{db}", lock_timeout=0.2)
    try:
        row = flow_run_row()
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            store.create_flow_run(row, State(StateType.PENDING, "Pending"))
        waited = time.monotonic() - started
    finally:
        store.close()
    message = one_line(info.value)
    assert str(db) in message
    assert "locked" in message
    assert "LEGATO_STORE_LOCK_TIMEOUT" in message
    assert waited >= 0.15  # it did wait for the lock first (no upper bound: machine is shared)


def test_nothing_written_by_a_locked_out_write(tmp_path: Path) -> None:
    db = migrated_db(tmp_path / "legato.db")
    store = Store(f"sqlite:///{db}", lock_timeout=0.2)
    try:
        existing = [r.id for r in store.read_flow_runs()]
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreError, match="locked"):
                store.create_flow_run(flow_run_row(), State(StateType.PENDING, "Pending"))
        finally:
            holder.rollback()
            holder.close()
        assert [r.id for r in store.read_flow_runs()] == existing
        assert len(existing) == 1
        # the store works again once the lock is gone
        store.create_flow_run(flow_run_row(), State(StateType.PENDING, "Pending"))
        assert len(store.read_flow_runs()) == 2
    finally:
        store.close()


def test_open_while_locked_during_migration_gives_store_error(tmp_path: Path) -> None:
    """A new database another connection holds (rollback journal): opening times out."""
    db = tmp_path / "legato.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        message = one_line(open_store(db, lock_timeout=0.2))
    finally:
        holder.rollback()
        holder.close()
    assert str(db) in message
    assert "locked" in message


def test_flow_call_while_locked_uses_lock_timeout_setting(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = migrated_db(isolated_home / "legato.db")
    monkeypatch.setenv("LEGATO_STORE_LOCK_TIMEOUT", "0.2")

    @flow
    def locked_out() -> int:
        return 1

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked") as info:
            locked_out()
    finally:
        holder.rollback()
        holder.close()
    assert str(db) in str(info.value)


# -- newer schema -------------------------------------------------------------------------


def test_newer_schema_gives_store_error_and_changes_nothing(tmp_path: Path) -> None:
    db = migrated_db(tmp_path / "legato.db")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    before_bytes = digest(db)
    before_schema = schema_of(db)

    message = one_line(open_store(db))

    assert str(db) in message
    assert "newer" in message
    assert "'9999'" in message
    assert "Nothing was changed" in message
    assert schema_of(db) == before_schema
    assert digest(db) == before_bytes


# -- what a user running a flow file sees ----------------------------------------------------

FLOW_FILE = """
from legato import flow


@flow
def hello() -> str:
    return "hello"


if __name__ == "__main__":
    print(hello())
"""


def run_flow_file(tmp_path: Path, home: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "hello_flow.py"
    script.write_text(textwrap.dedent(FLOW_FILE))
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("LEGATO_DATABASE_URL", "LEGATO_API_URL", "LEGATO_RESULTS_URL")
    }
    env["LEGATO_HOME"] = str(home)
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def assert_short_store_message(
    result: subprocess.CompletedProcess[str], db: Path, expected: str
) -> None:
    assert result.returncode != 0
    assert str(db) in result.stderr
    assert expected in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) < 15, "a wall of traceback instead of one message:\n" + result.stderr
    assert result.stdout.strip() == ""  # the flow body never ran


def test_flow_file_against_healthy_home_runs(tmp_path: Path) -> None:
    result = run_flow_file(tmp_path, tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "hello"


def test_flow_file_against_corrupt_store_prints_short_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = home / "legato.db"
    text_file(db)
    before = digest(db)
    result = run_flow_file(tmp_path, home)
    assert_short_store_message(result, db, "damaged or not a legato database")
    assert digest(db) == before


def test_flow_file_against_newer_store_prints_short_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = migrated_db(home / "legato.db")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    before = digest(db)
    result = run_flow_file(tmp_path, home)
    assert_short_store_message(result, db, "newer than this legato understands")
    assert digest(db) == before


def test_flow_file_against_locked_store_prints_short_message(
    tmp_path: Path, exclusive_lock: Path
) -> None:
    db = exclusive_lock
    result = run_flow_file(tmp_path, db.parent, LEGATO_STORE_LOCK_TIMEOUT="0.2")
    assert_short_store_message(result, db, "locked")
