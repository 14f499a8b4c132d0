"""Offers and the retention offer end to end: a Stripe coupon and promotion code made in the sandbox,
a landing answer that prices the tier as the reader will pay, Checkout applying it, the invoice
discounted, archiving, who may take it, and a member cancelling who stays at a lower price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from membership.subscriptions.reconcile import reconcile_all
from tests.membership.conftest import GOOD_CARD, Stack, keys, subscriptions

DISCOUNTED_WORDS = "$2.50 a month for 3 months, then $5 a month"


async def tier_with_owner(stack: Stack, **fields: Any) -> tuple[httpx.AsyncClient, str, dict[str, Any]]:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    return owner, slug, await stack.tier(owner, slug, **fields)


async def make_offer(
    owner: httpx.AsyncClient, slug: str, tier: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {
        "tier_id": tier["id"],
        "name": "Spring sale",
        "code": f"SPRING-{slug[-6:].upper()}",
        "kind": "percent_off",
        "percent_off": 50,
        "duration": "repeating",
        "duration_in_months": 3,
        "audience": "campaign",
    } | fields
    made = await owner.post(f"/api/publications/{slug}/offers", json=body)
    assert made.status_code == 201, made.text
    offer: dict[str, Any] = made.json()
    return offer


async def subscribe_through(
    stack: Stack, reader: httpx.AsyncClient, price_id: str, code: str
) -> dict[str, Any]:
    started = await reader.post("/api/billing/checkout", json={"price_id": price_id, "offer": code})
    assert started.status_code == 200, started.text
    session_id = started.json()["session_id"]
    session = (await stack.sdk().v1.checkout.sessions.retrieve_async(session_id)).to_dict()
    paid: dict[str, Any] = await stack.control(
        "post", f"/_sandbox/checkout/{session_id}/pay", json={"card": GOOD_CARD}
    )
    await stack.settle()
    return {"checkout": session, "paid": paid}


async def test_an_offer_link_prices_the_tier_and_checkout_charges_the_discount(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    offer = await make_offer(owner, slug, tier)
    coupon = await stack.sdk().v1.coupons.list_async({"limit": 50})
    assert any(c.percent_off == 50 and c.duration_in_months == 3 for c in coupon.data)

    landing = (
        await httpx.AsyncClient(base_url=stack.membership).get(f"/api/offers/{offer['code'].lower()}")
    ).json()
    assert landing["open"] and landing["tier_name"] == "Members"
    assert [p["words"] for p in landing["prices"]] == ["$2.50 a month for 3 months, then $5 a month"]

    reader = await stack.reader()
    bought = await subscribe_through(stack, reader, tier["prices"][0]["id"], offer["code"])
    assert bought["checkout"]["amount_total"] == 250
    assert f"pub:{slug}" in await keys(reader)
    invoices = await stack.sdk().v1.invoices.list_async(
        {"customer": bought["checkout"]["customer"], "limit": 5}
    )
    assert [i.amount_due for i in invoices.data] == [250]  # the first month at half price

    listed = (await owner.get(f"/api/publications/{slug}/offers")).json()
    assert [(o["offer"]["code"], o["redemptions"], o["live"]) for o in listed] == [(offer["code"], 1, 1)]


async def test_who_may_take_an_offer(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    price = tier["prices"][0]["id"]
    new_only = await make_offer(owner, slug, tier, code=f"NEW-{slug[-6:].upper()}", audience="new")
    lapsed_only = await make_offer(owner, slug, tier, code=f"BACK-{slug[-6:].upper()}", audience="lapsed")

    newcomer = await stack.reader()
    refused = await newcomer.post(
        "/api/billing/checkout", json={"price_id": price, "offer": lapsed_only["code"]}
    )
    assert refused.status_code == 409 and "membership has ended" in refused.json()["detail"]
    member = await stack.reader()
    await stack.subscribe(member, price)
    [sub] = await subscriptions(member)
    await member.post(f"/api/me/subscriptions/{sub['id']}/cancel")
    again = await member.post("/api/billing/checkout", json={"price_id": price, "offer": new_only["code"]})
    assert again.status_code == 409  # a live subscription, or not new to the publication
    ok = await newcomer.post("/api/billing/checkout", json={"price_id": price, "offer": new_only["code"]})
    assert ok.status_code == 200, ok.text


async def test_a_free_trial_offer_replaces_the_tiers_trial(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    offer = await make_offer(
        owner, slug, tier, code=f"TRY-{slug[-6:].upper()}", kind="free_trial", trial_days=14, percent_off=None
    )
    landing = (await owner.get(f"/api/offers/{offer['code']}")).json()
    assert landing["prices"][0]["words"] == "free for 14 days, then $5 a month"
    reader = await stack.reader()
    before = datetime.now(UTC)
    await subscribe_through(stack, reader, tier["prices"][0]["id"], offer["code"])
    [sub] = await subscriptions(reader)
    assert sub["status"] == "trialing"
    trial_end = datetime.fromisoformat(sub["trial_end"])
    assert before + timedelta(days=13, hours=23) < trial_end < before + timedelta(days=14, hours=1)


async def test_an_archived_offer_takes_no_one_new(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    offer = await make_offer(owner, slug, tier)
    archived = await owner.post(f"/api/publications/{slug}/offers/{offer['id']}/archive")
    assert archived.status_code == 200 and archived.json()["open"] is False
    codes = await stack.sdk().v1.promotion_codes.list_async({"code": offer["code"]})
    assert [c.active for c in codes.data] == [False]
    late = await (await stack.reader()).post(
        "/api/billing/checkout", json={"price_id": tier["prices"][0]["id"], "offer": offer["code"]}
    )
    assert late.status_code == 409 and "has ended" in late.json()["detail"]


async def test_bad_offers_are_refused_and_change_nothing(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)

    async def refused(status: int, words: str, **fields: Any) -> None:
        body = {
            "tier_id": tier["id"],
            "name": "Bad",
            "code": f"BAD-{slug[-6:].upper()}",
            "kind": "percent_off",
            "percent_off": 10,
            "audience": "campaign",
        } | fields
        answer = await owner.post(f"/api/publications/{slug}/offers", json=body)
        assert answer.status_code == status, answer.text
        assert words in answer.json()["detail"]

    await refused(400, "between 1 and 100", percent_off=0)
    await refused(400, "between 1 and 100", percent_off=101)
    await refused(400, "more than zero", kind="amount_off", amount_off=-5, currency="usd")
    await refused(400, "in a currency", kind="amount_off", amount_off=100, currency="eur")
    await refused(400, "1 to 36 months", duration="repeating", duration_in_months=0)
    await refused(400, "letters, digits and dashes", code="no spaces!")
    await refused(400, "in the future", ends_at="2020-01-01T00:00:00Z")
    _, other_slug, other_tier = await tier_with_owner(stack)
    await refused(404, "No such tier", tier_id=other_tier["id"])
    assert (await owner.get(f"/api/publications/{slug}/offers")).json() == []

    offer = await make_offer(owner, slug, tier)
    taken = await owner.post(
        f"/api/publications/{slug}/offers",
        json={
            "tier_id": tier["id"],
            "name": "Again",
            "code": offer["code"].lower(),
            "kind": "percent_off",
            "percent_off": 5,
            "audience": "campaign",
        },
    )
    assert taken.status_code == 409 and "is taken" in taken.json()["detail"]
    wrong_tier = await (await stack.reader()).post(
        "/api/billing/checkout", json={"price_id": other_tier["prices"][0]["id"], "offer": offer["code"]}
    )
    assert wrong_tier.status_code == 400 and "This offer is for Members" in wrong_tier.json()["detail"]
    unknown = await (await stack.reader()).post(
        "/api/billing/checkout", json={"price_id": tier["prices"][0]["id"], "offer": "NOPE-NOPE"}
    )
    assert unknown.status_code == 404
    assert other_slug


async def test_a_member_cancelling_takes_the_retention_offer_once_a_year(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    offer = await make_offer(owner, slug, tier, code=f"STAY-{slug[-6:].upper()}", audience="retention")
    assert (await owner.get(f"/api/offers/{offer['code']}")).status_code == 404  # no landing page
    member = await stack.reader()
    await stack.subscribe(member, tier["prices"][0]["id"])
    [sub] = await subscriptions(member)
    shown = await member.get(f"/api/me/subscriptions/{sub['id']}/retention-offer")
    assert shown.status_code == 200 and shown.json()["percent_off"] == 50
    stayed = await member.post(
        f"/api/me/subscriptions/{sub['id']}/stay", json={"reason": "too_expensive", "note": "tight month"}
    )
    assert stayed.status_code == 200, stayed.text
    await stack.settle()
    [sub] = await subscriptions(member)
    assert sub["status"] == "active" and not sub["cancel_at_period_end"]
    assert f"pub:{slug}" in await keys(member)
    await stack.advance(31)  # the next invoice is half price
    customer_invoices = await stack.sdk().v1.invoices.list_async({"limit": 20})
    assert any(i.amount_due == 250 for i in customer_invoices.data)

    again = await member.get(f"/api/me/subscriptions/{sub['id']}/retention-offer")
    assert again.status_code == 404  # once a year
    cancelled = await member.post(
        f"/api/me/subscriptions/{sub['id']}/cancellation", json={"reason": "not_reading"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["cancel_at_period_end"] is True
    reasons = (await owner.get(f"/api/publications/{slug}/cancellations")).json()
    assert {(r["reason"], r["count"], r["saved"]) for r in reasons} == {
        ("It costs too much", 1, 1),
        ("I don't read enough to keep it", 1, 0),
    }
    bad = await member.post(f"/api/me/subscriptions/{sub['id']}/cancellation", json={"reason": "bored"})
    assert bad.status_code == 400


async def test_reconcile_deactivates_an_archived_offers_code_that_came_back_to_life(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    offer = await make_offer(owner, slug, tier, code=f"DRIFT-{slug[-6:].upper()}")
    await owner.post(f"/api/publications/{slug}/offers/{offer['id']}/archive")
    sdk = stack.sdk()
    [code] = (await sdk.v1.promotion_codes.list_async({"code": offer["code"]})).data
    await sdk.v1.promotion_codes.update_async(code.id, {"active": True})  # someone in Stripe's dashboard
    report = await reconcile_all(stack.settings, show_progress=False)
    assert f"offer {offer['code']}: promotion code deactivated again" in report.changes
    assert (await sdk.v1.promotion_codes.retrieve_async(code.id)).active is False


async def test_reconcile_makes_a_deleted_coupon_again_and_reactivates_a_code(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    deleted = await make_offer(owner, slug, tier, code=f"GONE-{slug[-6:].upper()}", max_redemptions=5)
    paused = await make_offer(owner, slug, tier, code=f"OFF-{slug[-6:].upper()}")
    reader = await stack.reader()
    await subscribe_through(stack, reader, tier["prices"][0]["id"], deleted["code"])  # one of the five
    sdk = stack.sdk()
    [gone] = (await sdk.v1.promotion_codes.list_async({"code": deleted["code"]})).data
    old_coupon = gone.promotion.coupon
    assert isinstance(old_coupon, str)
    await sdk.v1.coupons.delete_async(old_coupon)  # a publisher tidying Stripe's dashboard
    [off] = (await sdk.v1.promotion_codes.list_async({"code": paused["code"]})).data
    await sdk.v1.promotion_codes.update_async(off.id, {"active": False})

    report = await reconcile_all(stack.settings, show_progress=False)
    assert f"offer {deleted['code']}: its coupon was deleted at Stripe; made again" in report.changes
    assert f"offer {paused['code']}: its promotion code was inactive at Stripe; reactivated" in report.changes
    assert (await sdk.v1.promotion_codes.retrieve_async(off.id)).active is True
    [made] = (await sdk.v1.promotion_codes.list_async({"code": deleted["code"], "active": True})).data
    assert made.id != gone.id and made.promotion.coupon != old_coupon
    coupon = await sdk.v1.coupons.retrieve_async(str(made.promotion.coupon))
    assert coupon.percent_off == 50 and coupon.max_redemptions == 4  # the redemptions it had left
    assert (await reconcile_all(stack.settings, show_progress=False)).changes == []  # and now it agrees

    # The code works again: a new reader pays the discounted price through it.
    again = await subscribe_through(stack, await stack.reader(), tier["prices"][0]["id"], deleted["code"])
    assert again["checkout"]["discounts"][0]["promotion_code"] == made.id
    listed = (await owner.get(f"/api/publications/{slug}/offers")).json()
    assert [o["redemptions"] for o in listed if o["offer"]["id"] == deleted["id"]] == [2]


async def test_a_discount_that_keeps_the_tiers_trial_says_so_but_a_retention_offer_does_not(
    stack: Stack,
) -> None:
    owner, slug, tier = await tier_with_owner(stack, trial_days=7)
    kept = await make_offer(owner, slug, tier, code=f"KEEP-{slug[-6:].upper()}", keep_tier_trial=True)
    assert kept["prices"][0]["words"] == f"free for 7 days, then {DISCOUNTED_WORDS}"
    staying = await make_offer(
        owner, slug, tier, code=f"KEEPS-{slug[-6:].upper()}", keep_tier_trial=True, audience="retention"
    )
    assert staying["prices"][0]["words"] == DISCOUNTED_WORDS
