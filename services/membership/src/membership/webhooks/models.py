"""Outgoing webhooks: a publication's endpoints, the durable outbox of messages to them, and the
delivery log (one row per attempt)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import UUIDAuditBase, state_column


class MessageState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # every retry failed, or the endpoint was disabled; a replay sends it again


class WebhookEndpoint(UUIDAuditBase):
    __tablename__ = "webhook_endpoint"

    publication_id: Mapped[UUID] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The event types it receives; empty: every type.
    event_types: Mapped[list[str]] = mapped_column(JsonB, default=list)
    # The signing secrets (whsec_...), encrypted at rest like signing keys. While a rotation is
    # fresh both sign, so a receiver can switch over at its own pace.
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text, default=None)
    previous_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Failing without a success since then; five days of it disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    disabled_reason: Mapped[str] = mapped_column(String(300), default="")


class WebhookMessage(UUIDAuditBase):
    """One event for one endpoint: written in the transaction that made the change, sent after."""

    __tablename__ = "webhook_message"
    __table_args__ = (Index("ix_webhook_message_due", "state", "next_attempt_at"),)

    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    # The Standard Webhooks `webhook-id`: the same on every attempt, so receivers can drop repeats.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    # Empty for member.state_changed: its data is the reader's state when it is sent (last one wins).
    payload: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    reader_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("reader.id", ondelete="CASCADE"), default=None, index=True
    )
    state: Mapped[MessageState] = mapped_column(state_column(MessageState, 16), default=MessageState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # A worker that claimed the message holds it this long; then another may take it.
    leased_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class WebhookAttempt(UUIDAuditBase):
    """The delivery log: what one attempt got back."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_endpoint", "endpoint_id", "created_at"),)

    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    message_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_message.id", ondelete="CASCADE"), index=True)
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    excerpt: Mapped[str] = mapped_column(String(1000), default="")
    error: Mapped[str] = mapped_column(String(500), default="")
