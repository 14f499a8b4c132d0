"""Publications and their staff: who may manage what."""

from __future__ import annotations

import re
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from membership.publications.models import Publication, StaffMember, StaffRole
from membership.readers.models import Reader
from tollgate_common.problems import BadRequest, Conflict, NotFound

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class PublicationService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def create(self, slug: str, name: str, owner: Reader) -> Publication:
        if not SLUG.match(slug):
            raise BadRequest(
                "A slug is 1 to 64 lower-case letters, digits and inner hyphens, like `the-gazette`."
            )
        if not name.strip():
            raise BadRequest("A publication needs a name.")
        publication = Publication(slug=slug, name=name.strip())
        try:
            async with self.db.begin_nested():
                self.db.add(publication)
                await self.db.flush()
        except IntegrityError as exc:
            raise Conflict(f"A publication with the slug `{slug}` already exists.") from exc
        self.db.add(StaffMember(publication_id=publication.id, reader_id=owner.id, role=StaffRole.OWNER))
        await self.db.flush()
        return publication

    async def by_slug(self, slug: str, *, lock: bool = False) -> Publication:
        query = select(Publication).where(Publication.slug == slug)
        if lock:
            # Serialises staff changes per publication, so two owners cannot remove each other at once.
            query = query.with_for_update()
        if (found := await self.db.scalar(query)) is None:
            raise NotFound(f"There is no publication `{slug}`.")
        return found

    async def all(self) -> list[Publication]:
        return list(await self.db.scalars(select(Publication).order_by(Publication.name)))

    async def role_of(self, publication: Publication, reader_id: UUID) -> StaffRole | None:
        role = await self.db.scalar(
            select(StaffMember.role).where(
                StaffMember.publication_id == publication.id, StaffMember.reader_id == reader_id
            )
        )
        return StaffRole(role) if role else None

    async def staffed_by(self, reader_id: UUID) -> list[tuple[Publication, StaffRole]]:
        """The publications whose staff the reader is on, by name, with their role."""
        rows = await self.db.execute(
            select(Publication, StaffMember.role)
            .join(StaffMember, StaffMember.publication_id == Publication.id)
            .where(StaffMember.reader_id == reader_id)
            .order_by(Publication.name)
        )
        return [(publication, StaffRole(role)) for publication, role in rows.tuples()]

    async def staff(self, publication: Publication) -> list[StaffMember]:
        query = (
            select(StaffMember)
            .where(StaffMember.publication_id == publication.id)
            .order_by(StaffMember.role.desc(), StaffMember.created_at)
        )
        return list(await self.db.scalars(query))

    async def add_staff(self, publication: Publication, reader: Reader, role: StaffRole) -> StaffMember:
        if await self.role_of(publication, reader.id) is not None:
            raise Conflict(f"{reader.email} is already on the staff of {publication.name}.")
        member = StaffMember(publication_id=publication.id, reader_id=reader.id, role=role, reader=reader)
        self.db.add(member)
        await self.db.flush()
        return member

    async def _member(self, publication: Publication, reader_id: UUID) -> StaffMember:
        member = await self.db.scalar(
            select(StaffMember).where(
                StaffMember.publication_id == publication.id, StaffMember.reader_id == reader_id
            )
        )
        if member is None:
            raise NotFound("That reader is not on this publication's staff.")
        return member

    async def _owners(self, publication: Publication) -> int:
        return int(
            await self.db.scalar(
                select(func.count()).where(
                    StaffMember.publication_id == publication.id, StaffMember.role == StaffRole.OWNER
                )
            )
            or 0
        )

    async def change_role(self, publication: Publication, reader_id: UUID, role: StaffRole) -> StaffMember:
        member = await self._member(publication, reader_id)
        if (
            member.role == StaffRole.OWNER
            and role != StaffRole.OWNER
            and await self._owners(publication) == 1
        ):
            raise Conflict("A publication keeps at least one owner; make someone else owner first.")
        member.role = role
        await self.db.flush()
        return member

    async def remove_staff(self, publication: Publication, reader_id: UUID) -> None:
        member = await self._member(publication, reader_id)
        if member.role == StaffRole.OWNER and await self._owners(publication) == 1:
            raise Conflict("A publication keeps at least one owner; make someone else owner first.")
        await self.db.delete(member)
        await self.db.flush()
