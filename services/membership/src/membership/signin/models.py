"""A sign-in link that was emailed: only its token's hash is kept."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import UUIDAuditBase


class SignInLink(UUIDAuditBase):
    __tablename__ = "sign_in_link"
    __table_args__ = (
        # Both rate limits count recent rows by one of these columns.
        Index("ix_sign_in_link_email_created", "email", "created_at"),
        Index("ix_sign_in_link_requested_from_created", "requested_from", "created_at"),
    )

    email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    requested_from: Mapped[str] = mapped_column(String(64))
    next_path: Mapped[str] = mapped_column(String(2048), default="/")
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
