"""Unlocks over the API: the gateway records and reads them (API key with `unlocks:write`); readers
see theirs."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from membership.apikeys.models import ApiKey, Scope
from membership.apikeys.services import ApiKeyService
from membership.lib.ratelimit import RateLimits, Rule
from membership.publications.models import Publication
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.settings import Settings
from membership.unlocks.schemas import Slug, UnlockIn, UnlockOut, UnlocksOut
from membership.unlocks.services import UnlockService


async def _status(
    unlocks: UnlockService, reader_id: UUID, publication: Publication, *, staff: bool = False
) -> UnlocksOut:
    used, stories = await unlocks.status(reader_id, publication)
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
        unlocks: NamedDependency[UnlockService],
        settings: NamedDependency[Settings],
        ratelimits: NamedDependency[RateLimits],
    ) -> UnlockOut:
        publication = await _gateway_publication(api_key, publications, data.publication)
        reader = await readers.require(data.reader_id)
        rule = Rule("unlock", settings.unlock_rate_per_reader, settings.unlock_rate_window_seconds)
        await ratelimits.hit(rule, str(reader.id), "Too many free unlocks were tried for this reader")
        return UnlockOut.of(await unlocks.unlock(reader.id, publication, data.story_id))

    @get("/unlocks", summary="A reader's free unlocks this month at a publication (API key: `unlocks:write`)")
    async def reader_unlocks(
        self,
        api_key: NamedDependency[ApiKey],
        publications: NamedDependency[PublicationService],
        readers: NamedDependency[ReaderService],
        unlocks: NamedDependency[UnlockService],
        reader_id: FromQuery[UUID],
        publication: FromQuery[Slug],
    ) -> UnlocksOut:
        found = await _gateway_publication(api_key, publications, publication)
        reader = await readers.require(reader_id)
        staff = await publications.role_of(found, reader.id) is not None
        return await _status(unlocks, reader.id, found, staff=staff)

    @get("/me/unlocks", summary="My free unlocks this month at a publication")
    async def mine(
        self,
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        unlocks: NamedDependency[UnlockService],
        publication: FromQuery[str],
    ) -> UnlocksOut:
        found = await publications.by_slug(publication)
        staff = await publications.role_of(found, reader.id) is not None
        return await _status(unlocks, reader.id, found, staff=staff)
