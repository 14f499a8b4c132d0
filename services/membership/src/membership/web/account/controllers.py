"""`/account`: the reader's "My membership" page and its forms (cancel, resume, billing, sign out).

Plain HTML forms that answer 303 (post, redirect, get), so the pages work without JavaScript. A
form posted from another site is refused by its `Origin` (SameSite=Lax cookies are the other
half). Whatever goes wrong is shown as a page with a sentence, never as JSON or a stack trace.
"""

from __future__ import annotations

import contextlib
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import structlog
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from membership.sessions.cookies import cleared_cookie, reader_cookie
from membership.sessions.models import ReaderSession
from membership.sessions.services import SessionEnded, SessionService
from membership.settings import Settings
from membership.subscriptions.services import SubscriptionService
from membership.web.account.services import AccountService
from membership.web.guards import same_origin
from tollgate_common.problems import NotFound, TollgateError
from tollgate_common.problems import exception_handlers as problems

log = structlog.get_logger(__name__)
HERE = "/account"
NO_STORE = {"cache-control": "no-store"}
# The words behind `/account?notice=...`: only these, so a link cannot put its own text on the page.
NOTICES = {
    "cancelled": "Your subscription is cancelled at the end of its period. You keep access until then, "
    "and you can resume it before that date.",
    "resumed": "Your subscription is resumed: it renews as before.",
    "session-ended": "That device is signed out.",
    "no-billing": "You have no billing account yet: one is made when you first subscribe.",
}


def provide_account(
    db_session: NamedDependency[AsyncSession],
    sessions: NamedDependency[SessionService],
    subscriptions: NamedDependency[SubscriptionService],
) -> AccountService:
    return AccountService(db_session, sessions, subscriptions)


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The account pages' errors, for people: sign in first, or the sentence with the right status."""
    if isinstance(exc, SessionEnded):
        # Not signed in, or a reused cookie (`current_session` has committed its revocation).
        return _to_sign_in()
    if isinstance(exc, TollgateError):
        status, detail, headers = exc.status_code, exc.detail, exc.headers
    elif isinstance(exc, HTTPException):
        status, headers = exc.status_code, dict(exc.headers or {})
        detail = (
            "The form was not filled in as this page expects. Please go back and try again."
            if status == 400
            else HTTPStatus(status).phrase + "."
        )
    else:
        log.exception("unhandled error", path=request.url.path, exc_info=exc)
        status, detail, headers = 500, "Something went wrong on our side; it has been logged.", {}
    return Template(
        "account_error.html",
        context={"title": HTTPStatus(status).phrase, "message": detail},
        status_code=status,
        headers={**headers, **NO_STORE},
    )


UNROUTED = "There is no page at this address. Your membership is at /account."


def unrouted(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """An address no route matches: under /account someone typed it, so a page; elsewhere, the API's 404."""
    if request.url.path == HERE or request.url.path.startswith(f"{HERE}/"):
        return error_page(request, NotFound(UNROUTED))
    return problems[HTTPException](request, exc)


def _to_sign_in() -> Redirect:
    return Redirect(f"/auth/sign-in?{urlencode({'next': HERE})}", status_code=303)


def _signed_out_cookies(settings: Settings) -> list[Cookie]:
    # The access token goes too, so this browser is shut out at once, not when the token expires.
    return [cleared_cookie(settings), reader_cookie(settings, settings.access_cookie, "", 0)]


async def _set_cancel(
    subscriptions: SubscriptionService, current: ReaderSession, subscription_id: UUID, value: bool
) -> Redirect:
    sub = await subscriptions.owned(current.reader_id, subscription_id)
    await subscriptions.set_cancel_at_period_end(sub, value)
    return Redirect(f"{HERE}?notice={'cancelled' if value else 'resumed'}", status_code=303)


class AccountPages(Controller):
    path = HERE
    tags = ["account"]
    include_in_schema = False
    dependencies = {"account": Provide(provide_account, sync_to_thread=False)}
    exception_handlers = {TollgateError: error_page, HTTPException: error_page, Exception: error_page}

    @get("/")
    async def page(
        self,
        current_session: NamedDependency[ReaderSession],
        account: NamedDependency[AccountService],
        notice: FromQuery[str] = "",
    ) -> Template:
        view = await account.page(current_session.reader, current_session)
        context = {"account": view, "notice": NOTICES.get(notice, "")}
        return Template("account.html", context=context, headers=NO_STORE)

    @get("/signed-out")
    async def signed_out(self, everywhere: FromQuery[bool] = False) -> Template:
        return Template("account_signed_out.html", context={"everywhere": everywhere}, headers=NO_STORE)

    @post("/subscriptions/{subscription_id:uuid}/cancel", status_code=303, guards=[same_origin])
    async def cancel(
        self,
        subscription_id: FromPath[UUID],
        current_session: NamedDependency[ReaderSession],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> Redirect:
        return await _set_cancel(subscriptions, current_session, subscription_id, True)

    @post("/subscriptions/{subscription_id:uuid}/resume", status_code=303, guards=[same_origin])
    async def resume(
        self,
        subscription_id: FromPath[UUID],
        current_session: NamedDependency[ReaderSession],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> Redirect:
        return await _set_cancel(subscriptions, current_session, subscription_id, False)

    @post("/portal", status_code=303, guards=[same_origin])
    async def portal(
        self,
        current_session: NamedDependency[ReaderSession],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> Redirect:
        url = await subscriptions.portal_url(current_session.reader, HERE)
        if url is None:
            return Redirect(f"{HERE}?notice=no-billing", status_code=303)
        return Redirect(url, status_code=303)

    @post("/sessions/{session_id:uuid}/sign-out", status_code=303, guards=[same_origin])
    async def sign_out_one(
        self,
        session_id: FromPath[UUID],
        current_session: NamedDependency[ReaderSession],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        # Already signed out (a second click), or not theirs: nothing to do either way.
        with contextlib.suppress(NotFound):
            await sessions.revoke(current_session.reader_id, session_id)
        if session_id == current_session.id:
            return Redirect(f"{HERE}/signed-out", status_code=303, cookies=_signed_out_cookies(settings))
        return Redirect(f"{HERE}?notice=session-ended", status_code=303)

    @post("/sign-out-everywhere", status_code=303, guards=[same_origin])
    async def sign_out_everywhere(
        self,
        current_session: NamedDependency[ReaderSession],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        await sessions.sign_out_everywhere(current_session.reader_id)
        return Redirect(
            f"{HERE}/signed-out?everywhere=true", status_code=303, cookies=_signed_out_cookies(settings)
        )
