"""The outbox as JSON (development only)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class OutboxMessageOut(msgspec.Struct):
    id: UUID
    recipient: str
    subject: str
    body: str
    created_at: datetime
