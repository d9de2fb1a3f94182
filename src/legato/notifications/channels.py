"""A channel's config split into what is stored in clear and what is stored encrypted,
and put back together to send.

The secret fields of each kind (:data:`legato.schemas.notifications.SECRET_FIELDS`) are
taken out of the config, written as one JSON object and encrypted with the secret box;
the rest is stored as it is, beside the secret fields masked (for listings). Reading a channel for sending decrypts them and validates
the whole config again.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from legato.errors import SecretKeyError
from legato.schemas.notifications import SECRET_FIELDS, ChannelConfig, masked
from legato.secrets_box import SecretBox
from legato.store.notifications import StoredChannel

_CONFIG: TypeAdapter[ChannelConfig] = TypeAdapter(ChannelConfig)


def split_config(config: ChannelConfig, box: SecretBox) -> tuple[dict[str, Any], str]:
    """(public fields, encrypted secret fields) of ``config``."""
    values = config.model_dump(mode="json")
    secret_names = SECRET_FIELDS[config.kind]
    secrets = {k: v for k, v in values.items() if k in secret_names}
    # The clear part keeps each secret field masked (a URL's host, a header's name), so
    # a listing tells channels apart without the key.
    return masked(config.kind, values), box.encrypt(json.dumps(secrets, separators=(",", ":")))


def open_channel(channel: StoredChannel, box: SecretBox) -> ChannelConfig:
    """The full config of a stored channel, secrets decrypted (SecretKeyError if the
    box's key is not the one they were stored with)."""
    text = box.decrypt(
        channel.secrets, what=f"the secrets of notification channel {channel.name!r}"
    )
    try:
        return _CONFIG.validate_python({**channel.config, **json.loads(text)})
    except (ValueError, ValidationError) as exc:
        raise SecretKeyError(
            f"the stored config of notification channel {channel.name!r} cannot be read "
            f"({type(exc).__name__}); delete it and create it again"
        ) from None
