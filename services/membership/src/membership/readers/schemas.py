"""What the API says about a reader, and what a reader may change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.readers.models import Reader


class ReaderOut(msgspec.Struct):
    id: UUID
    email: str
    display_name: str
    created_at: datetime

    @classmethod
    def of(cls, reader: Reader) -> ReaderOut:
        return cls(
            id=reader.id, email=reader.email, display_name=reader.display_name, created_at=reader.created_at
        )


class ReaderUpdate(msgspec.Struct, forbid_unknown_fields=True):
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
