"""Publications and their staff over the API."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from membership.apikeys.models import Scope
from membership.publications.access import staff_publication, viewable_publication
from membership.publications.models import Publication, StaffRole
from membership.publications.schemas import PublicationOut, StaffAdd, StaffChange, StaffOut
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService

# Staff changes lock the publication's row, so two owners cannot remove each other at once.
OWNER = {"publication": staff_publication(owner=True, lock=True)}


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

    @get(
        "/{slug:str}/staff",
        dependencies={"publication": viewable_publication(Scope.STAFF_READ)},
        summary="A publication's staff (staff, or an API key with `staff:read`)",
    )
    async def list_staff(
        self, publication: NamedDependency[Publication], publications: NamedDependency[PublicationService]
    ) -> list[StaffOut]:
        return [StaffOut.of(m) for m in await publications.staff(publication)]

    @post("/{slug:str}/staff", dependencies=OWNER, summary="Add a reader to the staff by email (owners only)")
    async def add_staff(
        self,
        data: JSONBody[StaffAdd],
        publication: NamedDependency[Publication],
        publications: NamedDependency[PublicationService],
        readers: NamedDependency[ReaderService],
    ) -> StaffOut:
        newcomer, _ = await readers.get_or_create(data.email)
        return StaffOut.of(await publications.add_staff(publication, newcomer, data.role))

    @patch("/{slug:str}/staff/{reader_id:uuid}", dependencies=OWNER, summary="Change a staff member's role")
    async def change_staff(
        self,
        reader_id: FromPath[UUID],
        data: JSONBody[StaffChange],
        publication: NamedDependency[Publication],
        publications: NamedDependency[PublicationService],
    ) -> StaffOut:
        return StaffOut.of(await publications.change_role(publication, reader_id, StaffRole(data.role)))

    @delete(
        "/{slug:str}/staff/{reader_id:uuid}",
        dependencies=OWNER,
        summary="Remove a staff member (owners only)",
    )
    async def remove_staff(
        self,
        reader_id: FromPath[UUID],
        publication: NamedDependency[Publication],
        publications: NamedDependency[PublicationService],
    ) -> None:
        await publications.remove_staff(publication, reader_id)
