"""Gathering the reader's account page: subscriptions, entitlements, free stories, gifts received
and sessions.

A handful of queries whatever the reader has: publication names for every tier and key in one,
this month's free stories across publications in one (only those the reader has used; the others
are untouched by definition).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.gifts.models import Gift, GiftState, RedeemedAs
from membership.grants.services import GrantService
from membership.grants.states import GrantSource
from membership.lib.clock import utcnow
from membership.publications.models import Publication
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.sessions.models import ReaderSession
from membership.sessions.services import SessionService
from membership.subscriptions.models import Subscription
from membership.subscriptions.services import SubscriptionService
from membership.subscriptions.states import LIVE_STATUSES, SubscriptionStatus
from membership.unlocks.models import UnlockQuota
from membership.unlocks.services import month_of
from membership.web.account.schemas import (
    AccountView,
    EntitlementView,
    FreeStoriesView,
    PublishingView,
    ReceivedGiftView,
    SessionView,
    SubscriptionView,
)
from membership.web.account.words import device, entitlement_name, source_words, subscription_state
from tollgate_common.words import count, day, day_and_time, money

PLATFORM = "Tollgate, on every publication"


class AccountService:
    def __init__(
        self, session: AsyncSession, sessions: SessionService, subscriptions: SubscriptionService
    ) -> None:
        self.db = session
        self.sessions = sessions
        self.subscriptions = subscriptions
        self.grants = GrantService(session)

    async def page(self, reader: Reader, current: ReaderSession) -> AccountView:
        subs = await self.subscriptions.of_reader(reader.id)
        grants = await self.grants.live(reader.id)
        received = list(
            await self.db.scalars(
                select(Gift).where(Gift.redeemed_by_id == reader.id).order_by(Gift.redeemed_at.desc())
            )
        )
        names = await self._publication_names(
            {s.tier.publication_id for s in subs if s.tier.publication_id is not None}
            | {g.tier.publication_id for g in received if g.tier.publication_id is not None},
            {g.key.removeprefix("pub:").partition(":")[0] for g in grants if g.key.startswith("pub:")},
        )
        by_id, by_slug = names
        # Live ones first, then the newest; of_reader already orders by creation, newest first.
        views = sorted((self._subscription(s, by_id) for s in subs), key=lambda v: not v.live)
        # A renewing subscription's grant ends a little after the period (the renewal leeway) and
        # moves on with every renewal: its date would only confuse; the subscription shows the renewal.
        renewing = {
            s.stripe_subscription_id
            for s in subs
            if s.status == SubscriptionStatus.ACTIVE and not s.cancel_at_period_end
        }
        entitlements = [
            EntitlementView(
                key=g.key,
                name=entitlement_name(g.key, by_slug),
                source=source_words(g.source),
                until=""
                if g.source == GrantSource.SUBSCRIPTION and g.source_id in renewing
                else day(g.ends_at),
            )
            for g in sorted(grants, key=lambda g: (g.key, g.source))
        ]
        return AccountView(
            name=reader.display_name or reader.email,
            email=reader.email,
            subscriptions=views,
            entitlements=entitlements,
            free_stories=await self._free_stories(reader.id),
            sessions=[_session(s, current.id) for s in await self.sessions.active(reader.id)],
            has_billing=await self.subscriptions.customer_of(reader) is not None,
            publishing=[
                PublishingView(slug=p.slug, name=p.name, role=role.value)
                for p, role in await PublicationService(self.db).staffed_by(reader.id)
            ],
            gifts_received=await self._gifts_received(received, by_id),
        )

    async def _gifts_received(self, gifts: list[Gift], names: dict[UUID, str]) -> list[ReceivedGiftView]:
        if not gifts:
            return []
        givers = dict(
            (
                await self.db.execute(
                    select(Reader.id, Reader.email).where(Reader.id.in_({g.buyer_id for g in gifts}))
                )
            )
            .tuples()
            .all()
        )
        now = utcnow()
        views = []
        for gift in gifts:
            ended = gift.state is GiftState.REFUNDED or (gift.ends_at is not None and gift.ends_at <= now)
            if gift.state is GiftState.REFUNDED:
                state = f"ended on {day(gift.refunded_at)}, when it was refunded"
            elif ended:
                state = f"ended on {day(gift.ends_at)}"
            elif gift.redeemed_as is RedeemedAs.TRIAL_EXTENSION:
                state = f"free time on your subscription until {day(gift.ends_at)}"
            else:
                state = f"until {day(gift.ends_at)}"
            where = names.get(gift.tier.publication_id, "") if gift.tier.publication_id else PLATFORM
            views.append(
                ReceivedGiftView(
                    tier_name=gift.tier.name,
                    where=where,
                    length=count(gift.months, "month"),
                    giver=givers.get(gift.buyer_id, "a reader"),
                    state=state,
                    ended=ended,
                )
            )
        return views

    async def _publication_names(
        self, ids: set[UUID], slugs: set[str]
    ) -> tuple[dict[UUID, str], dict[str, str]]:
        if not ids and not slugs:
            return {}, {}
        found = await self.db.scalars(
            select(Publication).where(or_(Publication.id.in_(ids), Publication.slug.in_(slugs)))
        )
        publications = list(found)
        return {p.id: p.name for p in publications}, {p.slug: p.name for p in publications}

    def _subscription(self, sub: Subscription, names: dict[UUID, str]) -> SubscriptionView:
        status, detail = subscription_state(
            status=sub.status,
            cancel_at_period_end=sub.cancel_at_period_end,
            current_period_end=sub.current_period_end,
            trial_end=sub.trial_end,
            ended_at=sub.ended_at,
            canceled_at=sub.canceled_at,
            revoked_at=sub.revoked_at,
        )
        live = sub.status in LIVE_STATUSES and sub.revoked_at is None
        publication_id = sub.tier.publication_id
        price = sub.price
        return SubscriptionView(
            id=sub.id,
            tier_name=sub.tier.name,
            where=PLATFORM if publication_id is None else names.get(publication_id, "a publication"),
            price=f"{money(price.unit_amount, price.currency)} a {price.interval}" if price else "",
            status=status,
            detail=detail,
            can_cancel=live and not sub.cancel_at_period_end,
            can_resume=live and sub.cancel_at_period_end,
            live=live,
        )

    async def _free_stories(self, reader_id: UUID) -> list[FreeStoriesView]:
        rows = await self.db.execute(
            select(Publication.name, Publication.free_unlocks_per_month, UnlockQuota.used)
            .join(Publication, Publication.id == UnlockQuota.publication_id)
            .where(UnlockQuota.reader_id == reader_id, UnlockQuota.month == month_of(utcnow()))
            .order_by(Publication.name)
        )
        return [
            FreeStoriesView(name, used, allowance, max(0, allowance - used))
            for name, allowance, used in rows.tuples()
            if used
        ]


def _session(s: ReaderSession, current_id: UUID) -> SessionView:
    return SessionView(
        id=s.id,
        device=device(s.user_agent),
        client_address=s.client_address,
        signed_in=day(s.created_at),
        last_used=day_and_time(s.last_seen_at),
        current=s.id == current_id,
    )
