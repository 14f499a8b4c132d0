"""A publication and the readers who run it."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.lib.orm import UUIDAuditBase
from membership.readers.models import Reader


class StaffRole(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"


class Publication(UUIDAuditBase):
    __tablename__ = "publication"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Member-only stories a signed-in reader without the entitlement may read free each month.
    free_unlocks_per_month: Mapped[int] = mapped_column(Integer, default=3, server_default="3")

    @property
    def key(self) -> str:
        """The entitlement key that opens this publication's stories; its own keys sit under it."""
        return f"pub:{self.slug}"


def key_under(prefix: str, key: str) -> bool:
    """`pub:x` and `pub:x:premium` are under `pub:x`; `pub:xy` is not."""
    return key == prefix or key.startswith(prefix + ":")


class StaffMember(UUIDAuditBase):
    __tablename__ = "staff_member"
    __table_args__ = (
        UniqueConstraint("publication_id", "reader_id", name="uq_staff_member_publication_reader"),
        CheckConstraint("role IN ('owner', 'editor')", name="role"),
    )

    publication_id: Mapped[UUID] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"), index=True)
    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    reader: Mapped[Reader] = relationship(lazy="joined", innerjoin=True)
