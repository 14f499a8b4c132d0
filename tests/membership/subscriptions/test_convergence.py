"""Every permutation and duplication of a lifecycle's events ends where in-order delivery ends.

One lifecycle runs against the sandbox with its webhooks held back: a trial, the trial turning
paid, a renewal, cancel-at-period-end set and undone, a second renewal. Its events are then
delivered to membership by this test, signed with the endpoint secret: first in order, then, for
each Hypothesis example, shuffled with duplicates, each time into a freshly emptied inbox.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import create_async_engine

from membership.grants.models import Grant
from membership.lib.clock import utcnow
from membership.stripe_events.models import StripeEvent
from membership.subscriptions.models import Subscription
from tests.membership.conftest import Stack
from tests.membership.stripe_events.signing import signature

Snapshot = tuple[tuple[Any, ...], ...]


async def lifecycle_events(stack: Stack) -> list[dict[str, Any]]:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug, trial_days=7)
    reader = await stack.reader()
    await stack.control("post", "/_sandbox/delivery", json={"mode": "hold"})
    started = await reader.post("/api/billing/checkout", json={"price_id": tier["prices"][0]["id"]})
    paid = await stack.control(
        "post", f"/_sandbox/checkout/{started.json()['session_id']}/pay", json={"card": "4242424242424242"}
    )
    sub_id = paid["session"]["subscription"]
    sdk = stack.sdk()
    await stack.control("post", "/_sandbox/clock/advance", json={"days": 8})
    await stack.control("post", "/_sandbox/clock/advance", json={"days": 31})
    await sdk.v1.subscriptions.update_async(sub_id, {"cancel_at_period_end": True})
    await sdk.v1.subscriptions.update_async(sub_id, {"cancel_at_period_end": False})
    await stack.control("post", "/_sandbox/clock/advance", json={"days": 31})
    # Raw JSON, exactly as a webhook carries it (the SDK's objects hold Decimals).
    async with httpx.AsyncClient(
        base_url=stack.sandbox, headers={"authorization": f"Bearer sk_test_{uuid.uuid4().hex}"}
    ) as raw:
        listed = (await raw.get("/v1/events", params={"limit": 100})).json()["data"]
    ours = [e for e in listed if mentions(e, sub_id, paid)]
    await stack.control("post", "/_sandbox/delivery", json={"mode": "normal"})
    # Let the held events go (and be handled); the test then replays them into an emptied inbox.
    await stack.control("post", "/_sandbox/delivery/flush", json={"order": "as_created"})
    await stack.settle()
    return sorted(ours, key=lambda e: e["created"])


def mentions(event: dict[str, Any], sub_id: str, paid: dict[str, Any]) -> bool:
    text = json.dumps(event["data"]["object"])
    return sub_id in text or paid.get("session", {}).get("id", "-") in text


async def deliver(stack: Stack, events: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=stack.membership, timeout=30) as client:
        for event in events:
            payload = json.dumps(event).encode()
            answer = await client.post(
                "/api/stripe/webhook",
                content=payload,
                headers={
                    "content-type": "application/json",
                    "stripe-signature": signature(stack.secret, payload),
                },
            )
            assert answer.status_code == 200, answer.text
    await stack.settle()


async def reset_billing(stack: Stack) -> None:
    engine = create_async_engine(stack.database_url)
    async with engine.begin() as conn:
        for model in (Grant, Subscription, StripeEvent):
            await conn.execute(delete(model))
    await engine.dispose()


async def snapshot(stack: Stack) -> Snapshot:
    engine = create_async_engine(stack.database_url)
    now = utcnow()
    async with engine.connect() as conn:
        subs = (
            await conn.execute(
                select(
                    Subscription.stripe_subscription_id,
                    Subscription.status,
                    Subscription.cancel_at_period_end,
                    Subscription.current_period_end,
                )
            )
        ).all()
        grants = (await conn.execute(select(Grant.key, Grant.source, Grant.ends_at, Grant.revoked_at))).all()
        failed = (await conn.execute(select(StripeEvent.id).where(StripeEvent.status != "processed"))).all()
    await engine.dispose()
    assert failed == [], f"events not processed: {failed}"
    live = sorted(
        (key, source, ends_at)
        for key, source, ends_at, revoked_at in grants
        if revoked_at is None and (ends_at is None or ends_at > now)
    )
    return (tuple(sorted(tuple(s) for s in subs)), tuple(live))


def test_any_order_and_duplication_converges(running_stack: Stack) -> None:
    stack = running_stack
    events = asyncio.run(lifecycle_events(stack))
    kinds = {e["type"] for e in events}
    assert {"checkout.session.completed", "customer.subscription.created", "invoice.paid"} <= kinds
    assert "customer.subscription.updated" in kinds

    asyncio.run(reset_billing(stack))
    asyncio.run(deliver(stack, events))
    expected = asyncio.run(snapshot(stack))
    (subs, live) = expected
    assert [s[1:3] for s in subs] == [("active", False)]
    assert [(key, source) for key, source, _ in live] == [(live[0][0], "subscription")]

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(order=st.permutations(events), repeats=st.lists(st.sampled_from(events), max_size=len(events)))
    def permuted(order: list[dict[str, Any]], repeats: list[dict[str, Any]]) -> None:
        mixed = list(order)
        for i, extra in enumerate(repeats):
            mixed.insert((i * 7) % (len(mixed) + 1), extra)
        asyncio.run(reset_billing(stack))
        asyncio.run(deliver(stack, mixed))
        assert asyncio.run(snapshot(stack)) == expected

    permuted()
