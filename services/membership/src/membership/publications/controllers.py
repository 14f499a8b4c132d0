"""Publications and their staff over the API."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from membership.apikeys.services import ApiKeyService
from membership.publications.access import require_staff, require_staff_or_key
from membership.publications.models import StaffRole
from membership.publications.schemas import PublicationOut, StaffAdd, StaffChange, StaffOut
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.sessions.services import SessionService
from membership.settings import Settings


class PublicationApi(Controller):
    path = "/api/publications"
    tags = ["publications"]

    @get("/", summary="All publications")
    async def list_publications(
        self, publications: NamedDependency[PublicationService]
    ) -> list[PublicationOut]:
        return [PublicationOut.of(p) for p in await publications.all()]

    @get("/{slug:str}", summary="One publication")
    async def get_publication(
        self, slug: FromPath[str], publications: NamedDependency[PublicationService]
    ) -> PublicationOut:
        return PublicationOut.of(await publications.by_slug(slug))

    @get("/{slug:str}/staff", summary="A publication's staff (staff, or an API key with `staff:read`)")
    async def list_staff(
        self,
        slug: FromPath[str],
        request: Request[Any, Any, Any],
        publications: NamedDependency[PublicationService],
        sessions: NamedDependency[SessionService],
        api_keys: NamedDependency[ApiKeyService],
        settings: NamedDependency[Settings],
    ) -> list[StaffOut]:
        publication = await publications.by_slug(slug)
        await require_staff_or_key(
            request,
            publication,
            "staff:read",
            publications=publications,
            sessions=sessions,
            api_keys=api_keys,
            settings=settings,
        )
        return [StaffOut.of(m) for m in await publications.staff(publication)]

    @post("/{slug:str}/staff", summary="Add a reader to the staff by email (owners only)")
    async def add_staff(
        self,
        slug: FromPath[str],
        data: JSONBody[StaffAdd],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        readers: NamedDependency[ReaderService],
    ) -> StaffOut:
        publication = await publications.by_slug(slug, lock=True)
        await require_staff(publications, publication, reader, owner=True)
        newcomer, _ = await readers.get_or_create(data.email)
        return StaffOut.of(await publications.add_staff(publication, newcomer, data.role))

    @patch("/{slug:str}/staff/{reader_id:uuid}", summary="Change a staff member's role (owners only)")
    async def change_staff(
        self,
        slug: FromPath[str],
        reader_id: FromPath[UUID],
        data: JSONBody[StaffChange],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
    ) -> StaffOut:
        publication = await publications.by_slug(slug, lock=True)
        await require_staff(publications, publication, reader, owner=True)
        return StaffOut.of(await publications.change_role(publication, reader_id, StaffRole(data.role)))

    @delete("/{slug:str}/staff/{reader_id:uuid}", summary="Remove a staff member (owners only)")
    async def remove_staff(
        self,
        slug: FromPath[str],
        reader_id: FromPath[UUID],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
    ) -> None:
        publication = await publications.by_slug(slug, lock=True)
        await require_staff(publications, publication, reader, owner=True)
        await publications.remove_staff(publication, reader_id)
