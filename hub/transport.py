"""What the hub's HTTP layer adds around every route: the real client address behind trusted
reverse proxies, ``Cache-Control: no-store`` on everything but static assets, and HSTS when the
hub is served over HTTPS only."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Static assets hold no personal data and may be cached; every other response may (pages, PDFs,
# one-time tokens, the JSON API) and is never stored by browsers or proxies.
CACHEABLE_PREFIXES = ("/static/",)
HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600


def _is_trusted(host: str, trusted: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def client_address(peer: str, forwarded_for: str, trusted: Sequence[Network]) -> str:
    """The client's address: the peer itself unless the peer is a trusted proxy, then the
    rightmost address of X-Forwarded-For that is not a trusted proxy (the leftmost entries are
    whatever the client chose to send, so they are never believed)."""
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


class ForwardedClient:
    """Replaces the ASGI scope's client with the address the trusted proxies forwarded."""

    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trusted and scope["type"] in ("http", "websocket") and scope.get("client"):
            peer, port = scope["client"]
            forwarded = b",".join(
                value for name, value in scope["headers"] if name == b"x-forwarded-for"
            ).decode("latin-1")
            host = client_address(peer, forwarded, self.trusted)
            if host != peer:
                scope = dict(scope, client=(host, port))
        await self.app(scope, receive, send)


class TransportHeaders:
    """``Cache-Control: no-store`` on every response but static assets; HSTS when asked."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith(CACHEABLE_PREFIXES)
        hsts = self.hsts

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not cacheable:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                if hsts:
                    headers.append(
                        (b"strict-transport-security", f"max-age={HSTS_MAX_AGE_SECONDS}".encode())
                    )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
