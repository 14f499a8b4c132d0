"""Tiers and prices in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from membership.plans.models import Price, Tier

Interval = Literal["month", "year"]
Currency = Annotated[str, msgspec.Meta(pattern="^[a-zA-Z]{3}$")]
# Minor units (cents); Stripe's own ceiling for a price.
Amount = Annotated[int, msgspec.Meta(ge=50, le=99_999_999)]
Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9:_\-]{0,63}$")]


class PriceIn(msgspec.Struct, forbid_unknown_fields=True):
    interval: Interval
    currency: Currency
    unit_amount: Amount


class TierIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    # Default: the publication's own key, `pub:<slug>`.
    entitlement_keys: Annotated[list[Key], msgspec.Meta(max_length=20)] | None = None
    trial_days: Annotated[int, msgspec.Meta(ge=0, le=730)] = 0
    prices: Annotated[list[PriceIn], msgspec.Meta(max_length=10)] = []


class GiftSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    """Which lengths readers may give the tier for (some of 1, 3, 6, 12 months; none: not at all),
    and how many days a bought gift's code stays redeemable."""

    months: Annotated[list[int], msgspec.Meta(max_length=4)]
    valid_days: Annotated[int, msgspec.Meta(ge=7, le=1095)] = 365


class PriceOut(msgspec.Struct):
    id: UUID
    interval: str
    currency: str
    unit_amount: int
    lookup_key: str
    stripe_price_id: str | None
    archived: bool

    @classmethod
    def of(cls, p: Price) -> PriceOut:
        return cls(
            p.id,
            p.interval,
            p.currency,
            p.unit_amount,
            p.lookup_key,
            p.stripe_price_id,
            p.archived_at is not None,
        )


class TierOut(msgspec.Struct):
    id: UUID
    publication_id: UUID | None
    name: str
    description: str
    entitlement_keys: list[str]
    trial_days: int
    stripe_product_id: str | None
    archived_at: datetime | None
    prices: list[PriceOut]
    gift_months: list[int] = []
    gift_valid_days: int = 365

    @classmethod
    def of(cls, t: Tier, *, include_archived_prices: bool = False) -> TierOut:
        return cls(
            id=t.id,
            publication_id=t.publication_id,
            name=t.name,
            description=t.description,
            entitlement_keys=list(t.entitlement_keys),
            trial_days=t.trial_days,
            stripe_product_id=t.stripe_product_id,
            archived_at=t.archived_at,
            prices=[PriceOut.of(p) for p in t.prices if include_archived_prices or p.archived_at is None],
            gift_months=sorted(t.gift_months),
            gift_valid_days=t.gift_valid_days,
        )
