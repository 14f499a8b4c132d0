"""Giving, listing and ending comps. A comp is a set of grants with source `comp` and one id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.models import Grant
from membership.grants.services import GrantService
from membership.grants.states import GrantSource
from membership.lib.clock import utcnow
from membership.plans.services import allowed_keys
from membership.publications.models import Publication
from membership.readers.models import Reader
from tollgate_common.problems import BadRequest, NotFound

SOURCE = GrantSource.COMP


@dataclass(frozen=True)
class Comp:
    id: str
    reader_id: uuid.UUID
    keys: list[str]
    starts_at: datetime
    until: datetime | None
    ended_at: datetime | None
    note: str


def _comps(grants: list[Grant]) -> list[Comp]:
    by_id: dict[str, list[Grant]] = {}
    for g in grants:
        by_id.setdefault(g.source_id, []).append(g)
    return [
        Comp(
            id=comp_id,
            reader_id=rows[0].reader_id,
            keys=sorted(g.key for g in rows),
            starts_at=rows[0].starts_at,
            until=rows[0].ends_at,
            ended_at=rows[0].revoked_at,
            note=rows[0].note,
        )
        for comp_id, rows in by_id.items()
    ]


class CompService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session
        self.grants = GrantService(session)

    async def give(
        self,
        publication: Publication,
        reader: Reader,
        *,
        keys: list[str] | None,
        until: datetime | None,
        note: str,
        comp_id: str | None = None,
    ) -> Comp:
        """A new comp; or with `comp_id` (one of `imported_id`'s), that comp given again as told."""
        keys = allowed_keys(publication, keys or [publication.key])
        now = utcnow()
        if until is not None and until.tzinfo is None:
            raise BadRequest("Give the comp's end with a time zone, such as 2027-01-01T00:00:00Z.")
        if until is not None and until <= now:
            raise BadRequest("A comp's end date must be in the future (or leave it out for no end).")
        comp_id = comp_id or f"{publication.slug}:{uuid.uuid4().hex}"
        await self.grants.sync(
            reader.id,
            source=SOURCE,
            source_id=comp_id,
            keys=set(keys),
            live=True,
            starts_at=now,
            ends_at=until,
            note=note,
        )
        return Comp(comp_id, reader.id, sorted(keys), now, until, None, note)

    @staticmethod
    def imported_id(publication: Publication, reader: Reader) -> str:
        """The one comp an import gives a reader, so importing again finds it rather than adds one."""
        return f"{publication.slug}:import-{reader.id.hex}"

    async def find(self, comp_id: str) -> Comp | None:
        query = select(Grant).where(Grant.source == SOURCE, Grant.source_id == comp_id)
        rows = list(await self.db.scalars(query))
        return _comps(rows)[0] if rows else None

    async def of_publication(self, publication: Publication) -> list[Comp]:
        rows = await self.db.scalars(
            select(Grant)
            .where(Grant.source == SOURCE, Grant.source_id.startswith(f"{publication.slug}:"))
            .order_by(Grant.created_at.desc())
        )
        return _comps(list(rows))

    async def end(self, publication: Publication, comp_id: str) -> Comp:
        found = [c for c in await self.of_publication(publication) if c.id == comp_id]
        if not found:
            raise NotFound("No such comp.")
        comp = found[0]
        if comp.ended_at is not None:
            return comp  # ended before: say when, and change nothing
        await self.grants.sync(
            comp.reader_id,
            source=SOURCE,
            source_id=comp_id,
            keys=set(comp.keys),
            live=False,
            starts_at=comp.starts_at,
            ends_at=comp.until,
            revoke=True,
            note=comp.note,
        )
        return Comp(comp.id, comp.reader_id, comp.keys, comp.starts_at, comp.until, utcnow(), comp.note)
