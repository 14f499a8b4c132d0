"""`POST /api/auth/token` (a session's access token, as a cookie and JSON) and the JWKS."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency

from membership.lib.clock import utcnow
from membership.lib.metrics import metrics_of
from membership.lib.ratelimit import RateLimits, Rule
from membership.sessions.cookies import reader_cookie, session_cookie
from membership.sessions.models import ReaderSession
from membership.sessions.services import SessionService
from membership.settings import Settings
from membership.tokens.keyring import KeyRing
from membership.tokens.schemas import AccessTokenOut, Jwks
from membership.tokens.services import TokenService


class TokenApi(Controller):
    path = "/api/auth"
    tags = ["tokens"]

    @post("/token", status_code=200, summary="An access token for this session (also set as a cookie)")
    async def token(
        self,
        request: Request[Any, Any, Any],
        current_session: NamedDependency[ReaderSession],
        sessions: NamedDependency[SessionService],
        tokens: NamedDependency[TokenService],
        settings: NamedDependency[Settings],
        ratelimits: NamedDependency[RateLimits],
    ) -> Response[AccessTokenOut]:
        rule = Rule("token", settings.token_rate_per_session, settings.token_rate_window_seconds)
        await ratelimits.hit(
            rule, str(current_session.id), "Too many access tokens were asked for this session"
        )
        issued = await tokens.issue(current_session.reader, current_session.id)
        metrics_of(request).token_issues.inc()
        seconds = max(0, int(issued.expires_at.timestamp() - utcnow().timestamp()))
        body = AccessTokenOut(issued.token, "Bearer", seconds, issued.expires_at, issued.keys, issued.version)
        cookies = [reader_cookie(settings, settings.access_cookie, issued.token, seconds)]
        # The gateway asks for a token every few minutes of reading: the session lives on with it.
        if sessions.keep_alive(current_session):
            cookies.append(session_cookie(settings, request.cookies[settings.session_cookie]))
        return Response(body, cookies=cookies, headers={"cache-control": "no-store"})


class JwksApi(Controller):
    path = "/.well-known"
    tags = ["tokens"]

    @get("/jwks.json", summary="The public keys that verify access tokens", cache=False)
    async def jwks(
        self, keyring: NamedDependency[KeyRing], settings: NamedDependency[Settings]
    ) -> Response[Jwks]:
        keys = keyring.published_jwks()
        # Kept no longer than a refresh interval, so a cached copy has the new key when it signs.
        max_age = int(settings.key_refresh_seconds)
        return Response(Jwks(keys=keys), headers={"cache-control": f"public, max-age={max_age}"})
