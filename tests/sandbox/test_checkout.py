"""Hosted checkout: the page, paying with each test card, trials, expiry, and the events Stripe sends."""

from __future__ import annotations

import pytest
import stripe

from tests.sandbox.conftest import DAY, DECLINED_CARD, GOOD_CARD, Sandbox

PAID_CHECKOUT_EVENTS = [
    "customer.created",
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "charge.succeeded",
    "payment_intent.succeeded",
    "invoice.paid",
    "invoice.payment_succeeded",
    "checkout.session.completed",
]


async def test_checkout_page_shows_the_price_the_cards_and_the_banner(sandbox: Sandbox) -> None:
    price = await sandbox.price(amount=1250)
    session = await sandbox.session(price.id, customer_email="reader@example.com")
    assert session.url == f"{sandbox.url}/checkout/{session.id}"
    assert session.status == "open"
    assert (session.amount_total, session.currency, session.mode) == (1250, "usd", "subscription")
    page = await sandbox.http.get(f"/checkout/{session.id}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "No real payment happens" in page.text
    assert "$12.50" in page.text
    for card in ("4242 4242 4242 4242", "4000 0000 0000 0002", "4000 0000 0000 0341"):
        assert f"Pay with {card}" in page.text
    assert f"action='/checkout/{session.id}/pay'" in page.text
    assert "href='https://reader.example/plans'" in page.text
    missing = await sandbox.http.get("/checkout/cs_test_nothing")
    assert missing.status_code == 404
    assert "No real payment happens" in missing.text


async def test_paying_with_the_good_card_completes_everything_in_stripes_order(sandbox: Sandbox) -> None:
    price = await sandbox.price(amount=900)
    session = await sandbox.session(
        price.id,
        customer_email="reader@example.com",
        client_reference_id="reader-42",
        metadata={"reader": "reader-42"},
        subscription_data={"metadata": {"reader": "reader-42", "tier": "gold"}},
    )
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    # The browser's way: the page's form, answered with a redirect to success_url.
    answer = await sandbox.http.post(f"/checkout/{session.id}/pay", data={"card": GOOD_CARD})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"https://reader.example/welcome?session={session.id}"
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == PAID_CHECKOUT_EVENTS
    assert sandbox.inbox.rejected == []
    for headers in sandbox.inbox.headers[before:]:
        assert headers["user-agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        assert headers["content-type"].startswith("application/json")
        assert headers["stripe-signature"].startswith("t=")

    completed = await sandbox.stripe.v1.checkout.sessions.retrieve_async(session.id)
    assert (completed.status, completed.payment_status) == ("complete", "paid")
    assert completed.client_reference_id == "reader-42"
    assert completed.customer_details is not None and completed.customer_details.email == "reader@example.com"
    subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(str(completed.subscription))
    assert subscription.status == "active"
    assert subscription.customer == completed.customer
    assert subscription.metadata.to_dict() == {"reader": "reader-42", "tier": "gold"}
    assert subscription.latest_invoice == completed.invoice
    item = subscription["items"].data[0]
    assert item.price.id == price.id
    assert item.current_period_end - item.current_period_start >= 28 * DAY
    invoice = await sandbox.stripe.v1.invoices.retrieve_async(str(completed.invoice))
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == (
        "paid",
        900,
        "subscription_create",
    )
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.metadata.to_dict() == {"reader": "reader-42", "tier": "gold"}  # type: ignore[union-attr]
    # The events carry the state at their moment: the session completes in the last one.
    last = sandbox.inbox.events[-1]["data"]["object"]
    assert (last["id"], last["status"], last["subscription"]) == (session.id, "complete", subscription.id)
    created = sandbox.inbox.events[before + 1]["data"]["object"]
    assert created["id"] == subscription.id and created["status"] == "active"
    paid_again = await sandbox.http.post(f"/checkout/{session.id}/pay", data={"card": GOOD_CARD})
    assert paid_again.status_code == 400
    assert "complete" in paid_again.text


async def test_trial_checkout_starts_trialing_with_a_zero_invoice(sandbox: Sandbox) -> None:
    price = await sandbox.price(amount=900)
    existing = await sandbox.stripe.v1.customers.create_async(params={"email": "trial@example.com"})
    session = await sandbox.session(
        price.id, customer=existing.id, subscription_data={"trial_period_days": 14}
    )
    assert session.amount_total == 0
    page = await sandbox.http.get(f"/checkout/{session.id}")
    assert "Free trial: 14 days" in page.text
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    now = await sandbox.now()
    completed = await sandbox.pay(session.id)
    assert completed["payment_status"] == "no_payment_required"
    assert completed["customer"] == existing.id  # the given customer, not a new one
    assert sandbox.inbox.types(since=before) == [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(completed["subscription"])
    assert subscription.status == "trialing"
    assert subscription.trial_start is not None and subscription.trial_end is not None
    assert subscription.trial_end - subscription.trial_start == 14 * DAY
    assert abs(subscription.trial_start - now) <= 2
    assert subscription["items"].data[0].current_period_end == subscription.trial_end
    invoice = await sandbox.stripe.v1.invoices.retrieve_async(completed["invoice"])
    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == ("paid", 0, 0)
    assert (await sandbox.stripe.v1.payment_intents.list_async(params={"customer": existing.id})).data == []
    assert (await sandbox.stripe.v1.invoice_payments.list_async(params={"invoice": invoice.id})).data == []


async def test_declined_card_creates_nothing_and_leaves_the_session_open(sandbox: Sandbox) -> None:
    price = await sandbox.price()
    session = await sandbox.session(price.id, customer_email="declined@example.com")
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    page = await sandbox.http.post(f"/checkout/{session.id}/pay", data={"card": DECLINED_CARD})
    assert page.status_code == 402
    assert "Your card was declined." in page.text
    assert "Pay with 4242 4242 4242 4242" in page.text  # the reader can try another card
    control = await sandbox.http.post(f"/_sandbox/checkout/{session.id}/pay", json={"card": DECLINED_CARD})
    assert control.status_code == 402
    assert control.json()["error"] == {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    }
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == []
    assert (await sandbox.stripe.v1.customers.list_async()).data == []
    assert (await sandbox.stripe.v1.subscriptions.list_async(params={"status": "all"})).data == []
    assert (await sandbox.stripe.v1.checkout.sessions.retrieve_async(session.id)).status == "open"
    # And the good card still works afterwards.
    assert (await sandbox.pay(session.id))["status"] == "complete"


async def test_sessions_expire_by_api_and_by_clock(sandbox: Sandbox) -> None:
    price = await sandbox.price()
    first = await sandbox.session(price.id)
    expired = await sandbox.stripe.v1.checkout.sessions.expire_async(first.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(stripe.InvalidRequestError):
        await sandbox.stripe.v1.checkout.sessions.expire_async(first.id)
    page = await sandbox.http.get(f"/checkout/{first.id}")
    assert "expired" in page.text and "Pay with" not in page.text
    refused = await sandbox.http.post(f"/_sandbox/checkout/{first.id}/pay", json={"card": GOOD_CARD})
    assert refused.status_code == 400
    second = await sandbox.session(price.id)
    assert second.expires_at - second.created == DAY
    await sandbox.advance(days=1.1)
    assert (await sandbox.stripe.v1.checkout.sessions.retrieve_async(second.id)).status == "expired"
    expirations = [
        e["data"]["object"]["id"] for e in sandbox.inbox.events if e["type"] == "checkout.session.expired"
    ]
    assert expirations == [first.id, second.id]
    still_open = await sandbox.stripe.v1.checkout.sessions.list_async(params={"status": "open"})
    assert still_open.data == []


async def test_session_parameters_are_checked(sandbox: Sandbox) -> None:
    price = await sandbox.price()
    customer = await sandbox.stripe.v1.customers.create_async(params={"email": "x@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as both:
        await sandbox.session(price.id, customer=customer.id, customer_email="x@example.com")
    assert both.value.code == "parameters_exclusive"
    with pytest.raises(stripe.InvalidRequestError) as no_price:
        await sandbox.session("price_missing")
    assert (no_price.value.code, no_price.value.param) == ("resource_missing", "line_items[0][price]")
    one_time = await sandbox.stripe.v1.prices.create_async(
        params={"product": str(price.product), "currency": "usd", "unit_amount": 100}
    )
    with pytest.raises(stripe.InvalidRequestError, match="recurring"):
        await sandbox.session(one_time.id)
    with pytest.raises(stripe.InvalidRequestError, match="mode=subscription and mode=payment"):
        await sandbox.session(price.id, mode="setup")
    # Cosmetic parameters Stripe knows are accepted, and ignored.
    accepted = await sandbox.session(price.id, locale="de", payment_method_types=["card"])
    assert accepted.status == "open"
