"""A friend link: one story of one publication, opened by a code of which only the hash is kept."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.lib.orm import UUIDAuditBase
from membership.publications.models import Publication
from membership.readers.models import Reader


class MadeAs(StrEnum):
    AUTHOR = "author"  # by the story's author, through the gateway (which knows who wrote what)
    STAFF = "staff"  # by an owner or editor of the publication


class FriendLink(UUIDAuditBase):
    __tablename__ = "friend_link"
    __table_args__ = (
        CheckConstraint("made_as IN ('author', 'staff')", name="made_as"),
        Index("ix_friend_link_publication_story", "publication_id", "story_id"),
    )

    publication_id: Mapped[UUID] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"))
    # The story lives in the gateway's origin; membership only keeps its id.
    story_id: Mapped[str] = mapped_column(String(100))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The code's last characters, so its maker can tell links apart in a list.
    hint: Mapped[str] = mapped_column(String(4))
    created_by_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    made_as: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_by_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("reader.id", ondelete="SET NULL"), default=None
    )

    publication: Mapped[Publication] = relationship(lazy="joined", innerjoin=True)
    created_by: Mapped[Reader] = relationship(lazy="joined", innerjoin=True, foreign_keys=[created_by_id])
