"""``legato notification`` on the embedded store, as real processes: channels created
from flags, secrets never printed, a test message to real receivers with its attempts,
and a wrong key a one-line error."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_receiver

OTHER_KEY = "kGVMPXbm6S6yWm9Gcbr5lG3wOKqwrD1CoDG8JdMxdN8="


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return legato_env(tmp_path / "home")


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from http_receiver()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    yield from smtp_receiver(auth=True)


def test_slack_channel_is_created_shown_masked_and_tested(
    env: dict[str, str], receiver: HttpReceiver, tmp_path: Path
) -> None:
    created = run_legato("notification", "create", "ops", "--slack", receiver.url, env=env)
    assert created.returncode == 0, created.stderr
    assert "created notification channel 'ops' (slack: http://127.0.0.1:" in created.stdout
    listed = run_legato("notification", "ls", env=env, check=True)
    shown = run_legato("notification", "show", "ops", env=env, check=True)
    as_json = run_legato("notification", "show", "ops", "--json", env=env, check=True)
    for output in (created.stdout, listed.stdout, shown.stdout, as_json.stdout):
        assert "SECRET-PATH-42" not in output
    assert json.loads(as_json.stdout)["config"]["url"].endswith("/********")

    tested = run_legato("notification", "test", "ops", "--subject", "hi there", env=env)

    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.splitlines()[0].startswith("attempt 1: sent (200) in ")
    assert "sent to 'ops'" in tested.stdout
    assert receiver.received[0].body["text"] == "hi there"
    deliveries = run_legato("notification", "deliveries", "ops", env=env, check=True)
    assert "sent" in deliveries.stdout and "hi there" in deliveries.stdout
    with sqlite3.connect(tmp_path / "home" / "legato.db") as db:
        raw = repr(db.execute("SELECT * FROM notification_channels").fetchall())
    assert "SECRET-PATH-42" not in raw


def test_email_channel_takes_its_password_from_the_environment(
    env: dict[str, str], smtp: SmtpReceiver, tmp_path: Path
) -> None:
    env = {**env, "SMTP_PASS": "s3cret-smtp-pass"}
    created = run_legato(
        "notification",
        "create",
        "mail",
        "--email",
        "ops@example.com",
        "--email",
        "oncall@example.com",
        "--smtp-host",
        smtp.host,
        "--smtp-port",
        str(smtp.port),
        "--smtp-user",
        "alerts",
        "--smtp-password-env",
        "SMTP_PASS",
        "--from",
        "legato@example.com",
        "--no-tls",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    shown = run_legato("notification", "show", "mail", env=env, check=True)
    assert "password: ********" in shown.stdout
    assert "s3cret-smtp-pass" not in shown.stdout

    tested = run_legato("notification", "test", "mail", env=env)

    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert smtp.logins == [("alerts", "s3cret-smtp-pass")]
    (mail,) = smtp.messages
    assert mail["Subject"] == "legato test notification"
    assert mail["To"] == "ops@example.com, oncall@example.com"
    with sqlite3.connect(tmp_path / "home" / "legato.db") as db:
        raw = repr(db.execute("SELECT * FROM notification_channels").fetchall())
    assert "s3cret-smtp-pass" not in raw


def test_smtp_user_without_a_password_source_is_refused_when_not_interactive(
    env: dict[str, str],
) -> None:
    done = run_legato(
        "notification", "create", "mail", "--email", "a@example.com", "--smtp-host", "h",
        "--smtp-user", "me", "--from", "me@example.com", env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert "--smtp-password-env VAR" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--slack", "ftp://x/y"], "url: must be an http:// or https:// URL with a host"),
        ([], "give exactly one of --slack, --teams, --webhook, --email, --apprise"),
        (["--slack", "https://a/b", "--teams", "https://c/d"], "(given: --slack, --teams)"),
        (["--slack", "https://a/b", "--header", "A=b"], "--header goes with --webhook only"),
        (["--webhook", "https://a/b", "--header", "nope"], "write it as NAME=VALUE"),
        (["--email", "a@example.com"], "--email needs --smtp-host HOST"),
        (["--email", "not-an-address", "--smtp-host", "h", "--from", "x@example.com",
          "--no-tls"], "'not-an-address' is not an email address"),
        (["--email", "a@example.com", "--smtp-host", "h", "--from", "x@example.com",
          "--ssl", "--no-tls"], "give one of --starttls, --ssl, --no-tls"),
    ],
)  # fmt: skip
def test_bad_create_flags_get_one_clear_line(
    env: dict[str, str], args: list[str], error: str
) -> None:
    done = run_legato("notification", "create", "x", *args, env=env)
    assert done.returncode == 1, done.stdout
    assert error in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_wrong_key_is_a_clear_error_and_a_failed_delivery(
    env: dict[str, str], receiver: HttpReceiver
) -> None:
    run_legato("notification", "create", "ops", "--slack", receiver.url, env=env, check=True)

    tested = run_legato(
        "notification", "test", "ops", env={**env, "LEGATO_ENCRYPTION_KEY": OTHER_KEY}
    )

    assert tested.returncode == 1
    assert "Traceback" not in tested.stdout + tested.stderr
    assert (
        "cannot decrypt the secrets of notification channel 'ops' with the key from the "
        "setting LEGATO_ENCRYPTION_KEY: it was encrypted with another key"
    ) in " ".join(tested.stdout.split())
    assert receiver.answered == []
    malformed = run_legato(
        "notification", "create", "x", "--slack", receiver.url,
        env={**env, "LEGATO_ENCRYPTION_KEY": "garbage"},
    )  # fmt: skip
    assert malformed.returncode == 1
    assert malformed.stderr.startswith(
        "error: the encryption key from the setting LEGATO_ENCRYPTION_KEY is not a Fernet key"
    )
    assert "garbage" not in malformed.stderr
    assert "Traceback" not in malformed.stderr


def test_unknown_channel_is_one_line(env: dict[str, str]) -> None:
    for command in (["show", "nope"], ["test", "nope"], ["delete", "nope"], ["deliveries", "nope"]):
        done = run_legato("notification", *command, env=env)
        assert done.returncode == 1
        assert done.stderr == (
            "error: no notification channel named 'nope'; list them with 'legato notification ls'\n"
        )


def test_empty_listing_says_how_to_create_one(env: dict[str, str]) -> None:
    done = run_legato("notification", "ls", env=env, check=True)
    assert "legato notification create NAME --slack URL" in done.stdout
