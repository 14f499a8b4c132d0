"""Comps over the API: a publication's staff give a reader keys, until a date or for good, and end them."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from membership.comps.schemas import CompIn, CompOut
from membership.comps.services import Comp, CompService
from membership.publications.access import staff_publication
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.readers.services import ReaderService


async def _out(db: AsyncSession, comp: Comp) -> CompOut:
    reader = await db.get(Reader, comp.reader_id)
    email = reader.email if reader else ""
    return CompOut(
        comp.id, comp.reader_id, email, comp.keys, comp.starts_at, comp.until, comp.ended_at, comp.note
    )


class CompApi(Controller):
    path = "/api/publications/{slug:str}/comps"
    tags = ["comps"]
    dependencies = {"publication": staff_publication()}

    @post("/", summary="Give a reader (by email; made if new) a complimentary grant (staff)")
    async def give(
        self,
        data: JSONBody[CompIn],
        publication: NamedDependency[Publication],
        readers: NamedDependency[ReaderService],
        comps: NamedDependency[CompService],
        db_session: NamedDependency[AsyncSession],
    ) -> CompOut:
        recipient, _ = await readers.get_or_create(data.email)
        comp = await comps.give(publication, recipient, keys=data.keys, until=data.until, note=data.note)
        return await _out(db_session, comp)

    @get("/", summary="The publication's comps, newest first (staff)")
    async def list_comps(
        self,
        publication: NamedDependency[Publication],
        comps: NamedDependency[CompService],
        db_session: NamedDependency[AsyncSession],
    ) -> list[CompOut]:
        return [await _out(db_session, c) for c in await comps.of_publication(publication)]

    @post("/{comp_id:str}/end", status_code=200, summary="End a comp now (staff)")
    async def end(
        self,
        comp_id: FromPath[str],
        publication: NamedDependency[Publication],
        comps: NamedDependency[CompService],
        db_session: NamedDependency[AsyncSession],
    ) -> CompOut:
        return await _out(db_session, await comps.end(publication, comp_id))
