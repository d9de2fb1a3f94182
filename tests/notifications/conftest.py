"""Receivers and a store for the notification tests (see tests/fixtures/receivers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_receiver
from legato.notifications import Notifications, RetryPolicy
from legato.secrets_box import box_from_file
from legato.store import Store

FAST = RetryPolicy(attempts=5, first_delay=0.01, factor=2.0, max_delay=0.05)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from http_receiver()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    yield from smtp_receiver()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'legato.db'}")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def notifications(sqlite_store: Store, tmp_path: Path) -> Notifications:
    key_file = tmp_path / "home" / "encryption.key"
    return Notifications(sqlite_store, load_box=lambda: box_from_file(key_file), policy=FAST)
