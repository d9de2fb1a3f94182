"""Settings: environment over ``$LEGATO_HOME/config.toml`` over defaults, with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from legato.settings import (
    DEFAULT_MAX_BODY_BYTES,
    FILE_KEYS,
    SettingsError,
    config_file_path,
    get_settings,
    load_settings,
    set_config_value,
    settable_key,
    unset_config_value,
)


@pytest.fixture
def config(isolated_home: Path) -> Path:
    isolated_home.mkdir(parents=True, exist_ok=True)
    return isolated_home / "config.toml"


def test_config_file_lives_in_legato_home(isolated_home: Path) -> None:
    assert config_file_path() == isolated_home / "config.toml"


def test_defaults_without_a_file(config: Path) -> None:
    settings = load_settings()
    assert not config.exists()
    assert settings.log_level == "INFO"
    assert settings.server_max_body_bytes == DEFAULT_MAX_BODY_BYTES == 10 * 1024 * 1024
    assert settings.api_url is None


def test_file_beats_default_and_env_beats_file(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text('api_url = "http://from-file:4200"\nstore_lock_timeout = 5\n')
    monkeypatch.setenv("LEGATO_STORE_LOCK_TIMEOUT", "7.5")

    settings = load_settings()

    assert settings.api_url == "http://from-file:4200"
    assert settings.store_lock_timeout == 7.5
    assert settings.client_max_outage == 60.0


def test_get_settings_reads_the_file(config: Path) -> None:
    config.write_text('log_level = "warning"\n')
    assert get_settings().log_level == "WARNING"


def test_server_body_limit_keeps_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_SERVER_MAX_BODY_BYTES", "2048")
    assert load_settings().server_max_body_bytes == 2048


@pytest.mark.parametrize("level", ["debug", "Info", " WARNING ", "error", "critical"])
def test_log_level_is_case_insensitive(level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_LOG_LEVEL", level)
    assert load_settings().log_level == level.strip().upper()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LEGATO_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ("LEGATO_STORE_LOCK_TIMEOUT", "-1", "greater than 0"),
        ("LEGATO_WRITER_LINGER", "soon", "valid number"),
        ("LEGATO_SERVER_MAX_BODY_BYTES", "1.5", "valid integer"),
    ],
)
def test_bad_environment_value_names_the_variable(
    variable: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"environment variable {variable}={value!r} is not allowed" in message
    assert expected in message
    assert "\n" not in message


def test_bad_file_value_names_the_key_and_the_file(config: Path) -> None:
    config.write_text("writer_linger = -3\n")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"writer_linger = -3 in {config} is not allowed" in message
    assert "legato config unset writer_linger" in message


def test_damaged_file_is_one_error_naming_it(config: Path) -> None:
    config.write_text("api_url = [\n")
    with pytest.raises(SettingsError, match="cannot read the config file") as caught:
        load_settings()
    assert str(config) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_key_in_file_is_refused(config: Path) -> None:
    config.write_text('api_ulr = "http://x"\n')
    with pytest.raises(SettingsError, match="unknown setting 'api_ulr'"):
        load_settings()


def test_home_in_file_is_refused(config: Path) -> None:
    config.write_text('home = "/elsewhere"\n')
    with pytest.raises(SettingsError, match="LEGATO_HOME"):
        load_settings()


def test_set_checks_the_file_alone(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad environment value does not block writing the file, nor hide a bad file value."""
    monkeypatch.setenv("LEGATO_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("LEGATO_WRITER_LINGER", "0.5")
    assert set_config_value(config, "api_url", "http://x") == "http://x"
    with pytest.raises(SettingsError, match="cannot set writer_linger to '-1'"):
        set_config_value(config, "writer_linger", "-1")
    assert config.read_text().endswith('api_url = "http://x"\n')


@pytest.mark.parametrize("spelling", ["api_url", "api-url", "LEGATO_API_URL", "Api-Url"])
def test_key_spellings(spelling: str) -> None:
    assert settable_key(spelling) == "api_url"


def test_home_and_unknown_keys_are_not_settable() -> None:
    with pytest.raises(SettingsError, match="LEGATO_HOME"):
        settable_key("home")
    with pytest.raises(SettingsError, match="unknown setting 'colour'"):
        settable_key("colour")
    assert "home" not in FILE_KEYS


def test_set_writes_typed_values_and_keeps_others(config: Path) -> None:
    assert set_config_value(config, "api_url", "http://a:1") == "http://a:1"
    assert set_config_value(config, "store_lock_timeout", "12") == 12.0
    assert set_config_value(config, "server_max_body_bytes", "4096") == 4096
    assert set_config_value(config, "log_level", "debug") == "DEBUG"

    text = config.read_text()
    assert 'api_url = "http://a:1"' in text
    assert "store_lock_timeout = 12.0" in text
    assert "server_max_body_bytes = 4096" in text
    assert 'log_level = "DEBUG"' in text
    assert load_settings().server_max_body_bytes == 4096
    assert [p.name for p in config.parent.iterdir()] == ["config.toml"]  # no temp file left
    assert config.stat().st_mode & 0o077 == 0  # it may hold the API key


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("log_level", "LOUD", "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ("store_lock_timeout", "-1", "greater than 0"),
        ("server_max_body_bytes", "ten", "valid integer"),
        ("server_max_body_bytes", "0", "greater than or equal to 1"),
    ],
)
def test_bad_value_is_refused_and_file_untouched(
    config: Path, key: str, value: str, expected: str
) -> None:
    config.write_text('# mine\napi_url = "http://keep"\n')
    before = config.read_bytes()
    with pytest.raises(SettingsError) as caught:
        set_config_value(config, key, value)
    assert f"cannot set {key} to {value!r}" in str(caught.value)
    assert expected in str(caught.value)
    assert config.read_bytes() == before


def test_set_on_damaged_file_leaves_it_alone(config: Path) -> None:
    config.write_text("api_url = [\n")
    before = config.read_bytes()
    with pytest.raises(SettingsError, match="cannot read the config file"):
        set_config_value(config, "log_level", "DEBUG")
    assert config.read_bytes() == before


def test_unset(config: Path) -> None:
    set_config_value(config, "api_url", "http://a:1")
    set_config_value(config, "log_level", "ERROR")

    assert unset_config_value(config, "LEGATO_API_URL") == ("api_url", True)
    assert "api_url" not in config.read_text()
    assert 'log_level = "ERROR"' in config.read_text()

    before = config.read_bytes()
    assert unset_config_value(config, "api-url") == ("api_url", False)
    assert config.read_bytes() == before


def test_unset_mends_a_file_with_a_key_it_should_not_hold(config: Path) -> None:
    config.write_text('home = "/x"\ntypo = 1\nlog_level = "DEBUG"\n')
    assert unset_config_value(config, "home") == ("home", True)
    assert unset_config_value(config, "typo") == ("typo", True)
    assert load_settings().log_level == "DEBUG"


def test_write_does_not_leak_into_other_homes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    monkeypatch.setenv("LEGATO_HOME", str(first))
    set_config_value(config_file_path(), "api_url", "http://one")
    monkeypatch.setenv("LEGATO_HOME", str(second))
    assert load_settings().api_url is None
    assert os.listdir(first) == ["config.toml"]
