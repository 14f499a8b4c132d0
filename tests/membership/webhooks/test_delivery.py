"""Outgoing webhooks end to end: a reader subscribes through the sandbox and a real receiver gets
Standard Webhooks it verifies with the `standardwebhooks` library; receivers that fail, answer
410, hang, or are down for a while; a crash between commit and delivery; a rotated secret; and
many changes converging to the right final state. Both databases."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.grants.services import GrantService
from membership.grants.states import GrantSource
from membership.lib.clock import utcnow
from membership.readers.models import Reader
from membership.webhooks.models import MessageState, WebhookAttempt, WebhookEndpoint, WebhookMessage
from membership.webhooks.payloads import PAYLOADS
from membership.webhooks.services import WebhookService
from tests.membership.conftest import Stack
from tests.membership.webhooks.conftest import Inbox, Receiver, add_endpoint, until
from tests.servers import bound_socket, serve


async def rows(stack: Stack, query: Any) -> list[Any]:
    engine = create_async_engine(stack.database_url)
    try:
        async with async_sessionmaker(engine, class_=AsyncSession)() as session:
            return list((await session.execute(query)).scalars())
    finally:
        await engine.dispose()


async def subscribed_publication(stack: Stack, receiver: Receiver, **endpoint: Any) -> tuple[str, Inbox, str]:
    """A publication with a tier and an endpoint; returns its slug, the inbox, the tier's key."""
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug)
    url, inbox = receiver.new()
    await add_endpoint(stack, slug, url, inbox, **endpoint)
    return slug, inbox, tier["prices"][0]["id"]


async def test_a_subscription_sends_signed_events_a_receiver_verifies(
    webhook_stack: Stack, receiver: Receiver
) -> None:
    slug, inbox, price = await subscribed_publication(webhook_stack, receiver)
    reader = await webhook_stack.reader()
    await webhook_stack.subscribe(reader, price)
    reader_id = (await reader.get("/api/me")).json()["id"]

    await until(lambda: bool(inbox.of_type("member.state_changed")), what="member.state_changed")
    assert inbox.refused == []  # every delivery carried a signature the library accepts
    for _, payload, _ in inbox.verified:  # each is what the OpenAPI document says it is
        msgspec.json.decode(json.dumps(payload), type=PAYLOADS[payload["type"]])
    [granted] = inbox.of_type("entitlement.granted")
    assert granted["data"]["reader_id"] == reader_id and granted["data"]["key"] == f"pub:{slug}"
    assert granted["version"] == 1 and granted["data"]["version"] >= 1
    [created] = inbox.of_type("member.created")
    assert created["data"]["email"] == (await reader.get("/api/me")).json()["email"]
    updates = inbox.of_type("subscription.updated")
    assert updates and updates[-1]["data"]["status"] == "active"
    [state] = inbox.of_type("member.state_changed")  # debounced: one for the whole subscribe
    assert [e["key"] for e in state["data"]["entitlements"]] == [f"pub:{slug}"]
    assert state["data"]["version"] == granted["data"]["version"]
    ids = [message_id for message_id, _, _ in inbox.verified]
    assert len(ids) == len(set(ids)) and all(i.startswith("msg_") for i in ids)
    _, _, headers = inbox.verified[0]
    assert headers["webhook-signature"].startswith("v1,") and headers["content-type"] == "application/json"
    for _ in range(100):  # the last attempt's row commits just after its answer
        log = await rows(webhook_stack, select(WebhookAttempt))
        if len(log) == len(inbox.verified):
            break
        await asyncio.sleep(0.05)
    assert {a.status for a in log} == {200} and len(log) == len(inbox.verified)

    renamed = await reader.patch("/api/me", json={"display_name": "Ada Reader"})
    assert renamed.status_code == 200
    await until(lambda: bool(inbox.of_type("member.updated")), what="member.updated")
    [updated] = inbox.of_type("member.updated")
    assert updated["data"]["display_name"] == "Ada Reader" and updated["data"]["reader_id"] == reader_id


async def test_failures_are_retried_with_the_same_webhook_id_until_delivered(
    webhook_stack: Stack, receiver: Receiver
) -> None:
    _, inbox, price = await subscribed_publication(
        webhook_stack, receiver, event_types=["subscription.updated"]
    )
    inbox.plan = [500, 503]
    await webhook_stack.subscribe(await webhook_stack.reader(), price)

    async def all_delivered() -> list[WebhookMessage]:
        found = await rows(webhook_stack, select(WebhookMessage))
        return found if found and all(m.state is MessageState.DELIVERED for m in found) else []

    for _ in range(400):
        if delivered := await all_delivered():
            break
        await asyncio.sleep(0.05)
    assert delivered
    attempts = await rows(webhook_stack, select(WebhookAttempt).order_by(WebhookAttempt.created_at))
    assert sorted(a.status for a in attempts if a.status != 200) == [500, 503]
    assert any("not now" in a.excerpt for a in attempts)
    for message in delivered:
        tries = [a for a in attempts if a.message_id == message.id]
        assert tries[-1].status == 200 and message.attempts == len(tries)
        # The receiver saw the same webhook-id on every attempt, so it can drop the repeats.
        assert [i for i, _, _ in inbox.verified].count(message.message_id) == len(tries)
    [endpoint] = await rows(webhook_stack, select(WebhookEndpoint))
    assert endpoint.failing_since is None and endpoint.disabled_at is None  # the success cleared it


async def test_a_receiver_answering_410_disables_the_endpoint(
    webhook_stack: Stack, receiver: Receiver
) -> None:
    _, inbox, price = await subscribed_publication(webhook_stack, receiver)
    inbox.plan = [410] * 50
    await webhook_stack.subscribe(await webhook_stack.reader(), price)

    async def disabled() -> bool:
        [endpoint] = await rows(webhook_stack, select(WebhookEndpoint))
        return endpoint.disabled_at is not None

    for _ in range(200):
        if await disabled():
            break
        await asyncio.sleep(0.05)
    [endpoint] = await rows(webhook_stack, select(WebhookEndpoint))
    assert endpoint.disabled_at is not None and "410" in endpoint.disabled_reason
    # Nothing more is sent to it: a second reader's subscription adds no message for it.
    before = len(await rows(webhook_stack, select(WebhookMessage)))
    await webhook_stack.subscribe(await webhook_stack.reader(), price)
    assert len(await rows(webhook_stack, select(WebhookMessage))) == before


async def test_a_hanging_receiver_times_out_and_is_retried(webhook_stack: Stack, receiver: Receiver) -> None:
    _, inbox, price = await subscribed_publication(
        webhook_stack, receiver, event_types=["subscription.updated"]
    )
    inbox.hang = 3.0  # beyond the 1 s timeout
    await webhook_stack.subscribe(await webhook_stack.reader(), price)

    async def timed_out() -> list[WebhookAttempt]:
        return [a for a in await rows(webhook_stack, select(WebhookAttempt)) if a.status is None]

    for _ in range(400):
        if await timed_out():
            break
        await asyncio.sleep(0.05)
    [slow, *_] = await timed_out()
    assert "1 s" in slow.error
    inbox.hang = 0.0
    await until(lambda: bool(inbox.of_type("subscription.updated")), what="delivery once it answers")


async def test_a_receiver_down_for_a_while_gets_everything_once_it_is_up(
    webhook_stack: Stack, receiver: Receiver
) -> None:
    owner = await webhook_stack.reader()
    slug = await webhook_stack.publication(owner)
    tier = await webhook_stack.tier(owner, slug)
    sock = bound_socket()  # bound, not listening: connections are refused
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook/later"
    inbox = Inbox()
    await add_endpoint(webhook_stack, slug, url, inbox, event_types=["subscription.updated"])
    await webhook_stack.subscribe(await webhook_stack.reader(), tier["prices"][0]["id"])

    async def refused() -> int:
        return len([a for a in await rows(webhook_stack, select(WebhookAttempt)) if a.status is None])

    for _ in range(400):
        if await refused() >= 2:
            break
        await asyncio.sleep(0.05)
    from tests.membership.webhooks.conftest import receiver_app

    with serve(receiver_app({"later": inbox}), sock=sock):
        await until(lambda: bool(inbox.of_type("subscription.updated")), what="delivery after the outage")
    [endpoint] = await rows(webhook_stack, select(WebhookEndpoint))
    assert endpoint.failing_since is None


async def test_a_rotated_secret_and_the_old_one_both_sign_for_a_day(
    webhook_stack: Stack, receiver: Receiver
) -> None:
    _, inbox, price = await subscribed_publication(
        webhook_stack, receiver, event_types=["subscription.updated"]
    )
    old = inbox.secrets[0]
    engine = create_async_engine(webhook_stack.database_url)
    async with async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)() as session:
        [endpoint] = (await session.scalars(select(WebhookEndpoint))).all()
        new = await WebhookService(session, webhook_stack.settings).rotate(endpoint)
        await session.commit()
    await engine.dispose()
    assert new != old and new.startswith("whsec_")
    inbox.secrets = [new]  # a receiver that switched at once
    await webhook_stack.subscribe(await webhook_stack.reader(), price)
    await until(lambda: len(inbox.of_type("subscription.updated")) >= 1, what="verified with the new secret")
    _, _, headers = inbox.verified[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2  # signed with both
    inbox.secrets = [old]  # and one still on the old secret
    await webhook_stack.subscribe(await webhook_stack.reader(), price)
    await until(lambda: len(inbox.of_type("subscription.updated")) >= 2, what="verified with the old secret")
    assert inbox.refused == []

    # A day on, only the new one signs: a receiver still on the old one refuses the delivery.
    engine = create_async_engine(webhook_stack.database_url)
    async with engine.begin() as conn:
        await conn.execute(update(WebhookEndpoint).values(previous_until=utcnow() - timedelta(seconds=1)))
    await engine.dispose()
    await webhook_stack.subscribe(await webhook_stack.reader(), price)
    await until(lambda: bool(inbox.refused), what="a delivery the old secret cannot verify")


async def test_a_thousand_changes_converge_to_the_right_state_at_the_receiver(
    webhook_stack: Stack, receiver: Receiver
) -> None:
    owner = await webhook_stack.reader()
    slug = await webhook_stack.publication(owner)
    url, inbox = receiver.new()
    await add_endpoint(webhook_stack, slug, url, inbox)
    engine = create_async_engine(webhook_stack.database_url)
    maker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    readers = []
    async with maker() as session:
        for n in range(20):
            reader = Reader(email=f"flip-{n}-{uuid.uuid4().hex[:6]}@example.com", display_name=f"r{n}")
            session.add(reader)
            readers.append(reader)
        await session.commit()
    chance = random.Random(15)
    keys = [f"pub:{slug}", f"pub:{slug}:extra"]
    for _ in range(1000):
        reader = chance.choice(readers)
        key = chance.choice(keys)
        async with maker() as session:
            await GrantService(session).sync(
                reader.id,
                source=GrantSource.COMP,
                source_id=f"{reader.id}-{key}",
                keys={key},
                live=chance.random() < 0.5,
                starts_at=utcnow() - timedelta(minutes=1),
                ends_at=None,
            )
            await session.commit()
    truth = {}
    async with maker() as session:
        for reader in readers:
            truth[str(reader.id)] = sorted(g.key for g in await GrantService(session).live(reader.id))
    await engine.dispose()

    async def drained() -> bool:
        left = await rows(
            webhook_stack,
            select(func.count())
            .select_from(WebhookMessage)
            .where(WebhookMessage.state == MessageState.PENDING),
        )
        return left == [0]

    for _ in range(1200):
        if await drained():
            break
        await asyncio.sleep(0.05)
    assert await drained()
    # The receiver keeps, per reader, the state_changed with the highest version.
    newest: dict[str, dict[str, Any]] = {}
    for payload in inbox.of_type("member.state_changed"):
        data = payload["data"]
        if data["reader_id"] not in newest or data["version"] > newest[data["reader_id"]]["version"]:
            newest[data["reader_id"]] = data
    seen = {r: sorted(e["key"] for e in d["entitlements"]) for r, d in newest.items()}
    assert {r: k for r, k in truth.items() if r in seen or k} == seen
    assert inbox.refused == []
    # Debounced: far fewer state messages than changes, yet the last state arrived.
    assert len(inbox.of_type("member.state_changed")) < 1000


async def test_an_endpoint_failing_for_five_days_is_disabled_and_its_owners_told(
    webhook_stack: Stack, receiver: Receiver
) -> None:
    owner = await webhook_stack.reader()
    owner_email = (await owner.get("/api/me")).json()["email"]
    slug = await webhook_stack.publication(owner)
    tier = await webhook_stack.tier(owner, slug)
    url, inbox = receiver.new()
    await add_endpoint(webhook_stack, slug, url, inbox, event_types=["subscription.updated"])
    engine = create_async_engine(webhook_stack.database_url)
    async with engine.begin() as conn:  # it has failed every delivery since five days ago
        since = utcnow() - timedelta(days=5, minutes=1)
        await conn.execute(update(WebhookEndpoint).values(failing_since=since))
    await engine.dispose()
    inbox.plan = [500] * 50
    await webhook_stack.subscribe(await webhook_stack.reader(), tier["prices"][0]["id"])

    for _ in range(400):
        [endpoint] = await rows(webhook_stack, select(WebhookEndpoint))
        if endpoint.disabled_at is not None:
            break
        await asyncio.sleep(0.05)
    assert endpoint.disabled_at is not None and "5 days" in endpoint.disabled_reason
    mail = (await owner.get("/dev/outbox/messages", params={"to": owner_email})).json()
    [told] = [m for m in mail if "webhook endpoint" in m["subject"]]
    assert url in told["body"] and "Webhooks page" in told["body"]


async def test_a_slow_answer_within_the_timeout_is_a_delivery_with_its_latency(
    webhook_stack: Stack, receiver: Receiver
) -> None:
    _, inbox, price = await subscribed_publication(
        webhook_stack, receiver, event_types=["subscription.updated"]
    )
    inbox.hang = 0.5  # slow, but within the 1 s timeout
    await webhook_stack.subscribe(await webhook_stack.reader(), price)
    await until(lambda: bool(inbox.of_type("subscription.updated")), what="a slow delivery")
    for _ in range(100):
        attempts = await rows(webhook_stack, select(WebhookAttempt))
        if attempts:
            break
        await asyncio.sleep(0.05)
    assert attempts[0].status == 200 and attempts[0].latency_ms >= 500
    assert {a.status for a in attempts} == {200}  # nothing failed, nothing was retried
