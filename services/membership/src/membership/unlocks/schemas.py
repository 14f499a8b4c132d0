"""Unlocks in the API: recording one, and a reader's unlocks this month at a publication."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec

from membership.unlocks.services import UnlockOutcome, UnlockResult

StoryId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9\-]{0,99}$")]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class UnlockIn(msgspec.Struct, forbid_unknown_fields=True):
    reader_id: UUID
    publication: Slug
    story_id: StoryId


class UnlockOut(msgspec.Struct):
    unlocked: bool
    already: bool
    remaining: int
    allowance: int
    outcome: UnlockOutcome

    @classmethod
    def of(cls, result: UnlockResult) -> UnlockOut:
        return cls(result.unlocked, result.already, result.remaining, result.allowance, result.outcome)


class UnlocksOut(msgspec.Struct):
    publication: str
    allowance: int
    used: int
    remaining: int
    stories: list[str]
    # On the publication's staff (owner or editor): its stories cost them no unlocks.
    staff: bool = False
