"""API keys: once the store holds any key, every request must carry one.

Keys are sent as ``Authorization: Bearer KEY``; the store keeps only their sha256
hashes (see :mod:`legato.store.api_keys`). A missing or unknown key is answered 401;
a read-only key asking for anything but a read (any method other than GET, HEAD,
OPTIONS) is answered 403. Both are JSON ``{"detail": ...}``.

Open without a key, always: ``GET /api/health`` (so a load balancer or a readiness
probe needs no secret; it tells only that the server is up and its version) and the
API description (``/api/openapi.json``, ``/api/docs``: the shape of the API, no data).

Whether any key exists, and what a key presented recently resolved to, are cached for
:data:`CACHE_SECONDS`, so checking costs no database query on most requests; a key
created or deleted takes effect within that time.

A server bound beyond loopback (``keys_required``) requires keys even when none is
stored: deleting the last key does not open it to the network. It then refuses every
request but health (401 saying why) and says so in its log.

Two other kinds of credential get in:

- a running server's internal key (its built-in worker's): stored hashed like any key,
  marked internal, listed by ``legato api-key ls`` and revocable with ``legato api-key
  delete``; it does not count as a key that makes the server require keys, and the
  server deletes it when it stops;
- a flow run's credential (``lgr_...``, the attempt token a worker hands the run's
  process instead of its own key): only that run's writes and reads, until the run
  ends or is taken back (:mod:`legato.server.run_credentials`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from legato.attempts import is_run_token
from legato.errors import StoreError
from legato.schemas import ApiKeyRecord
from legato.server.errors import ErrorBody
from legato.server.run_credentials import admit_run_credential

if TYPE_CHECKING:
    from legato.store import Store

logger = logging.getLogger("legato.server")

CACHE_SECONDS = 1.0
TOUCH_EVERY = 60.0
"""A key's ``last_used`` is written at most this often (seconds), not on every request."""
MAX_CACHED_KEYS = 1024
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NO_KEYS_LEFT = (
    "this server is reachable from the network and no API key exists any more, so it "
    "refuses every request but /api/health: create a key on its machine with "
    "'legato api-key create NAME' and send it as 'Authorization: Bearer KEY'"
)

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "API keys are required on this server and none, or an unknown one, "
        "was sent (Authorization: Bearer KEY).",
    },
    403: {"model": ErrorBody, "description": "The API key is read-only and this is a write."},
}

bearer = HTTPBearer(
    auto_error=False,
    description="An API key made by `legato api-key create`; needed once any key exists.",
)


class ApiKeyGate:
    """The server's view of the store's API keys, cached for ``ttl`` seconds."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: float = CACHE_SECONDS,
        keys_required: bool = False,
    ):
        self.store = store
        self.ttl = ttl
        self.keys_required = keys_required
        self.no_keys_left = False
        """Keys are required, and none is stored: nothing can get in."""
        self._lock = threading.Lock()
        self._required: tuple[bool, float] | None = None
        self._keys: dict[str, tuple[ApiKeyRecord | None, float]] = {}

    def required(self) -> bool | None:
        """Whether keys are required, if known within ``ttl``; None: ask the store."""
        cached = self._required
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        return None

    def refresh_required(self) -> bool:
        stored = self.store.has_api_keys()
        no_keys_left = self.keys_required and not stored
        if no_keys_left and not self.no_keys_left:
            logger.warning(
                "no API key is stored any more: this server is bound beyond loopback, so it "
                "refuses every request but /api/health until a key is created "
                "('legato api-key create NAME')"
            )
        elif self.no_keys_left and not no_keys_left:
            logger.warning("an API key exists again: requests that carry one are accepted")
        self.no_keys_left = no_keys_left
        required = stored or self.keys_required
        self._required = (required, time.monotonic() + self.ttl)
        return required

    def cached_key(self, key: str) -> tuple[bool, ApiKeyRecord | None]:
        entry = self._keys.get(key)
        if entry is not None and time.monotonic() < entry[1]:
            return True, entry[0]
        return False, None

    def lookup(self, key: str) -> ApiKeyRecord | None:
        record = self.store.find_api_key(key)
        with self._lock:
            if len(self._keys) >= MAX_CACHED_KEYS:
                self._keys.clear()
            self._keys[key] = (record, time.monotonic() + self.ttl)
        if record is not None:
            now = time.time()
            last = record.last_used.timestamp() if record.last_used else None
            if last is None or now - last >= TOUCH_EVERY:
                try:
                    self.store.touch_api_key(record.id, now)
                except StoreError as exc:  # bookkeeping only: never fail the request
                    logger.warning("could not record the use of API key %r: %s", record.name, exc)
        return record


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Admit the request, or answer 401/403 (see the module docstring)."""
    gate: ApiKeyGate = request.app.state.api_keys
    required = gate.required()
    if required is None:
        required = await anyio.to_thread.run_sync(gate.refresh_required)
    if not required:
        return
    if gate.no_keys_left and credentials is None:
        raise HTTPException(401, detail=NO_KEYS_LEFT, headers={"WWW-Authenticate": "Bearer"})
    if credentials is None:
        raise HTTPException(
            401,
            detail="this server requires an API key: send it as 'Authorization: Bearer KEY' "
            "(clients: set LEGATO_API_KEY)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = credentials.credentials
    if is_run_token(key):  # a flow run's own credential (see legato.server.run_credentials)
        await anyio.to_thread.run_sync(admit_run_credential, gate.store, request, key)
        return
    known, record = gate.cached_key(key)
    if not known:
        record = await anyio.to_thread.run_sync(gate.lookup, key)
    if record is None:
        raise HTTPException(
            401,
            detail=NO_KEYS_LEFT
            if gate.no_keys_left
            else "the API key is not valid on this server (unknown or deleted; "
            "legato api-key ls lists the keys)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if record.read_only and request.method not in READ_METHODS:
        raise HTTPException(
            403,
            detail=f"the API key {record.name!r} is read-only: it cannot "
            f"{request.method} {request.url.path}",
        )


async def require_write_key(request: Request) -> None:
    """A valid API key that can write, whether or not the server requires keys for its
    API: what a webhook made with ``--require-key`` asks of its callers. 401 without one
    (or with a flow run's credential, which is for its run only), 403 for a read-only
    key."""
    gate: ApiKeyGate = request.app.state.api_keys
    credentials = await bearer(request)
    if credentials is None:
        raise HTTPException(
            401,
            detail="this webhook requires an API key: send one that can write as "
            "'Authorization: Bearer KEY' (made by 'legato api-key create NAME')",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = credentials.credentials
    if is_run_token(key):
        raise HTTPException(
            401,
            detail="a flow run's credential cannot call a webhook; send an API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    known, record = gate.cached_key(key)
    if not known:
        record = await anyio.to_thread.run_sync(gate.lookup, key)
    if record is None:
        raise HTTPException(
            401,
            detail="the API key is not valid on this server (unknown or deleted; "
            "legato api-key ls lists the keys)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if record.read_only:
        raise HTTPException(
            403,
            detail=f"the API key {record.name!r} is read-only: it cannot send events "
            "through a webhook",
        )
