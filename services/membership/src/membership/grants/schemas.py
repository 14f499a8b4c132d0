"""A grant as the API shows it."""

from __future__ import annotations

from datetime import datetime

import msgspec

from membership.grants.models import Grant
from membership.grants.states import GrantSource


class GrantOut(msgspec.Struct):
    key: str
    source: GrantSource
    source_id: str
    starts_at: datetime
    ends_at: datetime | None

    @classmethod
    def of(cls, g: Grant) -> GrantOut:
        return cls(g.key, g.source, g.source_id, g.starts_at, g.ends_at)
