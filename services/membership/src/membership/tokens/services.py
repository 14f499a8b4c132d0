"""Issuing access tokens for a reader's session, and verifying them (membership's own API).

Claims: iss, aud, sub (reader UUID), iat, nbf, exp, jti, sid, `ent` (the sorted entitlement
keys) and `ver` (the reader's entitlement version). Lifetime: `token_minutes`, and never past the
earliest end among the keys it carries (a key two sources grant lasts until the later one ends).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.services import GrantService
from membership.lib.clock import utcnow
from membership.readers.models import Reader
from membership.settings import Settings
from membership.tokens.keyring import KeyRing
from tollgate_common.problems import Unauthorized

ACCESS_TYPE = "at+jwt"
SAFE_KID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
REQUIRED = ["exp", "iat", "nbf", "sub", "iss", "aud", "jti"]


class InvalidAccessToken(Unauthorized):
    title = "Invalid access token"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    keys: list[str]
    version: int


class TokenService:
    def __init__(self, session: AsyncSession, settings: Settings, keyring: KeyRing) -> None:
        self.db = session
        self.settings = settings
        self.keyring = keyring

    async def issue(self, reader: Reader, session_id: UUID | None = None) -> IssuedToken:
        now = utcnow().replace(microsecond=0)
        ends: dict[str, datetime | None] = {}
        for grant in await GrantService(self.db).live(reader.id):
            current = ends.get(grant.key, now)
            ends[grant.key] = (
                None if grant.ends_at is None or current is None else max(current, grant.ends_at)
            )
        expires = now + timedelta(minutes=self.settings.token_minutes)
        for end in ends.values():
            if end is not None:
                expires = min(expires, end)
        key = await self.keyring.signer(self.db)
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": self.settings.token_audience,
            "sub": str(reader.id),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_urlsafe(16),
            "ent": sorted(ends),
            "ver": reader.entitlement_version,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        token = jwt.encode(
            claims, key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": ACCESS_TYPE}
        )
        return IssuedToken(token, expires, sorted(ends), reader.entitlement_version)

    async def verify(self, token: str) -> dict[str, Any]:
        """RFC 8725: our algorithm per key, exact issuer, required audience and expiry, typed."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidAccessToken("The access token is malformed.") from exc
        if header.get("typ") != ACCESS_TYPE:
            raise InvalidAccessToken("This is not an access token.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not SAFE_KID.match(kid):
            raise InvalidAccessToken("The access token names no key we know.")
        key = await self.keyring.public(kid, self.db)  # jku, x5u, jwk and x5c headers are never consulted
        if key is None:
            raise InvalidAccessToken("The access token names no key we know.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public,
                algorithms=[key.alg],
                audience=self.settings.token_audience,
                issuer=self.settings.issuer,
                # The times are checked below on our clock, which follows the sandbox's in development.
                options={"require": REQUIRED, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidAccessToken(f"The access token is not valid: {exc}.") from exc
        self._check_times(claims)
        if not isinstance(claims.get("ver"), int) or not isinstance(claims.get("ent"), list):
            raise InvalidAccessToken("The access token lacks its entitlements.")
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        """As PyJWT would with `leeway`, but against `utcnow()`."""
        times = [claims[name] for name in ("exp", "nbf", "iat")]
        if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times):
            raise InvalidAccessToken("The access token's times are not numbers.")
        exp, nbf, iat = times
        now, leeway = utcnow().timestamp(), self.settings.token_leeway_seconds
        if exp <= now - leeway:
            raise InvalidAccessToken("The access token has expired; refresh it.")
        if nbf > now + leeway or iat > now + leeway:
            raise InvalidAccessToken("The access token is not valid yet.")
