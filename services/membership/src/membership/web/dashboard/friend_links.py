"""Friend links made by staff: make one (shown once), list, revoke."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from membership.friendlinks.models import MadeAs
from membership.friendlinks.services import FriendLinkService
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.settings import Settings
from membership.web.dashboard.forms import read_story_id
from membership.web.dashboard.pages import (
    DashboardSection,
    base_of,
    done,
    id_of,
    page,
)
from membership.web.guards import same_origin
from tollgate_common.problems import TollgateError
from tollgate_common.words import day_and_time


class FriendLinkPages(DashboardSection):
    # --- friend links ---

    async def _links_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        friend_links: FriendLinkService,
        *,
        error: TollgateError | None = None,
        story_id: str = "",
    ) -> Template:
        links = await friend_links.of_publication(publication, include_revoked=True)
        rows = [
            {
                "id": link.id,
                "story_id": link.story_id,
                "hint": link.hint,
                "made_by": link.created_by.display_name or link.created_by.email,
                "made_as": "staff" if link.made_as == MadeAs.STAFF else "the story's author",
                "made": day_and_time(link.created_at),
                "revoked": day_and_time(link.revoked_at) if link.revoked_at else "",
            }
            for link in links
        ]
        context = {
            "publication": publication,
            "section": "friend-links",
            "rows": rows,
            "error": error.detail if error else "",
            "story_id": story_id or request.query_params.get("story", ""),
        }
        return page(request, "friend_links.html", context, status_code=error.status_code if error else 200)

    @get("/{slug:str}/friend-links")
    async def friend_links_page(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        friend_links: NamedDependency[FriendLinkService],
    ) -> Template:
        return await self._links_page(request, publication, friend_links)

    @post("/{slug:str}/friend-links", status_code=303, guards=[same_origin])
    async def create_friend_link(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        friend_links: NamedDependency[FriendLinkService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        try:
            story_id = read_story_id(form)
            link, code = await friend_links.create(publication, story_id, reader, MadeAs.STAFF)
        except TollgateError as exc:
            return await self._links_page(
                request, publication, friend_links, error=exc, story_id=str(form.get("story_id") or "")
            )
        url = f"{settings.public_url}/stories/{link.story_id}?{urlencode({'friend': code})}"
        return done(
            settings,
            base_of(publication, "friend-links"),
            f"A friend link to “{story_id}” is made. Copy it now: it is shown only this once.",
            link=url,
        )

    @post("/{slug:str}/friend-links/{link_id:str}/revoke", status_code=303, guards=[same_origin])
    async def revoke_friend_link(
        self,
        request: Request[Any, Any, Any],
        link_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        friend_links: NamedDependency[FriendLinkService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            link = await friend_links.revoke(
                await friend_links.in_publication(publication, id_of(link_id, "friend link")), reader
            )
        except TollgateError as exc:
            return await self._links_page(request, publication, friend_links, error=exc)
        return done(
            settings,
            base_of(publication, "friend-links"),
            f"The friend link to “{link.story_id}” ending in {link.hint} is revoked; it opens nothing now.",
        )
