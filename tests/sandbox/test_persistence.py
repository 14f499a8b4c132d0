"""The state file: everything survives a restart, and what was not delivered yet is sent by the next run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import stripe

from tests.sandbox.conftest import DAY, SandboxFactory


async def test_state_survives_a_restart(make_sandbox: SandboxFactory, tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox" / "state.json"
    async with make_sandbox(state_file=str(state_file)) as first:
        _, session = await first.subscribe(card="4000000000000341")
        moved = await first.advance(days=10)
        made = await first.stripe.v1.customers.create_async(
            params={"email": "once@example.com"}, options={"idempotency_key": "restart-key"}
        )
        await first.control("POST", "/delivery", {"mode": "hold"})
        held = (await first.stripe.v1.customers.create_async(params={"email": "held@example.com"})).id
        await first.wait()
        assert held not in [e["data"]["object"]["id"] for e in first.inbox.events]
        count = len((await first.control("GET", "/events"))["events"])
    saved = json.loads(await asyncio.to_thread(state_file.read_text))
    assert session["subscription"] in saved["objects"]["subscriptions"]

    async with make_sandbox(state_file=str(state_file)) as second:
        assert await second.now() >= moved["now"]  # the clock kept its offset
        subscription = await second.stripe.v1.subscriptions.retrieve_async(session["subscription"])
        assert subscription.status == "active"
        assert subscription["items"].data[0].current_period_start <= moved["now"] - 9 * DAY
        again = await second.stripe.v1.customers.create_async(
            params={"email": "once@example.com"}, options={"idempotency_key": "restart-key"}
        )
        assert again.id == made.id
        assert len((await second.control("GET", "/events"))["events"]) == count
        # The event held by the first run is delivered by the second (it starts in normal mode).
        await second.wait()
        assert [e["data"]["object"]["id"] for e in second.inbox.events] == [held]
        # The card that fails later still fails after the restart: a day past the renewal (not a
        # fixed number of days, which from 31 January would also pass the past_due grace).
        renews = subscription["items"].data[0].current_period_end
        await second.advance(days=(renews - await second.now()) / DAY + 1)
        assert (
            await second.stripe.v1.subscriptions.retrieve_async(session["subscription"])
        ).status == "past_due"


async def test_without_a_state_file_nothing_is_kept(make_sandbox: SandboxFactory, tmp_path: Path) -> None:
    async with make_sandbox() as first:
        customer = await first.stripe.v1.customers.create_async(params={"email": "gone@example.com"})
    async with make_sandbox() as second:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await second.stripe.v1.customers.retrieve_async(customer.id)
        assert missing.value.http_status == 404
    assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == []
