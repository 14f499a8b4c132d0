"""`/account`: the reader's "My membership" page and its forms (cancel, resume, billing, sign out).

Cancelling goes through a "Before you go" page first: why (optional), a note, and the tier's
retention offer when this member may see it (take it: stay at a lower price; or cancel anyway).

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
from litestar.datastructures import Cookie, FormMultiDict
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.offers.models import Offer
from membership.offers.services import price_words
from membership.retention.models import Cancellation, CancelOutcome
from membership.retention.services import MAX_NOTE, REASONS, RetentionService, reason_of
from membership.sessions.cookies import cleared_cookie, reader_cookie
from membership.sessions.models import ReaderSession
from membership.sessions.services import SessionEnded, SessionService
from membership.settings import Settings
from membership.subscriptions.models import Subscription
from membership.subscriptions.services import SubscriptionService
from membership.subscriptions.states import LIVE_STATUSES
from membership.web.account.services import AccountService
from membership.web.guards import same_origin
from tollgate_common.problems import BadRequest, Conflict, NotFound, TollgateError
from tollgate_common.problems import exception_handlers as problems
from tollgate_common.words import day

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
    # Said with the offer's words when the reader's last save is found (`_saved_notice`).
    "saved": "You're staying, with the offer: it applies from your next invoice, "
    "and your subscription renews as before.",
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


def refuse_unless_live(sub: Subscription) -> None:
    """Asked before the "Before you go" page, in the words cancelling itself would use."""
    if sub.status not in LIVE_STATUSES or sub.revoked_at is not None:
        raise Conflict("This subscription has ended; there is nothing to cancel or resume.")


def _typed(form: FormMultiDict) -> dict[str, str]:
    reason, note = form.get("reason"), form.get("note")
    return {
        "reason": reason if isinstance(reason, str) else "",
        "note": note if isinstance(note, str) else "",
    }


def offer_words(offer: Offer, sub: Subscription) -> str:
    """What staying costs: the offer on the member's own price (its name, when the price is gone)."""
    return price_words(offer, sub.price) if sub.price is not None else offer.name


def _before_you_go(
    sub: Subscription,
    offer: Offer | None,
    typed: dict[str, str],
    *,
    error: TollgateError | None = None,
) -> Template:
    context = {
        "sub": sub,
        "offer": offer,
        "offer_words": offer_words(offer, sub) if offer else "",
        "ends": day(sub.current_period_end),
        "reasons": [(r.value, words) for r, words in REASONS.items()],
        "form": typed,
        "max_note": MAX_NOTE,
        "error": error.detail if error else "",
    }
    return Template(
        "account_cancel.html",
        context=context,
        status_code=error.status_code if error else 200,
        headers=NO_STORE,
    )


async def _saved_notice(db: AsyncSession, reader_id: UUID) -> str:
    """The reader's last stay, in the offer's words (from our rows, so a link cannot choose them)."""
    saved = await db.scalar(
        select(Cancellation)
        .where(Cancellation.reader_id == reader_id, Cancellation.outcome == CancelOutcome.SAVED)
        .order_by(Cancellation.created_at.desc())
        .limit(1)
    )
    if saved is None or saved.offer_id is None:
        return ""
    offer, sub = await db.get(Offer, saved.offer_id), await db.get(Subscription, saved.subscription_id)
    if offer is None or sub is None:
        return ""
    return (
        f"You're staying with {sub.tier.name}: {offer_words(offer, sub)}, from your next invoice. "
        "Your subscription renews as before."
    )


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
        db_session: NamedDependency[AsyncSession],
        notice: FromQuery[str] = "",
    ) -> Template:
        view = await account.page(current_session.reader, current_session)
        words = NOTICES.get(notice, "")
        if notice == "saved":
            words = await _saved_notice(db_session, current_session.reader_id) or words
        context = {"account": view, "notice": words}
        return Template("account.html", context=context, headers=NO_STORE)

    @get("/signed-out")
    async def signed_out(self, everywhere: FromQuery[bool] = False) -> Template:
        return Template("account_signed_out.html", context={"everywhere": everywhere}, headers=NO_STORE)

    @post("/subscriptions/{subscription_id:uuid}/cancel", status_code=303, guards=[same_origin])
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[UUID],
        current_session: NamedDependency[ReaderSession],
        subscriptions: NamedDependency[SubscriptionService],
        retention: NamedDependency[RetentionService],
    ) -> Redirect | Template:
        """First the "Before you go" page (why, and the offer to stay); with `confirm=yes`, cancel."""
        sub = await subscriptions.owned(current_session.reader_id, subscription_id)
        refuse_unless_live(sub)
        form = await request.form()
        typed = _typed(form)
        offer = await retention.offer_for(sub)
        if form.get("confirm") != "yes":
            return _before_you_go(sub, offer, typed)
        try:
            await retention.cancel(sub, reason=reason_of(typed["reason"]), note=typed["note"], offered=offer)
        except BadRequest as exc:
            return _before_you_go(sub, offer, typed, error=exc)
        return Redirect(f"{HERE}?notice=cancelled", status_code=303)

    @post("/subscriptions/{subscription_id:uuid}/stay", status_code=303, guards=[same_origin])
    async def stay(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[UUID],
        current_session: NamedDependency[ReaderSession],
        subscriptions: NamedDependency[SubscriptionService],
        retention: NamedDependency[RetentionService],
    ) -> Redirect | Template:
        """Take the retention offer shown on the "Before you go" page, and keep the subscription."""
        sub = await subscriptions.owned(current_session.reader_id, subscription_id)
        refuse_unless_live(sub)
        typed = _typed(await request.form())
        try:
            await retention.stay(sub, reason=reason_of(typed["reason"]), note=typed["note"])
        except BadRequest as exc:
            return _before_you_go(sub, await retention.offer_for(sub), typed, error=exc)
        return Redirect(f"{HERE}?notice=saved", status_code=303)

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
