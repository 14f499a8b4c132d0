"""`/account/offers/<code>`: an offer's landing page, the link a publisher shares.

The offer's tier and each of its prices as the reader will pay them, and a Subscribe button per
price that posts the paywall's plain checkout form (`/account/checkout`) with the offer's code.
Signed out, a link to sign in and come back here (so the offer is not lost on the way). An offer
that has ended says so and offers nothing; a retention offer (only ever shown to a member
cancelling) and an unknown code are the account's 404 page. Lives under `/account` because the
gateway forwards that to membership.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.offers.models import Offer, OfferKind
from membership.offers.services import OfferService, price_words
from membership.plans.models import Price
from membership.publications.models import Publication
from membership.sessions.services import SessionService
from membership.settings import Settings
from membership.signin.services import safe_next
from membership.web.account.controllers import NO_STORE, error_page
from membership.web.gifts import signed_in
from tollgate_common.problems import BadRequest, Conflict, TollgateError
from tollgate_common.words import day

HERE = "/account/offers"


def prices_of(offer: Offer) -> list[Price]:
    """The tier's prices on sale that the offer applies to (an amount off is in one currency)."""
    live = [p for p in offer.tier.prices if p.archived_at is None and p.stripe_price_id is not None]
    if offer.kind is OfferKind.AMOUNT_OFF:
        return [p for p in live if p.currency == offer.currency]
    return live


class OfferAccountPages(Controller):
    path = HERE
    tags = ["offers"]
    include_in_schema = False
    exception_handlers = {TollgateError: error_page, HTTPException: error_page, Exception: error_page}

    @get("/{code:str}")
    async def landing(
        self,
        code: FromPath[str],
        request: Request[Any, Any, Any],
        offers: NamedDependency[OfferService],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        return_to: FromQuery[str] = "/",
    ) -> Template:
        offer = await offers.by_code(code)
        offers.refuse_unless_listed(offer)
        try:
            back = safe_next(return_to)
        except BadRequest:  # not a path of ours: the reader goes back to the stories
            back = "/"
        here = f"{HERE}/{offer.code}" + (f"?{urlencode({'return_to': back})}" if back != "/" else "")
        ended = not OfferService.is_open(offer, utcnow())
        reader = None if ended else await signed_in(request, sessions, settings)
        problem = ""
        if reader is not None:
            try:  # new readers only, lapsed members only, the limit: say so here, not after a click
                await offers.check_reader(offer, reader.id)
            except Conflict as exc:
                problem = exc.detail
        owner = (
            await db_session.get(Publication, offer.tier.publication_id)
            if offer.tier.publication_id
            else None
        )
        context = {
            "offer": offer,
            "publication": owner.name if owner else "",
            "prices": [(p, price_words(offer, p)) for p in prices_of(offer)],
            "ended": ended,
            # An offer ends at a moment (the midnight after its last day, from the dashboard).
            "last_day": day(offer.ends_at - timedelta(microseconds=1)) if offer.ends_at else "",
            "reader": reader,
            "problem": problem,
            "return_to": back,
            "sign_in": f"/auth/sign-in?{urlencode({'next': here})}",
        }
        return Template("offer.html", context=context, headers=NO_STORE)
