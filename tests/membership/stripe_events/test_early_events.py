"""An event that arrives before what explains it is retried, not dropped."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from membership.lib.clock import utcnow
from membership.readers.models import Reader
from membership.stripe_events.models import StripeEvent
from tests.membership.conftest import GOOD_CARD, Stack


async def test_subscription_for_a_reader_not_yet_recorded_waits_then_converges(stack: Stack) -> None:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug)
    stripe_price = tier["prices"][0]["stripe_price_id"]
    # A checkout made elsewhere (say, a second membership process) for a reader whose row is not
    # committed here yet: its metadata names that reader and our tier.
    reader_id, email = uuid.uuid4(), f"early-{uuid.uuid4().hex[:8]}@example.com"
    sdk = stack.sdk()
    customer = await sdk.v1.customers.create_async({"email": email})
    metadata = {"tollgate_reader_id": str(reader_id), "tollgate_tier_id": tier["id"]}
    session = await sdk.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": stripe_price, "quantity": 1}],
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "success_url": "http://example.com/ok",
            "cancel_url": "http://example.com/no",
        }
    )
    await stack.control("post", f"/_sandbox/checkout/{session.id}/pay", json={"card": GOOD_CARD})
    await stack.control("post", "/_sandbox/delivery/wait")

    engine = create_async_engine(stack.database_url)
    try:
        waiting: list[tuple[str, str, int, str | None]] = []
        for _ in range(100):  # until the workers have tried at least once
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(
                        StripeEvent.type, StripeEvent.status, StripeEvent.attempts, StripeEvent.last_error
                    ).where(StripeEvent.payload.contains(str(reader_id)))
                )
                waiting = [tuple(r) for r in rows]  # type: ignore[misc]
            if waiting and all(attempts >= 1 for _, _, attempts, _ in waiting):
                break
            await asyncio.sleep(0.05)
        assert waiting, "the events were not stored"
        assert all(status == "pending" for _, status, _, _ in waiting), waiting  # retried, not dropped
        assert any("NotYetKnown" in (error or "") for *_, error in waiting)

        # The reader's row lands; the next retry places the subscription and grants access.
        now = utcnow()
        async with engine.begin() as conn:
            await conn.execute(
                insert(Reader).values(
                    id=reader_id,
                    email=email,
                    display_name="early",
                    entitlement_version=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        await stack.settle()
        async with engine.connect() as conn:
            statuses = {
                s
                for (s,) in await conn.execute(
                    select(StripeEvent.status).where(StripeEvent.payload.contains(str(reader_id)))
                )
            }
        assert statuses == {"processed"}
    finally:
        await engine.dispose()
    reader = await stack.reader(email)
    assert (await reader.get("/api/me")).json()["id"] == str(reader_id)
    assert (await reader.get("/api/me/entitlements")).json()["keys"] == [f"pub:{slug}"]
