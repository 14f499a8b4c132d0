"""Discounts in subscription Checkout: what each invoice takes off while the discount lasts, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from tests.sandbox.conftest import GOOD_CARD, Sandbox


def _ts(year: int, month: int, day: int, hour: int = 12) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


async def _move_to(sandbox: Sandbox, moment: int) -> None:
    await sandbox.control("POST", "/clock/advance", {"seconds": moment - await sandbox.now()})
    await sandbox.wait()


async def _invoices(sandbox: Sandbox, subscription_id: str) -> list[stripe.Invoice]:
    found = await sandbox.stripe.v1.invoices.list_async(params={"subscription": subscription_id})
    return list(reversed(found.data))  # oldest first


async def _coupon(sandbox: Sandbox, **params: Any) -> stripe.Coupon:
    return await sandbox.stripe.v1.coupons.create_async(params=params)  # type: ignore[arg-type]


async def _error(call: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await call
    assert refused.value.http_status == 400
    assert refused.value.json_body is not None and set(refused.value.json_body["error"]) >= {
        "type",
        "message",
    }
    return refused.value


async def test_a_three_month_discount_from_31_january_ends_on_the_30_april_invoice(sandbox: Sandbox) -> None:
    year = datetime.fromtimestamp(await sandbox.now(), UTC).year + 1
    await _move_to(sandbox, _ts(year, 1, 31))
    coupon = await _coupon(sandbox, percent_off=50, duration="repeating", duration_in_months=3)
    price = await sandbox.price(amount=1000)
    session = await sandbox.session(
        price.id, customer_email="reader@example.com", discounts=[{"coupon": coupon.id}]
    )
    assert (session.amount_subtotal, session.amount_total) == (1000, 500)
    assert session.total_details is not None and session.total_details.amount_discount == 500
    assert session.discounts is not None
    assert [(d.coupon, d.promotion_code) for d in session.discounts] == [(coupon.id, None)]
    assert (await sandbox.stripe.v1.coupons.retrieve_async(coupon.id)).times_redeemed == 0  # not until paid
    completed = await sandbox.pay(session.id)
    subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(
        completed["subscription"], params={"expand": ["discounts"]}
    )
    [discount] = subscription.discounts
    assert isinstance(discount, stripe.Discount)
    assert discount.id.startswith("di_") and discount.object == "discount"
    assert (discount.source.type, discount.source.coupon) == ("coupon", coupon.id)
    assert (discount.subscription, discount.customer, discount.promotion_code) == (
        subscription.id,
        completed["customer"],
        None,
    )
    assert discount.start == _ts(year, 1, 31) or abs(discount.start - _ts(year, 1, 31)) <= 2
    assert discount.end == discount.start + (_ts(year, 4, 30) - _ts(year, 1, 31))
    plain = await sandbox.stripe.v1.subscriptions.retrieve_async(subscription.id)
    assert plain.discounts == [discount.id]  # ids unless expanded, as in this API version

    first = (await _invoices(sandbox, subscription.id))[0]
    assert (first.subtotal, first.total, first.amount_due, first.amount_paid) == (1000, 500, 500, 500)
    assert first.discounts == [discount.id]
    assert first.total_discount_amounts is not None
    assert [(t.amount, t.discount) for t in first.total_discount_amounts] == [(500, discount.id)]
    line = first.lines.data[0]
    assert line.amount == 1000  # line amounts are before discounts
    assert line.discount_amounts is not None
    assert [(a.amount, a.discount) for a in line.discount_amounts] == [(500, discount.id)]
    # 28 February, 31 March: still half; 30 April: the discount has ended.
    for day in ((2, 28), (3, 31), (4, 30)):
        await _move_to(sandbox, _ts(year, *day) + 3600)
    invoices = await _invoices(sandbox, subscription.id)
    when = [datetime.fromtimestamp(i.created, UTC).strftime("%m-%d") for i in invoices]
    assert when == ["01-31", "02-28", "03-31", "04-30"]
    assert [i.amount_paid for i in invoices] == [500, 500, 500, 1000]
    assert invoices[-1].discounts == [] and invoices[-1].total_discount_amounts == []
    ended = await sandbox.stripe.v1.subscriptions.retrieve_async(subscription.id)
    assert ended.discounts == []
    last_update = [
        e for e in sandbox.inbox.of(subscription.id) if e["type"] == "customer.subscription.updated"
    ][-1]
    assert last_update["data"]["previous_attributes"]["discounts"] == [discount.id]
    assert (await sandbox.stripe.v1.coupons.retrieve_async(coupon.id)).times_redeemed == 1


async def test_a_once_promotion_code_takes_off_the_first_invoice_only(sandbox: Sandbox) -> None:
    coupon = await _coupon(sandbox, amount_off=300, currency="usd", duration="once", name="Welcome")
    promo = await sandbox.stripe.v1.promotion_codes.create_async(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "WELCOME"}
    )
    price = await sandbox.price(amount=1000)
    session = await sandbox.session(
        price.id, customer_email="reader@example.com", discounts=[{"promotion_code": promo.id}]
    )
    assert session.amount_total == 700
    assert session.discounts is not None
    assert [(d.coupon, d.promotion_code) for d in session.discounts] == [(coupon.id, promo.id)]
    page = await sandbox.http.get(f"/checkout/{session.id}")
    assert "$7 for the first month, then $10 per month" in page.text
    assert "Discount: Welcome (code WELCOME)" in page.text
    assert "Due today: <strong>$7</strong>" in page.text
    completed = await sandbox.pay(session.id)
    subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(
        completed["subscription"], params={"expand": ["discounts.promotion_code"]}
    )
    discount = subscription.discounts[0]
    assert isinstance(discount, stripe.Discount) and isinstance(discount.promotion_code, stripe.PromotionCode)
    assert discount.promotion_code.code == "WELCOME"
    assert discount.end is None
    await sandbox.advance(days=32)
    await sandbox.advance(days=31)
    assert [i.amount_paid for i in await _invoices(sandbox, subscription.id)] == [700, 1000, 1000]
    assert (await sandbox.stripe.v1.subscriptions.retrieve_async(subscription.id)).discounts == []
    assert (await sandbox.stripe.v1.promotion_codes.retrieve_async(promo.id)).times_redeemed == 1
    assert (await sandbox.stripe.v1.coupons.retrieve_async(coupon.id)).times_redeemed == 1


async def test_a_forever_discount_lasts_and_a_deleted_coupon_keeps_applying(sandbox: Sandbox) -> None:
    coupon = await _coupon(sandbox, percent_off=25, duration="forever")
    _, completed = await sandbox.subscribe(discounts=[{"coupon": coupon.id}])
    await sandbox.stripe.v1.coupons.delete_async(coupon.id)
    await sandbox.advance(days=32)
    await sandbox.advance(days=31)
    paid = [i.amount_paid for i in await _invoices(sandbox, completed["subscription"])]
    assert paid == [375, 375, 375]  # 25% of $5 is $1.25


async def test_a_trial_comes_first_then_the_discount_on_the_first_paid_invoice(sandbox: Sandbox) -> None:
    coupon = await _coupon(sandbox, percent_off=40, duration="once")
    price = await sandbox.price(amount=1000)
    session = await sandbox.session(
        price.id,
        customer_email="reader@example.com",
        subscription_data={"trial_period_days": 7},
        discounts=[{"coupon": coupon.id}],
    )
    assert (session.amount_subtotal, session.amount_total) == (0, 0)
    page = await sandbox.http.get(f"/checkout/{session.id}")
    assert "$6 for the first month, then $10 per month" in page.text and "Free trial: 7 days" in page.text
    completed = await sandbox.pay(session.id)
    assert completed["payment_status"] == "no_payment_required"
    trial_invoice = (await _invoices(sandbox, completed["subscription"]))[0]
    assert (trial_invoice.total, trial_invoice.amount_paid) == (0, 0)
    await sandbox.advance(days=8)  # the trial ends: the first paid invoice
    await sandbox.advance(days=31)
    invoices = await _invoices(sandbox, completed["subscription"])
    assert [i.amount_paid for i in invoices] == [0, 600, 1000]
    assert invoices[1].billing_reason == "subscription_cycle"


async def test_refused_discounts_answer_like_stripe(sandbox: Sandbox) -> None:
    price = await sandbox.price(amount=1000)
    missing = await _error(sandbox.session(price.id, discounts=[{"coupon": "NOPE"}]))
    assert (missing.code, missing.param) == ("resource_missing", "discounts[0][coupon]")
    assert str(missing.user_message) == "No such coupon: 'NOPE'"
    no_code = await _error(sandbox.session(price.id, discounts=[{"promotion_code": "promo_nope"}]))
    assert (no_code.code, no_code.param) == ("resource_missing", "discounts[0][promotion_code]")
    coupon = await _coupon(sandbox, percent_off=10, max_redemptions=1)
    both = await _error(
        sandbox.session(price.id, discounts=[{"coupon": coupon.id}], allow_promotion_codes=True)
    )
    assert both.code == "parameters_exclusive"
    euro = await _coupon(sandbox, amount_off=100, currency="eur")
    currency = await _error(sandbox.session(price.id, discounts=[{"coupon": euro.id}]))
    assert currency.param == "discounts[0][coupon]"
    codes = sandbox.stripe.v1.promotion_codes
    off = await codes.create_async(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "OFF", "active": False}
    )
    inactive = await _error(sandbox.session(price.id, discounts=[{"promotion_code": off.id}]))
    assert inactive.param == "discounts[0][promotion_code]" and "not active" in str(inactive.user_message)
    soon = await codes.create_async(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "SOON",
            "expires_at": await sandbox.now() + 3600,
        }
    )
    # Two sessions take the coupon (max_redemptions 1); paying the first uses it up.
    first = await sandbox.session(price.id, customer_email="a@example.com", discounts=[{"coupon": coupon.id}])
    second = await sandbox.session(
        price.id, customer_email="b@example.com", discounts=[{"coupon": coupon.id}]
    )
    await sandbox.pay(first.id)
    assert (await sandbox.stripe.v1.coupons.retrieve_async(coupon.id)).valid is False
    exhausted = await _error(sandbox.session(price.id, discounts=[{"coupon": coupon.id}]))
    assert (exhausted.code, exhausted.param) == ("coupon_expired", "discounts[0][coupon]")
    refused = await sandbox.http.post(f"/_sandbox/checkout/{second.id}/pay", json={"card": GOOD_CARD})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "coupon_expired"
    page = await sandbox.http.post(f"/checkout/{second.id}/pay", data={"card": GOOD_CARD})
    assert page.status_code == 400 and "Coupon expired" in page.text
    assert (await sandbox.stripe.v1.checkout.sessions.retrieve_async(second.id)).status == "open"
    await sandbox.advance(days=0.1)
    expired = await _error(sandbox.session(price.id, discounts=[{"promotion_code": soon.id}]))
    assert "expired" in str(expired.user_message)
    assert (await codes.retrieve_async(soon.id)).active is False


async def test_first_time_transaction_codes_refuse_a_customer_who_has_paid(sandbox: Sandbox) -> None:
    _, completed = await sandbox.subscribe()
    coupon = await _coupon(sandbox, percent_off=20)
    first_timers = await sandbox.stripe.v1.promotion_codes.create_async(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "NEWHERE",
            "restrictions": {"first_time_transaction": True},
        }
    )
    price = await sandbox.price(amount=1000)
    refused = await _error(
        sandbox.session(
            price.id, customer=completed["customer"], discounts=[{"promotion_code": first_timers.id}]
        )
    )
    assert "prior transactions" in str(refused.user_message)
    newcomer = await sandbox.stripe.v1.customers.create_async(params={"email": "new@example.com"})
    accepted = await sandbox.session(
        price.id, customer=newcomer.id, discounts=[{"promotion_code": first_timers.id}]
    )
    assert accepted.amount_total == 800


async def test_the_hosted_page_takes_a_promotion_code_typed_by_the_payer(sandbox: Sandbox) -> None:
    coupon = await _coupon(sandbox, percent_off=50, duration="repeating", duration_in_months=3)
    promo = await sandbox.stripe.v1.promotion_codes.create_async(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "HALF3"}
    )
    price = await sandbox.price(amount=1000)
    plain = await sandbox.session(price.id, customer_email="reader@example.com")
    assert "Promotion code" not in (await sandbox.http.get(f"/checkout/{plain.id}")).text
    session = await sandbox.session(price.id, customer_email="reader@example.com", allow_promotion_codes=True)
    page = await sandbox.http.get(f"/checkout/{session.id}")
    assert f"action='/checkout/{session.id}/promotion_code'" in page.text
    wrong = await sandbox.http.post(f"/checkout/{session.id}/promotion_code", data={"code": "NOPE"})
    assert wrong.status_code == 400 and "This code is invalid." in wrong.text
    applied = await sandbox.http.post(f"/checkout/{session.id}/promotion_code", data={"code": "half3"})
    assert applied.status_code == 303 and applied.headers["location"] == f"/checkout/{session.id}"
    page = await sandbox.http.get(f"/checkout/{session.id}")
    assert "$5 per month for the first 3 months, then $10 per month" in page.text
    discounted = await sandbox.stripe.v1.checkout.sessions.retrieve_async(session.id)
    assert discounted.amount_total == 500
    assert discounted.discounts is not None and discounted.discounts[0].promotion_code == promo.id
    completed = await sandbox.pay(session.id)
    assert [i.amount_paid for i in await _invoices(sandbox, completed["subscription"])] == [500]
    assert (await sandbox.stripe.v1.promotion_codes.retrieve_async(promo.id)).times_redeemed == 1
    # The control takes the typed code too.
    other = await sandbox.session(price.id, customer_email="other@example.com", allow_promotion_codes=True)
    answer = await sandbox.control(
        "POST", f"/checkout/{other.id}/pay", {"card": GOOD_CARD, "promotion_code": "HALF3"}
    )
    assert answer["session"]["amount_total"] == 500
    assert (await sandbox.stripe.v1.promotion_codes.retrieve_async(promo.id)).times_redeemed == 2
