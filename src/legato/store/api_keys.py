"""API keys of the server: made here, stored only as sha256 hashes.

A key is ``lgk_`` plus 32 random bytes (urlsafe base64). It is shown once, when it
is created; the store keeps its hash, so a copy of the database gives no key away.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from legato.attempts import hash_token
from legato.schemas import ApiKeyRecord

KEY_PREFIX = "lgk_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


hash_key = hash_token
"""Keys are hashed as run tokens are: sha256 of the text (a bearer secret either way)."""


def api_key_record(row: Mapping[Any, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        read_only=bool(row["read_only"]),
        created=datetime.fromtimestamp(row["created"], UTC),
        last_used=None
        if row["last_used"] is None
        else datetime.fromtimestamp(row["last_used"], UTC),
        internal=bool(row.get("internal", False)),
    )
