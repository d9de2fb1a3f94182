"""Attempt tokens, the plain part: made, hashed and parsed here; checked by the store
(:mod:`legato.store.run_tokens`, which says what they are for) and the server's auth.

A token is ``lgr_<flow run id>_<secret>``: the run it belongs to can be read off it
(so the server knows which row to check a credential against), the secret cannot.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "lgr_"
RUN_TOKEN_VARIABLE = "LEGATO_RUN_TOKEN"
"""Where a worker puts the token for the run's process (never printed or logged)."""
TAKEN_BACK_HEADER = "Legato-Run-Taken-Back"
"""Set on a server's refusal when the run is no longer the caller's attempt."""

_TOKEN = re.compile(
    r"^lgr_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_[A-Za-z0-9_-]{20,}$"
)


def new_run_token(flow_run_id: str) -> str:
    return f"{TOKEN_PREFIX}{flow_run_id}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def is_run_token(text: str) -> bool:
    return text.startswith(TOKEN_PREFIX)


def run_of_token(token: str) -> str | None:
    """The flow run id a well-formed token names (None: not a run token)."""
    match = _TOKEN.match(token)
    return None if match is None else match.group(1)
