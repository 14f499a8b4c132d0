"""Gifts in the API: what a tier can be given for, buying one, redeeming one, and the lists."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.gifts.models import Gift, GiftState, RedeemedAs
from membership.gifts.services import GiftOption

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class GiftOptionOut(msgspec.Struct):
    months: int
    amount: int
    currency: str

    @classmethod
    def of(cls, option: GiftOption) -> GiftOptionOut:
        return cls(option.months, option.amount, option.currency)


class GiftCheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    tier_id: UUID
    months: int
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]
    # None: the buyer is handed the link to pass on.
    recipient_email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    # None (or today): delivered as soon as it is paid.
    deliver_on: date | None = None
    message: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class GiftCheckoutOut(msgspec.Struct):
    gift_id: UUID
    url: str


class GiftOut(msgspec.Struct):
    """A gift as its buyer sees it (with its code and link once paid)."""

    id: UUID
    tier_id: UUID
    tier_name: str
    months: int
    amount: int
    currency: str
    state: GiftState
    recipient_email: str | None
    deliver_at: datetime | None
    delivered_at: datetime | None
    code: str | None
    link: str | None
    expires_at: datetime | None
    redeemed_at: datetime | None

    @classmethod
    def of(cls, gift: Gift, link: str | None) -> GiftOut:
        return cls(
            gift.id,
            gift.tier_id,
            gift.tier.name,
            gift.months,
            gift.amount,
            gift.currency,
            gift.state,
            gift.recipient_email,
            gift.deliver_at,
            gift.delivered_at,
            gift.code,
            link if gift.code else None,
            gift.expires_at,
            gift.redeemed_at,
        )


class GiftSummary(msgspec.Struct):
    """What a code opens, for whoever holds it: no buyer, no price."""

    tier_name: str
    months: int
    state: GiftState
    expires_at: datetime | None


class RedeemIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code


class RedeemedOut(msgspec.Struct):
    tier_name: str
    redeemed_as: RedeemedAs
    ends_at: datetime


class PublisherGiftOut(msgspec.Struct):
    """A gift of one of the publication's tiers, for its staff."""

    id: UUID
    tier_name: str
    months: int
    amount: int
    currency: str
    state: GiftState
    buyer_id: UUID
    recipient_email: str | None
    paid_at: datetime | None
    expires_at: datetime | None
    redeemed_at: datetime | None
    redeemed_as: RedeemedAs | None
    refunded_at: datetime | None

    @classmethod
    def of(cls, gift: Gift) -> PublisherGiftOut:
        return cls(
            gift.id,
            gift.tier.name,
            gift.months,
            gift.amount,
            gift.currency,
            gift.state,
            gift.buyer_id,
            gift.recipient_email,
            gift.paid_at,
            gift.expires_at,
            gift.redeemed_at,
            gift.redeemed_as,
            gift.refunded_at,
        )
