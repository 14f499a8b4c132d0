"""Subscriptions over time: the clock, renewals, trials, failed payments, cancellation, pause and resume."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from stripe_sandbox.subscriptions import add_interval
from tests.sandbox.conftest import DAY, FAILS_LATER_CARD, GOOD_CARD, Sandbox, SandboxFactory

RENEWAL_EVENTS = [
    "invoice.created",
    "invoice.finalized",
    "charge.succeeded",
    "payment_intent.succeeded",
    "invoice.paid",
    "invoice.payment_succeeded",
    "customer.subscription.updated",
]
FAILED_RENEWAL_EVENTS = [
    "invoice.created",
    "invoice.finalized",
    "charge.failed",
    "payment_intent.payment_failed",
    "invoice.payment_failed",
    "customer.subscription.updated",
]


def _ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def test_months_keep_the_anchor_day() -> None:
    anchor = _ts(2027, 1, 31, 10, 30)
    assert add_interval(anchor, "month", 1) == _ts(2027, 2, 28, 10, 30)
    assert add_interval(anchor, "month", 2) == _ts(2027, 3, 31, 10, 30)
    assert add_interval(_ts(2028, 2, 29), "year", 1) == _ts(2029, 2, 28)
    assert add_interval(anchor, "week", 2) == anchor + 14 * DAY


async def _subscription(sandbox: Sandbox, subscription_id: str) -> stripe.Subscription:
    return await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)


def _period(subscription: stripe.Subscription) -> tuple[int, int]:
    item = subscription["items"].data[0]
    return item.current_period_start, item.current_period_end


async def test_clock_reports_and_only_moves_forward(sandbox: Sandbox) -> None:
    before = await sandbox.now()
    moved = await sandbox.control("POST", "/clock/advance", {"seconds": 3600})
    assert moved["now"] - before >= 3600
    assert moved["offset_seconds"] >= 3599
    # Form bodies work as well as JSON.
    by_form = await sandbox.http.post("/_sandbox/clock/advance", data={"days": "1"})
    assert by_form.json()["now"] - moved["now"] >= DAY
    backwards = await sandbox.http.post("/_sandbox/clock/advance", json={"seconds": -5})
    assert backwards.status_code == 400


async def test_renewal_bills_the_next_period(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    first = await _subscription(sandbox, session["subscription"])
    start, end = _period(first)
    before = len(sandbox.inbox.events)
    await sandbox.advance(days=(end - await sandbox.now()) / DAY - 0.5)
    assert sandbox.inbox.types(since=before) == []  # half a day before the end: nothing yet
    await sandbox.advance(days=1)
    assert sandbox.inbox.types(since=before) == RENEWAL_EVENTS
    renewed = await _subscription(sandbox, first.id)
    assert renewed.status == "active"
    assert _period(renewed) == (end, add_interval(start, "month", 2))
    update = sandbox.inbox.events[-1]["data"]
    assert update["previous_attributes"]["items"]["data"][0]["current_period_end"] == end
    assert update["previous_attributes"]["latest_invoice"] == session["invoice"]
    assert update["object"]["items"]["data"][0]["current_period_start"] == end
    invoice = await sandbox.stripe.v1.invoices.retrieve_async(str(renewed.latest_invoice))
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid, invoice.created) == (
        "subscription_cycle",
        "paid",
        500,
        end,
    )
    assert invoice.lines.data[0].period.start == end
    assert (invoice.period_start, invoice.period_end) == (start, end)


async def test_trial_ends_into_a_paid_period(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe(subscription_data={"trial_period_days": 7})
    trialing = await _subscription(sandbox, session["subscription"])
    assert trialing.status == "trialing"
    before = len(sandbox.inbox.events)
    await sandbox.advance(days=5)
    assert sandbox.inbox.types(since=before) == ["customer.subscription.trial_will_end"]
    await sandbox.advance(days=3)
    assert sandbox.inbox.types(since=before + 1) == RENEWAL_EVENTS
    active = await _subscription(sandbox, trialing.id)
    assert active.status == "active"
    assert _period(active)[0] == trialing.trial_end
    assert sandbox.inbox.events[-1]["data"]["previous_attributes"]["status"] == "trialing"
    invoice = await sandbox.stripe.v1.invoices.retrieve_async(str(active.latest_invoice))
    assert invoice.amount_paid == 500


async def test_failing_card_goes_past_due_then_canceled_after_past_due_days(
    make_sandbox: SandboxFactory,
) -> None:
    async with make_sandbox(past_due_days=3) as sandbox:
        _, session = await sandbox.subscribe(card=FAILS_LATER_CARD)
        assert session["payment_status"] == "paid"  # 0341 pays the first time
        subscription = await _subscription(sandbox, session["subscription"])
        end = _period(subscription)[1]
        before = len(sandbox.inbox.events)
        await sandbox.advance(days=(end - await sandbox.now()) / DAY + 0.1)
        assert sandbox.inbox.types(since=before) == FAILED_RENEWAL_EVENTS
        past_due = await _subscription(sandbox, subscription.id)
        assert past_due.status == "past_due"
        invoice = await sandbox.stripe.v1.invoices.retrieve_async(str(past_due.latest_invoice))
        assert (invoice.status, invoice.attempt_count, invoice.amount_paid) == ("open", 1, 0)
        assert invoice.next_payment_attempt == end + 2 * DAY
        customer = await sandbox.stripe.v1.customers.retrieve_async(session["customer"])
        assert customer.delinquent is True
        intent = await sandbox.stripe.v1.payment_intents.list_async(params={"customer": customer.id})
        assert intent.data[0].status == "requires_payment_method"
        assert intent.data[0].last_payment_error is not None
        assert intent.data[0].last_payment_error.code == "card_declined"
        marker = len(sandbox.inbox.events)
        await sandbox.advance(days=3)
        # One more attempt at day 2, then Stripe gives up at day 3.
        assert sandbox.inbox.types(since=marker) == [
            "charge.failed",
            "payment_intent.payment_failed",
            "invoice.payment_failed",
            "customer.subscription.deleted",
        ]
        canceled = await _subscription(sandbox, subscription.id)
        assert canceled.status == "canceled"
        assert canceled.ended_at == end + 3 * DAY
        assert canceled.cancellation_details is not None
        assert canceled.cancellation_details.reason == "payment_failed"
        assert (await sandbox.stripe.v1.invoices.retrieve_async(invoice.id)).attempt_count == 2


async def test_fixing_the_card_recovers_a_past_due_subscription(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe(card=GOOD_CARD)
    customer_id = session["customer"]
    switched = await sandbox.control("POST", f"/customers/{customer_id}/card", {"fails": True})
    assert switched == {"customer": customer_id, "last4": "4242", "fails": True}
    await sandbox.advance(days=32)
    subscription = await _subscription(sandbox, session["subscription"])
    assert subscription.status == "past_due"
    # Paying now with the card still failing is a CardError, as with Stripe.
    with pytest.raises(stripe.CardError) as declined:
        await sandbox.stripe.v1.invoices.pay_async(str(subscription.latest_invoice))
    assert declined.value.code == "card_declined"
    await sandbox.control("POST", f"/customers/{customer_id}/card", {"fails": False})
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    paid = await sandbox.stripe.v1.invoices.pay_async(str(subscription.latest_invoice))
    assert paid.status == "paid"
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    recovered = await _subscription(sandbox, subscription.id)
    assert recovered.status == "active"
    assert sandbox.inbox.events[-1]["data"]["previous_attributes"] == {"status": "past_due"}
    assert (await sandbox.stripe.v1.customers.retrieve_async(customer_id)).delinquent is False
    # One payment intent per invoice: the retry reused it, with a second charge.
    payments = await sandbox.stripe.v1.invoice_payments.list_async(params={"invoice": paid.id})
    assert [p.status for p in payments.data] == ["paid"]
    intent_id = payments.data[0].payment.payment_intent
    charges = await sandbox.stripe.v1.charges.list_async(params={"payment_intent": str(intent_id)})
    assert sorted(c.status for c in charges.data) == ["failed"] * (paid.attempt_count - 1) + ["succeeded"]
    assert paid.attempt_count >= 3  # the renewal, the pay call with the failing card, this one


async def test_a_scheduled_retry_recovers_once_the_card_works(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe(card=FAILS_LATER_CARD)
    await sandbox.advance(days=32)
    assert (await _subscription(sandbox, session["subscription"])).status == "past_due"
    await sandbox.control("POST", f"/customers/{session['customer']}/card", {"fails": False})
    await sandbox.advance(days=2)
    assert (await _subscription(sandbox, session["subscription"])).status == "active"


async def test_cancel_at_period_end_keeps_access_until_the_end(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription_id = session["subscription"]
    end = _period(await _subscription(sandbox, subscription_id))[1]
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    scheduled = await sandbox.stripe.v1.subscriptions.update_async(
        subscription_id, params={"cancel_at_period_end": True}
    )
    assert (scheduled.status, scheduled.cancel_at_period_end, scheduled.cancel_at) == ("active", True, end)
    assert scheduled.canceled_at is not None
    await sandbox.wait()
    update = sandbox.inbox.events[before]
    assert update["type"] == "customer.subscription.updated"
    assert update["data"]["previous_attributes"]["cancel_at_period_end"] is False
    assert update["data"]["previous_attributes"]["cancel_at"] is None
    await sandbox.advance(days=(end - await sandbox.now()) / DAY - 0.1)
    assert (await _subscription(sandbox, subscription_id)).status == "active"
    await sandbox.advance(days=0.2)
    ended = await _subscription(sandbox, subscription_id)
    assert (ended.status, ended.ended_at) == ("canceled", end)
    assert sandbox.inbox.types(since=before) == [
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]
    invoices = await sandbox.stripe.v1.invoices.list_async(params={"subscription": subscription_id})
    assert len(invoices.data) == 1  # no renewal was billed


async def test_taking_back_a_scheduled_cancellation_renews_as_usual(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription_id = session["subscription"]
    await sandbox.stripe.v1.subscriptions.update_async(subscription_id, params={"cancel_at_period_end": True})
    kept = await sandbox.stripe.v1.subscriptions.update_async(
        subscription_id, params={"cancel_at_period_end": False, "metadata": {"kept": "yes"}}
    )
    assert (kept.cancel_at_period_end, kept.cancel_at, kept.canceled_at) == (False, None, None)
    await sandbox.advance(days=32)
    renewed = await _subscription(sandbox, subscription_id)
    assert renewed.status == "active"
    assert renewed.metadata.to_dict() == {"kept": "yes"}


async def test_cancel_at_a_moment_and_cancel_now(sandbox: Sandbox) -> None:
    _, first = await sandbox.subscribe()
    _, second = await sandbox.subscribe()
    when = await sandbox.now() + 10 * DAY
    scheduled = await sandbox.stripe.v1.subscriptions.update_async(
        first["subscription"], params={"cancel_at": when}
    )
    assert (scheduled.cancel_at, scheduled.cancel_at_period_end) == (when, False)
    with pytest.raises(stripe.InvalidRequestError) as both:
        await sandbox.stripe.v1.subscriptions.update_async(
            first["subscription"], params={"cancel_at": when, "cancel_at_period_end": True}
        )
    assert both.value.code == "parameters_exclusive"
    canceled = await sandbox.stripe.v1.subscriptions.cancel_async(
        second["subscription"], params={"cancellation_details": {"comment": "too many emails"}}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_details is not None
    assert canceled.cancellation_details.comment == "too many emails"
    with pytest.raises(stripe.InvalidRequestError):
        await sandbox.stripe.v1.subscriptions.update_async(
            second["subscription"], params={"cancel_at_period_end": True}
        )
    await sandbox.advance(days=11)
    ended = await _subscription(sandbox, first["subscription"])
    assert (ended.status, ended.ended_at) == ("canceled", when)
    assert (await sandbox.stripe.v1.subscriptions.list_async()).data == []  # canceled ones are left out
    everything = await sandbox.stripe.v1.subscriptions.list_async(params={"status": "all"})
    assert len(everything.data) == 2
    deleted = [
        e["data"]["object"]["id"]
        for e in sandbox.inbox.events
        if e["type"] == "customer.subscription.deleted"
    ]
    assert deleted == [second["subscription"], first["subscription"]]


async def test_pause_and_resume(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription_id = session["subscription"]
    with pytest.raises(stripe.InvalidRequestError, match="paused"):
        await sandbox.stripe.v1.subscriptions.resume_async(subscription_id)
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    paused: dict[str, Any] = await sandbox.control("POST", f"/subscriptions/{subscription_id}/pause")
    assert paused["status"] == "paused"
    await sandbox.advance(days=70)  # two period ends pass: nothing is billed while paused
    assert sandbox.inbox.types(since=before) == [
        "customer.subscription.updated",
        "customer.subscription.paused",
    ]
    now = await sandbox.now()
    resumed = await sandbox.stripe.v1.subscriptions.resume_async(subscription_id)
    assert resumed.status == "active"
    assert abs(_period(resumed)[0] - now) <= 2
    await sandbox.wait()
    assert sandbox.inbox.types(since=before + 2) == [
        "invoice.created",
        "invoice.finalized",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
        "customer.subscription.resumed",
    ]
    by_price = await sandbox.stripe.v1.subscriptions.list_async(
        params={"price": resumed["items"].data[0].price.id, "customer": session["customer"]}
    )
    assert [s.id for s in by_price.data] == [subscription_id]


async def test_pause_collection_bills_nothing_until_unset(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription_id = session["subscription"]
    paused = await sandbox.stripe.v1.subscriptions.update_async(
        subscription_id, params={"pause_collection": {"behavior": "void"}}
    )
    assert paused.pause_collection is not None
    assert (paused.status, paused.pause_collection.behavior) == ("active", "void")
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    await sandbox.advance(days=32)
    assert sandbox.inbox.types(since=before) == [
        "invoice.created",
        "invoice.voided",
        "customer.subscription.updated",
    ]
    voided = await sandbox.stripe.v1.invoices.retrieve_async(
        str((await _subscription(sandbox, subscription_id)).latest_invoice)
    )
    assert (voided.status, voided.amount_paid) == ("void", 0)
    resumed = await sandbox.stripe.v1.subscriptions.update_async(
        subscription_id, params={"pause_collection": ""}
    )
    assert resumed.pause_collection is None
    await sandbox.advance(days=32)
    latest = await sandbox.stripe.v1.invoices.retrieve_async(
        str((await _subscription(sandbox, subscription_id)).latest_invoice)
    )
    assert (latest.status, latest.amount_paid) == ("paid", 500)
