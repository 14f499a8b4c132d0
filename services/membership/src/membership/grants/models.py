"""Grants (one row per reader, entitlement key and source, with start, end and revocation times)
and the feed of entitlement changes their syncs write, which gateways follow for revocations."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from membership.grants.states import GrantSource
from membership.lib.orm import Base, UUIDAuditBase, state_column


class Grant(UUIDAuditBase):
    __tablename__ = "reader_grant"
    __table_args__ = (
        UniqueConstraint("reader_id", "key", "source", "source_id", name="reader_key_source"),
        Index("ix_reader_grant_live", "reader_id", "revoked_at", "ends_at"),
        # A publication's grants: its key, or a key under it (LIKE 'pub:x:%', whatever the collation).
        Index("ix_reader_grant_key", "key", postgresql_ops={"key": "varchar_pattern_ops"}),
    )

    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    # source_id says which one: a subscription's id, a comp's id.
    source: Mapped[GrantSource] = mapped_column(state_column(GrantSource, 32))
    source_id: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    note: Mapped[str] = mapped_column(String(500), default="")


class EntitlementChange(Base):
    """One row each time a reader's entitlement version rises: the revocation feed gateways follow."""

    __tablename__ = "entitlement_change"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
