"""The keys this process signs and verifies with, loaded once and refreshed when needed.

Shared by all requests: loading means a database read and a decryption, which a hot path should
not pay. A `kid` we do not know triggers at most one reload per few seconds (another process
may have rotated); a `kid` is only ever a dictionary key, never a path or a query fragment.
"""

from __future__ import annotations

import asyncio
import time

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

from membership.settings import Settings
from membership.tokens.keys import KeyService, LoadedKey

REFRESH_SECONDS = 60.0
UNKNOWN_KID_COOLDOWN = 5.0


class KeyRing:
    def __init__(self, alchemy: SQLAlchemyAsyncConfig, settings: Settings) -> None:
        self.alchemy = alchemy
        self.settings = settings
        self.keys: dict[str, LoadedKey] = {}
        self.jwks: list[dict[str, str]] = []
        self.signing: LoadedKey | None = None
        self.loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, *, ensure: bool = False) -> None:
        async with self._lock:
            async with self.alchemy.get_session() as session:
                service = KeyService(session, self.settings)
                if ensure:
                    await service.ensure_active()
                    await session.commit()
                published = await service.published()
                loaded = {k.kid: lk for k in published if (lk := service.load(k)) is not None}
            self.keys = loaded
            self.jwks = [dict(k.public_jwk) for k in published]
            active = [k for k in published if k.retired_at is None and k.kid in loaded]
            self.signing = loaded[active[0].kid] if active else None
            self.loaded_at = time.monotonic()

    async def signer(self) -> LoadedKey:
        if self.signing is None or time.monotonic() - self.loaded_at > REFRESH_SECONDS:
            await self.refresh(ensure=self.signing is None)
        if self.signing is None:
            raise RuntimeError("no usable signing key")
        return self.signing

    async def public(self, kid: str) -> LoadedKey | None:
        found = self.keys.get(kid)
        stale = time.monotonic() - self.loaded_at
        if (found is None and stale > UNKNOWN_KID_COOLDOWN) or stale > REFRESH_SECONDS:
            await self.refresh()
            found = self.keys.get(kid)
        return found

    async def published_jwks(self) -> list[dict[str, str]]:
        if time.monotonic() - self.loaded_at > REFRESH_SECONDS:
            await self.refresh()
        return self.jwks
