"""Settings of the server process (``LEGATO_SERVER_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


class ServerSettings(BaseSettings):
    """What the server reads from the environment besides :class:`legato.settings.Settings`."""

    model_config = SettingsConfigDict(env_prefix="LEGATO_SERVER_", extra="ignore")

    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1,
        description="Largest request body accepted; larger ones are answered 413.",
    )
