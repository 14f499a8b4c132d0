"""Making, listing, revoking and resolving friend links.

A code is `fl_` and 256 random bits; only its SHA-256 is stored (like API keys), so a leaked
database opens no story. Resolving answers the same for an unknown code and a revoked one.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.friendlinks.models import FriendLink, MadeAs
from membership.lib.clock import utcnow
from membership.lib.secrets import new_token, token_hash
from membership.publications.models import Publication
from membership.readers.models import Reader
from tollgate_common.problems import NotFound

CODE_PREFIX = "fl"
HINT_LENGTH = 4
UNKNOWN = "No live friend link has this code."


class FriendLinkService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def create(
        self, publication: Publication, story_id: str, maker: Reader, made_as: MadeAs
    ) -> tuple[FriendLink, str]:
        code = new_token(CODE_PREFIX)
        link = FriendLink(
            publication_id=publication.id,
            story_id=story_id,
            code_hash=token_hash(code),
            hint=code[-HINT_LENGTH:],
            created_by_id=maker.id,
            made_as=made_as,
            publication=publication,
            created_by=maker,
        )
        self.db.add(link)
        await self.db.flush()
        return link, code

    @staticmethod
    def _listing(include_revoked: bool) -> Select[tuple[FriendLink]]:
        query = select(FriendLink).order_by(FriendLink.created_at.desc(), FriendLink.id)
        return query if include_revoked else query.where(FriendLink.revoked_at.is_(None))

    async def of_publication(
        self, publication: Publication, *, story_id: str | None = None, include_revoked: bool = False
    ) -> list[FriendLink]:
        query = self._listing(include_revoked).where(FriendLink.publication_id == publication.id)
        if story_id is not None:
            query = query.where(FriendLink.story_id == story_id)
        return list(await self.db.scalars(query))

    async def made_by(self, reader_id: UUID, *, include_revoked: bool = False) -> list[FriendLink]:
        query = self._listing(include_revoked).where(FriendLink.created_by_id == reader_id)
        return list(await self.db.scalars(query))

    async def in_publication(self, publication: Publication, link_id: UUID) -> FriendLink:
        link = await self.db.get(FriendLink, link_id)
        if link is None or link.publication_id != publication.id:
            raise NotFound("No such friend link.")
        return link

    async def made_by_one(self, reader_id: UUID, link_id: UUID) -> FriendLink:
        """Another reader's link answers as if it did not exist."""
        link = await self.db.get(FriendLink, link_id)
        if link is None or link.created_by_id != reader_id:
            raise NotFound("No such friend link.")
        return link

    async def revoke(self, link: FriendLink, by: Reader) -> FriendLink:
        if link.revoked_at is None:  # revoked before: keep when and by whom
            link.revoked_at = utcnow()
            link.revoked_by_id = by.id
            await self.db.flush()
        return link

    async def resolve(self, code: str, *, publication_id: UUID | None = None) -> FriendLink:
        """The live link with this code; `publication_id` limits it to one publication's links."""
        link = await self.db.scalar(select(FriendLink).where(FriendLink.code_hash == token_hash(code)))
        if link is None or link.revoked_at is not None:
            raise NotFound(UNKNOWN)
        if publication_id is not None and link.publication_id != publication_id:
            raise NotFound(UNKNOWN)
        return link
