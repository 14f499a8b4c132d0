"""Friend links in the API: the code appears once, in the answer to its creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.friendlinks.models import FriendLink

STORY_ID = r"^[a-z0-9][a-z0-9\-]{0,99}$"
StoryId = Annotated[str, msgspec.Meta(pattern=STORY_ID)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# `fl_` and secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
Code = Annotated[str, msgspec.Meta(pattern=r"^fl_[A-Za-z0-9_\-]{43}$")]


class AuthorLinkIn(msgspec.Struct, forbid_unknown_fields=True):
    """The gateway, on behalf of a story's author (it owns the stories, so it checked authorship)."""

    publication: Slug
    story_id: StoryId
    author_id: UUID


class StaffLinkIn(msgspec.Struct, forbid_unknown_fields=True):
    story_id: StoryId


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code


class FriendLinkCreated(msgspec.Struct):
    id: UUID
    publication: str
    story_id: str
    code: str
    # Where the link opens the story, on the gateway's origin.
    path: str
    created_at: datetime

    @classmethod
    def of(cls, link: FriendLink, code: str) -> FriendLinkCreated:
        path = f"/stories/{link.story_id}?friend={code}"
        return cls(link.id, link.publication.slug, link.story_id, code, path, link.created_at)


class Maker(msgspec.Struct):
    id: UUID
    name: str


class FriendLinkOut(msgspec.Struct):
    id: UUID
    publication: str
    story_id: str
    hint: str
    made_as: str
    created_by: Maker
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, link: FriendLink) -> FriendLinkOut:
        maker = Maker(link.created_by.id, link.created_by.display_name)
        return cls(
            id=link.id,
            publication=link.publication.slug,
            story_id=link.story_id,
            hint=link.hint,
            made_as=link.made_as,
            created_by=maker,
            created_at=link.created_at,
            revoked_at=link.revoked_at,
        )


class Resolved(msgspec.Struct):
    id: UUID
    publication: str
    story_id: str

    @classmethod
    def of(cls, link: FriendLink) -> Resolved:
        return cls(link.id, link.publication.slug, link.story_id)
