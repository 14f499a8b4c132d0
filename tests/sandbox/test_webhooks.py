"""Webhook delivery: Stripe's signature, retries, the delivery modes, resend, and the events API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import stripe

from stripe_sandbox import webhooks
from tests.sandbox.conftest import Sandbox, SandboxFactory

FAST_RETRIES = (0.05, 0.05, 0.05, 0.05)


async def _events(sandbox: Sandbox) -> list[dict[str, Any]]:
    return (await sandbox.control("GET", "/events"))["events"]  # type: ignore[no-any-return]


async def _customers(sandbox: Sandbox, count: int) -> list[str]:
    return [
        (await sandbox.stripe.v1.customers.create_async(params={"name": f"r{i}"})).id for i in range(count)
    ]


def _customer_ids(sandbox: Sandbox, since: int = 0) -> list[str]:
    return [e["data"]["object"]["id"] for e in sandbox.inbox.events[since:]]


async def test_signature_verifies_with_the_secret_and_only_with_it(
    make_sandbox: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", FAST_RETRIES)
    async with make_sandbox() as sandbox:
        (customer,) = await _customers(sandbox, 1)
        await sandbox.wait()
        assert _customer_ids(sandbox) == [customer]
        assert sandbox.inbox.rejected == []
    # The same receiver refuses a sandbox that signs with another secret.
    async with make_sandbox(webhook_secret="whsec_" + "not-the-inbox-secret") as wrong:
        await _customers(wrong, 1)
        await wrong.wait()
        assert wrong.inbox.events == []
        assert len(wrong.inbox.rejected) == 1 + len(FAST_RETRIES)
        (record,) = await _events(wrong)
        assert record["outcome"] == "failed"
        assert [a["status"] for a in record["attempts"]] == [400] * 5


def test_signature_header_is_stripes_scheme() -> None:
    body = b'{"id": "evt_1", "object": "event"}'
    header = webhooks.signature_header("whsec_made_up", body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), header, "whsec_made_up")  # too old for the tolerance
    event = stripe.Webhook.construct_event(body.decode(), header, "whsec_made_up", tolerance=None)  # type: ignore[arg-type]
    assert event.id == "evt_1"


async def test_failed_deliveries_are_retried(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", FAST_RETRIES)
    sandbox.inbox.fail_next = 2
    first, second = await _customers(sandbox, 2)
    await sandbox.wait()
    # The failing first event did not hold up the second one.
    assert sorted(_customer_ids(sandbox)) == sorted([first, second])
    records = {r["object"]: r for r in await _events(sandbox)}
    assert records[first]["outcome"] == records[second]["outcome"] == "delivered"
    delivered = await sandbox.stripe.v1.events.list_async(params={"delivery_success": True})
    assert len(delivered.data) == 2
    assert (await sandbox.stripe.v1.events.list_async(params={"delivery_success": False})).data == []
    statuses = sorted(
        [a["status"] for a in records[first]["attempts"]] + [a["status"] for a in records[second]["attempts"]]
    )
    assert statuses == [200, 200, 500, 500]


async def test_an_unreachable_endpoint_ends_failed(
    make_sandbox: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", FAST_RETRIES)
    async with make_sandbox(webhook_url="http://127.0.0.1:9/nothing-listens") as sandbox:
        await _customers(sandbox, 1)
        await sandbox.wait()
        (record,) = await _events(sandbox)
        assert record["outcome"] == "failed"
        assert len(record["attempts"]) == 5
        assert all(a["status"] is None and a["error"] for a in record["attempts"])
        failing = await sandbox.stripe.v1.events.list_async(params={"delivery_success": False})
        assert [e.id for e in failing.data] == [record["id"]]


async def test_duplicate_mode_sends_every_event_twice(sandbox: Sandbox) -> None:
    await sandbox.control("POST", "/delivery", {"mode": "duplicate"})
    customers = await _customers(sandbox, 2)
    await sandbox.wait()
    assert _customer_ids(sandbox) == [customers[0], customers[0], customers[1], customers[1]]
    ids = [e["id"] for e in sandbox.inbox.events]
    assert ids[0] == ids[1] != ids[2] == ids[3]


async def test_shuffle_mode_mixes_the_events_of_one_action(sandbox: Sandbox) -> None:
    price = await sandbox.price()
    session = await sandbox.session(price.id, customer_email="reader@example.com")
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    await sandbox.control("POST", "/delivery", {"mode": "shuffle", "seed": 3})
    await sandbox.pay(session.id)
    arrived = [e["id"] for e in sandbox.inbox.events[before:]]
    recorded = [r["id"] for r in await _events(sandbox)][before:]
    assert len(recorded) == 9
    assert sorted(arrived) == sorted(recorded)
    assert arrived != recorded


async def test_hold_then_flush_shuffled_and_duplicated(sandbox: Sandbox) -> None:
    await sandbox.control("POST", "/delivery", {"mode": "hold"})
    _, session = await sandbox.subscribe()
    await sandbox.wait()
    assert sandbox.inbox.events == []
    held = [r for r in await _events(sandbox) if r["outcome"] == "held"]
    assert len(held) == 11  # product, price and the nine of a paid checkout
    flushed = await sandbox.control(
        "POST", "/delivery/flush", {"order": "shuffled", "duplicate": True, "seed": 11}
    )
    assert len(flushed["sending"]) == 22
    await sandbox.wait()
    arrived = [e["id"] for e in sandbox.inbox.events]
    created = [r["id"] for r in held]
    assert sorted(arrived) == sorted(created * 2)
    assert arrived != [x for x in created for _ in range(2)]
    assert {r["outcome"] for r in await _events(sandbox)} == {"delivered"}
    assert session["status"] == "complete"


async def test_hold_then_flush_in_reverse_and_release_on_mode_change(sandbox: Sandbox) -> None:
    await sandbox.control("POST", "/delivery", {"mode": "hold"})
    customers = await _customers(sandbox, 3)
    await sandbox.control("POST", "/delivery/flush", {"order": "reverse"})
    await sandbox.wait()
    assert _customer_ids(sandbox) == list(reversed(customers))
    later = await _customers(sandbox, 2)
    await sandbox.wait()
    assert len(sandbox.inbox.events) == 3  # still holding
    await sandbox.control("POST", "/delivery", {"mode": "normal"})
    await sandbox.wait()
    assert _customer_ids(sandbox, since=3) == later


async def test_delay_and_resend(sandbox: Sandbox) -> None:
    await sandbox.control("POST", "/delivery", {"mode": "normal", "delay_seconds": 0.3})
    (customer,) = await _customers(sandbox, 1)
    await asyncio.sleep(0.1)
    assert sandbox.inbox.events == []
    await sandbox.wait()
    assert _customer_ids(sandbox) == [customer]
    await sandbox.control("POST", "/delivery", {"mode": "normal", "delay_seconds": 0})
    event_id = sandbox.inbox.events[0]["id"]
    assert await sandbox.control("POST", f"/events/{event_id}/resend") == {"resent": event_id}
    await sandbox.wait()
    assert [e["id"] for e in sandbox.inbox.events] == [event_id, event_id]
    (record,) = await _events(sandbox)
    assert len(record["attempts"]) == 2


async def test_without_a_secret_nothing_is_sent(make_sandbox: SandboxFactory) -> None:
    async with make_sandbox(webhooks=False) as sandbox:
        (customer,) = await _customers(sandbox, 1)
        await sandbox.wait()
        assert sandbox.inbox.events == []
        (record,) = await _events(sandbox)
        assert (record["object"], record["outcome"], record["attempts"]) == (customer, "not_sent", [])
        event = await sandbox.stripe.v1.events.retrieve_async(record["id"])
        assert event.pending_webhooks == 0
        refused = await sandbox.http.post(f"/_sandbox/events/{record['id']}/resend")
        assert refused.status_code == 400


async def test_events_api_and_event_shape(sandbox: Sandbox) -> None:
    created = await sandbox.http.post(
        "/v1/customers",
        data={"email": "shape@example.com"},
        headers={"Authorization": f"Bearer {sandbox.api_key}", "Idempotency-Key": "key-for-shape"},
    )
    request_id = created.headers["request-id"]
    await sandbox.subscribe()
    await sandbox.advance(days=32)
    listed = await sandbox.stripe.v1.events.list_async(params={"type": "customer.created", "limit": 100})
    first = listed.data[-1]
    assert first.data.object["email"] == "shape@example.com"
    assert (first.object, first.api_version, first.livemode, first.pending_webhooks) == (
        "event",
        "2026-10-28.endive",
        False,
        1,
    )
    assert first.request is not None
    assert (first.request.id, first.request.idempotency_key) == (request_id, "key-for-shape")
    wildcard = await sandbox.stripe.v1.events.list_async(params={"type": "invoice.*", "limit": 100})
    assert {e.type for e in wildcard.data} == {
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    }
    renewal = (
        await sandbox.stripe.v1.events.list_async(
            params={"type": "customer.subscription.updated", "limit": 1}
        )
    ).data[0]
    assert renewal.request is not None and renewal.request.id is None  # the clock, not a request, did it
    assert "previous_attributes" in renewal.data
    fetched = await sandbox.stripe.v1.events.retrieve_async(renewal.id)
    assert fetched.created == renewal.created
