"""What the dashboard's sections share: the address, notices after a form, error pages, the base class.

Server-rendered pages and plain HTML forms (post, then 303 back with a short notice), so they work
without JavaScript. Every form is refused when its `Origin` is another site's (SameSite=Lax
cookies are the other half). Not signed in: 303 to sign-in, back here after. Signed in but not on
the staff: a 403 page. Whatever goes wrong is a page with a sentence, never JSON or a trace.
The pages call the same services as the JSON API, so they can do nothing the API would refuse.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import structlog
from litestar import Controller, Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.states import GrantSource
from membership.publications.access import staff_publication
from membership.publications.models import Publication
from membership.settings import Settings
from membership.subscriptions.states import SubscriptionStatus
from membership.web.dashboard.services import DashboardService
from tollgate_common.problems import BadRequest, NotFound, TollgateError, Unauthorized
from tollgate_common.words import day, month, short_day

log = structlog.get_logger("membership.web.dashboard")

PREFIX = "/account/publications"
NOTICE_COOKIE = "tollgate_dashboard_notice"
HEADERS = {"cache-control": "no-store", "content-security-policy": "frame-ancestors 'none'"}
PAGE_SIZE = 50
SOURCES = tuple(GrantSource)
STATUSES = tuple(SubscriptionStatus)
SECTIONS = {
    "overview": "Overview",
    "tiers": "Tiers and prices",
    "members": "Members",
    "subscribers": "Subscribers",
    "comps": "Comps",
    "friend-links": "Friend links",
    "gifts": "Gifts",
    "offers": "Offers",
    "cancellations": "Cancellations",
    "staff": "Staff and keys",
    "webhooks": "Webhooks",
    "exports": "Exports",
    "imports": "Import",
}


# --- answers: pages, notices, errors ---------------------------------------------------------


def back_here(request: Request[Any, Any, Any]) -> str:
    """Where sign-in returns to: this page, or for a form, the page that holds it."""
    path = request.url.path
    if request.method == "GET":
        return path + (f"?{request.url.query}" if request.url.query else "")
    return "/".join(path.split("/")[:5])


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The dashboard's errors, for people: sign in first, or the sentence with the right status."""
    if isinstance(exc, Unauthorized):
        # Includes a reused cookie: its session was revoked, and the 303 commits that.
        return Redirect(f"/auth/sign-in?{urlencode({'next': back_here(request)})}", status_code=303)
    if isinstance(exc, TollgateError):
        status, detail, headers = exc.status_code, exc.detail, exc.headers
    elif isinstance(exc, HTTPException):
        status, headers = exc.status_code, dict(exc.headers or {})
        detail = {
            400: "The form or address was not what this page expects. Please go back and try again.",
            404: "There is no page at this address.",
            405: "This page cannot do that.",
        }.get(status, HTTPStatus(status).phrase + ".")
    else:
        log.exception("unhandled error", path=request.url.path, exc_info=exc)
        status, detail, headers = 500, "Something went wrong on our side; it has been logged.", {}
    titles = {403: "Not for you", 404: "Not found"}
    return Template(
        "dashboard/error.html",
        context={"title": titles.get(status, HTTPStatus(status).phrase), "message": detail, "section": None},
        status_code=status,
        headers={**headers, **HEADERS},
    )


def notice_cookie(settings: Settings, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=NOTICE_COOKIE,
        value=value,
        path=PREFIX,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def done(settings: Settings, to: str, message: str, link: str = "") -> Redirect:
    """303 back to a page, with a notice it shows once (a cookie, so no link can forge its words)."""
    raw = json.dumps({"message": message, "link": link}).encode()
    value = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return Redirect(to, status_code=303, cookies=[notice_cookie(settings, value, 300)])


def take_notice(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    value = request.cookies.get(NOTICE_COOKIE)
    if not value:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("message"), str):
        return None
    return {"message": found["message"], "link": str(found.get("link") or "")}


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Template:
    notice = take_notice(request)
    settings: Settings = request.app.state.settings
    cookies = [notice_cookie(settings, "", 0)] if NOTICE_COOKIE in request.cookies else []
    return Template(
        f"dashboard/{template}",
        context={**context, "notice": notice, "sections": list(SECTIONS.items())},
        status_code=status_code,
        headers=HEADERS,
        cookies=cookies,
    )


def base_of(publication: Publication, section: str) -> str:
    return f"{PREFIX}/{publication.slug}" + ("" if section == "overview" else f"/{section}")


def cursor_of(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError as exc:
        raise BadRequest("That page link is not one of ours; start again from the first page.") from exc


def id_of(value: str, what: str) -> UUID:
    """A path's id; one that is not a UUID names nothing here (a page, not the router's JSON 404)."""
    try:
        return UUID(value)
    except ValueError as exc:
        raise NotFound(f"There is no such {what}.") from exc


def query_of(**params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return ("?" + urlencode(kept)) if kept else ""


# --- what the pages show ---------------------------------------------------------------------


def period_label(start: datetime, interval: str, *, short: bool, first: bool = False) -> str:
    if interval == "week":
        return short_day(start) if short else "week of " + day(start)
    if short:
        return month(start, short=True, with_year=first or start.month == 1)
    return month(start)


def provide_dashboard(db_session: NamedDependency[AsyncSession]) -> DashboardService:
    return DashboardService(db_session)


class DashboardSection(Controller):
    """What every dashboard section shares: the address, staff only, errors as pages."""

    path = PREFIX
    tags = ["dashboard"]
    include_in_schema = False
    dependencies = {
        "publication": staff_publication(),
        "dashboard": Provide(provide_dashboard, sync_to_thread=False),
    }
    exception_handlers = {TollgateError: error_page, HTTPException: error_page, Exception: error_page}
