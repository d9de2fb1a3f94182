"""``legato config view/set/unset`` on a real ``$LEGATO_HOME/config.toml``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.cli import cli
from fixtures.commands import run_legato
from fixtures.servers import running_server

pytestmark = pytest.mark.slow


@pytest.fixture
def config(isolated_home: Path) -> Path:
    return isolated_home / "config.toml"


def _view() -> dict[str, dict[str, object]]:
    done = run_legato("config", "view", "--json")
    assert done.returncode == 0, done.stderr
    settings: dict[str, dict[str, object]] = json.loads(done.stdout)["settings"]
    return settings


def _row(output: str, key: str) -> list[str]:
    rows = [line.split() for line in output.splitlines() if line.split()[:1] == [key]]
    assert len(rows) == 1, output
    return rows[0]


def test_view_without_a_file_shows_defaults(config: Path) -> None:
    done = run_legato("config", "view")

    assert done.returncode == 0, done.stderr
    assert f"config file: {config} (not created yet)" in done.stdout
    assert _row(done.stdout, "log_level") == ["log_level", "INFO", "default", "LEGATO_LOG_LEVEL"]
    assert _row(done.stdout, "server_max_body_bytes") == [
        "server_max_body_bytes",
        "10485760",
        "default",
        "LEGATO_SERVER_MAX_BODY_BYTES",
    ]
    assert _row(done.stdout, "home") == ["home", str(config.parent), "env", "LEGATO_HOME"]
    assert _row(done.stdout, "api_url")[1:3] == ["unset", "default"]
    assert not config.exists()


@pytest.mark.parametrize("spelling", ["api_url", "api-url", "LEGATO_API_URL"])
def test_set_writes_the_file_and_view_shows_it(config: Path, spelling: str) -> None:
    done = run_legato("config", "set", spelling, "http://example.test:4200")

    assert done.returncode == 0, done.stderr
    assert f"set api_url = 'http://example.test:4200' in {config}" in done.stdout
    assert done.stderr == ""
    assert 'api_url = "http://example.test:4200"' in config.read_text()
    assert _view()["api_url"] == {
        "value": "http://example.test:4200",
        "source": "file",
        "env_var": "LEGATO_API_URL",
    }


def test_set_stores_typed_values(config: Path) -> None:
    for key, value in [
        ("store_lock_timeout", "12"),
        ("server-max-body-bytes", "4096"),
        ("log_level", "debug"),
    ]:
        done = cli("config", "set", key, value)
        assert done.exit_code == 0, done.output

    text = config.read_text()
    assert "store_lock_timeout = 12.0\n" in text
    assert "server_max_body_bytes = 4096\n" in text
    assert 'log_level = "DEBUG"\n' in text
    view = _view()
    assert view["store_lock_timeout"] == {
        "value": 12.0,
        "source": "file",
        "env_var": "LEGATO_STORE_LOCK_TIMEOUT",
    }
    assert view["server_max_body_bytes"]["value"] == 4096
    assert view["log_level"]["value"] == "DEBUG"
    assert view["writer_linger"] == {
        "value": 0.05,
        "source": "default",
        "env_var": "LEGATO_WRITER_LINGER",
    }


def test_environment_wins_and_set_warns(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_LOG_LEVEL", "ERROR")

    done = run_legato("config", "set", "log_level", "DEBUG")

    assert done.returncode == 0, done.stderr
    assert 'log_level = "DEBUG"' in config.read_text()
    assert "warning: the environment variable LEGATO_LOG_LEVEL is set and wins over" in (
        done.stderr
    )
    assert _view()["log_level"] == {
        "value": "ERROR",
        "source": "env",
        "env_var": "LEGATO_LOG_LEVEL",
    }
    monkeypatch.delenv("LEGATO_LOG_LEVEL")
    assert _view()["log_level"]["source"] == "file"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("log_level", "LOUD"),
            "error: cannot set log_level to 'LOUD': Input should be 'DEBUG', 'INFO', "
            "'WARNING', 'ERROR' or 'CRITICAL'",
        ),
        (
            ("store_lock_timeout", "-1"),
            "error: cannot set store_lock_timeout to '-1': Input should be greater than 0",
        ),
        (
            ("server_max_body_bytes", "1.5"),
            "error: cannot set server_max_body_bytes to '1.5': Input should be a valid integer",
        ),
        (("colour", "blue"), "error: unknown setting 'colour'; settable: database_url, api_url"),
        (("home", "/elsewhere"), "error: home cannot be set in the config file"),
    ],
)
def test_bad_set_is_refused_and_file_is_untouched(
    config: Path, args: tuple[str, str], message: str
) -> None:
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('# my notes\napi_url = "http://keep:4200"\n')
    before = config.read_bytes()

    done = run_legato("config", "set", *args)

    assert done.returncode == 1
    assert done.stderr.startswith(message), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert config.read_bytes() == before
    assert sorted(os.listdir(config.parent)) == ["config.toml"]


def test_set_home_explains_legato_home(config: Path) -> None:
    done = run_legato("config", "set", "LEGATO_HOME", "/elsewhere")
    assert done.returncode == 1
    assert "set the LEGATO_HOME environment variable instead" in done.stderr
    assert not config.exists()


def test_unset(config: Path) -> None:
    assert cli("config", "set", "api_url", "http://a:1").exit_code == 0
    assert cli("config", "set", "log_level", "WARNING").exit_code == 0

    done = run_legato("config", "unset", "api-url")

    assert done.returncode == 0, done.stderr
    assert f"unset api_url in {config}" in done.stdout
    assert "api_url" not in config.read_text()
    assert 'log_level = "WARNING"' in config.read_text()
    assert _view()["api_url"] == {"value": None, "source": "default", "env_var": "LEGATO_API_URL"}

    before = config.read_bytes()
    again = run_legato("config", "unset", "api_url")
    assert again.returncode == 0
    assert "api_url is not set in" in again.stdout
    assert config.read_bytes() == before


def test_api_key_is_masked_unless_asked(config: Path) -> None:
    done = run_legato("config", "set", "api_key", "lgk_secret_value")
    assert done.returncode == 0, done.stderr
    assert "lgk_secret_value" not in done.stdout
    assert 'api_key = "lgk_secret_value"' in config.read_text()

    shown = run_legato("config", "view")
    assert "lgk_secret_value" not in shown.stdout
    assert _row(shown.stdout, "api_key")[1:3] == ["********", "file"]
    assert _view()["api_key"]["value"] == "********"

    secrets = run_legato("config", "view", "--json", "--show-secrets")
    assert json.loads(secrets.stdout)["settings"]["api_key"]["value"] == "lgk_secret_value"


@pytest.mark.parametrize(
    "command",
    [("config", "view"), ("config", "set", "log_level", "INFO"), ("runs", "ls")],
)
def test_damaged_file_is_one_error_line_in_every_command(
    config: Path, command: tuple[str, ...]
) -> None:
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("api_url = [\n")
    before = config.read_bytes()

    done = run_legato(*command)

    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot read the config file {config}: "), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert config.read_bytes() == before


def test_bad_value_in_file_names_key_and_file(config: Path) -> None:
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("writer_linger = -3\n")

    done = run_legato("runs", "ls")

    assert done.returncode == 1
    assert done.stderr.startswith(f"error: writer_linger = -3 in {config} is not allowed"), (
        done.stderr
    )
    assert "legato config unset writer_linger" in done.stderr
    assert run_legato("config", "unset", "writer_linger").returncode == 0
    assert run_legato("runs", "ls").returncode == 0


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LEGATO_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ("LEGATO_STORE_LOCK_TIMEOUT", "-1", "greater than 0"),
        ("LEGATO_SERVER_MAX_BODY_BYTES", "lots", "valid integer"),
    ],
)
def test_bad_environment_value_names_the_variable(
    variable: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    for command in (("config", "view"), ("runs", "ls")):
        done = run_legato(*command)
        assert done.returncode == 1
        assert done.stderr.startswith(
            f"error: environment variable {variable}={value!r} is not allowed: "
        ), done.stderr
        assert expected in done.stderr
        assert len(done.stderr.splitlines()) == 1


# -- the server reads its body limit from the same settings ---------------------------


@pytest.fixture
def server_from_config(isolated_home: Path, tmp_path: Path) -> Iterator[str]:
    """``legato server start`` on a home whose config.toml caps bodies at 2,000 bytes."""
    assert cli("config", "set", "server_max_body_bytes", "2000").exit_code == 0
    with running_server(isolated_home, tmp_path / "server.log", worker=True) as server:
        yield server.url


def test_server_takes_body_limit_from_config_file(server_from_config: str) -> None:
    body = {"type": "RUNNING", "name": "Running", "message": "x" * 5000}
    response = httpx.post(
        f"{server_from_config}/api/flow_runs/0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e/state",
        json=body,
    )
    assert response.status_code == 413
    small = httpx.post(
        f"{server_from_config}/api/flow_runs/0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e/state",
        json={"type": "RUNNING", "name": "Running"},
    )
    assert small.status_code == 404


def test_encryption_key_is_masked_unless_asked(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "kGVMPXbm6S6yWm9Gcbr5lG3wOKqwrD1CoDG8JdMxdN8="
    monkeypatch.setenv("LEGATO_ENCRYPTION_KEY", key)
    shown = run_legato("config", "view")
    assert key not in shown.stdout
    assert _row(shown.stdout, "encryption_key")[1:3] == ["********", "env"]
    secrets = run_legato("config", "view", "--json", "--show-secrets")
    assert json.loads(secrets.stdout)["settings"]["encryption_key"]["value"] == key
