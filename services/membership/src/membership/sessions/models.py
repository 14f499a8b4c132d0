"""A reader's session and the refresh tokens it has had (hashes only)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.lib.orm import UUIDAuditBase
from membership.readers.models import Reader


class ReaderSession(UUIDAuditBase):
    __tablename__ = "reader_session"

    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    client_address: Mapped[str] = mapped_column(String(64), default="")

    reader: Mapped[Reader] = relationship(lazy="joined", innerjoin=True)


class RefreshToken(UUIDAuditBase):
    __tablename__ = "refresh_token"

    session_id: Mapped[UUID] = mapped_column(ForeignKey("reader_session.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Set when this token was exchanged for the next one; presenting it again means it was stolen.
    rotated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    session: Mapped[ReaderSession] = relationship(lazy="joined", innerjoin=True)
