"""Subscribe from the paywall's plain HTML form: 303 to Stripe Checkout, or to sign-in first."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import URLEncodedBody
from litestar.response import Redirect

from membership.offers.services import OfferService
from membership.plans.services import PlanService
from membership.sessions.services import SessionEnded, SessionService
from membership.settings import Settings
from membership.signin.services import safe_next
from membership.subscriptions.schemas import CheckoutForm
from membership.subscriptions.services import SubscriptionService
from membership.web.guards import same_origin


class AccountCheckout(Controller):
    path = "/account"
    tags = ["billing"]

    @post(
        "/checkout",
        status_code=303,
        guards=[same_origin],
        summary="Subscribe from a plain HTML form: 303 to Stripe Checkout, or to sign-in first",
    )
    async def checkout_form(
        self,
        data: URLEncodedBody[CheckoutForm],
        request: Request[Any, Any, Any],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        plans: NamedDependency[PlanService],
        subscriptions: NamedDependency[SubscriptionService],
        offers: NamedDependency[OfferService],
    ) -> Redirect:
        return_to = safe_next(data.return_to)
        try:
            reader_session, _ = await sessions.authenticate(request.cookies.get(settings.session_cookie))
        except SessionEnded:
            # Includes a reused cookie: its session was revoked, and this 303 commits that.
            return Redirect(f"/auth/sign-in?{urlencode({'next': return_to})}", status_code=303)
        price = await plans.price(data.price_id)
        _, url = await offers.checkout(
            subscriptions, reader_session.reader, price, code=data.offer or None, return_to=return_to
        )
        return Redirect(url, status_code=303)
