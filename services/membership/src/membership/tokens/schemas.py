"""An access token as the API gives it, and the JWKS document."""

from __future__ import annotations

from datetime import datetime

import msgspec


class AccessTokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    expires_at: datetime
    entitlements: list[str]
    version: int


class Jwks(msgspec.Struct):
    keys: list[dict[str, str]]
