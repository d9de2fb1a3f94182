"""One legato server's REST API as the client sees it: requests carrying the credential,
answers turned into legato's errors, and retries while the server is away.

With an API key (``LEGATO_API_KEY``) every request carries it as a bearer token; a 401
or 403 is not retried but raised as a :class:`StoreError` naming the problem. A
transport failure or a 5xx is retried with exponential backoff until ``max_outage``
seconds have passed, then raised as a :class:`StoreError` saying for how long the
server was unreachable. The bulk sender (:mod:`legato.orchestrator.bulk_sender`) makes
single attempts and keeps its own clock, since it must never drop a batch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from legato.attempts import TAKEN_BACK_HEADER
from legato.errors import ObjectNotFound, RunTakenBack, StoreError
from legato.orchestrator.bulk_parts import encode

MAX_BODY_HEADER = "X-Legato-Max-Body-Bytes"
JSON_HEADERS = {"Content-Type": "application/json"}
MAX_BACKOFF = 2.0
BULK_PATH = "/api/bulk"


class Refused(StoreError):
    """The server refused a bulk body's contents (409, 422): some record in it."""


class TooLarge(StoreError):
    """The server refused a body as too large (413); ``limit`` is its limit in bytes."""

    def __init__(self, message: str, limit: int | None):
        super().__init__(message)
        self.limit = limit


class Retryable(Exception):
    """A failure that another attempt may not meet (no connection, a 5xx)."""


class ServerApi:
    """Requests to the server at ``api_url`` (see the module).

    ``taken_back`` is called with the reason when an answer says this process's run was
    taken back from it (before :class:`RunTakenBack` is raised).
    """

    def __init__(
        self,
        api_url: str,
        *,
        credential: str | None,
        max_outage: float,
        timeout: float,
        taken_back: Callable[[str], None],
    ):
        self.api_url = api_url.rstrip("/")
        self.max_outage = max_outage
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        self.http = httpx.Client(base_url=self.api_url, timeout=timeout, headers=headers)
        self._has_key = bool(credential)
        self._taken_back = taken_back

    def close(self) -> None:
        self.http.close()

    def unreachable(self, elapsed: float, problem: str) -> StoreError:
        return StoreError(
            f"the legato server at {self.api_url} has been unreachable for {elapsed:.0f} s: "
            f"{problem}"
        )

    def attempt(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One try: the answer, or the error it means (:class:`Retryable` for one that
        another try may not meet)."""
        if "json" in kwargs:  # encoded here: text that is not valid Unicode is replaced
            kwargs["content"] = encode(kwargs.pop("json"))
        if "content" in kwargs or method not in ("GET", "HEAD", "OPTIONS"):
            # Bodies are JSON; and the server takes changes only with a JSON content type
            # (a page of another site cannot send one), bodiless POSTs such as pause included.
            kwargs["headers"] = {**JSON_HEADERS, **kwargs.get("headers", {})}
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Retryable(f"{type(exc).__name__}: {exc}") from exc
        if response.headers.get(TAKEN_BACK_HEADER) and response.status_code >= 400:
            reason = detail(response)
            self._taken_back(reason)
            raise RunTakenBack(reason)
        if response.status_code >= 500:
            raise Retryable(f"HTTP {response.status_code}: {detail(response)}")
        if response.status_code in (409, 422) and path == BULK_PATH:
            raise Refused(
                f"the legato server at {self.api_url} refused {method} {path} "
                f"(HTTP {response.status_code}): {detail(response)}"
            )
        if response.status_code == 413:
            raise TooLarge(
                f"the legato server at {self.api_url} refused {method} {path} as too large "
                f"(HTTP 413): {detail(response)}",
                body_limit_of(response),
            )
        if response.status_code == 404:
            raise ObjectNotFound(detail(response))
        if response.status_code == 401:
            hint = (
                "LEGATO_API_KEY is not a valid key there"
                if self._has_key
                else "it requires an API key: set LEGATO_API_KEY"
            )
            raise StoreError(
                f"the legato server at {self.api_url} refused {method} {path}: {hint} "
                f"(HTTP 401: {detail(response)})"
            )
        if response.status_code == 403:
            raise StoreError(
                f"the legato server at {self.api_url} refused {method} {path}: the key in "
                f"LEGATO_API_KEY may not do this (HTTP 403: {detail(response)})"
            )
        if response.status_code >= 400:
            raise StoreError(
                f"the legato server at {self.api_url} refused {method} {path} "
                f"(HTTP {response.status_code}): {detail(response)}"
            )
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call's JSON answer (see ``response``)."""
        return self.response(method, path, **kwargs).json()

    def response(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, retried with backoff while the server is away (up to max_outage)."""
        start = time.monotonic()
        delay = 0.05
        while True:
            try:
                return self.attempt(method, path, **kwargs)
            except Retryable as exc:
                elapsed = time.monotonic() - start
                if elapsed >= self.max_outage:
                    raise self.unreachable(elapsed, str(exc)) from None
                time.sleep(min(delay, max(0.0, self.max_outage - elapsed)))
                delay = min(delay * 2, MAX_BACKOFF)


def body_limit_of(response: httpx.Response) -> int | None:
    """The body limit a 413 names (its header, else its message), if it names one."""
    named = response.headers.get(MAX_BODY_HEADER)
    if named is None:
        found = re.search(r"limit is ([0-9]+) bytes", response.text)
        named = found.group(1) if found else None
    try:
        return int(named) if named is not None else None
    except ValueError:
        return None


def detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:500]
