"""The gateway's one HTTP client to membership: its lifespan, how handlers find it, and readiness.

The client is created when the app starts and closed when it stops, so every forwarded request
reuses the same connection pool. It keeps no cookies: one client serves every reader, and a
cookie one reader received must never ride along on another reader's request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookiejar import Cookie, CookieJar, CookiePolicy
from urllib.request import Request as UrllibRequest

import httpx
from litestar import Litestar

from gateway.settings import Settings


class _NoCookies(CookiePolicy):
    """A cookie policy that neither stores nor returns any cookie."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: Cookie, request: UrllibRequest) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: UrllibRequest) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: UrllibRequest) -> bool:
        return False

    def path_return_ok(self, path: str, request: UrllibRequest) -> bool:
        return False


def settings_of(app: Litestar) -> Settings:
    settings = app.state.settings
    assert isinstance(settings, Settings)
    return settings


def client_of(app: Litestar) -> httpx.AsyncClient:
    client = app.state.membership_client
    assert isinstance(client, httpx.AsyncClient), "the membership client exists only while the app runs"
    return client


@asynccontextmanager
async def membership_client(app: Litestar) -> AsyncIterator[None]:
    """Lifespan: one pooled client to membership for the life of the app."""
    settings = settings_of(app)
    async with httpx.AsyncClient(
        timeout=settings.upstream_timeout_seconds,
        follow_redirects=False,
        cookies=CookieJar(policy=_NoCookies()),
        # Membership is a neighbour on the internal network; a proxy meant for the internet must not catch it.
        trust_env=False,
    ) as client:
        app.state.membership_client = client
        try:
            yield
        finally:
            app.state.membership_client = None


async def membership_is_live(app: Litestar) -> None:
    """Readiness check: membership answers its liveness probe with 200."""
    url = f"{settings_of(app).membership_url}/health/live"
    try:
        response = await client_of(app).get(url)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"membership is unreachable ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise RuntimeError(f"membership answered {response.status_code} at /health/live")
