"""Staff and keys: who runs the publication, and the API keys its services call with.

Everyone on the staff sees who is on it; only owners change it (add by email, change a role,
remove), and only owners see and manage the publication's API keys. A new key's secret is on the
answer to the form that made it, once (a page that is not stored, never a link or a notice).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from membership.apikeys.models import Scope
from membership.apikeys.schemas import ApiKeyCreate
from membership.apikeys.services import SCOPES, ApiKeyService
from membership.publications.access import staff_publication
from membership.publications.models import Publication, StaffRole
from membership.publications.schemas import StaffAdd
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.settings import Settings
from membership.web.dashboard.pages import (
    PREFIX,
    DashboardSection,
    base_of,
    done,
    id_of,
    page,
)
from membership.web.dashboard.services import DashboardService
from membership.web.guards import same_origin
from tollgate_common.problems import BadRequest, TollgateError
from tollgate_common.words import day, day_and_time

ROLES: dict[StaffRole, tuple[str, str]] = {
    StaffRole.OWNER: ("Owner", "Everything an editor does, and changes the staff and the API keys."),
    StaffRole.EDITOR: ("Editor", "Tiers and prices, members, comps, friend links and exports."),
}
# Staff changes lock the publication's row, as the JSON API's do, so two owners cannot remove
# each other at once.
OWNER_LOCKED = {"publication": staff_publication(owner=True, lock=True)}
OWNER = {"publication": staff_publication(owner=True)}


def role_words(role: StaffRole) -> str:
    return ROLES[role][0]


def _text(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def read_role(form: FormMultiDict) -> StaffRole:
    typed = _text(form, "role")
    if typed not in tuple(StaffRole):
        raise BadRequest("Choose a role: owner or editor.")
    return StaffRole(typed)


def read_staff_add(form: FormMultiDict) -> tuple[str, StaffRole]:
    email = _text(form, "email")
    if "@" not in email or len(email) < 3:
        raise BadRequest("Give the reader's email address, such as editor@example.com.")
    role = read_role(form)
    try:
        msgspec.convert({"email": email, "role": role.value}, StaffAdd)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"The staff member was not filled in as expected: {exc}.") from exc
    return email, role


def read_key(form: FormMultiDict) -> tuple[str, list[str]]:
    name = _text(form, "name")
    if not name:
        raise BadRequest("Give the key a name, so you can tell it apart later, such as “gateway”.")
    if len(name) > 100:
        raise BadRequest("A key's name is at most 100 characters.")
    scopes = [s for s in form.getall("scopes") if isinstance(s, str)] if "scopes" in form else []
    if not scopes:
        raise BadRequest("Choose at least one thing the key may do.")
    unknown = [s for s in scopes if s not in tuple(Scope)]
    if unknown:
        raise BadRequest(f"There is no permission called {', '.join(unknown)[:200]}.")
    try:
        msgspec.convert({"name": name, "scopes": scopes}, ApiKeyCreate)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"The API key was not filled in as expected: {exc}.") from exc
    return name, scopes


class StaffPages(DashboardSection):
    # --- staff and keys ---

    async def _staff_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        reader: Reader,
        publications: PublicationService,
        api_keys: ApiKeyService,
        dashboard: DashboardService,
        *,
        error: TollgateError | None = None,
        form: dict[str, Any] | None = None,
        made: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        me = await publications.role_of(publication, reader.id)
        owner = me == StaffRole.OWNER
        staff = [
            {
                "reader_id": m.reader_id,
                "email": m.reader.email,
                "name": m.reader.display_name,
                "role": StaffRole(m.role).value,
                "role_words": role_words(StaffRole(m.role)),
                "since": day(m.created_at),
                "you": m.reader_id == reader.id,
            }
            for m in await publications.staff(publication)
        ]
        keys: list[dict[str, Any]] = []
        if owner:
            found = await api_keys.list_for(publication.id)
            makers = await dashboard.readers(k.created_by_id for k in found if k.created_by_id)
            for k in reversed(found):  # newest first
                maker = makers.get(k.created_by_id) if k.created_by_id else None
                keys.append(
                    {
                        "id": k.id,
                        "name": k.name,
                        "prefix": k.key_prefix,
                        "scopes": [(s, SCOPES[Scope(s)]) for s in k.scopes if s in tuple(Scope)],
                        "made": day_and_time(k.created_at),
                        "made_by": (maker.display_name or maker.email) if maker else "",
                        "revoked": day_and_time(k.revoked_at) if k.revoked_at else "",
                    }
                )
        context = {
            "publication": publication,
            "section": "staff",
            "owner": owner,
            "staff": staff,
            "roles": [(role.value, words, hint) for role, (words, hint) in ROLES.items()],
            "keys": keys,
            "scopes": [(scope.value, sentence) for scope, sentence in SCOPES.items()],
            "made": made,
            "error": error.detail if error else "",
            "form": form or {"email": "", "role": StaffRole.EDITOR.value, "name": "", "scopes": []},
        }
        status = error.status_code if error else status_code
        return page(request, "staff.html", context, status_code=status)

    @get("/{slug:str}/staff")
    async def staff_page(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        api_keys: NamedDependency[ApiKeyService],
        dashboard: NamedDependency[DashboardService],
    ) -> Template:
        return await self._staff_page(request, publication, reader, publications, api_keys, dashboard)

    @post("/{slug:str}/staff", status_code=303, guards=[same_origin], dependencies=OWNER_LOCKED)
    async def add_staff(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        readers: NamedDependency[ReaderService],
        publications: NamedDependency[PublicationService],
        api_keys: NamedDependency[ApiKeyService],
        dashboard: NamedDependency[DashboardService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        typed = {"email": str(form.get("email") or ""), "role": str(form.get("role") or "")}
        try:
            email, role = read_staff_add(form)
            newcomer, _ = await readers.get_or_create(email)
            await publications.add_staff(publication, newcomer, role)
        except TollgateError as exc:
            return await self._staff_page(
                request, publication, reader, publications, api_keys, dashboard, error=exc, form=typed
            )
        article = "an owner" if role == StaffRole.OWNER else "an editor"
        return done(
            settings,
            base_of(publication, "staff"),
            f"{newcomer.email} is {article} of {publication.name}; they sign in with that address.",
        )

    @post(
        "/{slug:str}/staff/{reader_id:str}/role",
        status_code=303,
        guards=[same_origin],
        dependencies=OWNER_LOCKED,
    )
    async def change_role(
        self,
        request: Request[Any, Any, Any],
        reader_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        api_keys: NamedDependency[ApiKeyService],
        dashboard: NamedDependency[DashboardService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        try:
            role = read_role(form)
            member = await publications.change_role(publication, id_of(reader_id, "staff member"), role)
        except TollgateError as exc:
            return await self._staff_page(
                request, publication, reader, publications, api_keys, dashboard, error=exc
            )
        article = "an owner" if role == StaffRole.OWNER else "an editor"
        who = "You are" if member.reader_id == reader.id else f"{member.reader.email} is"
        return done(settings, base_of(publication, "staff"), f"{who} now {article} of {publication.name}.")

    @post(
        "/{slug:str}/staff/{reader_id:str}/remove",
        status_code=303,
        guards=[same_origin],
        dependencies=OWNER_LOCKED,
    )
    async def remove_staff(
        self,
        request: Request[Any, Any, Any],
        reader_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        api_keys: NamedDependency[ApiKeyService],
        dashboard: NamedDependency[DashboardService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            removed_id = id_of(reader_id, "staff member")
            removed = (await dashboard.readers([removed_id])).get(removed_id)
            await publications.remove_staff(publication, removed_id)
        except TollgateError as exc:
            return await self._staff_page(
                request, publication, reader, publications, api_keys, dashboard, error=exc
            )
        if removed_id == reader.id:
            # No longer on the staff, this page would answer 403: back to their publications.
            return done(settings, PREFIX, f"You are no longer on the staff of {publication.name}.")
        who = removed.email if removed else "The reader"
        return done(
            settings, base_of(publication, "staff"), f"{who} is no longer on the staff of {publication.name}."
        )

    # --- API keys (owners only) ---

    @post("/{slug:str}/staff/keys", status_code=201, guards=[same_origin], dependencies=OWNER)
    async def create_key(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        api_keys: NamedDependency[ApiKeyService],
        dashboard: NamedDependency[DashboardService],
    ) -> Template:
        form = await request.form()
        typed: dict[str, Any] = {
            "name": str(form.get("name") or ""),
            "scopes": [s for s in form.getall("scopes") if isinstance(s, str)] if "scopes" in form else [],
        }
        try:
            name, scopes = read_key(form)
            key, secret = await api_keys.create(
                name, scopes, publication_id=publication.id, created_by_id=reader.id
            )
        except TollgateError as exc:
            return await self._staff_page(
                request, publication, reader, publications, api_keys, dashboard, error=exc, form=typed
            )
        # The secret is on this answer only (no-store, like every dashboard page): not in a
        # redirect's address, not in the notice cookie, and never again once this page is left.
        made = {"name": key.name, "secret": secret, "prefix": key.key_prefix}
        return await self._staff_page(
            request, publication, reader, publications, api_keys, dashboard, made=made, status_code=201
        )

    @post(
        "/{slug:str}/staff/keys/{key_id:str}/revoke",
        status_code=303,
        guards=[same_origin],
        dependencies=OWNER,
    )
    async def revoke_key(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        api_keys: NamedDependency[ApiKeyService],
        dashboard: NamedDependency[DashboardService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            key = await api_keys.revoke(id_of(key_id, "API key"), publication.id)
        except TollgateError as exc:
            return await self._staff_page(
                request, publication, reader, publications, api_keys, dashboard, error=exc
            )
        return done(
            settings,
            base_of(publication, "staff"),
            f"The API key “{key.name}” ({key.key_prefix}…) is revoked; it is refused from now on.",
        )
