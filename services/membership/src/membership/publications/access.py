"""Who may act on a publication: its staff by role, or an API key with the right scope."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from membership.apikeys.models import Scope
from membership.apikeys.services import ApiKeyService
from membership.publications.models import Publication, StaffRole
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.sessions.services import SessionService
from membership.settings import Settings
from tollgate_common.problems import Forbidden


async def require_staff(
    publications: PublicationService, publication: Publication, reader: Reader, *, owner: bool = False
) -> StaffRole:
    role = await publications.role_of(publication, reader.id)
    if role is None or (owner and role != StaffRole.OWNER):
        who = "owners" if owner else "readers on the staff"
        raise Forbidden(f"Only {who} of {publication.name} may do this.")
    return role


async def require_staff_or_key(
    request: Request[Any, Any, Any],
    publication: Publication,
    scope: Scope,
    *,
    publications: PublicationService,
    sessions: SessionService,
    api_keys: ApiKeyService,
    settings: Settings,
) -> None:
    """An `Authorization` header means a service is calling; otherwise a signed-in staff member."""
    if "authorization" in request.headers:
        key = await api_keys.authenticate(request.headers["authorization"])
        api_keys.require(key, scope, publication.id)
        return
    reader_session, _ = await sessions.authenticate(request.cookies.get(settings.session_cookie))
    await require_staff(publications, publication, reader_session.reader)


def staff_publication(*, owner: bool = False, lock: bool = False) -> Provide:
    """A dependency: the path's publication, once the signed-in reader is on its staff (or an owner)."""

    async def provide(
        slug: FromPath[str],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
    ) -> Publication:
        publication = await publications.by_slug(slug, lock=lock)
        await require_staff(publications, publication, reader, owner=owner)
        return publication

    return Provide(provide)


def viewable_publication(scope: Scope) -> Provide:
    """A dependency: the path's publication, for its staff or an API key with `scope`."""

    async def provide(
        slug: FromPath[str],
        request: Request[Any, Any, Any],
        publications: NamedDependency[PublicationService],
        sessions: NamedDependency[SessionService],
        api_keys: NamedDependency[ApiKeyService],
        settings: NamedDependency[Settings],
    ) -> Publication:
        publication = await publications.by_slug(slug)
        await require_staff_or_key(
            request,
            publication,
            scope,
            publications=publications,
            sessions=sessions,
            api_keys=api_keys,
            settings=settings,
        )
        return publication

    return Provide(provide)
