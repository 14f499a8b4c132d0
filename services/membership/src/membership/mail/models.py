"""A message kept in the local outbox (development and tests; production sends over SMTP)."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import UUIDAuditBase


class OutboxMessage(UUIDAuditBase):
    __tablename__ = "outbox_message"

    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
