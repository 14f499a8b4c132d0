"""A crash between commit and delivery loses nothing: membership here has no webhook sender of
its own, so the change commits with its messages and they wait; a worker that claims them and
dies holds them only for its lease; another worker then delivers each. In a module of its own so
that no other membership's sender shares the database meanwhile. Both databases."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from membership.db import alchemy_config
from membership.webhooks.models import MessageState, WebhookMessage
from membership.webhooks.worker import WebhookWorker
from tests.conftest import empty_tables
from tests.membership.conftest import Stack
from tests.membership.webhooks.conftest import FAST, Receiver
from tests.membership.webhooks.test_delivery import rows, subscribed_publication
from tests.servers import serve_billing


async def test_a_crash_between_commit_and_delivery_loses_nothing(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> None:
    await empty_tables(database_url)
    with serve_billing(
        database_url, tmp_path_factory.mktemp("crash"), **(FAST | {"webhook_workers": 0})
    ) as served:
        stack = Stack(served.membership, served.sandbox, served.secret, database_url, served.settings)
        _, inbox, price = await subscribed_publication(stack, receiver)
        await stack.subscribe(await stack.reader(), price)
        pending = await rows(
            stack, select(WebhookMessage).where(WebhookMessage.state == MessageState.PENDING)
        )
        assert pending and inbox.verified == []  # committed, not sent
        async with httpx.AsyncClient() as http:
            scraped = (await http.get(f"{served.membership}/metrics")).text
        waiting = {
            sample.labels["endpoint"]: sample.value
            for family in text_string_to_metric_families(scraped)
            if family.name == "membership_webhook_outbox_messages"
            for sample in family.samples
        }
        assert waiting == {str(pending[0].endpoint_id): len(pending)}  # the outbox's depth, per endpoint

        alchemy = alchemy_config(served.settings)
        try:
            crashed = WebhookWorker(alchemy, served.settings)
            claimed = await crashed._claim()  # claims, then "dies" before sending
            assert claimed
            assert await WebhookWorker(alchemy, served.settings).run_once() == 0  # leased to the dead one
            await asyncio.sleep(served.settings.webhook_lease_seconds + 0.2)
            survivor = WebhookWorker(alchemy, served.settings)
            # Until the debounced member.state_changed is due too (nothing else sends here).
            for _ in range(200):
                await survivor.run_once()
                if inbox.of_type("member.state_changed"):
                    break
                await asyncio.sleep(0.05)
            while await survivor.run_once():
                pass
            await survivor.sender.aclose()
            await crashed.sender.aclose()
        finally:
            await alchemy.get_engine().dispose()
        states = await rows(stack, select(WebhookMessage.state))
        assert set(states) == {MessageState.DELIVERED}
        assert len(inbox.verified) == len(states)
