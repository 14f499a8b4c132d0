"""The dashboard's Webhooks section (`/account/publications/{slug}/webhooks`): in the nav; owners add
an endpoint through the form and see its secret once, rotate it (a new secret, once), disable,
enable and delete it, and replay a message from its delivery log; mistakes re-show the form with
a sentence; editors see the endpoints and their log with no forms, and are refused every change.
Both databases.

The app runs without its webhook sender (`webhook_workers=0`), so the messages these tests write
stay exactly as written."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from membership.lib.clock import utcnow
from membership.settings import Settings
from membership.webhooks.models import MessageState, WebhookAttempt, WebhookEndpoint, WebhookMessage
from membership.webhooks.services import WebhookService
from tests.conftest import ClientFactory
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import db
from tests.membership.web.account.test_account_pages import assert_page, text_of
from tests.membership.web.dashboard.test_dashboard_pages import (
    DAILY,
    assert_accessible,
    follow,
    owner_of_daily,
    post,
)
from tollgate_common.words import day_and_time, stamp

HOOKS = f"{DAILY}/webhooks"
HOOK = "https://hooks.example.com/tollgate"
SECRET = re.compile(r'id="made-secret" type="text" readonly value="([^"]+)"')


@pytest.fixture
async def client(client_with: ClientFactory) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The test client on the test database, with no webhook sender running."""
    async with client_with(webhook_workers=0) as test_client:
        yield test_client


async def endpoints(database_url: str) -> list[WebhookEndpoint]:
    async with db(database_url) as session:
        return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at)))


async def secrets_of(database_url: str, settings: Settings, endpoint_id: uuid.UUID) -> list[str]:
    async with db(database_url) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        return WebhookService(session, settings).signing_secrets(endpoint, utcnow())


async def failed_message(database_url: str, endpoint_id: uuid.UUID) -> WebhookMessage:
    """A message whose every attempt failed, with two attempts in the log."""
    async with db(database_url) as session:
        message = WebhookMessage(
            endpoint_id=endpoint_id,
            message_id="msg_" + uuid.uuid4().hex[:20],
            event_type="entitlement.granted",
            payload={},
            state=MessageState.FAILED,
            attempts=9,
            next_attempt_at=utcnow() - timedelta(hours=1),
        )
        session.add(message)
        await session.flush()
        first = utcnow().replace(microsecond=0) - timedelta(hours=3)
        session.add_all(
            [
                WebhookAttempt(
                    endpoint_id=endpoint_id,
                    message_id=message.id,
                    status=None,
                    latency_ms=10000.0,
                    error="No answer within 10 seconds.",
                    created_at=first,
                ),
                WebhookAttempt(
                    endpoint_id=endpoint_id,
                    message_id=message.id,
                    status=503,
                    latency_ms=41.6,
                    excerpt="<h1>Service unavailable</h1>",
                    error="The endpoint answered 503.",
                    created_at=first + timedelta(hours=1),
                ),
            ]
        )
    return message


async def add_through_the_form(client: AsyncTestClient[Litestar], **fields: object) -> str:
    made = await post(client, HOOKS, {"url": HOOK} | fields)
    assert made.status_code == 201, made.text
    found = SECRET.search(made.text)
    assert found, text_of(made)
    return found.group(1)


def forms_in(html: str) -> list[str]:
    return re.findall(r'<form[^>]*action="([^"]*/webhooks[^"]*)"', html)


async def test_the_section_is_in_the_nav(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await owner_of_daily(client, database_url)
    for path in (DAILY, f"{DAILY}/staff"):
        assert 'href="/account/publications/daily/webhooks">Webhooks</a>' in (await client.get(path)).text
    page = await client.get(HOOKS)
    assert_page(page, 200, "No webhook endpoints yet.", "Add an endpoint", "Tick none for all events")
    assert 'href="/account/publications/daily/webhooks" aria-current="page">Webhooks' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert_accessible(page.text)


async def test_adding_through_the_form_shows_the_secret_once(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    await owner_of_daily(client, database_url)
    made = await post(
        client,
        HOOKS,
        {"url": HOOK, "event_types": ["member.created", "gift.redeemed"], "description": "CRM sync"},
    )
    words = assert_page(
        made, 201, f"The endpoint {HOOK} is added. Copy its signing secret now: it is not shown again."
    )
    assert made.headers["cache-control"] == "no-store"
    found = SECRET.search(made.text)
    assert found, words
    secret = found.group(1)
    assert secret.startswith("whsec_") and secret not in made.headers.get("set-cookie", "")
    assert_accessible(made.text)
    [endpoint] = await endpoints(database_url)
    assert endpoint.event_types == ["gift.redeemed", "member.created"] and endpoint.description == "CRM sync"
    assert await secrets_of(database_url, settings, endpoint.id) == [secret]

    again = await client.get(HOOKS)
    assert secret not in again.text and secret[6:] not in again.text  # shown once
    assert_page(
        again, 200, HOOK, "Description CRM sync", "Events gift.redeemed , member.created", "State Enabled"
    )
    assert f"Added {day_and_time(endpoint.created_at)}" in text_of(again)
    assert "No deliveries yet." in text_of(again)

    # None ticked: every event.
    other = await add_through_the_form(client, url="https://all.example.com/in")
    assert other != secret
    assert "Events All events" in text_of(await client.get(HOOKS))
    assert [e.event_types for e in await endpoints(database_url)] == [["gift.redeemed", "member.created"], []]


@pytest.mark.parametrize(
    ("form", "status", "sentence"),
    [
        ({"url": "ftp://hooks.example.com/x"}, 400, "Webhook URLs must start with http:// or https://."),
        ({"url": "https://me:pw@hooks.example.com/x"}, 400, "may not contain a user name or password."),
        ({"url": ""}, 400, "Give the URL to send webhooks to"),
        ({"url": HOOK, "event_types": ["member.deleted"]}, 400, "Unknown event type: member.deleted."),
        ({"url": HOOK, "description": "d" * 201}, 400, "The description is at most 200 characters."),
        ({"url": "https://hooks.example.com/" + "x" * 2000}, 400, "at most 2000 characters long."),
    ],
)
async def test_a_mistake_re_shows_the_form_and_adds_nothing(
    client: AsyncTestClient[Litestar], database_url: str, form: dict[str, object], status: int, sentence: str
) -> None:
    await owner_of_daily(client, database_url)
    answer = await post(client, HOOKS, form)
    words = assert_page(answer, status, sentence)
    assert "signing secret" not in words.split("Add an endpoint")[0]
    assert not SECRET.search(answer.text)
    if form["url"] and len(str(form["url"])) < 100:
        assert f'value="{form["url"]}"' in answer.text  # what was typed
    assert await endpoints(database_url) == []


async def test_a_form_from_another_site_adds_nothing(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    answer = await post(client, HOOKS, {"url": HOOK}, origin="https://evil.example")
    assert_page(answer, 403, "This form may only be sent from a page of this site.")
    assert await endpoints(database_url) == []


async def test_rotate_disable_enable_replay_and_delete_through_the_forms(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    await owner_of_daily(client, database_url)
    old = await add_through_the_form(client)
    [endpoint] = await endpoints(database_url)
    base = f"{HOOKS}/{endpoint.id}"
    assert forms_in((await client.get(HOOKS)).text) == [
        f"{base}/rotate", f"{base}/disable", f"{base}/delete", HOOKS
    ]  # fmt: skip

    # Rotate: a new secret, on this answer only; the old one keeps signing for a day.
    rotated = await post(client, f"{base}/rotate")
    words = assert_page(
        rotated, 200, f"The endpoint {HOOK} has a new signing secret. Copy it now: it is not shown again."
    )
    found = SECRET.search(rotated.text)
    assert found, words
    new = found.group(1)
    assert new.startswith("whsec_") and new != old
    assert await secrets_of(database_url, settings, endpoint.id) == [new, old]
    [after] = await endpoints(database_url)
    assert after.previous_until is not None
    assert f"The old secret also signs deliveries until {day_and_time(after.previous_until)}" in words
    assert new not in (await client.get(HOOKS)).text

    # Disable, then enable: 303 back with a notice.
    disabled = await post(client, f"{base}/disable")
    assert disabled.status_code == 303 and disabled.headers["location"] == HOOKS
    page = await follow(client, disabled)
    [after] = await endpoints(database_url)
    assert after.disabled_at is not None
    assert_page(
        page,
        200,
        f"The endpoint {HOOK} is disabled: no events are sent to it until it is enabled.",
        f"State Disabled {day_and_time(after.disabled_at)}: Disabled by the publisher.",
    )
    assert forms_in(page.text) == [f"{base}/rotate", f"{base}/enable", f"{base}/delete", HOOKS]
    async with db(database_url) as session:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint.id)
            .values(failing_since=after.disabled_at)
        )
    assert f"Failing since {day_and_time(after.disabled_at)}" in text_of(await client.get(HOOKS))
    enabled = await follow(client, await post(client, f"{base}/enable"))
    words = assert_page(
        enabled, 200, f"The endpoint {HOOK} is enabled: new events are sent to it again.", "State Enabled"
    )
    assert "Failing since" not in words
    [after] = await endpoints(database_url)
    assert after.disabled_at is None and after.failing_since is None

    # The delivery log, newest first, and a Replay button per message.
    message = await failed_message(database_url, endpoint.id)
    page = await client.get(HOOKS)
    attempts = (await client.get(f"/api/publications/daily/webhooks/{endpoint.id}/attempts")).json()
    assert [a["status"] for a in attempts] == [503, None]
    async with db(database_url) as session:
        times = list(
            await session.scalars(
                select(WebhookAttempt.created_at).order_by(WebhookAttempt.created_at.desc())
            )
        )
    words = text_of(page)
    newest = (
        f"{stamp(times[0])} entitlement.granted {message.message_id} 503: The endpoint answered 503. 42 ms"
    )
    oldest = (
        f"{stamp(times[1])} entitlement.granted {message.message_id} No answer within 10 seconds. 10000 ms"
    )
    assert newest in words and oldest in words and words.index(newest) < words.index(oldest)
    assert "<code>&lt;h1&gt;Service unavailable&lt;/h1&gt;</code>" in page.text  # the answer, escaped
    assert "Failed: no more attempts" in words
    replay = f"{base}/messages/{message.id}/replay"
    assert forms_in(page.text).count(replay) == 1
    assert_accessible(page.text)
    replayed = await follow(client, await post(client, replay))
    assert_page(
        replayed,
        200,
        f"The entitlement.granted message {message.message_id} is sent again now, with the same webhook-id.",
        "Next attempt",
    )
    async with db(database_url) as session:
        stored = await session.get(WebhookMessage, message.id)
        assert stored is not None and stored.state == MessageState.PENDING and stored.attempts == 0
        assert abs(stored.next_attempt_at - utcnow()) < timedelta(seconds=30)
    assert_page(
        await post(client, f"{base}/messages/{uuid.uuid4()}/replay"),
        404,
        "No such message for this endpoint.",
    )
    assert_page(await post(client, f"{base}/messages/not-an-id/replay"), 404, "There is no such message.")

    # Delete: gone with its log.
    deleted = await follow(client, await post(client, f"{base}/delete"))
    assert_page(
        deleted, 200, f"The endpoint {HOOK} is deleted, with its delivery log", "No webhook endpoints yet."
    )
    assert await endpoints(database_url) == []
    async with db(database_url) as session:
        assert await session.scalar(select(func.count()).select_from(WebhookMessage)) == 0
    assert_page(await post(client, f"{base}/delete"), 404, "No such webhook endpoint.")
    assert_page(await post(client, f"{HOOKS}/not-an-id/rotate"), 404, "There is no such webhook endpoint.")


async def test_a_disabled_endpoint_shows_no_replay_and_refuses_one(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    await add_through_the_form(client)
    [endpoint] = await endpoints(database_url)
    message = await failed_message(database_url, endpoint.id)
    await post(client, f"{HOOKS}/{endpoint.id}/disable")
    page = await client.get(HOOKS)
    assert_page(page, 200, "Enable the endpoint to replay its messages.")
    assert not any("/replay" in f for f in forms_in(page.text))
    refused = await post(client, f"{HOOKS}/{endpoint.id}/messages/{message.id}/replay")
    assert_page(refused, 409, "The endpoint is disabled, so a replay would fail at once: enable it first.")
    async with db(database_url) as session:
        stored = await session.get(WebhookMessage, message.id)
        assert stored is not None and stored.state == MessageState.FAILED and stored.attempts == 9


async def test_an_editor_sees_the_endpoints_and_log_but_no_forms(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    await owner_of_daily(client, database_url)
    assert (
        await client.post("/api/publications/daily/staff", json={"email": "ed@example.com"})
    ).status_code == 201
    secret = await add_through_the_form(client, description="CRM sync")
    [endpoint] = await endpoints(database_url)
    message = await failed_message(database_url, endpoint.id)

    await as_reader(client, "ed@example.com")
    page = await client.get(HOOKS)
    words = assert_page(
        page,
        200,
        HOOK,
        "CRM sync",
        "503: The endpoint answered 503.",
        "Only owners of Daily can add, change or delete webhook endpoints and replay messages.",
    )
    assert forms_in(page.text) == []
    assert "Add an endpoint" not in words and "Replay" not in words and secret not in page.text
    assert_accessible(page.text)

    base = f"{HOOKS}/{endpoint.id}"
    for path, form in [
        (HOOKS, {"url": "https://other.example.com/"}),
        (f"{base}/rotate", {}),
        (f"{base}/disable", {}),
        (f"{base}/enable", {}),
        (f"{base}/delete", {}),
        (f"{base}/messages/{message.id}/replay", {}),
    ]:
        assert_page(await post(client, path, form), 403, "Only owners of Daily may do this.")
    [after] = await endpoints(database_url)
    assert after.disabled_at is None and after.url == HOOK
    assert await secrets_of(database_url, settings, endpoint.id) == [secret]
    async with db(database_url) as session:
        stored = await session.get(WebhookMessage, message.id)
        assert stored is not None and stored.state == MessageState.FAILED


async def test_another_publications_endpoint_is_not_found_here(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    await make_publication(database_url, "weekly", "owner@example.com")
    made = await post(client, "/account/publications/weekly/webhooks", {"url": HOOK})
    assert made.status_code == 201, made.text
    [theirs] = await endpoints(database_url)
    assert "No webhook endpoints yet." in text_of(await client.get(HOOKS))
    for action in ("rotate", "disable", "delete"):
        assert_page(await post(client, f"{HOOKS}/{theirs.id}/{action}"), 404, "No such webhook endpoint.")
    [after] = await endpoints(database_url)
    assert after.disabled_at is None and after.previous_secret is None
