"""The first and last thing every HTTP request meets: an ASGI middleware around the whole app.

- **Who is asking, from where.** The client's address and scheme are the socket's, unless the
  socket's peer is one of ``http.trusted_proxies``: then the rightmost ``X-Forwarded-For``
  address that is not itself a trusted proxy, and ``X-Forwarded-Proto``. Nobody else's
  forwarding headers are believed (uvicorn's own proxy handling is off; see ``hub.py``).
- **Body size before parsing.** A body over ``http.max_body_bytes`` is refused with 413 before
  any route, dependency or parser reads it: by its ``Content-Length``, or, when chunked, as soon
  as it grows past the limit.
- **Security headers on every response**, errors and refusals included: a Content-Security-Policy
  allowing only this hub's own scripts and no framing, ``X-Frame-Options: DENY``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, and
  ``Cache-Control: no-store`` on everything but the console's static files.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
CACHEABLE_PREFIXES = ("/console/static/", "/console/sound/")
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # style attributes only; no script runs from them
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or networks (``10.0.0.0/8``); ``ValueError`` names a bad entry."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


class BodyTooLarge(Exception):
    pass


class HttpGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        trusted_proxies: Iterable[Network] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = self._resolve_client(scope)
        send = self._with_headers(scope, send)
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(send)
            return
        started = False
        over = [False]  # set by the counting receive: the body grew past the limit

        async def guarded_send(message: Message) -> None:
            # Whatever the app answers to a cut-off body (a parser's 400), the answer is 413.
            nonlocal started
            if over[0]:
                if not started and message["type"] == "http.response.start":
                    started = True
                    await self._too_large(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._counting(receive, over), guarded_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(send)

    # -- the client -----------------------------------------------------------------------------
    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    def _resolve_client(self, scope: Scope) -> Scope:
        client = scope.get("client")
        if not self.trusted_proxies or not client or not self._trusted(client[0]):
            return scope
        scope = dict(scope)
        forwarded = _header(scope, b"x-forwarded-for")
        if forwarded:
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            while hops and self._trusted(hops[-1]):
                hops.pop()
            # Unknown (the proxy said for nobody else): None, never the proxy's own address.
            scope["client"] = (hops[-1][:64], 0) if hops else None
        else:
            scope["client"] = None
        proto = (_header(scope, b"x-forwarded-proto") or "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
        return scope

    # -- the body -------------------------------------------------------------------------------
    def _counting(self, receive: Receive, over: list[bool]) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    over[0] = True
                    raise BodyTooLarge
            return message

        return counted

    async def _too_large(self, send: Send) -> None:
        detail = f"the request body is over the {self.max_body_bytes} bytes this hub accepts"
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    # -- the response ---------------------------------------------------------------------------
    @staticmethod
    def _with_headers(scope: Scope, send: Send) -> Send:
        cacheable = str(scope.get("path", "")).startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-frame-options"
                ]
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if not cacheable:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
