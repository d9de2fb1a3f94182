"""Channels and deliveries of one store, with the key for their secrets: what the REST
API and the local orchestrator call (``legato notification ...`` reaches it either way).

The key is loaded on first need (a listing needs none: secrets are masked without being
read) and kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from legato.notifications.channels import split_config
from legato.notifications.delivery import deliver
from legato.notifications.retries import DEFAULT_POLICY, RetryPolicy
from legato.schemas.notifications import (
    ChannelRecord,
    ChannelSpec,
    DeliveryRecord,
    Message,
    TrialMessage,
)
from legato.secrets_box import SecretBox, secret_box

if TYPE_CHECKING:
    from legato.settings import Settings
    from legato.store import Store


class Notifications:
    """See the module."""

    def __init__(
        self,
        store: Store,
        *,
        load_box: Callable[[], SecretBox],
        public_url: str | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
    ):
        self.store = store
        self.public_url = public_url
        self.policy = policy
        self._load_box = load_box
        self._box: SecretBox | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> Notifications:
        return cls(
            store,
            load_box=lambda: secret_box(settings.encryption_key, settings.home_path),
            public_url=settings.server_public_url,
        )

    def box(self) -> SecretBox:
        """The secret box (SecretKeyError, naming the setting or file, if the key is bad)."""
        with self._lock:
            if self._box is None:
                self._box = self._load_box()
            return self._box

    def create_channel(self, spec: ChannelSpec) -> ChannelRecord:
        public, secrets = split_config(spec.config, self.box())
        stored = self.store.notifications.create_channel(
            spec.name, spec.config.kind, public, secrets
        )
        return stored.record()

    def read_channels(self) -> list[ChannelRecord]:
        return [channel.record() for channel in self.store.notifications.read_channels()]

    def read_channel(self, name: str) -> ChannelRecord:
        return self.store.notifications.read_channel(name).record()

    def delete_channel(self, name: str) -> None:
        self.store.notifications.delete_channel(name)

    def read_deliveries(self, name: str, *, limit: int = 20) -> list[DeliveryRecord]:
        return self.store.notifications.read_deliveries(channel_name=name, limit=limit)

    def deliver(
        self,
        channel_name: str,
        message: Message,
        *,
        automation_id: str | None = None,
        firing_id: str | None = None,
    ) -> DeliveryRecord:
        """:func:`legato.notifications.delivery.deliver` with this store, key and policy."""
        return deliver(
            self.store,
            channel_name,
            message,
            box=self.box,
            automation_id=automation_id,
            firing_id=firing_id,
            policy=self.policy,
        )

    def test_channel(self, name: str, trial: TrialMessage | None = None) -> DeliveryRecord:
        trial = trial or TrialMessage()
        return self.deliver(name, Message(subject=trial.subject, body=trial.body))
