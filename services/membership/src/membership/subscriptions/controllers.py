"""A reader subscribing, managing billing, cancelling and resuming; and what they are entitled to."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from membership.grants.services import GrantService
from membership.plans.services import PlanService
from membership.readers.models import Reader
from membership.signin.services import safe_next
from membership.subscriptions.schemas import (
    CheckoutIn,
    CheckoutOut,
    EntitlementsOut,
    GrantOut,
    PortalIn,
    RedirectOut,
    SubscriptionOut,
)
from membership.subscriptions.services import SubscriptionService
from tollgate_common.problems import NotFound


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
    ) -> CheckoutOut:
        price = await plans.price(data.price_id)
        session_id, url = await subscriptions.checkout(reader, price, return_to=safe_next(data.return_to))
        return CheckoutOut(url=url, session_id=session_id)

    @post("/portal", status_code=200, summary="Open Stripe's billing portal for the signed-in reader")
    async def portal(
        self,
        data: JSONBody[PortalIn],
        reader: NamedDependency[Reader],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> RedirectOut:
        customer = await subscriptions.customer_of(reader)
        if customer is None:
            raise NotFound("You have no billing account yet: subscribe first.")
        url = await subscriptions.stripe.create_portal(
            customer=customer, return_url=f"{subscriptions.settings.public_url}{safe_next(data.return_to)}"
        )
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
