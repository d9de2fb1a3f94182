"""What a browser could make the server do for another site: refused before any route runs.

Two attacks need no key on a keyless loopback server (the default):

- **Cross-site requests.** A page on any site can make the browser POST to
  ``http://127.0.0.1:4200`` (a form, or ``fetch`` in no-cors mode) with a simple
  content type and no body. So a mutating request (POST, PUT, PATCH, DELETE) is
  refused 403 when its ``Origin`` (or ``Sec-Fetch-Site``) says it comes from another
  site, whatever its content type; without an ``Origin`` it must show it is not a
  simple browser request: a JSON content type (``application/json``, ``...+json``) or
  an ``Authorization`` header, neither of which a page can send to another origin
  without a CORS preflight the server never grants. Otherwise it is refused 403 too
  (the message says which header to send).
  A same-origin ``Origin`` is allowed with any content type (pages served by this
  server post their forms that way).
- **DNS rebinding.** A site can make its own name resolve to 127.0.0.1 and then read
  the server as if same-origin; the request still carries that name in ``Host``. A
  server bound to loopback accepts only loopback names (``localhost``, ``127.0.0.1``,
  ``[::1]``, any port) unless ``LEGATO_SERVER_ALLOWED_HOSTS`` names others; other
  ``Host`` values are answered 400.

Webhooks (``/hooks/<slug>``) are called by other systems (GitHub, Stripe, ``curl -d``),
which send forms and plain text without an ``Authorization`` header: the content-type
rule does not apply to them (their slug is their credential). Everything else does:
a request whose ``Origin`` or ``Sec-Fetch-Site`` says a page of another site sent it
is refused 403 there too. A webhook is for services, not for pages: a page calling
one would publish its secret URL, and on a loopback server the only way a remote
site reaches a hook at all is through the browser of someone on that machine.

The decisions are pure functions of the request's method and headers; the middleware
only reads them and writes the JSON refusal.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""The names a loopback-bound server answers to by default (any port)."""
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SERVICE_PATHS = ("/hooks/",)
"""Paths that take any content type without an Authorization header (webhooks)."""
DEFAULT_PORTS = {"http": "80", "https": "443"}


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str


def host_name(host: str) -> str:
    """``Host`` header value without its port, lower case (``[::1]`` keeps brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    return host.split(":", 1)[0]


def normalize_allowed_hosts(hosts: Iterable[str]) -> tuple[str, ...]:
    """Names as configured (``::1`` or ``[::1]``, with or without a port) to compare with
    :func:`host_name`; ``*`` allows any, ``.example.com`` that domain and its subdomains."""
    names = []
    for host in hosts:
        host = host.strip().lower()
        if not host:
            continue
        if host in ("*", "::1") or host.startswith("."):
            names.append("[::1]" if host == "::1" else host)
        else:
            names.append(host_name(host))
    return tuple(dict.fromkeys(names))


def host_allowed(host: str | None, allowed: Collection[str] | None) -> bool:
    if allowed is None or host is None or "*" in allowed:
        return True
    name = host_name(host)
    return name in allowed or any(
        pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:])
        for pattern in allowed
    )


def _origin_key(scheme: str, netloc: str) -> str:
    netloc = netloc.lower()
    name = host_name(netloc)
    port = netloc[len(name) + 1 :] if netloc[len(name) : len(name) + 1] == ":" else ""
    if port == DEFAULT_PORTS.get(scheme):
        port = ""
    return f"{name}:{port}" if port else name


def same_origin(origin: str, host: str | None, scheme: str) -> bool:
    """Whether ``Origin`` names this server as the request reached it (its ``Host``)."""
    if host is None or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        return False
    return parts.scheme == scheme and _origin_key(parts.scheme, parts.netloc) == _origin_key(
        scheme, host
    )


def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def check_request(
    method: str,
    headers: Mapping[str, str],
    *,
    scheme: str = "http",
    allowed_hosts: Collection[str] | None,
    from_services: bool = False,
) -> Refusal | None:
    """Why this request must be refused (see the module docstring), or None.
    ``from_services``: a webhook's path, which any content type may reach."""
    host = headers.get("host")
    if not host_allowed(host, allowed_hosts):
        return Refusal(
            400,
            f"this server does not answer to the host name {host_name(host or '')!r} (the "
            "Host header); it is bound to loopback and answers to localhost, 127.0.0.1 and "
            "[::1]. To reach it by another name, list that name in "
            "LEGATO_SERVER_ALLOWED_HOSTS",
        )
    if method.upper() not in MUTATING_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None:
        if same_origin(origin, host, scheme):
            return None
        return Refusal(
            403,
            f"cross-site request refused: {method.upper()} from the page at {origin!r}, "
            "which is not this server; "
            + (
                "webhooks take requests from services (no Origin header), not from web pages"
                if from_services
                else "legato's API takes changes from its own pages and from API clients only"
            ),
        )
    fetch_site = headers.get("sec-fetch-site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return Refusal(
            403,
            f"cross-site request refused: {method.upper()} sent by a browser from another "
            f"site (Sec-Fetch-Site: {fetch_site})",
        )
    if from_services or is_json(headers.get("content-type")) or "authorization" in headers:
        return None
    return Refusal(
        403,
        f"{method.upper()} refused: changes need 'Content-Type: application/json' (also "
        "without a body) or an Authorization header. A web page of another site can send "
        "neither, which is how the server tells an API client from a cross-site request",
    )


class RequestGuard:
    """Pure ASGI middleware applying :func:`check_request` to every HTTP request."""

    def __init__(self, app: ASGIApp, allowed_hosts: Collection[str] | None = None):
        self.app = app
        self.allowed_hosts = (
            None if allowed_hosts is None else normalize_allowed_hosts(allowed_hosts)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers") or ():
            name = raw_name.decode("latin-1").lower()
            if name not in headers:  # the first of repeated headers counts
                headers[name] = raw_value.decode("latin-1")
        refusal = check_request(
            scope["method"],
            headers,
            scheme=scope.get("scheme", "http"),
            allowed_hosts=self.allowed_hosts,
            from_services=str(scope.get("path", "")).startswith(SERVICE_PATHS),
        )
        if refusal is None:
            await self.app(scope, receive, send)
            return
        payload = json.dumps({"detail": refusal.detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
