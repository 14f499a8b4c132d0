"""A signing key (its private half encrypted at rest) and the feed of entitlement changes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import CommonTableAttributes, orm_registry
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class _Base(CommonTableAttributes, DeclarativeBase):
    registry = orm_registry
    __abstract__ = True


class SigningKey(_Base):
    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # One algorithm per key, pinned when verifying: EdDSA, ES256 or RS256.
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, str]] = mapped_column(JsonB)
    private_pem_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # Set when a newer key took over signing; the key stays published until `unpublish_at`.
    retired_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    unpublish_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class EntitlementChange(_Base):
    """One row each time a reader's entitlement version rises: the revocation feed gateways follow."""

    __tablename__ = "entitlement_change"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    reader_id: Mapped[UUID] = mapped_column(ForeignKey("reader.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
