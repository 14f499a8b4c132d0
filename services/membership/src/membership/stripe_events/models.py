"""A received Stripe event and where it is in processing."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import Base, state_column


class EventStatus(StrEnum):
    PENDING = "pending"  # waiting for a worker (again, after a failed attempt)
    PROCESSED = "processed"
    FAILED = "failed"  # gave up after the last attempt; `membership stripe replay` queues it again


class StripeEvent(Base):
    __tablename__ = "stripe_event"
    __table_args__ = (Index("ix_stripe_event_due", "status", "next_attempt_at"),)

    # Stripe's own evt_ id: storing twice is impossible, so a duplicate delivery is a no-op.
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    created: Mapped[int] = mapped_column(Integer)  # Stripe's timestamp of the event
    status: Mapped[EventStatus] = mapped_column(state_column(EventStatus, 16), default=EventStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # A worker's claim: until this time no other worker takes the event (survives a crashed worker).
    leased_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    processed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
