"""An offer: a discount or a free trial on one tier, for new readers, lapsed members, a campaign
link, or members about to cancel; mirrored in Stripe as a coupon and a promotion code."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.lib.orm import UUIDAuditBase, state_column
from membership.plans.models import Tier


class OfferKind(StrEnum):
    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    FREE_TRIAL = "free_trial"  # no discount: a trial of `trial_days` instead of the tier's own


class OfferDuration(StrEnum):
    """How long a discount lasts on the subscription, as Stripe's coupon `duration`."""

    ONCE = "once"
    REPEATING = "repeating"  # `duration_in_months`
    FOREVER = "forever"


class OfferAudience(StrEnum):
    NEW = "new"  # readers who never subscribed to this publication
    LAPSED = "lapsed"  # readers whose subscription to it has ended
    CAMPAIGN = "campaign"  # whoever has the link
    RETENTION = "retention"  # a member cancelling, offered to stay (never by link)


class Offer(UUIDAuditBase):
    __tablename__ = "offer"
    __table_args__ = (
        CheckConstraint(
            "percent_off IS NULL OR (percent_off > 0 AND percent_off <= 100)", name="percent_off"
        ),
        CheckConstraint("amount_off IS NULL OR amount_off > 0", name="amount_off"),
    )

    tier_id: Mapped[UUID] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The landing link's code, /account/offers/<code>; also the Stripe promotion code.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[OfferKind] = mapped_column(state_column(OfferKind, 16))
    percent_off: Mapped[int | None] = mapped_column(Integer, default=None)
    amount_off: Mapped[int | None] = mapped_column(Integer, default=None)  # minor units
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    duration: Mapped[OfferDuration] = mapped_column(
        state_column(OfferDuration, 16), default=OfferDuration.ONCE
    )
    duration_in_months: Mapped[int | None] = mapped_column(Integer, default=None)
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    # A discount offer: does the tier's own free trial still come first? (the publisher's choice)
    keep_tier_trial: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[OfferAudience] = mapped_column(state_column(OfferAudience, 16))
    max_redemptions: Mapped[int | None] = mapped_column(Integer, default=None)
    ends_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    stripe_coupon_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    stripe_promotion_code_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    archived_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    tier: Mapped[Tier] = relationship(lazy="joined", innerjoin=True)
