"""Read model of a server API key: never the key itself, only what names it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ApiKeyRecord(BaseModel):
    """One API key (the store keeps only the sha256 hash of the key)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    read_only: bool
    created: datetime
    last_used: datetime | None = None
    internal: bool = False
    """A key of a running server's own processes (its built-in worker): made when the
    server starts, deleted when it stops; revocable like any other."""
