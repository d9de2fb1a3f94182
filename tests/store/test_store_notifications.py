"""Notification channels and deliveries in a real store, on SQLite and PostgreSQL:
secrets stored encrypted and never read back in clear, deliveries with their attempts,
and the message a stored run's state event becomes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from fixtures.store_rows import FlowRunFactory
from legato.errors import ChannelExists, ObjectNotFound, SecretKeyError
from legato.notifications import Notifications, event_message
from legato.notifications.channels import open_channel
from legato.schemas.events import EventFilter
from legato.schemas.notifications import (
    AttemptRecord,
    ChannelSpec,
    EmailConfig,
    SlackConfig,
    WebhookConfig,
)
from legato.secrets_box import box_from_file, box_from_key
from legato.states import State, StateType
from legato.store import Store

SLACK_URL = "https://hooks.slack.com/services/T01/B02/sEcReTtOkEn99"


@pytest.fixture
def notifications(store: Store, tmp_path: Path) -> Notifications:
    key_file = tmp_path / "home" / "encryption.key"
    return Notifications(store, load_box=lambda: box_from_file(key_file))


def _raw_rows(store: Store) -> str:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM notification_channels")).all()
    return repr(rows)


def test_secrets_are_stored_encrypted_and_read_back_masked(
    notifications: Notifications, store: Store
) -> None:
    notifications.create_channel(ChannelSpec(name="ops", config=SlackConfig(url=SLACK_URL)))
    email = EmailConfig(
        host="smtp.example.com",
        username="alerts",
        password="pa55-w0rd-xyz",
        sender="legato@example.com",
        to=["ops@example.com"],
    )
    notifications.create_channel(ChannelSpec(name="mail", config=email))
    hook = WebhookConfig(url="https://example.com/in", headers={"Authorization": "Bearer t0k3n"})
    notifications.create_channel(ChannelSpec(name="hook", config=hook))

    raw = _raw_rows(store)
    for secret in ("sEcReTtOkEn99", "pa55-w0rd-xyz", "Bearer t0k3n", "/services/T01"):
        assert secret not in raw
    assert "smtp.example.com" in raw  # what is not secret stays readable

    shown = {record.name: record.config for record in notifications.read_channels()}
    assert shown["ops"] == {"kind": "slack", "url": "https://hooks.slack.com/********"}
    assert shown["mail"]["password"] == "********"
    assert shown["mail"]["username"] == "alerts"
    assert shown["hook"]["headers"] == {"Authorization": "********"}
    assert "sEcReTtOkEn99" not in notifications.read_channel("ops").model_dump_json()

    stored = store.notifications.read_channel("mail")
    opened = open_channel(stored, notifications.box())
    assert isinstance(opened, EmailConfig)
    assert opened.password == "pa55-w0rd-xyz"


def test_another_key_cannot_read_the_secrets(notifications: Notifications, store: Store) -> None:
    notifications.create_channel(ChannelSpec(name="ops", config=SlackConfig(url=SLACK_URL)))
    other = box_from_key("kGVMPXbm6S6yWm9Gcbr5lG3wOKqwrD1CoDG8JdMxdN8=")
    with pytest.raises(SecretKeyError, match=r"LEGATO_ENCRYPTION_KEY.*another key"):
        open_channel(store.notifications.read_channel("ops"), other)


def test_a_name_is_one_channel(notifications: Notifications) -> None:
    notifications.create_channel(ChannelSpec(name="ops", config=SlackConfig(url=SLACK_URL)))
    with pytest.raises(ChannelExists, match="'ops' exists already"):
        notifications.create_channel(ChannelSpec(name="ops", config=SlackConfig(url=SLACK_URL)))


def test_deleting_a_channel_deletes_its_deliveries(
    notifications: Notifications, store: Store
) -> None:
    notifications.create_channel(ChannelSpec(name="ops", config=SlackConfig(url=SLACK_URL)))
    channel = store.notifications.read_channel("ops")
    store.notifications.start_delivery(channel, "s", "b")
    notifications.delete_channel("ops")
    with pytest.raises(ObjectNotFound, match="no notification channel named 'ops'"):
        notifications.read_channel("ops")
    assert store.notifications.read_deliveries() == []
    with pytest.raises(ObjectNotFound):
        notifications.delete_channel("ops")


def test_deliveries_keep_their_attempts_newest_first(
    notifications: Notifications, store: Store
) -> None:
    notifications.create_channel(ChannelSpec(name="ops", config=SlackConfig(url=SLACK_URL)))
    channel = store.notifications.read_channel("ops")
    first = store.notifications.start_delivery(channel, "first", "x" * 2000, firing_id=None)
    second = store.notifications.start_delivery(
        channel,
        "second",
        "body",
        automation_id="0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e",
        firing_id="0192f6c4-8a1e-7d3b-9c2f-000000000001",
    )
    now = datetime.now(UTC)
    tries = [
        AttemptRecord(at=now, outcome="retry", status_code=502, error="HTTP 502", duration=0.1),
        AttemptRecord(at=now, outcome="sent", status_code=200, duration=0.05),
    ]
    pending = store.notifications.record_attempts(
        second.id, tries[:1], status="pending", last_error="HTTP 502"
    )
    assert pending.finished is None
    done = store.notifications.record_attempts(second.id, tries, status="sent", last_error=None)
    assert done.finished is not None

    listed = notifications.read_deliveries("ops")
    assert [d.subject for d in listed] == ["second", "first"]
    assert [a.status_code for a in listed[0].attempts] == [502, 200]
    assert listed[0].status == "sent"
    assert listed[1].status == "pending"
    assert len(listed[1].body_preview) == 500
    by_firing = store.notifications.read_deliveries(
        firing_id="0192f6c4-8a1e-7d3b-9c2f-000000000001"
    )
    assert [d.id for d in by_firing] == [second.id]
    assert first.status == "pending"


def test_a_failed_run_event_becomes_a_message_naming_the_run(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = make_flow_run(name="brave-otter")
    started = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
    store.set_flow_run_state(
        run_id, State(StateType.RUNNING, "Running"), fields={"start_time": started}
    )
    store.set_flow_run_state(
        run_id,
        State(StateType.FAILED, "Failed", message="ValueError: bad row 17"),
        fields={"end_time": started + 125.0},
    )
    found, _, _ = store.events.read(
        EventFilter(names=("legato.flow-run.Failed",), resources=(f"legato.flow-run.{run_id}",)),
        limit=1,
    )

    message = event_message(store, found[0], "https://legato.example.com/")

    assert message.subject == "etl/brave-otter: Failed"
    assert message.flow == "etl"
    assert message.run == "brave-otter"
    assert message.state == "Failed"
    assert message.message == "ValueError: bad row 17"
    assert message.duration == 125.0
    assert message.link == f"https://legato.example.com/api/flow_runs/{run_id}"
    assert "ValueError: bad row 17" in message.body
    assert "Duration: 2m 05s" in message.text()
