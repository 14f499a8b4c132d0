"""Offers in the API: making one, the public landing answer, and the publisher's list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.lib.clock import utcnow
from membership.offers.models import Offer, OfferAudience, OfferDuration, OfferKind
from membership.offers.services import OfferService, OfferTerms, price_words


class OfferIn(msgspec.Struct, forbid_unknown_fields=True):
    tier_id: UUID
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    code: Annotated[str, msgspec.Meta(min_length=3, max_length=40)]
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
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""

    def terms(self) -> OfferTerms:
        return OfferTerms(
            name=self.name,
            code=self.code,
            kind=self.kind,
            audience=self.audience,
            percent_off=self.percent_off,
            amount_off=self.amount_off,
            currency=self.currency,
            duration=self.duration,
            duration_in_months=self.duration_in_months,
            trial_days=self.trial_days,
            keep_tier_trial=self.keep_tier_trial,
            max_redemptions=self.max_redemptions,
            ends_at=self.ends_at,
            description=self.description,
        )


class OfferPriceOut(msgspec.Struct):
    price_id: UUID
    interval: str
    currency: str
    unit_amount: int
    # What the reader pays, in words: "$2.50 a month for 3 months, then $5 a month".
    words: str


class OfferOut(msgspec.Struct):
    id: UUID
    code: str
    name: str
    description: str
    tier_id: UUID
    tier_name: str
    kind: OfferKind
    audience: OfferAudience
    percent_off: int | None
    amount_off: int | None
    currency: str | None
    duration: OfferDuration
    duration_in_months: int | None
    trial_days: int
    keep_tier_trial: bool
    max_redemptions: int | None
    ends_at: datetime | None
    archived_at: datetime | None
    # Can a reader take it now (not archived, not past its end)?
    open: bool
    prices: list[OfferPriceOut]

    @classmethod
    def of(cls, offer: Offer) -> OfferOut:
        prices = [
            OfferPriceOut(p.id, p.interval, p.currency, p.unit_amount, price_words(offer, p))
            for p in offer.tier.prices
            if p.archived_at is None and p.stripe_price_id is not None
        ]
        return cls(
            offer.id,
            offer.code,
            offer.name,
            offer.description,
            offer.tier_id,
            offer.tier.name,
            offer.kind,
            offer.audience,
            offer.percent_off,
            offer.amount_off,
            offer.currency,
            offer.duration,
            offer.duration_in_months,
            offer.trial_days,
            offer.keep_tier_trial,
            offer.max_redemptions,
            offer.ends_at,
            offer.archived_at,
            OfferService.is_open(offer, utcnow()),
            prices,
        )


class PublisherOfferOut(msgspec.Struct):
    offer: OfferOut
    redemptions: int
    live: int


class EligibilityOut(msgspec.Struct):
    """May this reader take the offer now? `reason` (when not) is the sentence checkout would say."""

    code: str
    reader_id: UUID
    eligible: bool
    reason: str | None
