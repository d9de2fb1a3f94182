"""Settings, read from the environment (``LEGATO_*``) once per process.

Pass a :class:`Settings` around rather than reading the environment deep inside
the code; :func:`get_settings` builds the process default lazily so tests can
point ``LEGATO_HOME`` at a temporary folder before anything is opened.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything legato can be told from outside the code."""

    model_config = SettingsConfigDict(env_prefix="LEGATO_", extra="ignore")

    home: Path = Field(
        default=Path("~/.legato"),
        description="Where the embedded database, results and logs live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; default: SQLite file legato.db under home.",
    )
    api_url: str | None = Field(default=None, description="Base URL of a legato server.")
    api_key: str | None = Field(
        default=None,
        repr=False,
        description="API key sent to the server at api_url (made by `legato api-key create`).",
    )
    results_url: str | None = Field(
        default=None,
        description="fsspec URL where task results are written; default: home/results.",
    )
    log_level: str = Field(default="INFO", description="Level of run loggers.")
    store_lock_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds to wait for a locked SQLite database before giving up.",
    )
    writer_linger: float = Field(
        default=0.05,
        ge=0,
        description="Seconds the background writer gathers task states before committing.",
    )
    client_max_outage: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a client keeps retrying an unreachable server before failing.",
    )

    @property
    def home_path(self) -> Path:
        return self.home.expanduser()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home_path / 'legato.db'}"

    @property
    def effective_results_url(self) -> str:
        return self.results_url or str(self.home_path / "results")


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def reset_settings() -> None:
    """Forget the cached settings (tests, or after changing the environment)."""
    global _settings
    _settings = None
