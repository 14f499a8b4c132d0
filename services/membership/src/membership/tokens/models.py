"""A signing key: its public JWK, its private half encrypted at rest, and when it retires."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import Base


class SigningKey(Base):
    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # One algorithm per key, pinned when verifying: EdDSA, ES256 or RS256.
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, str]] = mapped_column(JsonB)
    private_pem_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # When it stops signing: a rotation sets it a handover ahead (a lost key: now); `keys.current`
    # reads it. The key stays published until `unpublish_at`.
    retired_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    unpublish_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
