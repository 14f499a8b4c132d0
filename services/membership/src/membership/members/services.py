"""Listing who holds a publication's keys (members) and who pays for its tiers (subscribers).

Pages are keyset-paginated on the reader's (or subscription's) id, so a page costs the same at
the millionth reader as at the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.models import Grant
from membership.grants.states import GrantSource
from membership.lib.clock import utcnow
from membership.plans.models import Tier
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import SubscriptionStatus


@dataclass
class Member:
    reader_id: UUID
    email: str
    display_name: str
    keys: set[str] = field(default_factory=set)
    sources: set[GrantSource] = field(default_factory=set)
    until: datetime | None = None
    forever: bool = False


def under_publication(publication: Publication) -> ColumnElement[bool]:
    """Grants of the publication's own keys: its key and the keys under it (key_under() in SQL)."""
    return or_(Grant.key == publication.key, Grant.key.startswith(publication.key + ":"))


class MemberService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def members(
        self,
        publication: Publication,
        *,
        source: GrantSource | None = None,
        after: UUID | None = None,
        limit: int = 100,
    ) -> tuple[list[Member], UUID | None]:
        now = utcnow()
        live = [
            under_publication(publication),
            Grant.revoked_at.is_(None),
            Grant.starts_at <= now,
            or_(Grant.ends_at.is_(None), Grant.ends_at > now),
        ]
        if source:
            live.append(Grant.source == source)
        # The next page's readers straight from the reader-ordered grants index: a WHERE, not a
        # HAVING, so every database starts the scan at the cursor.
        after_cursor = [] if after is None else [Grant.reader_id > after]
        ids_query = (
            select(Grant.reader_id)
            .where(*live, *after_cursor)
            .group_by(Grant.reader_id)
            .order_by(Grant.reader_id)
        )
        ids = list(await self.db.scalars(ids_query.limit(limit + 1)))
        page, more = ids[:limit], len(ids) > limit
        rows = (
            await self.db.execute(
                select(Reader.id, Reader.email, Reader.display_name, Grant.key, Grant.source, Grant.ends_at)
                .join(Grant, Grant.reader_id == Reader.id)
                .where(Reader.id.in_(page), *live)
            )
        ).all()
        members: dict[UUID, Member] = {}
        for reader_id, email, name, key, grant_source, ends_at in rows:
            m = members.setdefault(reader_id, Member(reader_id, email, name))
            m.keys.add(key)
            m.sources.add(grant_source)
            if ends_at is None:
                m.forever = True
            elif m.until is None or ends_at > m.until:
                m.until = ends_at
        ordered = [members[i] for i in page if i in members]
        return ordered, (page[-1] if more else None)

    async def subscribers(
        self,
        publication: Publication,
        *,
        tier_id: UUID | None = None,
        status: SubscriptionStatus | None = None,
        after: UUID | None = None,
        limit: int = 100,
    ) -> tuple[list[tuple[Subscription, Reader]], UUID | None]:
        query = (
            select(Subscription, Reader)
            .join(Tier, Tier.id == Subscription.tier_id)
            .join(Reader, Reader.id == Subscription.reader_id)
            .where(Tier.publication_id == publication.id)
            .order_by(Subscription.id)
        )
        if tier_id:
            query = query.where(Subscription.tier_id == tier_id)
        if status:
            query = query.where(Subscription.status == status)
        if after:
            query = query.where(Subscription.id > after)
        rows = [(s, r) for s, r in (await self.db.execute(query.limit(limit + 1))).all()]
        return rows[:limit], (rows[limit - 1][0].id if len(rows) > limit else None)

    async def history(
        self, publication: Publication, reader_id: UUID
    ) -> tuple[list[Grant], list[Subscription]]:
        grants = await self.db.scalars(
            select(Grant)
            .where(Grant.reader_id == reader_id, under_publication(publication))
            .order_by(Grant.created_at)
        )
        subs = await self.db.scalars(
            select(Subscription)
            .join(Tier, Tier.id == Subscription.tier_id)
            .where(Subscription.reader_id == reader_id, Tier.publication_id == publication.id)
            .order_by(Subscription.created_at)
        )
        return list(grants), list(subs)
