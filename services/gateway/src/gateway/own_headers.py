"""Strips request headers that look like the gateway's own, before anything reads them.

The gateway answers with `Tollgate-Access` and friends, and a deployment might put a cache or
another service behind it that trusts such headers. A client sending them itself (say
`X-Tollgate-Entitlements: member`) must not be believed by anyone downstream, so they are removed
from every request, forwarded ones included. Nothing in the gateway reads them either: access is
decided from tokens, sessions and friend links only.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

OWN_PREFIXES: tuple[bytes, ...] = (
    b"tollgate-",
    b"x-tollgate-",
    b"x-member",
    b"x-entitlement",
    b"x-reader",
    b"x-decision",
    b"x-access-decision",
)


def is_own(name: bytes) -> bool:
    """Whether a (lower-case) header name is one the gateway sets, never one a client may send."""
    return name.startswith(OWN_PREFIXES)


class StripOwnHeaders:
    """ASGI middleware: drops the gateway's own header names from every incoming request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            headers = scope["headers"]
            if any(is_own(name) for name, _ in headers):
                scope["headers"] = [(n, v) for n, v in headers if not is_own(n)]
        await self.app(scope, receive, send)
