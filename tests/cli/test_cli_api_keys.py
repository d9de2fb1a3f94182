"""``legato api-key``: create, list and delete the keys of the local store."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import sqlalchemy as sa

from fixtures.cli import cli
from fixtures.commands import run_legato
from legato.store import Store


def _store() -> Store:
    return Store(f"sqlite:///{Path(os.environ['LEGATO_HOME']) / 'legato.db'}")


def _key_of(output: str) -> str:
    keys = [line for line in output.splitlines() if line.startswith("lgk_")]
    assert len(keys) == 1, output
    return keys[0]


def test_create_prints_the_key_once_and_stores_its_hash() -> None:
    result = cli("api-key", "create", "ci")

    assert result.exit_code == 0, result.output
    key = _key_of(result.stdout)
    assert "will not be shown again" in result.stdout
    assert "LEGATO_API_KEY" in result.stdout
    store = _store()
    try:
        record = store.find_api_key(key)
        assert record is not None and record.name == "ci" and not record.read_only
        with store.engine.connect() as conn:
            hashes = conn.exec_driver_sql("SELECT key_hash FROM api_keys").scalars().all()
    finally:
        store.close()
    assert hashes == [hashlib.sha256(key.encode()).hexdigest()]


def test_create_read_only() -> None:
    result = cli("api-key", "create", "dashboard", "--read-only")

    assert result.exit_code == 0, result.output
    assert "read-only" in result.stdout
    store = _store()
    try:
        record = store.find_api_key(_key_of(result.stdout))
    finally:
        store.close()
    assert record is not None and record.read_only


def test_create_a_duplicate_name_fails_clearly() -> None:
    assert cli("api-key", "create", "ci").exit_code == 0
    done = run_legato("api-key", "create", "ci")

    assert done.returncode == 1
    assert "error: an API key named 'ci' already exists" in done.stderr
    assert "Traceback" not in done.stderr
    assert "lgk_" not in done.stdout


def test_ls_never_shows_keys() -> None:
    first = _key_of(cli("api-key", "create", "ci").stdout)
    second = _key_of(cli("api-key", "create", "dashboard", "--read-only").stdout)

    table = cli("api-key", "ls")
    as_json = cli("api-key", "ls", "--json")

    assert table.exit_code == 0 and as_json.exit_code == 0
    for output in (table.stdout, as_json.stdout):
        assert first not in output and second not in output
        assert "lgk_" not in output
    assert "ci" in table.stdout and "read-write" in table.stdout
    assert "dashboard" in table.stdout and "read-only" in table.stdout
    records = json.loads(as_json.stdout)
    assert [(r["name"], r["read_only"], r["last_used"]) for r in records] == [
        ("ci", False, None),
        ("dashboard", True, None),
    ]
    assert set(records[0]) == {"id", "name", "read_only", "created", "last_used", "internal"}


def test_ls_of_no_keys() -> None:
    assert json.loads(cli("api-key", "ls", "--json").stdout) == []
    result = cli("api-key", "ls")
    assert result.exit_code == 0
    assert "No API keys" in result.stdout


def test_delete() -> None:
    key = _key_of(cli("api-key", "create", "ci").stdout)
    cli("api-key", "create", "other")

    result = cli("api-key", "delete", "ci")

    assert result.exit_code == 0, result.output
    assert "Deleted API key 'ci'" in result.stdout
    store = _store()
    try:
        assert store.find_api_key(key) is None
        assert [r.name for r in store.list_api_keys()] == ["other"]
    finally:
        store.close()


def test_delete_of_the_last_key_is_refused_without_force() -> None:
    key = _key_of(cli("api-key", "create", "ci").stdout)

    done = run_legato("api-key", "delete", "ci")

    assert done.returncode == 1
    assert "error: 'ci' is the last API key" in done.stderr
    assert "refuses everything but /api/health" in done.stderr
    assert "--force" in done.stderr
    store = _store()
    try:
        assert store.find_api_key(key) is not None
    finally:
        store.close()


def test_delete_of_the_last_key_happens_when_forced() -> None:
    key = _key_of(cli("api-key", "create", "ci").stdout)

    result = cli("api-key", "delete", "ci", "--force")

    assert result.exit_code == 0, result.output
    store = _store()
    try:
        assert store.find_api_key(key) is None
        assert store.list_api_keys() == []
    finally:
        store.close()


def test_delete_an_unknown_key_fails_clearly() -> None:
    done = run_legato("api-key", "delete", "nope")

    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: no API key named 'nope'")


def test_keys_survive_in_the_store_file() -> None:
    cli("api-key", "create", "ci")
    engine = sa.create_engine(f"sqlite:///{Path(os.environ['LEGATO_HOME']) / 'legato.db'}")
    try:
        with engine.connect() as conn:
            names = conn.exec_driver_sql("SELECT name FROM api_keys").scalars().all()
    finally:
        engine.dispose()
    assert names == ["ci"]


def test_help_lists_the_commands() -> None:
    result = cli("api-key", "--help")
    assert result.exit_code == 0
    for command in ("create", "ls", "delete"):
        assert command in result.stdout


def test_ls_shows_a_running_server_s_own_key_which_does_not_make_keys_required() -> None:
    store = _store()
    try:
        store.create_api_key("server-worker-host-1", internal=True)
        assert not store.has_api_keys()  # a keyless server stays keyless while it runs
    finally:
        store.close()
    result = cli("api-key", "ls")
    assert result.exit_code == 0, result.output
    assert "server-worker-host-1" in result.stdout
    assert "internal: a server's worker" in result.stdout
    assert "Only a running server's own key" in result.stdout
    listed = json.loads(cli("api-key", "ls", "--json").stdout)
    assert [(key["name"], key["internal"]) for key in listed] == [("server-worker-host-1", True)]
    assert cli("api-key", "delete", "server-worker-host-1").exit_code == 0  # revocable
    assert json.loads(cli("api-key", "ls", "--json").stdout) == []
