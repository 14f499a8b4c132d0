"""Comps in the API: what staff send to give a reader keys, and what they get back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.plans.schemas import Key


class CompIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    keys: Annotated[list[Key], msgspec.Meta(max_length=20)] | None = None
    until: datetime | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CompOut(msgspec.Struct):
    id: str
    reader_id: UUID
    email: str
    keys: list[str]
    starts_at: datetime
    until: datetime | None
    ended_at: datetime | None
    note: str
