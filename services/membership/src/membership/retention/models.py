"""Why a member cancelled, and whether a retention offer kept them: one row per cancellation asked."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import UUIDAuditBase, state_column


class CancelReason(StrEnum):
    TOO_EXPENSIVE = "too_expensive"
    NOT_READING = "not_reading"
    CONTENT = "content"  # the stories are not what they hoped for
    TEMPORARY = "temporary"  # a break: money, time, travel
    OTHER_PUBLICATION = "other_publication"
    OTHER = "other"


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # cancelled at the period's end
    SAVED = "saved"  # took the retention offer and stayed


class Cancellation(UUIDAuditBase):
    __tablename__ = "cancellation"
    __table_args__ = (Index("ix_cancellation_reader_tier", "reader_id", "tier_id", "created_at"),)

    subscription_id: Mapped[UUID] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"), index=True
    )
    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"))
    tier_id: Mapped[UUID] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"), index=True)
    reason: Mapped[CancelReason | None] = mapped_column(state_column(CancelReason, 24), default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    # The retention offer shown (none: the publisher has none, or this member had one this year).
    offer_id: Mapped[UUID | None] = mapped_column(ForeignKey("offer.id", ondelete="SET NULL"), default=None)
    outcome: Mapped[CancelOutcome] = mapped_column(state_column(CancelOutcome, 16))
