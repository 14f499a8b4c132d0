"""A tier grants entitlement keys; its prices are what Stripe charges. Archived, never deleted."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.lib.orm import UUIDAuditBase

GIFT_MONTHS = (1, 3, 6, 12)  # the lengths a tier may be given for
ADOPTED = "imported_"  # the lookup key's start of a price made before Tollgate (imports/services.py)


class Tier(UUIDAuditBase):
    __tablename__ = "tier"

    # None: the platform's own membership (Medium's model), not one publication's.
    publication_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("publication.id", ondelete="RESTRICT"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    entitlement_keys: Mapped[list[str]] = mapped_column(JsonB)
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    # The gift lengths readers may buy (some of 1, 3, 6, 12 months; none: not giftable), and how
    # long a bought gift's code stays redeemable.
    gift_months: Mapped[list[int]] = mapped_column(JsonB, default=list, server_default="[]")
    gift_valid_days: Mapped[int] = mapped_column(Integer, default=365, server_default="365")
    stripe_product_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    archived_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    prices: Mapped[list[Price]] = relationship(
        back_populates="tier", lazy="selectin", order_by="Price.created_at"
    )


class Price(UUIDAuditBase):
    __tablename__ = "price"
    __table_args__ = (
        CheckConstraint("interval IN ('month', 'year')", name="interval"),
        CheckConstraint("unit_amount > 0", name="unit_amount"),
    )

    tier_id: Mapped[UUID] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"), index=True)
    interval: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(3))
    unit_amount: Mapped[int] = mapped_column(Integer)
    # Stripe moves a lookup key to the replacing price, so archived prices share theirs.
    lookup_key: Mapped[str] = mapped_column(String(200), index=True)
    stripe_price_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    archived_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    tier: Mapped[Tier] = relationship(back_populates="prices", lazy="joined", innerjoin=True)

    @property
    def adopted(self) -> bool:
        """A Stripe price from before Tollgate, mapped to this tier for the subscriptions on it."""
        return self.lookup_key.startswith(ADOPTED)
