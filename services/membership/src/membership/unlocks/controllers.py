"""Unlocks over the API: the gateway records and reads them (API key with `unlocks:write`); readers
see theirs."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from membership.apikeys.models import ApiKey, Scope
from membership.apikeys.services import ApiKeyService
from membership.publications.models import Publication
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.unlocks.services import UnlockService

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


class UnlocksOut(msgspec.Struct):
    publication: str
    allowance: int
    used: int
    remaining: int
    stories: list[str]
    # On the publication's staff (owner or editor): its stories cost them no unlocks.
    staff: bool = False


async def _status(
    db: AsyncSession, reader_id: UUID, publication: Publication, *, staff: bool = False
) -> UnlocksOut:
    used, stories = await UnlockService(db).status(reader_id, publication)
    allowance = publication.free_unlocks_per_month
    return UnlocksOut(publication.slug, allowance, used, max(0, allowance - used), stories, staff)


async def _gateway_publication(api_key: ApiKey, publications: PublicationService, slug: str) -> Publication:
    """The publication an `unlocks:write` key acts on: its own, or any for a platform key."""
    ApiKeyService.require(api_key, Scope.UNLOCKS_WRITE)
    publication = await publications.by_slug(slug)
    ApiKeyService.require(api_key, Scope.UNLOCKS_WRITE, publication.id)
    return publication


class UnlockApi(Controller):
    path = "/api"
    tags = ["unlocks"]

    @post("/unlocks", status_code=200, summary="Record a free unlock (atomic; a story counts once a month)")
    async def unlock(
        self,
        data: JSONBody[UnlockIn],
        api_key: NamedDependency[ApiKey],
        publications: NamedDependency[PublicationService],
        readers: NamedDependency[ReaderService],
        db_session: NamedDependency[AsyncSession],
    ) -> UnlockOut:
        publication = await _gateway_publication(api_key, publications, data.publication)
        reader = await readers.require(data.reader_id)
        result = await UnlockService(db_session).unlock(reader.id, publication, data.story_id)
        return UnlockOut(result.unlocked, result.already, result.remaining, result.allowance)

    @get("/unlocks", summary="A reader's free unlocks this month at a publication (API key: `unlocks:write`)")
    async def reader_unlocks(
        self,
        api_key: NamedDependency[ApiKey],
        publications: NamedDependency[PublicationService],
        readers: NamedDependency[ReaderService],
        db_session: NamedDependency[AsyncSession],
        reader_id: FromQuery[UUID],
        publication: FromQuery[Slug],
    ) -> UnlocksOut:
        found = await _gateway_publication(api_key, publications, publication)
        reader = await readers.require(reader_id)
        staff = await publications.role_of(found, reader.id) is not None
        return await _status(db_session, reader.id, found, staff=staff)

    @get("/me/unlocks", summary="My free unlocks this month at a publication")
    async def mine(
        self,
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        db_session: NamedDependency[AsyncSession],
        publication: FromQuery[str],
    ) -> UnlocksOut:
        found = await publications.by_slug(publication)
        staff = await publications.role_of(found, reader.id) is not None
        return await _status(db_session, reader.id, found, staff=staff)
