"""The keys this process signs and verifies with, held in memory and refreshed in the background.

Loading means a database read and a decryption, which a hot path should not pay, and which must
never happen in a second transaction beside the request's own: on SQLite every transaction takes
the write lock (`BEGIN IMMEDIATE`), so a request that opened another one would wait on itself.
So keys are loaded at start and by `run_forever()` every `key_refresh_seconds`, in sessions of
their own outside any request. A request reads memory; only a `kid` we do not know (another
process rotated) is looked up, at most once per few seconds, in the request's own session.
A `kid` is only ever a dictionary key, never a path or a query fragment. Which loaded key signs
is worked out at each read from the stored times (`keys.current`), so every replica switches keys
at the same instant of a rotation's handover without a reload.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import structlog
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.settings import Settings
from membership.tokens.keys import KeyService, LoadedKey, current
from tollgate_common.problems import ServiceUnavailable

log = structlog.get_logger(__name__)
UNKNOWN_KID_COOLDOWN = 5.0


class NoSigningKey(ServiceUnavailable):
    title = "Signing keys not loaded"


@dataclass(frozen=True)
class _Published:
    kid: str
    key: LoadedKey | None  # None: published, but this process cannot decrypt its private half
    jwk: dict[str, str]
    created_at: datetime
    retired_at: datetime | None
    unpublish_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.unpublish_at is None or self.unpublish_at > now


class KeyRing:
    def __init__(self, alchemy: SQLAlchemyAsyncConfig, settings: Settings) -> None:
        self.alchemy = alchemy
        self.settings = settings
        self._published: list[_Published] = []
        self.loaded_at = 0.0  # monotonic time of the last load, 0 before the first
        self.looked_up_at = 0.0  # monotonic time of the last lookup for an unknown kid

    # ---- loading: at start, in the background, or in the request's own session ---------------

    async def refresh(self, *, ensure: bool = False) -> None:
        """Load every published key in a session of its own; never call this inside a request."""
        async with self.alchemy.get_session() as session:
            service = KeyService(session, self.settings)
            if ensure:
                await service.ensure_active()
                await session.commit()
            await self._load(service)

    async def _load(self, service: KeyService) -> None:
        published = await service.published()
        self._published = [
            _Published(k.kid, service.load(k), dict(k.public_jwk), k.created_at, k.retired_at, k.unpublish_at)
            for k in published
        ]
        self.loaded_at = time.monotonic()

    async def run_forever(self) -> None:
        """Reload every `key_refresh_seconds`: a rotation elsewhere, or the first key on a new database."""
        while True:
            await asyncio.sleep(self.settings.key_refresh_seconds)
            try:
                await self.refresh(ensure=self.signing is None)
            except Exception as exc:  # the database may be briefly away; keep the keys we have
                log.warning("signing keys not refreshed; keeping the loaded ones", error=str(exc))

    # ---- reading: from memory ------------------------------------------------------------------

    @property
    def signing(self) -> LoadedKey | None:
        """The key that signs now, or None when this process cannot decrypt it (a lost secret)."""
        signer = current(self._published, utcnow())
        return signer.key if signer is not None else None

    @property
    def keys(self) -> dict[str, LoadedKey]:
        now = utcnow()
        return {p.key.kid: p.key for p in self._published if p.key is not None and p.live(now)}

    async def signer(self, session: AsyncSession) -> LoadedKey:
        key = self.signing
        if key is None and time.monotonic() - self.looked_up_at > UNKNOWN_KID_COOLDOWN:
            # Not loaded at start (the database was not migrated yet): read in the request's session.
            self.looked_up_at = time.monotonic()
            await self._load(KeyService(session, self.settings))
            key = self.signing
        if key is None:
            raise NoSigningKey("No signing key is loaded yet; please try again in a minute.")
        return key

    async def public(self, kid: str, session: AsyncSession) -> LoadedKey | None:
        found = self.keys.get(kid)
        if found is None and time.monotonic() - self.looked_up_at > UNKNOWN_KID_COOLDOWN:
            # Perhaps another process rotated since our last load: look in the request's session.
            self.looked_up_at = time.monotonic()
            await self._load(KeyService(session, self.settings))
            found = self.keys.get(kid)
        return found

    def published_jwks(self) -> list[dict[str, str]]:
        now = utcnow()
        return [p.jwk for p in self._published if p.live(now)]
