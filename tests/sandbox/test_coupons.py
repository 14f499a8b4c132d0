"""Coupons and promotion codes through stripe-python: create, read, list, update, delete, and their limits."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.sandbox.conftest import DAY, Sandbox


async def _error(call: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await call
    assert refused.value.http_status == 400
    return refused.value


async def test_coupon_create_retrieve_list_update_delete(sandbox: Sandbox) -> None:
    coupons = sandbox.stripe.v1.coupons
    now = await sandbox.now()
    half = await coupons.create_async(
        params={
            "percent_off": 50,
            "duration": "repeating",
            "duration_in_months": 3,
            "max_redemptions": 10,
            "redeem_by": now + 30 * DAY,
            "name": "Half off",
            "metadata": {"offer": "retention"},
        }
    )
    assert (half.object, half.livemode, half.valid, half.times_redeemed) == ("coupon", False, True, 0)
    assert (half.percent_off, half.amount_off, half.currency) == (50.0, None, None)
    assert (half.duration, half.duration_in_months, half.max_redemptions) == ("repeating", 3, 10)
    assert half.redeem_by == now + 30 * DAY and abs(half.created - now) <= 2
    assert len(half.id) == 8 and half.id.isalnum()
    chosen = await coupons.create_async(
        params={"id": "GIFT-5", "amount_off": 500, "currency": "USD", "duration": "once"}
    )
    assert (chosen.id, chosen.amount_off, chosen.currency, chosen.percent_off) == ("GIFT-5", 500, "usd", None)
    assert (await coupons.retrieve_async("GIFT-5")).to_dict() == chosen.to_dict()
    assert [c.id for c in (await coupons.list_async()).data] == ["GIFT-5", half.id]
    assert [c.id for c in (await coupons.list_async(params={"limit": 1})).data] == ["GIFT-5"]
    renamed = await coupons.update_async(half.id, params={"name": "50% off", "metadata": {"offer": ""}})
    assert (renamed.name, renamed.to_dict()["metadata"]) == ("50% off", {})
    deleted = await coupons.delete_async("GIFT-5")
    assert (deleted.id, deleted.object, deleted.deleted) == ("GIFT-5", "coupon", True)
    with pytest.raises(stripe.InvalidRequestError) as gone:
        await coupons.retrieve_async("GIFT-5")
    assert (gone.value.http_status, gone.value.code) == (404, "resource_missing")
    assert str(gone.value.user_message) == "No such coupon: 'GIFT-5'"
    await sandbox.wait()
    assert [e["type"] for e in sandbox.inbox.of(half.id)] == ["coupon.created", "coupon.updated"]
    assert sandbox.inbox.of(half.id)[1]["data"]["previous_attributes"] == {
        "name": "Half off",
        "metadata": {"offer": "retention"},
    }
    assert [e["type"] for e in sandbox.inbox.of("GIFT-5")] == ["coupon.created", "coupon.deleted"]


async def test_applies_to_is_shown_only_when_expanded(sandbox: Sandbox) -> None:
    product = await sandbox.stripe.v1.products.create_async(params={"name": "Gold"})
    coupon = await sandbox.stripe.v1.coupons.create_async(
        params={"percent_off": 10, "applies_to": {"products": [product.id]}}
    )
    assert "applies_to" not in coupon.to_dict()
    expanded = await sandbox.stripe.v1.coupons.retrieve_async(coupon.id, params={"expand": ["applies_to"]})
    assert expanded.applies_to is not None and expanded.applies_to.products == [product.id]
    error = await _error(
        sandbox.stripe.v1.coupons.create_async(
            params={"percent_off": 10, "applies_to": {"products": ["prod_x"]}}
        )
    )
    assert (error.code, error.param) == ("resource_missing", "applies_to[products][0]")


async def test_coupon_parameters_are_checked_as_stripe_does(sandbox: Sandbox) -> None:
    coupons = sandbox.stripe.v1.coupons
    now = await sandbox.now()
    both = await _error(
        coupons.create_async(params={"percent_off": 10, "amount_off": 100, "currency": "usd"})
    )
    assert both.code == "parameters_exclusive"
    neither = await _error(coupons.create_async(params={"duration": "once"}))
    assert neither.code == "parameter_missing"
    no_currency = await _error(coupons.create_async(params={"amount_off": 100}))
    assert (no_currency.code, no_currency.param) == ("parameter_missing", "currency")
    too_much = await _error(coupons.create_async(params={"percent_off": 120}))
    assert too_much.param == "percent_off"
    no_months = await _error(coupons.create_async(params={"percent_off": 10, "duration": "repeating"}))
    assert (no_months.code, no_months.param) == ("parameter_missing", "duration_in_months")
    months_once = await _error(
        coupons.create_async(params={"percent_off": 10, "duration": "once", "duration_in_months": 2})
    )
    assert months_once.param == "duration_in_months"
    past = await _error(coupons.create_async(params={"percent_off": 10, "redeem_by": now - 60}))
    assert past.param == "redeem_by"
    bad_duration = await _error(coupons.create_async(params={"percent_off": 10, "duration": "weekly"}))
    assert bad_duration.code == "parameter_invalid_string"
    await coupons.create_async(params={"id": "TWICE", "percent_off": 10})
    twice = await _error(coupons.create_async(params={"id": "TWICE", "percent_off": 20}))
    assert (twice.code, twice.param) == ("resource_already_exists", "id")
    unknown = await _error(coupons.update_async("TWICE", params={"percent_off": 20}))  # type: ignore[typeddict-unknown-key]
    assert (unknown.code, unknown.param) == ("parameter_unknown", "percent_off")


async def test_a_coupon_stops_being_valid_at_redeem_by(sandbox: Sandbox) -> None:
    now = await sandbox.now()
    coupon = await sandbox.stripe.v1.coupons.create_async(params={"percent_off": 10, "redeem_by": now + DAY})
    assert coupon.valid is True
    await sandbox.advance(days=1.1)
    assert (await sandbox.stripe.v1.coupons.retrieve_async(coupon.id)).valid is False
    refused = await _error(
        sandbox.stripe.v1.promotion_codes.create_async(
            params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "LATE"}
        )
    )
    assert (refused.code, refused.param) == ("coupon_expired", "promotion[coupon]")
    assert str(refused.user_message) == f"Coupon expired: {coupon.id}"


async def test_promotion_code_create_retrieve_list_update(sandbox: Sandbox) -> None:
    codes = sandbox.stripe.v1.promotion_codes
    coupon = await sandbox.stripe.v1.coupons.create_async(params={"percent_off": 25, "max_redemptions": 5})
    now = await sandbox.now()
    fall = await codes.create_async(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "FALL25",
            "max_redemptions": 3,
            "expires_at": now + 7 * DAY,
            "restrictions": {"first_time_transaction": True},
            "metadata": {"campaign": "fall"},
        }
    )
    assert fall.id.startswith("promo_")
    assert (fall.object, fall.code, fall.active, fall.times_redeemed) == ("promotion_code", "FALL25", True, 0)
    assert (fall.promotion.type, fall.promotion.coupon) == ("coupon", coupon.id)
    assert fall.restrictions.first_time_transaction is True
    assert (fall.max_redemptions, fall.expires_at, fall.customer, fall.livemode) == (
        3,
        now + 7 * DAY,
        None,
        False,
    )
    generated = await codes.create_async(params={"promotion": {"type": "coupon", "coupon": coupon.id}})
    assert len(generated.code) == 8 and generated.code.isalnum()
    assert (await codes.retrieve_async(fall.id)).code == "FALL25"
    expanded = await codes.retrieve_async(fall.id, params={"expand": ["promotion.coupon"]})
    assert (
        isinstance(expanded.promotion.coupon, stripe.Coupon) and expanded.promotion.coupon.percent_off == 25
    )
    # The code filter is case-insensitive; coupon and active filter too.
    assert [p.id for p in (await codes.list_async(params={"code": "fall25"})).data] == [fall.id]
    assert [p.id for p in (await codes.list_async(params={"coupon": coupon.id})).data] == [
        generated.id,
        fall.id,
    ]
    off = await codes.update_async(fall.id, params={"active": False, "metadata": {"campaign": "over"}})
    assert (off.active, off.to_dict()["metadata"]) == (False, {"campaign": "over"})
    assert [p.id for p in (await codes.list_async(params={"active": True})).data] == [generated.id]
    assert [p.id for p in (await codes.list_async(params={"active": False})).data] == [fall.id]
    # Unique among active codes, whatever the case; an inactive one does not count.
    again = await codes.create_async(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "fall25"}
    )
    taken = await _error(
        codes.create_async(params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "Fall25"})
    )
    assert taken.param == "code" and "already exists" in str(taken.user_message)
    reactivate = await _error(codes.update_async(fall.id, params={"active": True}))
    assert reactivate.param == "active"
    await sandbox.wait()
    assert [e["type"] for e in sandbox.inbox.of(fall.id)] == [
        "promotion_code.created",
        "promotion_code.updated",
    ]
    assert sandbox.inbox.of(fall.id)[1]["data"]["previous_attributes"] == {
        "active": True,
        "metadata": {"campaign": "fall"},
    }
    assert sandbox.inbox.of(again.id)[0]["type"] == "promotion_code.created"


async def test_promotion_code_parameters_are_checked(sandbox: Sandbox) -> None:
    codes = sandbox.stripe.v1.promotion_codes
    coupon = await sandbox.stripe.v1.coupons.create_async(
        params={"percent_off": 10, "max_redemptions": 2, "redeem_by": await sandbox.now() + 10 * DAY}
    )
    missing = await _error(codes.create_async(params={"code": "X"}))  # type: ignore[typeddict-item]
    assert (missing.code, missing.param) == ("parameter_missing", "promotion")
    no_coupon = await _error(codes.create_async(params={"promotion": {"type": "coupon", "coupon": "NOPE"}}))
    assert (no_coupon.code, no_coupon.param, no_coupon.http_status) == (
        "resource_missing",
        "promotion[coupon]",
        400,
    )
    # The legacy top-level `coupon` is not this API version's shape.
    legacy = await _error(codes.create_async(params={"coupon": coupon.id}))  # type: ignore[typeddict-unknown-key]
    assert (legacy.code, legacy.param) == ("parameter_unknown", "coupon")
    promotion = {"type": "coupon", "coupon": coupon.id}
    bad = await _error(codes.create_async(params={"promotion": promotion, "code": "NO SPACES"}))  # type: ignore[typeddict-item]
    assert bad.param == "code"
    too_many = await _error(codes.create_async(params={"promotion": promotion, "max_redemptions": 3}))  # type: ignore[typeddict-item]
    assert too_many.param == "max_redemptions"
    too_late = await _error(
        codes.create_async(params={"promotion": promotion, "expires_at": await sandbox.now() + 20 * DAY})  # type: ignore[typeddict-item]
    )
    assert too_late.param == "expires_at"
