"""A reader subscribing, managing billing, cancelling and resuming; and what they are entitled to."""

from __future__ import annotations

import re
from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from membership.apikeys.models import ApiKey, Scope
from membership.apikeys.services import ApiKeyService
from membership.grants.schemas import GrantOut
from membership.grants.services import GrantService
from membership.offers.services import OfferService
from membership.plans.services import PlanService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.signin.services import safe_next
from membership.subscriptions.schemas import (
    CheckoutConfirmed,
    CheckoutIn,
    CheckoutOut,
    EntitlementsOut,
    PortalIn,
    RedirectOut,
    SubscriptionOut,
    TrialsOut,
)
from membership.subscriptions.services import SubscriptionService
from tollgate_common.problems import BadRequest, NotFound

CHECKOUT_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")


class BillingApi(Controller):
    path = "/api/billing"
    tags = ["billing"]

    @post(
        "/checkout",
        status_code=200,
        summary="Start a Stripe Checkout for a price; answers where to send the reader",
    )
    async def checkout(
        self,
        data: JSONBody[CheckoutIn],
        reader: NamedDependency[Reader],
        plans: NamedDependency[PlanService],
        subscriptions: NamedDependency[SubscriptionService],
        offers: NamedDependency[OfferService],
    ) -> CheckoutOut:
        price = await plans.price(data.price_id)
        session_id, url = await offers.checkout(
            subscriptions, reader, price, code=data.offer, return_to=safe_next(data.return_to)
        )
        return CheckoutOut(url=url, session_id=session_id)

    @post(
        "/checkout/{session_id:str}/confirm",
        status_code=200,
        summary="Back from Checkout: how it went, granting at once if Stripe says it is paid",
        description="Asks Stripe about the reader's own Checkout Session and, once it is complete, "
        "grants what it bought without waiting for the webhook. `state` is `active` (granted), "
        "`pending` (ask again in a few seconds), `expired` (nothing was bought) or `ended` (bought, "
        "and ended since: an old success URL).",
    )
    async def confirm_checkout(
        self,
        session_id: FromPath[str],
        reader: NamedDependency[Reader],
        subscriptions: NamedDependency[SubscriptionService],
        grants: NamedDependency[GrantService],
    ) -> CheckoutConfirmed:
        if not CHECKOUT_SESSION_ID.match(session_id):
            raise BadRequest("A checkout session id looks like `cs_...`.")
        state = await subscriptions.confirm_checkout(reader, session_id)
        return CheckoutConfirmed(state=state, keys=sorted(await grants.keys(reader.id)))

    @post("/portal", status_code=200, summary="Open Stripe's billing portal for the signed-in reader")
    async def portal(
        self,
        data: JSONBody[PortalIn],
        reader: NamedDependency[Reader],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> RedirectOut:
        url = await subscriptions.portal_url(reader, safe_next(data.return_to))
        if url is None:
            raise NotFound("You have no billing account yet: subscribe first.")
        return RedirectOut(url=url)


class MySubscriptionsApi(Controller):
    path = "/api/me"
    tags = ["billing"]

    @get("/subscriptions", summary="My subscriptions")
    async def list_subscriptions(
        self, reader: NamedDependency[Reader], subscriptions: NamedDependency[SubscriptionService]
    ) -> list[SubscriptionOut]:
        return [SubscriptionOut.of(s) for s in await subscriptions.of_reader(reader.id)]

    @post(
        "/subscriptions/{subscription_id:uuid}/cancel", status_code=200, summary="Cancel at the period's end"
    )
    async def cancel(
        self,
        subscription_id: FromPath[UUID],
        reader: NamedDependency[Reader],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> SubscriptionOut:
        sub = await subscriptions.owned(reader.id, subscription_id)
        return SubscriptionOut.of(await subscriptions.set_cancel_at_period_end(sub, True))

    @post("/subscriptions/{subscription_id:uuid}/resume", status_code=200, summary="Undo a cancellation")
    async def resume(
        self,
        subscription_id: FromPath[UUID],
        reader: NamedDependency[Reader],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> SubscriptionOut:
        sub = await subscriptions.owned(reader.id, subscription_id)
        return SubscriptionOut.of(await subscriptions.set_cancel_at_period_end(sub, False))

    @get("/entitlements", summary="What I am entitled to now, and from which sources")
    async def entitlements(
        self, reader: NamedDependency[Reader], grants: NamedDependency[GrantService]
    ) -> EntitlementsOut:
        live = await grants.live(reader.id)
        return EntitlementsOut(
            keys=sorted({g.key for g in live}),
            version=reader.entitlement_version,
            grants=[GrantOut.of(g) for g in live],
        )


class TrialApi(Controller):
    path = "/api/trials"
    tags = ["billing"]

    @get(
        "/",
        summary="The tiers whose free trial a reader has had (API key: `entitlements:read`)",
        description="The paywall leaves 'free for N days' off these tiers, as checkout does. "
        "A publication's key sees its own tiers only.",
    )
    async def trials_taken(
        self,
        reader_id: FromQuery[UUID],
        api_key: NamedDependency[ApiKey],
        readers: NamedDependency[ReaderService],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> TrialsOut:
        ApiKeyService.require(api_key, Scope.ENTITLEMENTS_READ)
        reader = await readers.require(reader_id)
        return TrialsOut(reader.id, await subscriptions.trials_taken(reader.id, api_key.publication_id))
