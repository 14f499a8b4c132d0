"""What each Stripe event means to us. Every handler converges on Stripe's current state."""

from __future__ import annotations

from typing import Any

from membership.gifts.services import GiftService
from membership.lib.stripe_client import subscription_of_invoice
from membership.subscriptions.services import NotOurs, SubscriptionService

HANDLED = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.expired",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "invoice.paid",
        "invoice.payment_failed",
        "charge.refunded",
        "charge.dispute.created",
    }
)


async def handle(event: dict[str, Any], subscriptions: SubscriptionService, gifts: GiftService) -> str:
    """Acts on one event; answers what it did, for the log."""
    try:
        return await _handle(event, subscriptions, gifts)
    except NotOurs as exc:
        return f"ignored: {exc}"


async def _handle(event: dict[str, Any], subscriptions: SubscriptionService, gifts: GiftService) -> str:
    kind = event["type"]
    obj: dict[str, Any] = event["data"]["object"]
    stripe = subscriptions.stripe
    if kind.startswith("checkout.session.") and obj.get("mode") == "payment":
        gift = await gifts.settle(str(obj["id"]))
        return f"gift {gift.id} is {gift.state}" if gift else "not a gift checkout"
    if kind == "checkout.session.expired":
        return "an abandoned subscription checkout: nothing was bought"
    if kind == "checkout.session.completed":
        if obj.get("mode") != "subscription" or not obj.get("subscription"):
            return "not a subscription checkout"
        sub_id = obj["subscription"] if isinstance(obj["subscription"], str) else obj["subscription"]["id"]
        await subscriptions.sync(sub_id)
        return f"synced {sub_id}"
    if kind.startswith("customer.subscription."):
        await subscriptions.sync(obj["id"])
        return f"synced {obj['id']}"
    if kind in ("invoice.paid", "invoice.payment_failed"):
        sub_id = subscription_of_invoice(obj)
        if sub_id is None:
            return "invoice of no subscription"
        await subscriptions.sync(sub_id)
        return f"synced {sub_id}"
    if kind == "charge.refunded":
        # Refund policy: a full refund ends access at once; a partial one is a goodwill credit.
        charge = await stripe.charge(obj["id"])
        if not charge.refunded or charge.payment_intent is None:
            return "partial refund: access unchanged"
        if gift := await gifts.by_payment(charge.payment_intent):
            await gifts.refund(gift)
            return f"gift {gift.id} refunded"
        sub_id = await stripe.subscription_paid_by(charge.payment_intent)
        if sub_id is None:
            return "refund of no subscription payment"
        await subscriptions.revoke(sub_id, "refund")
        return f"revoked {sub_id} (refund)"
    if kind == "charge.dispute.created":
        payment_intent = obj.get("payment_intent")
        if not payment_intent and obj.get("charge"):
            payment_intent = (await stripe.charge(str(obj["charge"]))).payment_intent
        if payment_intent and (gift := await gifts.by_payment(str(payment_intent))):
            await gifts.refund(gift)
            return f"gift {gift.id} ended (dispute)"
        sub_id = await stripe.subscription_paid_by(str(payment_intent)) if payment_intent else None
        if sub_id is None:
            return "dispute of no subscription payment"
        await subscriptions.revoke(sub_id, "dispute")
        return f"revoked {sub_id} (dispute)"
    return "ignored"
