"""Offers: making one (a Stripe coupon and promotion code, mirrored), what it makes a price cost in
words, who may take it, and archiving it (no new redemptions; discounts already given stay).

A discount offer's coupon applies only to its tier's product, so a code typed on the wrong tier's
checkout does nothing at Stripe either. A free-trial offer has no coupon: it is a trial length
that replaces the tier's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.lib.stripe_client import PaymentProviderError, StripeApi
from membership.offers.models import Offer, OfferAudience, OfferDuration, OfferKind
from membership.plans.models import Price, Tier
from membership.readers.models import Reader
from membership.subscriptions.models import Subscription
from membership.subscriptions.services import SubscriptionService
from membership.subscriptions.states import LIVE_STATUSES
from tollgate_common.problems import BadRequest, Conflict, NotFound
from tollgate_common.words import count, money

CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")
PERIOD = {"month": "month", "year": "year"}


@dataclass(frozen=True)
class OfferTerms:
    """What a publisher asks for; checked before anything is made at Stripe."""

    name: str
    code: str
    kind: OfferKind
    audience: OfferAudience
    percent_off: int | None = None
    amount_off: int | None = None
    currency: str | None = None
    duration: OfferDuration = OfferDuration.ONCE
    duration_in_months: int | None = None
    trial_days: int = 0
    keep_tier_trial: bool = False
    max_redemptions: int | None = None
    ends_at: datetime | None = None
    description: str = ""


def discounted(offer: Offer, price: Price) -> int:
    """A price's amount with the offer's discount taken off (never below zero)."""
    if offer.kind is OfferKind.PERCENT_OFF and offer.percent_off:
        # Stripe rounds a percentage off half up, to a whole minor unit.
        return price.unit_amount - (price.unit_amount * offer.percent_off + 50) // 100
    if offer.kind is OfferKind.AMOUNT_OFF and offer.amount_off and offer.currency == price.currency:
        return max(0, price.unit_amount - offer.amount_off)
    return price.unit_amount


def price_words(offer: Offer, price: Price) -> str:
    """The price as the reader will pay it: '$2.50 a month for 3 months, then $5 a month'."""
    period = PERIOD.get(price.interval, price.interval)
    full = f"{money(price.unit_amount, price.currency)} a {period}"
    if offer.kind is OfferKind.FREE_TRIAL:
        return f"free for {count(offer.trial_days, 'day')}, then {full}"
    cheaper = money(discounted(offer, price), price.currency)
    if offer.duration is OfferDuration.FOREVER:
        return f"{cheaper} a {period} (instead of {full})"
    if offer.duration is OfferDuration.ONCE or price.interval == "year":
        words = f"{cheaper} for the first {period}, then {full}"
    else:
        months = offer.duration_in_months or 1
        words = f"{cheaper} a month for {count(months, 'month')}, then {full}"
    # A member staying is past any trial; a new reader gets the tier's trial first if kept.
    if offer.keep_tier_trial and offer.tier.trial_days and offer.audience is not OfferAudience.RETENTION:
        return f"free for {count(offer.tier.trial_days, 'day')}, then {words}"
    return words


def check_terms(terms: OfferTerms, tier: Tier) -> OfferTerms:
    if not terms.name.strip():
        raise BadRequest("An offer needs a name its readers will recognise.")
    code = terms.code.strip().upper()
    if not CODE.match(code):
        raise BadRequest("An offer's code is 3 to 40 letters, digits and dashes, such as SPRING-50.")
    if terms.kind is OfferKind.PERCENT_OFF and not (terms.percent_off and 0 < terms.percent_off <= 100):
        raise BadRequest("A percentage off is between 1 and 100.")
    if terms.kind is OfferKind.AMOUNT_OFF:
        if not terms.amount_off or terms.amount_off <= 0:
            raise BadRequest("An amount off is more than zero.")
        currencies = {p.currency for p in tier.prices if p.archived_at is None}
        if (terms.currency or "").lower() not in currencies:
            raise BadRequest(f"An amount off is in a currency {tier.name} is sold in.")
    if terms.kind is OfferKind.FREE_TRIAL and not 1 <= terms.trial_days <= 730:
        raise BadRequest("A free-trial offer lasts 1 to 730 days.")
    if terms.duration is OfferDuration.REPEATING and not 1 <= (terms.duration_in_months or 0) <= 36:
        raise BadRequest("A discount for some months lasts 1 to 36 months.")
    if terms.max_redemptions is not None and terms.max_redemptions < 1:
        raise BadRequest("A limit on redemptions is at least 1.")
    if terms.ends_at is not None and terms.ends_at <= utcnow():
        raise BadRequest("An offer's end is in the future.")
    if terms.audience is OfferAudience.RETENTION and terms.kind is OfferKind.FREE_TRIAL:
        raise BadRequest("A retention offer is a discount on the member's subscription, not a trial.")
    return terms


class OfferService:
    def __init__(self, session: AsyncSession, stripe: StripeApi) -> None:
        self.db = session
        self.stripe = stripe

    async def create(self, tier: Tier, terms: OfferTerms) -> Offer:
        if tier.archived_at is not None or tier.stripe_product_id is None:
            raise Conflict("This tier is archived; it takes no offers.")
        terms = check_terms(terms, tier)
        discount = terms.kind is not OfferKind.FREE_TRIAL
        months = terms.duration_in_months if terms.duration is OfferDuration.REPEATING else None
        offer = Offer(
            tier_id=tier.id,
            name=terms.name.strip(),
            code=terms.code.strip().upper(),
            kind=terms.kind,
            percent_off=terms.percent_off if terms.kind is OfferKind.PERCENT_OFF else None,
            amount_off=terms.amount_off if terms.kind is OfferKind.AMOUNT_OFF else None,
            currency=(terms.currency or "").lower() if terms.kind is OfferKind.AMOUNT_OFF else None,
            duration=terms.duration if discount else OfferDuration.ONCE,
            duration_in_months=months if discount else None,
            trial_days=terms.trial_days if terms.kind is OfferKind.FREE_TRIAL else 0,
            keep_tier_trial=terms.keep_tier_trial,
            audience=terms.audience,
            max_redemptions=terms.max_redemptions,
            ends_at=terms.ends_at,
            description=terms.description.strip(),
        )
        try:
            async with self.db.begin_nested():
                self.db.add(offer)
                await self.db.flush()
        except IntegrityError as exc:
            raise Conflict(f"The code {offer.code} is taken; choose another.") from exc
        await self.db.refresh(offer, ["tier"])
        if offer.kind is not OfferKind.FREE_TRIAL:
            await self._mirror(offer, tier.stripe_product_id, offer.max_redemptions)
        await self.db.flush()
        return offer

    async def _mirror(
        self, offer: Offer, product: str, max_redemptions: int | None, *, replacing: str | None = None
    ) -> None:
        """The offer's coupon at Stripe, and its promotion code unless only offered at cancellation."""
        offer.stripe_coupon_id = await self.stripe.create_coupon(
            offer_id=str(offer.id),
            replacing=replacing,
            name=offer.name,
            percent_off=offer.percent_off,
            amount_off=offer.amount_off,
            currency=offer.currency,
            duration=offer.duration.value,
            duration_in_months=offer.duration_in_months,
            max_redemptions=max_redemptions,
            redeem_by=offer.ends_at,
            product=product,
        )
        if offer.audience is not OfferAudience.RETENTION:
            offer.stripe_promotion_code_id = await self.stripe.create_promotion_code(
                offer_id=str(offer.id),
                replacing=replacing,
                coupon=offer.stripe_coupon_id,
                code=offer.code,
                max_redemptions=max_redemptions,
                expires_at=offer.ends_at,
            )

    async def archive(self, offer: Offer) -> Offer:
        """No new redemptions; members keep the discount they have (the coupon stays)."""
        if offer.archived_at is None:
            offer.archived_at = utcnow()
            if offer.stripe_promotion_code_id:
                await self.stripe.deactivate_promotion_code(offer.stripe_promotion_code_id)
        return offer

    async def reconcile(self) -> list[str]:
        """Make Stripe agree with our offers, which are the truth: an archived offer's code is not
        redeemable there; an open offer's coupon exists (made again if it was deleted, for the
        redemptions it has left) and its code is active."""
        repaired = []
        archived = await self.db.scalars(
            select(Offer).where(Offer.archived_at.is_not(None), Offer.stripe_promotion_code_id.is_not(None))
        )
        for offer in archived:
            assert offer.stripe_promotion_code_id is not None
            if await self.stripe.promotion_code_active(offer.stripe_promotion_code_id):
                await self.stripe.deactivate_promotion_code(offer.stripe_promotion_code_id)
                repaired.append(f"offer {offer.code}: promotion code deactivated again")
        now = utcnow()
        live = await self.db.scalars(
            select(Offer).where(Offer.archived_at.is_(None), Offer.stripe_coupon_id.is_not(None))
        )
        for offer in list(live):
            if not self.is_open(offer, now):
                continue
            if line := await self._repair(offer):
                repaired.append(f"offer {offer.code}: {line}")
        return repaired

    async def _repair(self, offer: Offer) -> str | None:
        assert offer.stripe_coupon_id is not None
        if not await self.stripe.coupon_exists(offer.stripe_coupon_id):
            left = None
            if offer.max_redemptions is not None:
                left = offer.max_redemptions - (await self.redemptions([offer.id])).get(offer.id, (0, 0))[0]
                if left < 1:
                    return None  # taken up: nothing more to redeem, so nothing to make again
            product = offer.tier.stripe_product_id
            if product is None or offer.tier.archived_at is not None:
                return None
            await self._mirror(offer, product, left, replacing=offer.stripe_coupon_id)
            return "its coupon was deleted at Stripe; made again"
        promotion = offer.stripe_promotion_code_id
        if promotion is not None and not await self.stripe.promotion_code_active(promotion):
            try:
                await self.stripe.set_promotion_code_active(promotion, active=True)
            except PaymentProviderError as exc:
                return f"its promotion code is inactive at Stripe and cannot be reactivated ({exc.detail})"
            return "its promotion code was inactive at Stripe; reactivated"
        return None

    async def by_code(self, code: str) -> Offer:
        offer = await self.db.scalar(select(Offer).where(Offer.code == code.strip().upper()))
        if offer is None:
            raise NotFound("No offer has this code.")
        return offer

    async def get(self, offer_id: UUID) -> Offer | None:
        return await self.db.get(Offer, offer_id)

    @staticmethod
    def refuse_unless_listed(offer: Offer) -> None:
        """A retention offer has no landing page: it is only ever offered at cancellation."""
        if offer.audience is OfferAudience.RETENTION:
            raise NotFound("No offer has this code.")

    @staticmethod
    def is_open(offer: Offer, now: datetime) -> bool:
        return offer.archived_at is None and (offer.ends_at is None or offer.ends_at > now)

    @staticmethod
    def trial_override(offer: Offer) -> int | None:
        """The trial a checkout through this offer gets: the offer's own (a free-trial offer), none
        (a discount, unless the publisher keeps the tier's trial), or the tier's usual rule (None)."""
        if offer.kind is OfferKind.FREE_TRIAL:
            return offer.trial_days
        return None if offer.keep_tier_trial else 0

    async def checkout(
        self,
        subscriptions: SubscriptionService,
        reader: Reader,
        price: Price,
        *,
        code: str | None,
        return_to: str,
    ) -> tuple[str, str]:
        """Checkout for a price, through the offer `code` names when there is one."""
        if not code:
            return await subscriptions.checkout(reader, price, return_to=return_to)
        offer = await self.by_code(code)
        self.refuse_unless_listed(offer)
        if offer.tier_id != price.tier_id:
            raise BadRequest(f"This offer is for {offer.tier.name}, not {price.tier.name}.")
        await self.check_reader(offer, reader.id)
        return await subscriptions.checkout(
            reader,
            price,
            return_to=return_to,
            offer_id=offer.id,
            promotion_code=offer.stripe_promotion_code_id,
            trial_days=self.trial_override(offer),
        )

    async def of_tiers(self, tier_ids: list[UUID]) -> list[Offer]:
        query = select(Offer).where(Offer.tier_id.in_(tier_ids)).order_by(Offer.created_at.desc())
        return list(await self.db.scalars(query))

    async def redemptions(self, offer_ids: list[UUID]) -> dict[UUID, tuple[int, int]]:
        """Per offer: subscriptions bought through it, and how many of them are live."""
        rows = await self.db.execute(
            select(
                Subscription.offer_id,
                func.count(),
                func.count().filter(Subscription.status.in_(LIVE_STATUSES)),
            )
            .where(Subscription.offer_id.in_(offer_ids))
            .group_by(Subscription.offer_id)
        )
        return {offer_id: (int(total), int(live)) for offer_id, total, live in rows.all() if offer_id}

    def refuse_unless_open(self, offer: Offer, now: datetime) -> None:
        self.refuse_unless_listed(offer)
        if not self.is_open(offer, now):
            raise Conflict("This offer has ended.")

    async def check_reader(self, offer: Offer, reader_id: UUID) -> None:
        """May this reader take the offer? New readers, lapsed members, or anyone (a campaign)."""
        self.refuse_unless_open(offer, utcnow())
        if offer.max_redemptions is not None:
            taken = (await self.redemptions([offer.id])).get(offer.id, (0, 0))[0]
            if taken >= offer.max_redemptions:
                raise Conflict("This offer has been taken up by as many readers as it allows.")
        if offer.audience is OfferAudience.CAMPAIGN:
            return
        publication_id = offer.tier.publication_id
        tiers = select(Tier.id).where(
            Tier.publication_id == publication_id if publication_id else Tier.publication_id.is_(None)
        )
        statuses = list(
            await self.db.scalars(
                select(Subscription.status).where(
                    Subscription.reader_id == reader_id, Subscription.tier_id.in_(tiers)
                )
            )
        )
        if offer.audience is OfferAudience.NEW and statuses:
            raise Conflict("This offer is for readers new to the publication.")
        if offer.audience is OfferAudience.LAPSED and (
            not statuses or any(s in LIVE_STATUSES for s in statuses)
        ):
            raise Conflict("This offer is for readers whose membership has ended.")
