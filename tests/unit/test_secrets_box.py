"""The key of secrets at rest: from the setting, or a key file made 0600 on first use;
every bad key a clear error naming where it came from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from legato.errors import SecretKeyError
from legato.secrets_box import KEY_FILE_NAME, box_from_file, box_from_key, secret_box
from legato.settings import Settings

KEY = "kGVMPXbm6S6yWm9Gcbr5lG3wOKqwrD1CoDG8JdMxdN8="


def test_key_file_is_made_private_on_first_use_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    box = secret_box(None, home)
    path = home / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = box.encrypt("https://hooks.slack.com/services/x")
    assert "hooks.slack.com" not in token
    again = secret_box(None, home)
    assert again.decrypt(token) == "https://hooks.slack.com/services/x"
    assert again.source == f"the key file {path}"


def test_setting_wins_over_the_key_file(tmp_path: Path) -> None:
    token = box_from_key(KEY).encrypt("s")
    assert secret_box(KEY, tmp_path).decrypt(token) == "s"
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_settings_read_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_ENCRYPTION_KEY", KEY)
    monkeypatch.setenv("LEGATO_SERVER_PUBLIC_URL", "https://legato.example.com")
    settings = Settings()
    assert settings.encryption_key == KEY
    assert KEY not in repr(settings)
    assert settings.server_public_url == "https://legato.example.com"


def test_malformed_setting_says_so_and_how_to_make_a_key() -> None:
    with pytest.raises(SecretKeyError) as caught:
        box_from_key("not-a-key")
    message = str(caught.value)
    assert "the setting LEGATO_ENCRYPTION_KEY is not a Fernet key" in message
    assert "Fernet.generate_key()" in message
    assert "not-a-key" not in message


def test_malformed_key_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text("garbage\n")
    with pytest.raises(SecretKeyError, match=f"the key file {path} is not a Fernet key"):
        box_from_file(path)


def test_wrong_key_names_where_the_key_came_from(tmp_path: Path) -> None:
    token = box_from_file(tmp_path / KEY_FILE_NAME).encrypt("secret")
    with pytest.raises(SecretKeyError) as caught:
        box_from_key(KEY).decrypt(token, what="the secrets of notification channel 'ops'")
    message = str(caught.value)
    assert message.startswith(
        "cannot decrypt the secrets of notification channel 'ops' with the key from the "
        "setting LEGATO_ENCRYPTION_KEY: it was encrypted with another key"
    )
    assert token not in message


def test_unreadable_key_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.mkdir()  # unreadable as a file, even by root
    with pytest.raises(SecretKeyError, match=f"cannot read or make the key file {path}"):
        box_from_file(path)
