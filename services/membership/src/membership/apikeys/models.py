"""An API key: a hash, a visible prefix to recognise it by, its scopes, and its publication."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import UUIDAuditBase


class Scope(StrEnum):
    """What an API key may do; stored in `ApiKey.scopes` as these strings."""

    STAFF_READ = "staff:read"
    ENTITLEMENTS_READ = "entitlements:read"
    MEMBERS_READ = "members:read"
    UNLOCKS_WRITE = "unlocks:write"
    FRIEND_LINKS_WRITE = "friend-links:write"


class ApiKey(UUIDAuditBase):
    __tablename__ = "api_key"

    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JsonB)
    # None: a platform key, not tied to one publication (made by an operator on the CLI).
    publication_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("publication.id", ondelete="CASCADE"), index=True, default=None
    )
    created_by_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("reader.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
