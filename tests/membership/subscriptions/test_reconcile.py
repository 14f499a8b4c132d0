"""Reconciliation: walking Stripe's subscriptions repairs whatever lost webhooks left wrong.

Lost webhooks are simulated by deleting and corrupting rows behind membership's back; the
sandbox still holds the truth, and `reconcile_all` has to bring the database back to it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from membership.grants.models import Grant
from membership.lib.clock import utcnow
from membership.subscriptions.models import Subscription
from membership.subscriptions.reconcile import reconcile_all
from tests.membership.conftest import GOOD_CARD, Stack, keys, subscriptions


async def sandbox_subscription_count(stack: Stack) -> int:
    count = 0
    page = await stack.sdk().v1.subscriptions.list_async({"status": "all", "limit": 100})
    async for _ in page.auto_paging_iter():
        count += 1
    return count


async def local_rows(stack: Stack, stripe_ids: list[str]) -> list[Any]:
    engine = create_async_engine(stack.database_url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Subscription.stripe_subscription_id, Subscription.status).where(
                    Subscription.stripe_subscription_id.in_(stripe_ids)
                )
            )
        ).all()
    await engine.dispose()
    return sorted(tuple(r) for r in rows)


async def test_reconcile_restores_lost_and_corrupted_subscriptions(stack: Stack) -> None:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug)
    readers: list[httpx.AsyncClient] = []
    sub_ids: list[str] = []
    for _ in range(4):
        reader = await stack.reader()
        paid = await stack.subscribe(reader, tier["prices"][0]["id"])
        readers.append(reader)
        sub_ids.append(paid["subscription"])
    lost, corrupted = sub_ids[:3], sub_ids[3]
    for reader in readers:
        assert await keys(reader) == [f"pub:{slug}"]
    assert await stack.events("failed") == []
    # What the webhooks built is already what Stripe says: nothing to repair.
    baseline = await reconcile_all(stack.settings, show_progress=False)
    assert (baseline.created, baseline.changed, baseline.changes) == (0, 0, [])

    # Lost webhooks: three subscriptions never arrived; a fourth was last seen canceled.
    engine = create_async_engine(stack.database_url)
    async with engine.begin() as conn:
        await conn.execute(delete(Grant).where(Grant.source_id.in_(lost)))
        await conn.execute(delete(Subscription).where(Subscription.stripe_subscription_id.in_(lost)))
        await conn.execute(
            update(Subscription)
            .where(Subscription.stripe_subscription_id == corrupted)
            .values(status="canceled", ended_at=utcnow() - timedelta(days=1))
        )
        await conn.execute(
            update(Grant).where(Grant.source_id == corrupted).values(ends_at=utcnow() - timedelta(minutes=1))
        )
    await engine.dispose()
    for reader in readers:
        assert await keys(reader) == []
    for reader in readers[:3]:
        assert await subscriptions(reader) == []

    report = await reconcile_all(stack.settings, show_progress=False)
    assert report.seen == await sandbox_subscription_count(stack)
    assert report.created == 3
    assert report.changed == 4
    assert report.not_ours == baseline.not_ours
    assert sorted(report.changes) == sorted(
        [f"added {s} (active)" for s in lost] + [f"repaired {corrupted} (active)"]
    )
    assert "3 added, 1 repaired" in report.summary()

    for reader in readers:
        assert await keys(reader) == [f"pub:{slug}"]
        [sub] = await subscriptions(reader)
        assert sub["status"] == "active" and sub["ended_at"] is None
        assert sub["tier_id"] == tier["id"]
    assert await local_rows(stack, sub_ids) == sorted((s, "active") for s in sub_ids)

    again = await reconcile_all(stack.settings, show_progress=False)
    assert again.seen == report.seen
    assert (again.created, again.changed, again.changes) == (0, 0, [])
    assert f"{again.seen - again.not_ours} already right" in again.summary()


async def test_a_subscription_sold_outside_tollgate_is_not_ours(stack: Stack) -> None:
    baseline = await reconcile_all(stack.settings, show_progress=False)
    sdk = stack.sdk()
    customer = await sdk.v1.customers.create_async({"email": "elsewhere@example.com"})
    product = await sdk.v1.products.create_async({"name": "Sold elsewhere"})
    price = await sdk.v1.prices.create_async(
        {"product": product.id, "currency": "usd", "unit_amount": 900, "recurring": {"interval": "month"}}
    )
    session = await sdk.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://elsewhere.example/thanks",
        }
    )
    paid = await stack.control("post", f"/_sandbox/checkout/{session.id}/pay", json={"card": GOOD_CARD})
    foreign = paid["session"]["subscription"]
    await stack.settle()
    assert await stack.events("failed") == []  # its webhooks were ignored, not failed

    report = await reconcile_all(stack.settings, show_progress=False)
    assert report.seen == await sandbox_subscription_count(stack)
    assert report.seen == baseline.seen + 1
    assert report.not_ours == baseline.not_ours + 1
    assert (report.created, report.changed, report.changes) == (0, 0, [])
    assert f"{report.not_ours} not ours" in report.summary()
    assert await local_rows(stack, [foreign]) == []

    engine = create_async_engine(stack.database_url)
    async with engine.connect() as conn:
        grants = (
            await conn.execute(select(func.count()).select_from(Grant).where(Grant.source_id == foreign))
        ).scalar_one()
    await engine.dispose()
    assert grants == 0
