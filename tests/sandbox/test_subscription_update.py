"""Changing a live subscription: a retention offer's discount, and free time until a trial_end."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_sandbox.subscriptions import add_interval
from tests.sandbox.conftest import DAY, Sandbox

RENEWAL_EVENTS = [
    "invoice.created",
    "invoice.finalized",
    "charge.succeeded",
    "payment_intent.succeeded",
    "invoice.paid",
    "invoice.payment_succeeded",
    "customer.subscription.updated",
]


async def _invoices(sandbox: Sandbox, subscription_id: str) -> list[stripe.Invoice]:
    found = await sandbox.stripe.v1.invoices.list_async(params={"subscription": subscription_id})
    return list(reversed(found.data))


async def _update(sandbox: Sandbox, subscription_id: str, **params: Any) -> stripe.Subscription:
    return await sandbox.stripe.v1.subscriptions.update_async(subscription_id, params=params)  # type: ignore[arg-type]


async def _period_end(sandbox: Sandbox, subscription_id: str) -> int:
    subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)
    return subscription["items"].data[0].current_period_end  # type: ignore[no-any-return]


async def test_a_retention_offer_discounts_the_next_invoices_then_can_be_replaced_or_removed(
    sandbox: Sandbox,
) -> None:
    _, session = await sandbox.subscribe()
    subscription_id = session["subscription"]
    offer = await sandbox.stripe.v1.coupons.create_async(
        params={"percent_off": 50, "duration": "repeating", "duration_in_months": 2, "name": "Stay with us"}
    )
    await sandbox.advance(days=10)
    before = len(sandbox.inbox.events)
    kept = await _update(sandbox, subscription_id, discounts=[{"coupon": offer.id}])
    [discount_id] = kept.discounts
    assert isinstance(discount_id, str) and discount_id.startswith("di_")
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == ["customer.subscription.updated"]
    assert sandbox.inbox.events[-1]["data"]["previous_attributes"] == {"discounts": []}
    assert (await sandbox.stripe.v1.coupons.retrieve_async(offer.id)).times_redeemed == 1
    # Nothing is billed now; the next renewals are half price while the two months last.
    assert [i.amount_paid for i in await _invoices(sandbox, subscription_id)] == [500]
    await sandbox.advance(
        days=(await _period_end(sandbox, subscription_id) - await sandbox.now()) / DAY + 0.1
    )
    await sandbox.advance(
        days=(await _period_end(sandbox, subscription_id) - await sandbox.now()) / DAY + 0.1
    )
    assert [i.amount_paid for i in await _invoices(sandbox, subscription_id)] == [500, 250, 250]
    # Replaced by a promotion code's coupon, then removed altogether (an empty `discounts`).
    code = await sandbox.stripe.v1.promotion_codes.create_async(
        params={
            "promotion": {
                "type": "coupon",
                "coupon": (
                    await sandbox.stripe.v1.coupons.create_async(
                        params={"amount_off": 100, "currency": "usd", "duration": "forever"}
                    )
                ).id,
            },
            "code": "LOYAL",
        }
    )
    replaced = await _update(sandbox, subscription_id, discounts=[{"promotion_code": code.id}])
    assert replaced.discounts != [discount_id] and len(replaced.discounts) == 1
    await sandbox.advance(
        days=(await _period_end(sandbox, subscription_id) - await sandbox.now()) / DAY + 0.1
    )
    assert (await _invoices(sandbox, subscription_id))[-1].amount_paid == 400
    assert (await sandbox.stripe.v1.promotion_codes.retrieve_async(code.id)).times_redeemed == 1
    # Keeping a discount by its id redeems nothing again.
    same = await _update(sandbox, subscription_id, discounts=[{"discount": replaced.discounts[0]}])
    assert same.discounts == replaced.discounts
    assert (await sandbox.stripe.v1.promotion_codes.retrieve_async(code.id)).times_redeemed == 1
    cleared = await _update(sandbox, subscription_id, discounts="")
    assert cleared.discounts == []
    await sandbox.advance(
        days=(await _period_end(sandbox, subscription_id) - await sandbox.now()) / DAY + 0.1
    )
    assert (await _invoices(sandbox, subscription_id))[-1].amount_paid == 500


async def test_refused_subscription_discounts(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription_id = session["subscription"]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await _update(sandbox, subscription_id, discounts=[{"coupon": "NOPE"}])
    assert (missing.value.http_status, missing.value.code, missing.value.param) == (
        400,
        "resource_missing",
        "discounts[0][coupon]",
    )
    coupon = await sandbox.stripe.v1.coupons.create_async(params={"percent_off": 10})
    newcomers = await sandbox.stripe.v1.promotion_codes.create_async(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "restrictions": {"first_time_transaction": True},
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as paid_before:
        await _update(sandbox, subscription_id, discounts=[{"promotion_code": newcomers.id}])
    assert paid_before.value.param == "discounts[0][promotion_code]"
    with pytest.raises(stripe.InvalidRequestError) as twice:
        await _update(sandbox, subscription_id, discounts=[{"coupon": coupon.id}, {"coupon": coupon.id}])
    assert twice.value.param == "discounts"
    with pytest.raises(stripe.InvalidRequestError) as not_ours:
        await _update(sandbox, subscription_id, discounts=[{"discount": "di_nope"}])
    assert not_ours.value.code == "resource_missing"
    assert (await sandbox.stripe.v1.coupons.retrieve_async(coupon.id)).times_redeemed == 0
    assert (await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)).discounts == []


async def test_trial_end_gives_free_time_then_bills_at_the_trial_end(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription_id = session["subscription"]
    await sandbox.advance(days=5)
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    now = await sandbox.now()
    trial_end = now + 60 * DAY  # a two-month gift, past the paid period's end
    gifted = await _update(sandbox, subscription_id, trial_end=trial_end, proration_behavior="none")
    assert (gifted.status, gifted.trial_end, gifted.billing_cycle_anchor) == (
        "trialing",
        trial_end,
        trial_end,
    )
    assert gifted.trial_start is not None and abs(gifted.trial_start - now) <= 2
    item = gifted["items"].data[0]
    assert item.current_period_end == trial_end
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == ["customer.subscription.updated"]
    previous = sandbox.inbox.events[-1]["data"]["previous_attributes"]
    assert (previous["status"], previous["trial_end"]) == ("active", None)
    # No invoice while it lasts (the old period's end passes too); the trial ends with a warning first.
    await sandbox.advance(days=59)
    assert sandbox.inbox.types(since=before + 1) == ["customer.subscription.trial_will_end"]
    assert len(await _invoices(sandbox, subscription_id)) == 1
    await sandbox.advance(days=1.1)
    assert sandbox.inbox.types(since=before + 2) == RENEWAL_EVENTS
    billed = await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)
    assert billed.status == "active"
    item = billed["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (
        trial_end,
        add_interval(trial_end, "month", 1),
    )
    invoice = (await _invoices(sandbox, subscription_id))[-1]
    assert (invoice.amount_paid, invoice.billing_reason, invoice.created) == (
        500,
        "subscription_cycle",
        trial_end,
    )
    assert sandbox.inbox.events[-1]["data"]["previous_attributes"]["status"] == "trialing"


async def test_trial_end_now_ends_a_trial_and_bills_at_once(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe(subscription_data={"trial_period_days": 14})
    subscription_id = session["subscription"]
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    now = await sandbox.now()
    ended = await _update(sandbox, subscription_id, trial_end="now")
    assert ended.status == "active"
    assert ended.trial_end is not None and abs(ended.trial_end - now) <= 2
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == RENEWAL_EVENTS
    invoice = (await _invoices(sandbox, subscription_id))[-1]
    assert (invoice.amount_paid, invoice.billing_reason) == (500, "subscription_update")


async def test_trial_end_refusals(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription_id = session["subscription"]
    with pytest.raises(stripe.InvalidRequestError) as past:
        await _update(sandbox, subscription_id, trial_end=await sandbox.now() - 10, proration_behavior="none")
    assert (past.value.http_status, past.value.param) == (400, "trial_end")
    with pytest.raises(stripe.InvalidRequestError) as prorating:
        await _update(sandbox, subscription_id, trial_end=await sandbox.now() + 10 * DAY)
    assert prorating.value.param == "proration_behavior"
    with pytest.raises(stripe.InvalidRequestError) as garbage:
        await _update(sandbox, subscription_id, trial_end="soon")
    assert garbage.value.code == "parameter_invalid_integer"
    assert (await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)).status == "active"
