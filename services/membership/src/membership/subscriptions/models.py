"""A reader's Stripe customer (made once, reused) and the local mirror of each subscription."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.lib.orm import UUIDAuditBase, state_column
from membership.plans.models import Price, Tier
from membership.subscriptions.states import SubscriptionStatus


class StripeCustomer(UUIDAuditBase):
    __tablename__ = "stripe_customer"

    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), unique=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)


class Subscription(UUIDAuditBase):
    __tablename__ = "subscription"

    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    tier_id: Mapped[UUID] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"), index=True)
    price_id: Mapped[UUID | None] = mapped_column(ForeignKey("price.id", ondelete="RESTRICT"), default=None)
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(state_column(SubscriptionStatus, 32))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    current_period_start: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    current_period_end: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    trial_start: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    trial_end: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    canceled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Set when a dispute or a full refund ended access at once; it never comes back for this one.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoke_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    synced_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # Bought through an offer (its landing link or code): counts as one of its redemptions.
    offer_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("offer.id", ondelete="SET NULL"), index=True, default=None
    )

    tier: Mapped[Tier] = relationship(lazy="joined", innerjoin=True)
    price: Mapped[Price | None] = relationship(lazy="joined")
