"""Subscriptions made straight through the API, as a publisher's Stripe account already has them:
a customer with a test payment method, then POST /v1/subscriptions (no Checkout)."""

from __future__ import annotations

import pytest
import stripe

from tests.sandbox.conftest import DAY, Sandbox


async def test_a_customer_with_pm_card_visa_is_subscribed_and_charged_without_checkout(
    sandbox: Sandbox,
) -> None:
    price = await sandbox.price(amount=700)
    customer = await sandbox.stripe.v1.customers.create_async(
        params={"email": "old@example.com", "payment_method": "pm_card_visa"}
    )
    assert customer.invoice_settings.default_payment_method
    before = len(sandbox.inbox.events)
    made = await sandbox.stripe.v1.subscriptions.create_async(
        params={"customer": customer.id, "items": [{"price": price.id}], "metadata": {"from": "ghost"}}
    )
    await sandbox.wait()
    assert made.status == "active" and made.metadata.to_dict() == {"from": "ghost"}
    assert made["items"].data[0].price.id == price.id
    assert "customer.subscription.created" in sandbox.inbox.types(since=before)
    invoices = await sandbox.stripe.v1.invoices.list_async(params={"subscription": made.id})
    assert [i.amount_paid for i in invoices.data] == [700]
    listed = await sandbox.stripe.v1.subscriptions.list_async(params={"customer": customer.id})
    assert [s.id for s in listed.data] == [made.id]


async def test_cancel_at_period_end_and_a_card_that_fails_later_go_past_due(sandbox: Sandbox) -> None:
    price = await sandbox.price()
    customer = await sandbox.stripe.v1.customers.create_async(
        params={"payment_method": "pm_card_chargeCustomerFail"}
    )
    leaving = await sandbox.stripe.v1.subscriptions.create_async(
        params={"customer": customer.id, "items": [{"price": price.id}], "cancel_at_period_end": True}
    )
    assert leaving.cancel_at_period_end and leaving.status == "active"
    other = await sandbox.stripe.v1.customers.create_async(
        params={"payment_method": "pm_card_chargeCustomerFail"}
    )
    failing = await sandbox.stripe.v1.subscriptions.create_async(
        params={"customer": other.id, "items": [{"price": price.id}]}
    )
    await sandbox.advance(days=32)
    assert (await sandbox.stripe.v1.subscriptions.retrieve_async(failing.id)).status == "past_due"
    assert (await sandbox.stripe.v1.subscriptions.retrieve_async(leaving.id)).status == "canceled"


async def test_no_card_no_price_or_a_declined_payment_method_is_refused(sandbox: Sandbox) -> None:
    price = await sandbox.price()
    bare = await sandbox.stripe.v1.customers.create_async(params={"email": "bare@example.com"})
    with pytest.raises(stripe.InvalidRequestError, match="no attached payment source"):
        await sandbox.stripe.v1.subscriptions.create_async(
            params={"customer": bare.id, "items": [{"price": price.id}]}
        )
    with pytest.raises(stripe.InvalidRequestError, match="No such price"):
        await sandbox.stripe.v1.subscriptions.create_async(
            params={"customer": bare.id, "items": [{"price": "price_nope"}]}
        )
    with pytest.raises(stripe.CardError):
        await sandbox.stripe.v1.customers.create_async(
            params={"payment_method": "pm_card_visa_chargeDeclined"}
        )
    with pytest.raises(stripe.InvalidRequestError, match="test payment methods"):
        await sandbox.stripe.v1.customers.create_async(params={"payment_method": "pm_nonsense"})
    trial = await sandbox.stripe.v1.customers.create_async(params={"payment_method": "pm_card_visa"})
    trialing = await sandbox.stripe.v1.subscriptions.create_async(
        params={"customer": trial.id, "items": [{"price": price.id}], "trial_period_days": 7}
    )
    assert trialing.status == "trialing"
    assert trialing.trial_end is not None and trialing.trial_start is not None
    assert trialing.trial_end - trialing.trial_start == 7 * DAY
