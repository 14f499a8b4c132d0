"""The entitlement API's requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.grants.schemas import GrantOut

Keys = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]], msgspec.Meta(min_length=1, max_length=50)
]


class ReaderEntitlements(msgspec.Struct):
    reader_id: UUID
    keys: list[str]
    version: int
    grants: list[GrantOut]


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    reader_id: UUID
    # A story's access policy: any one of these keys opens it.
    keys: Keys


class CheckOut(msgspec.Struct):
    allowed: bool
    reason: str
    key: str | None
    until: datetime | None


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    reader_ids: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=10_000)]
    keys: Keys


class BatchResult(msgspec.Struct):
    allowed: bool
    until: datetime | None


class BatchOut(msgspec.Struct):
    results: dict[str, BatchResult]


class Change(msgspec.Struct):
    seq: int
    reader_id: UUID
    version: int


class ChangesOut(msgspec.Struct):
    changes: list[Change]
    next_after: int
    has_more: bool


class LatestOut(msgspec.Struct):
    seq: int
