"""Friend links over the API.

The gateway makes them on behalf of a story's author (API key with `friend-links:write`; it owns
the stories, so it checks authorship) and resolves codes (`entitlements:read`); a publication's
staff make, list and revoke them; every reader lists and revokes their own. The gateway caches a
resolved link for a short while, so a revocation takes effect within that cache time.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from membership.apikeys.models import ApiKey, Scope
from membership.apikeys.services import TOKEN_PREFIX as API_KEY_PREFIX
from membership.apikeys.services import ApiKeyService
from membership.deps import provide_reader
from membership.friendlinks.models import MadeAs
from membership.friendlinks.schemas import (
    STORY_ID,
    AuthorLinkIn,
    FriendLinkCreated,
    FriendLinkOut,
    Resolved,
    ResolveIn,
    StaffLinkIn,
)
from membership.friendlinks.services import FriendLinkService
from membership.publications.access import require_staff, staff_publication
from membership.publications.models import Publication
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.sessions.services import SessionService
from membership.settings import Settings
from membership.tokens.services import TokenService

STAFF = {"publication": staff_publication()}


async def provide_listing_publication(
    slug: FromPath[str],
    request: Request[Any, Any, Any],
    publications: NamedDependency[PublicationService],
    api_keys: NamedDependency[ApiKeyService],
    db_session: NamedDependency[AsyncSession],
    sessions: NamedDependency[SessionService],
    settings: NamedDependency[Settings],
    tokens: NamedDependency[TokenService],
) -> Publication:
    """The path's publication, for an API key with `friend-links:write` or a signed-in staff member
    (session cookie, or an access token: `Bearer ey...` is a reader, `Bearer tgk_...` a service)."""
    publication = await publications.by_slug(slug)
    _, _, credential = request.headers.get("authorization", "").partition(" ")
    if credential.strip().startswith(API_KEY_PREFIX + "_"):
        key = await api_keys.authenticate(request.headers["authorization"])
        api_keys.require(key, Scope.FRIEND_LINKS_WRITE, publication.id)
        return publication
    reader = await provide_reader(request, db_session, sessions, settings, tokens)
    await require_staff(publications, publication, reader)
    return publication


class FriendLinkServiceApi(Controller):
    path = "/api/friend-links"
    tags = ["friend links"]

    @post("/", summary="Make a friend link on behalf of a story's author (API key: `friend-links:write`)")
    async def create_for_author(
        self,
        data: JSONBody[AuthorLinkIn],
        api_key: NamedDependency[ApiKey],
        publications: NamedDependency[PublicationService],
        readers: NamedDependency[ReaderService],
        friend_links: NamedDependency[FriendLinkService],
    ) -> FriendLinkCreated:
        ApiKeyService.require(api_key, Scope.FRIEND_LINKS_WRITE)
        publication = await publications.by_slug(data.publication)
        ApiKeyService.require(api_key, Scope.FRIEND_LINKS_WRITE, publication.id)
        author = await readers.require(data.author_id)
        link, code = await friend_links.create(publication, data.story_id, author, MadeAs.AUTHOR)
        return FriendLinkCreated.of(link, code)

    @post(
        "/resolve",
        status_code=200,
        summary="The live friend link a code opens (API key: `entitlements:read`); 404 if none",
    )
    async def resolve(
        self,
        data: JSONBody[ResolveIn],
        api_key: NamedDependency[ApiKey],
        friend_links: NamedDependency[FriendLinkService],
    ) -> Resolved:
        ApiKeyService.require(api_key, Scope.ENTITLEMENTS_READ)
        # A publication's key sees only its own publication's links; another's answer as unknown.
        return Resolved.of(await friend_links.resolve(data.code, publication_id=api_key.publication_id))


class PublicationFriendLinkApi(Controller):
    path = "/api/publications/{slug:str}/friend-links"
    tags = ["friend links"]

    @post("/", dependencies=STAFF, summary="Make a friend link to one of the publication's stories (staff)")
    async def create_as_staff(
        self,
        data: JSONBody[StaffLinkIn],
        reader: NamedDependency[Reader],
        publication: NamedDependency[Publication],
        friend_links: NamedDependency[FriendLinkService],
    ) -> FriendLinkCreated:
        link, code = await friend_links.create(publication, data.story_id, reader, MadeAs.STAFF)
        return FriendLinkCreated.of(link, code)

    @get(
        "/",
        dependencies={"publication": Provide(provide_listing_publication)},
        summary="A publication's friend links, newest first, no codes (staff, or `friend-links:write`)",
    )
    async def list_links(
        self,
        publication: NamedDependency[Publication],
        friend_links: NamedDependency[FriendLinkService],
        story_id: Annotated[str | None, QueryParameter(pattern=STORY_ID)] = None,
        include_revoked: FromQuery[bool] = False,
    ) -> list[FriendLinkOut]:
        found = await friend_links.of_publication(
            publication, story_id=story_id, include_revoked=include_revoked
        )
        return [FriendLinkOut.of(link) for link in found]

    @delete("/{link_id:uuid}", dependencies=STAFF, summary="Revoke a friend link (staff; idempotent)")
    async def revoke(
        self,
        link_id: FromPath[UUID],
        reader: NamedDependency[Reader],
        publication: NamedDependency[Publication],
        friend_links: NamedDependency[FriendLinkService],
    ) -> None:
        await friend_links.revoke(await friend_links.in_publication(publication, link_id), reader)


class MyFriendLinkApi(Controller):
    path = "/api/me/friend-links"
    tags = ["friend links"]

    @get("/", summary="The friend links I made, newest first, without codes")
    async def mine(
        self,
        reader: NamedDependency[Reader],
        friend_links: NamedDependency[FriendLinkService],
        include_revoked: FromQuery[bool] = False,
    ) -> list[FriendLinkOut]:
        found = await friend_links.made_by(reader.id, include_revoked=include_revoked)
        return [FriendLinkOut.of(link) for link in found]

    @delete("/{link_id:uuid}", summary="Revoke a friend link I made (idempotent)")
    async def revoke_mine(
        self,
        link_id: FromPath[UUID],
        reader: NamedDependency[Reader],
        friend_links: NamedDependency[FriendLinkService],
    ) -> None:
        await friend_links.revoke(await friend_links.made_by_one(reader.id, link_id), reader)
