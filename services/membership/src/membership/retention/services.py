"""Cancelling with a reason, and the retention offer: shown to a member cancelling when their
tier has one, at most once a year per member and tier; taken, it is a Stripe coupon on their
subscription from the next invoice, and the subscription carries on."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.offers.models import Offer, OfferAudience
from membership.offers.services import OfferService
from membership.plans.models import Tier
from membership.retention.models import Cancellation, CancelOutcome, CancelReason
from membership.subscriptions.models import Subscription
from membership.subscriptions.services import SubscriptionService
from membership.subscriptions.states import SubscriptionStatus
from membership.webhooks.events import EventType, subscription_data
from membership.webhooks.services import Outbox
from tollgate_common.problems import BadRequest, Conflict

REASONS = {
    CancelReason.TOO_EXPENSIVE: "It costs too much",
    CancelReason.NOT_READING: "I don't read enough to keep it",
    CancelReason.CONTENT: "The stories aren't what I hoped for",
    CancelReason.TEMPORARY: "I need a break for a while",
    CancelReason.OTHER_PUBLICATION: "I'm moving to another publication",
    CancelReason.OTHER: "Something else",
}
MAX_NOTE = 1000
ONCE_PER = timedelta(days=365)


def reason_of(raw: str | None) -> CancelReason | None:
    if not raw:
        return None
    found = next((r for r in CancelReason if r == raw), None)
    if found is None:
        raise BadRequest("That is not one of the reasons on offer.")
    return found


class RetentionService:
    def __init__(self, session: AsyncSession, subscriptions: SubscriptionService) -> None:
        self.db = session
        self.subscriptions = subscriptions

    async def offer_for(self, sub: Subscription) -> Offer | None:
        """The tier's retention offer, if this member may see it now."""
        if sub.status is not SubscriptionStatus.ACTIVE or sub.cancel_at_period_end or sub.revoked_at:
            return None
        now = utcnow()
        offers = await self.db.scalars(
            select(Offer)
            .where(Offer.tier_id == sub.tier_id, Offer.audience == OfferAudience.RETENTION)
            .order_by(Offer.created_at.desc())
        )
        offer = next((o for o in offers if OfferService.is_open(o, now) and o.stripe_coupon_id), None)
        if offer is None:
            return None
        shown = await self.db.scalar(
            select(Cancellation.id).where(
                Cancellation.reader_id == sub.reader_id,
                Cancellation.tier_id == sub.tier_id,
                Cancellation.offer_id.is_not(None),
                Cancellation.created_at > now - ONCE_PER,
            )
        )
        return None if shown else offer

    def _check_note(self, note: str) -> str:
        if len(note) > MAX_NOTE:
            raise BadRequest(f"The note is {len(note)} characters; at most {MAX_NOTE} fit.")
        return note.strip()

    async def cancel(
        self, sub: Subscription, *, reason: CancelReason | None, note: str, offered: Offer | None
    ) -> Subscription:
        """Cancel at the period's end, remembering why (and that an offer was shown, if one was)."""
        note = self._check_note(note)
        updated = await self.subscriptions.set_cancel_at_period_end(sub, True)
        self.db.add(
            Cancellation(
                subscription_id=sub.id,
                reader_id=sub.reader_id,
                tier_id=sub.tier_id,
                reason=reason,
                note=note,
                offer_id=offered.id if offered else None,
                outcome=CancelOutcome.CANCELLED,
            )
        )
        await self.db.flush()
        return updated

    async def stay(self, sub: Subscription, *, reason: CancelReason | None, note: str) -> Offer:
        """Take the retention offer: its coupon on the subscription, which carries on."""
        note = self._check_note(note)
        offer = await self.offer_for(sub)
        if offer is None or offer.stripe_coupon_id is None:
            raise Conflict("There is no offer to take on this subscription now.")
        remote = await self.subscriptions.stripe.apply_coupon(
            sub.stripe_subscription_id, offer.stripe_coupon_id
        )
        await self.subscriptions.sync(remote.id, remote=remote)
        await Outbox(self.db).emit(
            EventType.OFFER_REDEEMED,
            {"offer_id": str(offer.id), **subscription_data(sub)},
            publication_ids=[sub.tier.publication_id],
            reader_id=sub.reader_id,
        )
        self.db.add(
            Cancellation(
                subscription_id=sub.id,
                reader_id=sub.reader_id,
                tier_id=sub.tier_id,
                reason=reason,
                note=note,
                offer_id=offer.id,
                outcome=CancelOutcome.SAVED,
            )
        )
        await self.db.flush()
        return offer

    async def of_publication(self, publication_id: UUID | None) -> list[Cancellation]:
        tiers = select(Tier.id).where(
            Tier.publication_id == publication_id if publication_id else Tier.publication_id.is_(None)
        )
        query = (
            select(Cancellation)
            .where(Cancellation.tier_id.in_(tiers))
            .order_by(Cancellation.created_at.desc())
        )
        return list(await self.db.scalars(query))

    @staticmethod
    def reasons_counted(rows: list[Cancellation]) -> list[tuple[str, int, int]]:
        """Per reason, in words: how many gave it, and how many of those stayed."""
        given = Counter(r.reason for r in rows)
        saved = Counter(r.reason for r in rows if r.outcome is CancelOutcome.SAVED)
        return [
            (REASONS[reason] if reason else "No reason given", n, saved[reason])
            for reason, n in given.most_common()
        ]
