"""Creating, extending and ending grants, and bumping the reader's entitlement version.

Each source (one subscription, one trial, one comp) owns its grants: `sync` makes that source's
rows say exactly what it now grants. Ending one source never touches another's rows, so a key
that another live source grants stays live. The version rises (with one entry on the revocation
feed) only when what the reader's tokens carry changes, so a replayed event costs no gateway its
cached tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.models import EntitlementChange, Grant
from membership.grants.states import GrantSource
from membership.lib.clock import utcnow
from membership.readers.models import Reader
from membership.webhooks.events import EventType, iso, member_data, publication_of
from membership.webhooks.services import Outbox

FEED_LOCK = 7_320_001  # the advisory lock id that orders the revocation feed


@dataclass(frozen=True)
class SourceGrants:
    """What one source (a subscription's trial or paid access, a comp) grants now."""

    source: GrantSource
    source_id: str
    keys: set[str]
    live: bool
    starts_at: datetime
    ends_at: datetime | None
    revoke: bool = False
    note: str = ""


@dataclass(frozen=True)
class Effective:
    """What a reader's tokens carry: each live key with its latest end (None: no end), and the
    grants that start later. Equal before and after a change means no token went stale."""

    now: dict[str, datetime | None]
    later: frozenset[tuple[str, datetime, datetime | None]]


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

    async def effective(self, reader_id: UUID, at: datetime | None = None) -> Effective:
        """What the reader's tokens carry at `at`: each live key and its latest end, and what is to come."""
        at = at or utcnow()
        now: dict[str, datetime | None] = {}
        later: set[tuple[str, datetime, datetime | None]] = set()
        rows = await self.db.execute(
            select(Grant.key, Grant.starts_at, Grant.ends_at).where(
                Grant.reader_id == reader_id,
                Grant.revoked_at.is_(None),
                or_(Grant.ends_at.is_(None), Grant.ends_at > at),
            )
        )
        for key, starts_at, ends_at in rows:
            if starts_at > at:
                later.add((key, starts_at, ends_at))
            elif key not in now:
                now[key] = ends_at
            else:
                current = now[key]
                now[key] = None if current is None or ends_at is None else max(current, ends_at)
        return Effective(now, frozenset(later))

    async def sync(
        self,
        reader_id: UUID,
        *,
        source: GrantSource,
        source_id: str,
        keys: set[str],
        live: bool,
        starts_at: datetime,
        ends_at: datetime | None,
        revoke: bool = False,
        note: str = "",
    ) -> bool:
        """Make one source's grants say exactly this; True if any row changed (see `sync_sources`)."""
        return await self.sync_sources(
            reader_id,
            [SourceGrants(source, source_id, keys, live, starts_at, ends_at, revoke, note)],
        )

    async def sync_sources(self, reader_id: UUID, sources: Sequence[SourceGrants]) -> bool:
        """Make each source's grants say exactly this; True if any row changed.

        The reader gets a new version (and a feed entry) once, and only if what their tokens carry
        changed: a replay that rewrites nothing, or a change no token can see (the end of a key
        another source grants for longer), leaves their tokens good.
        """
        now = utcnow()
        before = await self.effective(reader_id, now)
        outbox = Outbox(self.db)
        # Read before the change: member.created goes to publications the reader never had a grant at.
        ever = await self.publications_ever(reader_id) if await outbox.active() else set()
        changed = False
        for spec in sources:
            changed |= await self._sync_one(reader_id, spec, now)
        if not changed:
            return False
        await self.db.flush()
        after = await self.effective(reader_id, now)
        if after != before:
            version = await self.bump_version(reader_id)
            if await outbox.active():
                await self._announce(outbox, reader_id, before, after, version, ever)
        return True

    async def publications_ever(self, reader_id: UUID) -> set[str | None]:
        """The publications (slugs; None for platform keys) the reader has had any grant for."""
        keys = await self.db.scalars(select(Grant.key).where(Grant.reader_id == reader_id).distinct())
        return {publication_of(key) for key in keys}

    async def _announce(
        self,
        outbox: Outbox,
        reader_id: UUID,
        before: Effective,
        after: Effective,
        version: int,
        ever: set[str | None],
    ) -> None:
        """The webhooks of a change in what the reader's tokens carry, in this transaction."""
        reader = await self.db.get(Reader, reader_id)
        if reader is None:
            return
        granted = {k for k, end in after.now.items() if k not in before.now or before.now[k] != end}
        revoked = before.now.keys() - after.now.keys()
        for key in sorted(granted):
            data = {
                "reader_id": str(reader_id),
                "key": key,
                "ends_at": iso(after.now[key]),
                "version": version,
            }
            await outbox.emit(
                EventType.ENTITLEMENT_GRANTED, data, slugs=[publication_of(key)], reader_id=reader_id
            )
        for key in sorted(revoked):
            data = {"reader_id": str(reader_id), "key": key, "version": version}
            await outbox.emit(
                EventType.ENTITLEMENT_REVOKED, data, slugs=[publication_of(key)], reader_id=reader_id
            )
        member = member_data(reader, version)
        for slug in sorted({publication_of(k) for k in granted} - ever, key=str):
            await outbox.emit(EventType.MEMBER_CREATED, member, slugs=[slug], reader_id=reader_id)
        touched = {publication_of(k) for k in granted | revoked}
        touched |= {publication_of(key) for key, _, _ in after.later ^ before.later}
        if touched:
            await outbox.state_changed(reader_id, slugs=touched)

    async def _sync_one(self, reader_id: UUID, spec: SourceGrants, now: datetime) -> bool:
        """`live=False` ends the source's grants now; `revoke=True` also marks them revoked (a
        dispute, a refund, a comp taken back), which a later `live=True` does not undo.
        """
        rows = {
            g.key: g
            for g in await self.db.scalars(
                select(Grant).where(
                    Grant.reader_id == reader_id,
                    Grant.source == spec.source,
                    Grant.source_id == spec.source_id,
                )
            )
        }
        changed = False
        for key, grant in rows.items():
            if spec.revoke:
                if grant.revoked_at is None:
                    grant.revoked_at, grant.note, changed = now, spec.note or grant.note, True
            elif spec.live and key in spec.keys and grant.revoked_at is None:
                # A grant that has begun keeps its start: callers clamp a start in our future to
                # now (Stripe's clock may run ahead), which would otherwise move on every sync.
                starts_at = (
                    grant.starts_at if grant.starts_at <= now and spec.starts_at <= now else spec.starts_at
                )
                if (grant.starts_at, grant.ends_at) != (starts_at, spec.ends_at):
                    grant.starts_at, grant.ends_at, changed = starts_at, spec.ends_at, True
            elif grant.revoked_at is None and (grant.ends_at is None or grant.ends_at > now):
                grant.ends_at, changed = now, True
        if spec.live and not spec.revoke:
            for key in sorted(spec.keys - rows.keys()):
                self.db.add(
                    Grant(
                        reader_id=reader_id,
                        key=key,
                        source=spec.source,
                        source_id=spec.source_id,
                        starts_at=spec.starts_at,
                        ends_at=spec.ends_at,
                        note=spec.note,
                    )
                )
                changed = True
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
