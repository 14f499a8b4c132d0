"""Subscription lifecycles end to end: SDK → sandbox → signed webhooks → inbox → grants."""

from __future__ import annotations

import httpx
import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from membership.subscriptions.models import StripeCustomer
from tests.membership.conftest import DECLINED_CARD, Stack, keys, subscriptions


async def setup_tier(stack: Stack, **fields: object) -> tuple[httpx.AsyncClient, str, dict[str, object]]:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug, **fields)
    return owner, slug, tier


def price_of(tier: dict[str, object]) -> str:
    prices = tier["prices"]
    assert isinstance(prices, list) and prices
    return str(prices[0]["id"])


async def test_subscribe_grants_the_tier_keys(stack: Stack) -> None:
    _, slug, tier = await setup_tier(stack)
    reader = await stack.reader()
    assert await keys(reader) == []
    paid = await stack.subscribe(reader, price_of(tier))
    assert "/stories/s?checkout=success&session_id=cs_" in paid["redirect"]
    assert await keys(reader) == [f"pub:{slug}"]
    [sub] = await subscriptions(reader)
    assert sub["status"] == "active" and sub["tier_name"] == "Members"
    assert await stack.events("failed") == []
    assert await stack.events("pending") == []


async def test_no_duplicate_customer_or_subscription(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack)
    reader = await stack.reader()
    await stack.subscribe(reader, price_of(tier))
    again = await reader.post("/api/billing/checkout", json={"price_id": price_of(tier)})
    assert again.status_code == 409
    assert "already have a live" in again.json()["detail"]
    _, _, other = await setup_tier(stack)
    await stack.subscribe(reader, price_of(other))
    reader_id = (await reader.get("/api/me")).json()["id"]
    engine = create_async_engine(stack.database_url)
    async with engine.connect() as conn:
        customers = (
            await conn.execute(
                select(func.count()).select_from(StripeCustomer).where(StripeCustomer.reader_id == reader_id)
            )
        ).scalar_one()
    await engine.dispose()
    assert customers == 1  # the reader's one Stripe customer, reused for the second tier
    sandbox_customers = await stack.sdk().v1.customers.list_async(
        {"email": (await reader.get("/api/me")).json()["email"]}
    )
    assert len(sandbox_customers.data) == 1


async def test_declined_card_grants_nothing(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack)
    reader = await stack.reader()
    declined = await stack.subscribe(reader, price_of(tier), card=DECLINED_CARD)
    assert declined["error"]["code"] == "card_declined"
    assert await keys(reader) == []
    assert await subscriptions(reader) == []


async def test_trial_then_paid_and_only_one_trial(stack: Stack) -> None:
    _, slug, tier = await setup_tier(stack, trial_days=7)
    reader = await stack.reader()
    await stack.subscribe(reader, price_of(tier))
    [sub] = await subscriptions(reader)
    assert sub["status"] == "trialing"
    grants = (await reader.get("/api/me/entitlements")).json()["grants"]
    assert [(g["key"], g["source"]) for g in grants] == [(f"pub:{slug}", "trial")]
    await stack.advance(8)
    [sub] = await subscriptions(reader)
    assert sub["status"] == "active"
    grants = (await reader.get("/api/me/entitlements")).json()["grants"]
    assert [(g["key"], g["source"]) for g in grants] == [(f"pub:{slug}", "subscription")]
    # Cancel now and come back: no second trial.
    await reader.post(f"/api/me/subscriptions/{sub['id']}/cancel")
    await stack.advance(32)
    assert await keys(reader) == []
    await stack.subscribe(reader, price_of(tier))
    newest = (await subscriptions(reader))[0]
    assert newest["status"] == "active"


async def test_renewal_extends_access(stack: Stack) -> None:
    _, slug, tier = await setup_tier(stack)
    reader = await stack.reader()
    await stack.subscribe(reader, price_of(tier))
    [before] = await subscriptions(reader)
    await stack.advance(31)
    [after] = await subscriptions(reader)
    assert after["status"] == "active"
    assert after["current_period_end"] > before["current_period_end"]
    assert await keys(reader) == [f"pub:{slug}"]


async def test_failed_payment_keeps_access_in_grace_then_ends(stack: Stack) -> None:
    _, slug, tier = await setup_tier(stack)
    reader = await stack.reader()
    await stack.subscribe(reader, price_of(tier))
    customer = await stack.control("get", "/_sandbox/events")  # noqa: F841 - proves the control API answers
    [sub] = await subscriptions(reader)
    stripe_customer = await stripe_customer_of(stack, reader)
    await stack.control("post", f"/_sandbox/customers/{stripe_customer}/card", json={"fails": True})
    await stack.advance(31)
    [sub] = await subscriptions(reader)
    assert sub["status"] == "past_due"
    assert await keys(reader) == [f"pub:{slug}"]  # within the grace period
    await stack.advance(8)
    [sub] = await subscriptions(reader)
    assert sub["status"] == "canceled"
    assert await keys(reader) == []


async def test_cancel_at_period_end_keeps_access_until_then_and_resume(stack: Stack) -> None:
    _, slug, tier = await setup_tier(stack)
    reader = await stack.reader()
    await stack.subscribe(reader, price_of(tier))
    [sub] = await subscriptions(reader)
    canceled = await reader.post(f"/api/me/subscriptions/{sub['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["cancel_at_period_end"] is True
    await stack.settle()
    assert await keys(reader) == [f"pub:{slug}"]
    resumed = await reader.post(f"/api/me/subscriptions/{sub['id']}/resume")
    assert resumed.json()["cancel_at_period_end"] is False
    await stack.advance(31)
    assert await keys(reader) == [f"pub:{slug}"]  # resumed: renewed
    await reader.post(f"/api/me/subscriptions/{sub['id']}/cancel")
    await stack.advance(10)
    assert await keys(reader) == [f"pub:{slug}"]  # still inside the paid period
    await stack.advance(25)
    [sub] = await subscriptions(reader)
    assert sub["status"] == "canceled"
    assert await keys(reader) == []


async def test_dispute_revokes_at_once(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack)
    reader = await stack.reader()
    paid = await stack.subscribe(reader, price_of(tier))
    await stack.control("post", f"/_sandbox/charges/{paid['charge']}/dispute")
    await stack.settle()
    assert await keys(reader) == []
    [sub] = await subscriptions(reader)
    assert sub["status"] == "canceled" and sub["revoked_at"] is not None


async def test_full_refund_ends_access_partial_does_not(stack: Stack) -> None:
    _, slug, tier = await setup_tier(stack)
    partial = await stack.reader()
    paid = await stack.subscribe(partial, price_of(tier))
    await refund(stack, paid["charge"], amount=100)
    assert await keys(partial) == [f"pub:{slug}"]
    full = await stack.reader()
    paid = await stack.subscribe(full, price_of(tier))
    await refund(stack, paid["charge"])
    assert await keys(full) == []


async def test_revoking_one_source_keeps_a_key_another_grants(stack: Stack) -> None:
    owner, slug, basic = await setup_tier(stack)
    premium = await stack.tier(
        owner, slug, name="Premium", entitlement_keys=[f"pub:{slug}", f"pub:{slug}:premium"]
    )
    reader = await stack.reader()
    paid_basic = await stack.subscribe(reader, price_of(basic))
    await stack.subscribe(reader, price_of(premium))
    assert await keys(reader) == [f"pub:{slug}", f"pub:{slug}:premium"]
    await stack.control("post", f"/_sandbox/charges/{paid_basic['charge']}/dispute")
    await stack.settle()
    assert await keys(reader) == [f"pub:{slug}", f"pub:{slug}:premium"]  # premium still grants pub:slug


async def stripe_customer_of(stack: Stack, reader: httpx.AsyncClient) -> str:
    reader_id = (await reader.get("/api/me")).json()["id"]
    engine = create_async_engine(stack.database_url)
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                select(StripeCustomer.stripe_customer_id).where(StripeCustomer.reader_id == reader_id)
            )
        ).scalar_one()
    await engine.dispose()
    return str(found)


async def refund(stack: Stack, charge: str, amount: int | None = None) -> None:
    """Refunds through the real SDK, as a publisher's dashboard action would."""
    client = stripe.StripeClient(
        "sk_test_refunds", base_addresses={"api": stack.sandbox}, max_network_retries=0
    )
    params: stripe.params.RefundCreateParams = {"charge": charge}
    if amount is not None:
        params["amount"] = amount
    await client.v1.refunds.create_async(params)
    await stack.settle()
