"""What the API says about sessions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from membership.readers.schemas import ReaderOut
from membership.sessions.models import ReaderSession


class SessionOut(msgspec.Struct):
    id: UUID
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    client_address: str
    current: bool

    @classmethod
    def of(cls, s: ReaderSession, current_id: UUID | None = None) -> SessionOut:
        return cls(
            id=s.id,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            user_agent=s.user_agent,
            client_address=s.client_address,
            current=s.id == current_id,
        )


class SignedIn(msgspec.Struct):
    reader: ReaderOut
    session: SessionOut


class SignedOut(msgspec.Struct):
    sessions_ended: int
