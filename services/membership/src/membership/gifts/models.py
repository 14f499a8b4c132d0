"""A gift: a tier for some months, bought once by one reader, redeemed once by another with a code."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.lib.orm import UUIDAuditBase, state_column
from membership.plans.models import Tier


class GiftState(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"  # checkout started, not paid
    ABANDONED = "abandoned"  # the checkout expired: nothing was bought
    PAID = "paid"  # bought: the code redeems until `expires_at`
    REDEEMED = "redeemed"
    REFUNDED = "refunded"  # the payment came back: the code is dead, a redeemed gift ends


class RedeemedAs(StrEnum):
    GRANT = "grant"  # a `gift` grant for the gift's months
    TRIAL_EXTENSION = "trial_extension"  # the months added to a paid subscription as trial


class Gift(UUIDAuditBase):
    __tablename__ = "gift"
    __table_args__ = (
        CheckConstraint("months IN (1, 3, 6, 12)", name="months"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_gift_due_mail", "state", "delivered_at"),
    )

    tier_id: Mapped[UUID] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"), index=True)
    buyer_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    months: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)  # minor units, what the buyer paid
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[GiftState] = mapped_column(state_column(GiftState, 24), default=GiftState.AWAITING_PAYMENT)
    # Whom to email the gift to, and when; none: the buyer passes the link on themselves.
    recipient_email: Mapped[str | None] = mapped_column(String(320), default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    deliver_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Made when paid. Kept readable: the buyer may see the link again on their account page.
    code: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    paid_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    redeemed_by_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("reader.id", ondelete="SET NULL"), index=True, default=None
    )
    redeemed_as: Mapped[RedeemedAs | None] = mapped_column(state_column(RedeemedAs, 24), default=None)
    # When what the gift gave ends (a grant's end, or the extended trial's end).
    ends_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Redeemed as free time: on which subscription, and when its paid-for time ended before.
    subscription_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("subscription.id", ondelete="SET NULL"), default=None
    )
    extended_from: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    refunded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    tier: Mapped[Tier] = relationship(lazy="joined", innerjoin=True)
