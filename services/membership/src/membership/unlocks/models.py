"""One row per story a reader unlocked in a month, and the month's count per publication."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import UUIDAuditBase


class Unlock(UUIDAuditBase):
    __tablename__ = "unlock"
    __table_args__ = (
        UniqueConstraint("reader_id", "publication_id", "story_id", "month", name="once_a_month"),
    )

    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    publication_id: Mapped[UUID] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"))
    story_id: Mapped[str] = mapped_column(String(100))
    month: Mapped[str] = mapped_column(String(7))  # UTC calendar month, "2026-11"


class UnlockQuota(UUIDAuditBase):
    """The counter the allowance is enforced on: one conditional UPDATE, atomic on any database."""

    __tablename__ = "unlock_quota"
    __table_args__ = (UniqueConstraint("reader_id", "publication_id", "month", name="one_per_month"),)

    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"))
    publication_id: Mapped[UUID] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))
    used: Mapped[int] = mapped_column(Integer, default=0)
