"""`/account/gifts`: giving a membership and redeeming one, as plain pages and forms.

Giving: choose a length, whom to send it to and when, then pay on Stripe Checkout; back here, the
gift is settled with Stripe at once and its link shown. Redeeming: whoever holds the link sees what
it opens and, signed in, redeems it with one button. Lives under `/account` because the gateway
forwards that to membership; the gift's link is `/account/gifts/redeem/<code>`.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.gifts.models import Gift, GiftState, RedeemedAs
from membership.gifts.services import GiftService, length_words, options
from membership.lib.clock import utcnow
from membership.plans.models import Tier
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.sessions.services import SessionEnded, SessionService
from membership.settings import Settings
from membership.web.account.controllers import NO_STORE, error_page
from membership.web.guards import same_origin
from tollgate_common.problems import NotFound, TollgateError

HERE = "/account/gifts"
STATES = {
    GiftState.AWAITING_PAYMENT: "Waiting for payment",
    GiftState.ABANDONED: "Not bought",
    GiftState.PAID: "Not redeemed yet",
    GiftState.REDEEMED: "Redeemed",
    GiftState.REFUNDED: "Refunded",
}


async def signed_in(
    request: Request[Any, Any, Any], sessions: SessionService, settings: Settings
) -> Reader | None:
    try:
        reader_session, _ = await sessions.authenticate(request.cookies.get(settings.session_cookie))
    except SessionEnded:
        return None
    return reader_session.reader


def to_sign_in(back: str) -> Redirect:
    return Redirect(f"/auth/sign-in?{urlencode({'next': back})}", status_code=303)


async def publication_names(db: AsyncSession) -> dict[UUID | None, str]:
    names: dict[UUID | None, str] = {p.id: p.name for p in await db.scalars(select(Publication))}
    return names | {None: "Every publication"}


class GiftAccountPages(Controller):
    path = HERE
    tags = ["gifts"]
    include_in_schema = False
    exception_handlers = {TollgateError: error_page, HTTPException: error_page, Exception: error_page}

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        gifts: NamedDependency[GiftService],
        db_session: NamedDependency[AsyncSession],
    ) -> Template | Redirect:
        """What can be given, and the gifts the reader gave."""
        reader = await signed_in(request, sessions, settings)
        if reader is None:
            return to_sign_in(HERE)
        tiers = await db_session.scalars(select(Tier).where(Tier.archived_at.is_(None)).order_by(Tier.name))
        names = await publication_names(db_session)
        giftable = [(t, names.get(t.publication_id, ""), options(t)) for t in tiers]
        context = {
            "giftable": [(t, name, opts) for t, name, opts in giftable if opts],
            "given": await gifts.bought_by(reader.id),
            "states": STATES,
            "link": gifts.link,
            "length_words": length_words,
        }
        return Template("gifts.html", context=context, headers=NO_STORE)

    @get("/give/{tier_id:uuid}")
    async def give_form(
        self,
        tier_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        gifts: NamedDependency[GiftService],
    ) -> Template | Redirect:
        if await signed_in(request, sessions, settings) is None:
            return to_sign_in(f"{HERE}/give/{tier_id}")
        return await self._give_page(await gifts.tier(tier_id))

    async def _give_page(
        self, tier: Tier, *, error: str = "", form: dict[str, str] | None = None, status_code: int = 200
    ) -> Template:
        choices = options(tier)
        if not choices:
            raise NotFound(f"{tier.name} cannot be given as a gift.")
        first = choices[0]
        context = {
            "tier": tier,
            "choices": [(f"{o.months}:{o.currency}", o, length_words(o.months)) for o in choices],
            "error": error,
            "form": form or {"choice": f"{first.months}:{first.currency}"},
            "today": date.today().isoformat(),
        }
        return Template("gift_give.html", context=context, status_code=status_code, headers=NO_STORE)

    @post("/give/{tier_id:uuid}", status_code=303, guards=[same_origin])
    async def give(
        self,
        tier_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        gifts: NamedDependency[GiftService],
    ) -> Redirect | Template:
        reader = await signed_in(request, sessions, settings)
        if reader is None:
            return to_sign_in(f"{HERE}/give/{tier_id}")
        tier = await gifts.tier(tier_id)
        raw = await request.form()
        form = {
            k: str(raw.get(k) or "").strip() for k in ("choice", "recipient_email", "deliver_on", "message")
        }
        months, _, currency = form["choice"].partition(":")
        try:
            deliver_on = date.fromisoformat(form["deliver_on"]) if form["deliver_on"] else None
            _, url = await gifts.start_checkout(
                reader,
                tier_id=tier.id,
                months=int(months) if months.isdigit() else 0,
                currency=currency,
                recipient_email=form["recipient_email"] or None,
                deliver_on=deliver_on,
                message=form["message"],
            )
        except ValueError:
            return await self._give_page(
                tier, error="That delivery day is not a date.", form=form, status_code=400
            )
        except TollgateError as exc:
            return await self._give_page(tier, error=exc.detail, form=form, status_code=exc.status_code)
        return Redirect(url, status_code=303)

    @get("/bought/{gift_id:uuid}")
    async def bought(
        self,
        gift_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        gifts: NamedDependency[GiftService],
        db_session: NamedDependency[AsyncSession],
        checkout: FromQuery[str] = "",
    ) -> Template | Redirect:
        """Back from Stripe: the gift as Stripe now says it is (settled here, without the webhook)."""
        reader = await signed_in(request, sessions, settings)
        if reader is None:
            return to_sign_in(f"{HERE}/bought/{gift_id}")
        gift = await db_session.get(Gift, gift_id)
        if gift is None or gift.buyer_id != reader.id:
            raise NotFound("You have no gift by that id.")
        if gift.stripe_checkout_session_id and checkout != "canceled":
            gift = await gifts.settle(gift.stripe_checkout_session_id) or gift
        context = {
            "gift": gift,
            "link": gifts.link(gift) if gift.code else "",
            "length": length_words(gift.months),
            "canceled": checkout == "canceled" and gift.state is GiftState.AWAITING_PAYMENT,
        }
        return Template("gift_bought.html", context=context, headers=NO_STORE)

    @get("/redeem/{code:str}")
    async def redeem_page(
        self,
        code: FromPath[str],
        request: Request[Any, Any, Any],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        gifts: NamedDependency[GiftService],
    ) -> Template:
        gift = await gifts.by_code(code)
        reader = await signed_in(request, sessions, settings)
        problem = ""
        try:
            GiftService.refuse_unless_redeemable(gift, utcnow())
        except TollgateError as exc:
            problem = exc.detail
        here = f"{HERE}/redeem/{gift.code}"
        context = {
            "gift": gift,
            "length": length_words(gift.months),
            "problem": problem,
            "reader": reader,
            "sign_in": f"/auth/sign-in?{urlencode({'next': here})}",
            "action": here,
        }
        return Template("gift_redeem.html", context=context, headers=NO_STORE)

    @post("/redeem/{code:str}", status_code=200, guards=[same_origin])
    async def redeem(
        self,
        code: FromPath[str],
        request: Request[Any, Any, Any],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        gifts: NamedDependency[GiftService],
    ) -> Template | Redirect:
        reader = await signed_in(request, sessions, settings)
        if reader is None:
            return to_sign_in(f"{HERE}/redeem/{code}")
        gift = await gifts.redeem(code, reader)
        context = {
            "gift": gift,
            "length": length_words(gift.months),
            "extended": gift.redeemed_as is RedeemedAs.TRIAL_EXTENSION,
        }
        return Template("gift_redeemed.html", context=context, headers=NO_STORE)
