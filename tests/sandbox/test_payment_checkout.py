"""Checkout in payment mode (a gift): one-time prices or price_data, the payment, refunds and expiry."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.sandbox.conftest import DECLINED_CARD, GOOD_CARD, Sandbox

PAID_EVENTS = ["charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]


async def _payment_session(sandbox: Sandbox, **extra: Any) -> stripe.checkout.Session:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 2500,
                    "product_data": {"name": "Gift: 3 months"},
                },
                "quantity": 1,
            }
        ],
        "success_url": "https://reader.example/gift/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://reader.example/gift",
        **extra,
    }
    return await sandbox.stripe.v1.checkout.sessions.create_async(params=params)  # type: ignore[arg-type]


async def test_a_gift_is_paid_once_with_a_payment_intent_and_a_charge(sandbox: Sandbox) -> None:
    giver = await sandbox.stripe.v1.customers.create_async(params={"email": "giver@example.com"})
    session = await _payment_session(
        sandbox,
        customer=giver.id,
        client_reference_id="reader-7",
        metadata={"gift": "g-1"},
        payment_intent_data={"metadata": {"gift": "g-1"}},
    )
    assert (session.mode, session.status, session.payment_status) == ("payment", "open", "unpaid")
    assert (session.amount_subtotal, session.amount_total, session.currency) == (2500, 2500, "usd")
    assert (session.subscription, session.invoice, session.payment_intent) == (None, None, None)
    items = await sandbox.stripe.v1.checkout.sessions.line_items.list_async(session.id)
    assert [(i.description, i.amount_total, i.quantity) for i in items.data] == [("Gift: 3 months", 2500, 1)]
    inline = items.data[0].price
    assert inline is not None and (inline.type, inline.recurring, inline.active) == ("one_time", None, False)
    page = await sandbox.http.get(f"/checkout/{session.id}")
    assert "<strong>Gift: 3 months</strong> × 1: $25</p>" in page.text  # noqa: RUF001
    assert "per month" not in page.text and "Due today: <strong>$25</strong>" in page.text
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    answer = await sandbox.http.post(f"/checkout/{session.id}/pay", data={"card": GOOD_CARD})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"https://reader.example/gift/done?session={session.id}"
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == PAID_EVENTS
    completed = await sandbox.stripe.v1.checkout.sessions.retrieve_async(session.id)
    assert (completed.status, completed.payment_status, completed.customer) == ("complete", "paid", giver.id)
    assert (completed.subscription, completed.invoice, completed.amount_total) == (None, None, 2500)
    assert completed.client_reference_id == "reader-7"
    assert isinstance(completed.payment_intent, str) and completed.payment_intent.startswith("pi_")
    intent = await sandbox.stripe.v1.payment_intents.retrieve_async(completed.payment_intent)
    assert (intent.status, intent.amount, intent.amount_received, intent.customer) == (
        "succeeded",
        2500,
        2500,
        giver.id,
    )
    assert intent.metadata.to_dict() == {"gift": "g-1"}
    charge = await sandbox.stripe.v1.charges.retrieve_async(str(intent.latest_charge))
    assert (charge.status, charge.amount, charge.payment_intent, charge.paid) == (
        "succeeded",
        2500,
        intent.id,
        True,
    )
    # Nothing to do with invoices or subscriptions.
    assert (await sandbox.stripe.v1.subscriptions.list_async(params={"status": "all"})).data == []
    payments = await sandbox.stripe.v1.invoice_payments.list_async(
        params={"payment": {"type": "payment_intent", "payment_intent": intent.id}}
    )
    assert payments.data == []
    last = sandbox.inbox.events[-1]["data"]["object"]
    assert (last["id"], last["payment_intent"], last["mode"]) == (session.id, intent.id, "payment")

    # A refund through the payment intent, as membership's refund path sees it.
    marker = len(sandbox.inbox.events)
    refund = await sandbox.stripe.v1.refunds.create_async(params={"payment_intent": intent.id})
    assert (refund.amount, refund.charge, refund.payment_intent) == (2500, charge.id, intent.id)
    await sandbox.wait()
    assert sandbox.inbox.types(since=marker) == ["refund.created", "charge.refunded"]
    refunded = sandbox.inbox.events[-1]["data"]["object"]
    assert (refunded["id"], refunded["payment_intent"], refunded["refunded"]) == (charge.id, intent.id, True)


async def test_a_guest_pays_a_one_time_price_without_becoming_a_customer(sandbox: Sandbox) -> None:
    product = await sandbox.stripe.v1.products.create_async(params={"name": "Gift"})
    one_time = await sandbox.stripe.v1.prices.create_async(
        params={"product": product.id, "currency": "usd", "unit_amount": 1200}
    )
    assert one_time.type == "one_time"
    session = await sandbox.stripe.v1.checkout.sessions.create_async(
        params={
            "mode": "payment",
            "customer_email": "guest@example.com",
            "line_items": [{"price": one_time.id, "quantity": 1}],
            "success_url": "https://reader.example/done",
        }
    )
    assert session.customer_creation == "if_required"
    completed = await sandbox.pay(session.id)
    assert completed["customer"] is None
    assert completed["customer_details"]["email"] == "guest@example.com"
    assert (await sandbox.stripe.v1.customers.list_async()).data == []
    intent = await sandbox.stripe.v1.payment_intents.retrieve_async(completed["payment_intent"])
    assert (intent.customer, intent.status) == (None, "succeeded")
    charge = await sandbox.stripe.v1.charges.retrieve_async(str(intent.latest_charge))
    assert charge.billing_details.email == "guest@example.com"
    # customer_creation=always makes one.
    always = await sandbox.stripe.v1.checkout.sessions.create_async(
        params={
            "mode": "payment",
            "customer_email": "keeper@example.com",
            "customer_creation": "always",
            "line_items": [{"price": one_time.id, "quantity": 2}],
            "success_url": "https://reader.example/done",
        }
    )
    assert always.amount_total == 2400
    made = await sandbox.pay(always.id)
    customer = await sandbox.stripe.v1.customers.retrieve_async(made["customer"])
    assert customer.email == "keeper@example.com"


async def test_a_coupon_takes_off_a_payment(sandbox: Sandbox) -> None:
    coupon = await sandbox.stripe.v1.coupons.create_async(params={"percent_off": 20})
    session = await _payment_session(
        sandbox, customer_email="giver@example.com", discounts=[{"coupon": coupon.id}]
    )
    assert (session.amount_subtotal, session.amount_total) == (2500, 2000)
    assert session.total_details is not None and session.total_details.amount_discount == 500
    page = await sandbox.http.get(f"/checkout/{session.id}")
    assert "$20 (instead of $25)" in page.text
    completed = await sandbox.pay(session.id)
    intent = await sandbox.stripe.v1.payment_intents.retrieve_async(completed["payment_intent"])
    assert intent.amount == 2000
    assert (await sandbox.stripe.v1.coupons.retrieve_async(coupon.id)).times_redeemed == 1


async def test_a_declined_card_leaves_a_payment_session_open_and_it_can_expire(sandbox: Sandbox) -> None:
    session = await _payment_session(sandbox, customer_email="giver@example.com")
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    page = await sandbox.http.post(f"/checkout/{session.id}/pay", data={"card": DECLINED_CARD})
    assert page.status_code == 402 and "Your card was declined." in page.text
    assert "Pay with 4242 4242 4242 4242" in page.text
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == []
    assert (await sandbox.stripe.v1.payment_intents.list_async()).data == []
    assert (await sandbox.stripe.v1.checkout.sessions.retrieve_async(session.id)).status == "open"
    await sandbox.advance(days=1.1)
    expired = await sandbox.stripe.v1.checkout.sessions.retrieve_async(session.id)
    assert (expired.status, expired.url, expired.payment_status) == ("expired", None, "unpaid")
    assert sandbox.inbox.types(since=before) == ["checkout.session.expired"]
    assert sandbox.inbox.events[-1]["data"]["object"]["mode"] == "payment"
    by_api = await _payment_session(sandbox)
    assert (await sandbox.stripe.v1.checkout.sessions.expire_async(by_api.id)).status == "expired"


async def test_payment_mode_parameters_are_checked(sandbox: Sandbox) -> None:
    monthly = await sandbox.price()

    async def refused(**extra: Any) -> stripe.InvalidRequestError:
        with pytest.raises(stripe.InvalidRequestError) as error:
            await _payment_session(sandbox, **extra)
        assert error.value.http_status == 400
        return error.value

    recurring = await refused(line_items=[{"price": monthly.id, "quantity": 1}])
    assert recurring.param == "line_items[0][price]" and "recurring price" in str(recurring.user_message)
    subscription_data = await refused(subscription_data={"trial_period_days": 3})
    assert subscription_data.param == "subscription_data"
    no_amount = await refused(line_items=[{"price_data": {"currency": "usd", "product_data": {"name": "X"}}}])
    assert (no_amount.code, no_amount.param) == (
        "parameter_missing",
        "line_items[0][price_data][unit_amount]",
    )
    no_product = await refused(line_items=[{"price_data": {"currency": "usd", "unit_amount": 100}}])
    assert no_product.param == "line_items[0][price_data][product_data]"
    with pytest.raises(stripe.InvalidRequestError) as intent_data:
        await sandbox.session(monthly.id, payment_intent_data={"metadata": {"x": "y"}})
    assert intent_data.value.param == "payment_intent_data"
