"""Creating, extending and ending grants, and bumping the reader's entitlement version.

Each source (one subscription, one trial, one comp) owns its grants: `sync` makes that source's
rows say exactly what it now grants. Ending one source never touches another's rows, so a key
that another live source grants stays live.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.models import Grant
from membership.lib.clock import utcnow
from membership.readers.models import Reader
from membership.tokens.models import EntitlementChange

FEED_LOCK = 7_320_001  # the advisory lock id that orders the revocation feed


class GrantService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def live(self, reader_id: UUID, at: datetime | None = None) -> list[Grant]:
        at = at or utcnow()
        query = (
            select(Grant)
            .where(
                Grant.reader_id == reader_id,
                Grant.revoked_at.is_(None),
                Grant.starts_at <= at,
                or_(Grant.ends_at.is_(None), Grant.ends_at > at),
            )
            .order_by(Grant.key, Grant.source)
        )
        return list(await self.db.scalars(query))

    async def keys(self, reader_id: UUID, at: datetime | None = None) -> set[str]:
        return {g.key for g in await self.live(reader_id, at)}

    async def sync(
        self,
        reader_id: UUID,
        *,
        source: str,
        source_id: str,
        keys: set[str],
        live: bool,
        starts_at: datetime,
        ends_at: datetime | None,
        revoke: bool = False,
        note: str = "",
    ) -> bool:
        """Make one source's grants say exactly this; True (and a new version) if anything changed.

        `live=False` ends the source's grants now; `revoke=True` also marks them revoked (a
        dispute, a refund, a comp taken back), which a later `live=True` does not undo.
        """
        now = utcnow()
        rows = {
            g.key: g
            for g in await self.db.scalars(
                select(Grant).where(
                    Grant.reader_id == reader_id, Grant.source == source, Grant.source_id == source_id
                )
            )
        }
        changed = False
        for key, grant in rows.items():
            if revoke:
                if grant.revoked_at is None:
                    grant.revoked_at, grant.note, changed = now, note or grant.note, True
            elif live and key in keys and grant.revoked_at is None:
                if (grant.starts_at, grant.ends_at) != (starts_at, ends_at):
                    grant.starts_at, grant.ends_at, changed = starts_at, ends_at, True
            elif grant.revoked_at is None and (grant.ends_at is None or grant.ends_at > now):
                grant.ends_at, changed = now, True
        if live and not revoke:
            for key in sorted(keys - rows.keys()):
                self.db.add(
                    Grant(
                        reader_id=reader_id,
                        key=key,
                        source=source,
                        source_id=source_id,
                        starts_at=starts_at,
                        ends_at=ends_at,
                        note=note,
                    )
                )
                changed = True
        if changed:
            await self.db.flush()
            await self.bump_version(reader_id)
        return changed

    async def bump_version(self, reader_id: UUID) -> int:
        """The reader's tokens are stale from now: a new version, announced on the revocation feed."""
        if self.db.get_bind().dialect.name == "postgresql":
            # Feed writers take turns until commit, so seq order is commit order and a follower
            # never steps past a change that commits late (SQLite's BEGIN IMMEDIATE does the same).
            await self.db.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": FEED_LOCK})
        version = int(
            (
                await self.db.execute(
                    update(Reader)
                    .where(Reader.id == reader_id)
                    .values(entitlement_version=Reader.entitlement_version + 1)
                    .returning(Reader.entitlement_version)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one()
        )
        self.db.add(EntitlementChange(reader_id=reader_id, version=version, changed_at=utcnow()))
        await self.db.flush()
        return version
