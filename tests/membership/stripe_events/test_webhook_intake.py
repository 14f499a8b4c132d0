"""Webhook intake: verified on the raw body, stored once, bad input refused with nothing stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from membership.db import alchemy_config
from membership.lib.stripe_client import StripeApi
from membership.settings import Settings
from membership.stripe_events.models import StripeEvent
from membership.stripe_events.worker import InboxWorker
from tests.conftest import ClientFactory
from tests.membership.stripe_events.signing import body, event, new_secret, signature

# A checkout in payment mode needs no call to Stripe: handling it is a real no-op.
HARMLESS = {"object": "checkout.session", "id": "cs_test_x", "mode": "payment", "subscription": None}


@asynccontextmanager
async def worker_for(app: Litestar) -> AsyncIterator[InboxWorker]:
    """A worker with its own engine, as a separate worker process would have."""
    settings: Settings = app.state.settings
    alchemy = alchemy_config(settings)
    try:
        yield InboxWorker(alchemy, settings, StripeApi(settings))
    finally:
        await alchemy.get_engine().dispose()


async def stored(database_url: str) -> list[Any]:
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(StripeEvent.id, StripeEvent.status, StripeEvent.attempts))).all()
    await engine.dispose()
    return list(rows)


def post(client: AsyncTestClient[Litestar], secret: str, payload: bytes, **headers: str) -> Any:
    base = {"content-type": "application/json", "stripe-signature": signature(secret, payload)}
    return client.post("/api/stripe/webhook", content=payload, headers=base | headers)


async def test_disabled_without_a_secret(client_with: ClientFactory, database_url: str) -> None:
    async with client_with(stripe_webhook_secret="") as client:
        response = await post(client, new_secret(), body(event("invoice.paid", {})))
        assert response.status_code == 404
    assert await stored(database_url) == []


async def test_valid_event_is_stored_once(client_with: ClientFactory, database_url: str) -> None:
    secret = new_secret()
    evt = event("checkout.session.completed", HARMLESS)
    async with client_with(stripe_webhook_secret=secret, stripe_workers=0) as client:
        first = await post(client, secret, body(evt))
        again = await post(client, secret, body(evt))
        assert first.status_code == again.status_code == 200
        assert first.json() == {"received": True, "stored": True}
        assert again.json() == {"received": True, "stored": False}
    assert await stored(database_url) == [(evt["id"], "pending", 0)]


async def test_unknown_types_are_acknowledged_not_stored(
    client_with: ClientFactory, database_url: str
) -> None:
    secret = new_secret()
    async with client_with(stripe_webhook_secret=secret, stripe_workers=0) as client:
        response = await post(client, secret, body(event("customer.tax_id.created", {})))
        assert response.status_code == 200 and response.json()["stored"] is False
    assert await stored(database_url) == []


@pytest.mark.parametrize(
    "case",
    [
        "wrong-secret",
        "tampered-body",
        "stale",
        "no-header",
        "garbage-header",
        "truncated",
        "not-json",
        "not-an-event",
    ],
)
async def test_bad_webhooks_are_refused_and_store_nothing(
    client_with: ClientFactory, database_url: str, case: str
) -> None:
    secret = new_secret()
    payload = body(event("invoice.paid", {"id": "in_1"}))
    headers = {"stripe-signature": signature(secret, payload)}
    if case == "wrong-secret":
        headers["stripe-signature"] = signature(new_secret(), payload)
    elif case == "tampered-body":
        payload = payload.replace(b"invoice.paid", b"invoice.void")
    elif case == "stale":
        headers["stripe-signature"] = signature(secret, payload, at=int(time.time()) - 3600)
    elif case == "no-header":
        headers = {}
    elif case == "garbage-header":
        headers["stripe-signature"] = "t=abc,v1=zz"
    elif case == "truncated":
        payload = payload[: len(payload) // 2]
    elif case in ("not-json", "not-an-event"):
        payload = b"hello" if case == "not-json" else b'{"id": "nope", "type": "invoice.paid"}'
        headers["stripe-signature"] = signature(secret, payload)
    async with client_with(stripe_webhook_secret=secret, stripe_workers=0) as client:
        response = await client.post(
            "/api/stripe/webhook", content=payload, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await stored(database_url) == []


async def test_wrong_content_type_and_huge_body(client_with: ClientFactory, database_url: str) -> None:
    secret = new_secret()
    payload = body(event("invoice.paid", {"id": "in_1"}))
    huge = body(event("invoice.paid", {"id": "in_1", "pad": "x" * (2 * 1024 * 1024)}))
    async with client_with(stripe_webhook_secret=secret, stripe_workers=0) as client:
        wrong = await post(client, secret, payload, **{"content-type": "text/plain"})
        assert wrong.status_code == 415
        too_big = await post(client, secret, huge)
        assert too_big.status_code == 413
        assert too_big.headers["content-type"].startswith("application/problem+json")
    assert await stored(database_url) == []


async def test_same_event_delivered_concurrently_is_stored_and_processed_once(
    client_with: ClientFactory, database_url: str
) -> None:
    secret = new_secret()
    evt = event("checkout.session.completed", HARMLESS)
    async with client_with(stripe_webhook_secret=secret, stripe_workers=0) as client:
        answers = await asyncio.gather(*(post(client, secret, body(evt)) for _ in range(20)))
        assert all(a.status_code == 200 for a in answers)
        assert sum(a.json()["stored"] for a in answers) == 1
        # Four workers race over the inbox: exactly one claims and processes the event.
        async with worker_for(client.app) as worker:
            taken = await asyncio.gather(*(worker.run_once() for _ in range(4)))
        assert sum(taken) == 1
    assert await stored(database_url) == [(evt["id"], "processed", 1)]


async def test_many_events_many_workers_each_processed_once(
    client_with: ClientFactory, database_url: str
) -> None:
    secret = new_secret()
    events = [event("checkout.session.completed", HARMLESS) for _ in range(30)]
    async with client_with(stripe_webhook_secret=secret, stripe_workers=0) as client:
        for evt in events:
            assert (await post(client, secret, body(evt))).status_code == 200
        total = 0
        async with worker_for(client.app) as worker:
            while taken := sum(await asyncio.gather(*(worker.run_once() for _ in range(5)))):
                total += taken
        assert total == 30
    rows = await stored(database_url)
    assert len(rows) == 30
    assert {(status, attempts) for _, status, attempts in rows} == {("processed", 1)}


async def test_a_failing_event_is_retried_then_marked_failed(
    client_with: ClientFactory, database_url: str
) -> None:
    secret = new_secret()
    # A subscription event for a subscription the (unreachable) Stripe cannot tell us about.
    evt = event("customer.subscription.updated", {"object": "subscription", "id": "sub_missing"})
    async with client_with(
        stripe_webhook_secret=secret,
        stripe_workers=0,
        stripe_max_attempts=3,
        stripe_retry_base_seconds=0.01,
        stripe_network_retries=0,
        stripe_sandbox_url="http://127.0.0.1:9",
    ) as client:
        await post(client, secret, body(evt))
        async with worker_for(client.app) as worker:
            for _ in range(3):
                await asyncio.sleep(0.1)
                await worker.run_once()
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        row = (await conn.execute(select(StripeEvent).where(StripeEvent.id == evt["id"]))).one()
        count = (await conn.execute(select(func.count()).select_from(StripeEvent))).scalar_one()
    await engine.dispose()
    assert count == 1
    assert row.status == "failed" and row.attempts == 3
    assert "unavailable" in row.last_error.lower()
