"""What the dashboard asks of the database beyond the domain services: the publications a reader
runs, finding readers by email or name, and small counts for the pages.

Members, subscribers, histories, tiers, comps and friend links come from their own services
(MemberService, PlanService, CompService, FriendLinkService); this only fills the gaps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from membership.grants.models import Grant
from membership.grants.services import GrantService
from membership.grants.states import GrantSource
from membership.members.services import under_publication
from membership.plans.models import Tier
from membership.publications.models import Publication, key_under
from membership.readers.models import Reader
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import LIVE_STATUSES

SEARCH_LIMIT = 50


@dataclass
class ReaderMatch:
    """A reader found by email or name, with what they hold of the publication now and their
    subscriptions to it (ended ones too)."""

    reader: Reader
    live: list[Grant] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)

    @property
    def sources(self) -> list[GrantSource]:
        return sorted({g.source for g in self.live})

    @property
    def keys(self) -> list[str]:
        return sorted({g.key for g in self.live})


def _contains(column: InstrumentedAttribute[str], text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text.lower(), autoescape=True)


class DashboardService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def search(self, publication: Publication, text: str) -> tuple[list[ReaderMatch], bool]:
        """Readers whose email or name holds `text` and who ever held the publication's keys or
        subscribed to its tiers; whether there were more than the first SEARCH_LIMIT."""
        ever_granted = select(Grant.reader_id).where(under_publication(publication))
        ever_subscribed = (
            select(Subscription.reader_id)
            .join(Tier, Tier.id == Subscription.tier_id)
            .where(Tier.publication_id == publication.id)
        )
        readers = list(
            await self.db.scalars(
                select(Reader)
                .where(
                    or_(_contains(Reader.email, text), _contains(Reader.display_name, text)),
                    or_(Reader.id.in_(ever_granted), Reader.id.in_(ever_subscribed)),
                )
                .order_by(Reader.email)
                .limit(SEARCH_LIMIT + 1)
            )
        )
        more, readers = len(readers) > SEARCH_LIMIT, readers[:SEARCH_LIMIT]
        matches = {r.id: ReaderMatch(r) for r in readers}
        grants = GrantService(self.db)
        for match in matches.values():
            match.live = [g for g in await grants.live(match.reader.id) if key_under(publication.key, g.key)]
        subs = await self.db.scalars(
            select(Subscription)
            .join(Tier, Tier.id == Subscription.tier_id)
            .where(Tier.publication_id == publication.id, Subscription.reader_id.in_(matches))
            .order_by(Subscription.created_at.desc())
        )
        for sub in subs:
            matches[sub.reader_id].subscriptions.append(sub)
        return list(matches.values()), more

    async def readers(self, ids: Iterable[UUID]) -> dict[UUID, Reader]:
        wanted = set(ids)
        if not wanted:
            return {}
        return {r.id: r for r in await self.db.scalars(select(Reader).where(Reader.id.in_(wanted)))}

    async def live_subscriptions_by_tier(self, publication: Publication) -> dict[UUID, int]:
        rows = await self.db.execute(
            select(Subscription.tier_id, func.count())
            .join(Tier, Tier.id == Subscription.tier_id)
            .where(
                Tier.publication_id == publication.id,
                Subscription.status.in_(LIVE_STATUSES),
                Subscription.revoked_at.is_(None),
            )
            .group_by(Subscription.tier_id)
        )
        return {tier_id: int(n) for tier_id, n in rows.tuples()}

    async def keys_on_offer(self, publication: Publication) -> list[str]:
        """The keys a comp may give: the publication's own and those its tiers grant."""
        keys = {publication.key}
        for tier_keys in await self.db.scalars(
            select(Tier.entitlement_keys).where(Tier.publication_id == publication.id)
        ):
            keys.update(k for k in tier_keys if key_under(publication.key, k))
        return sorted(keys)
