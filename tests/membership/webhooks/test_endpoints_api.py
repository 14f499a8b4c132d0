"""The publisher's webhook API (`/api/publications/{slug}/webhooks`): an endpoint's secret is shown
once and kept encrypted, a rotation gives a new one, editors see and owners change, another
publication's endpoint is not found, bad input is a 4xx problem that changes nothing, the delivery
log lists attempts newest first, and a replay sends a failed message again. Both databases.

The app runs without its webhook sender (`webhook_workers=0`), so the messages these tests write
stay exactly as written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

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
from tests.membership.test_bad_input import assert_problem
from tests.membership.tokens.test_tokens import db

DAILY = "/api/publications/daily/webhooks"
HOOK = "https://hooks.example.com/tollgate"


@pytest.fixture
async def client(client_with: ClientFactory) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The test client on the test database, with no webhook sender running."""
    async with client_with(webhook_workers=0) as test_client:
        yield test_client


async def owner_of_daily(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await as_reader(client, "owner@example.com")


async def add(client: AsyncTestClient[Litestar], path: str = DAILY, **fields: Any) -> dict[str, Any]:
    made = await client.post(f"{path}/", json={"url": HOOK} | fields)
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def endpoint_row(database_url: str, endpoint_id: str) -> dict[str, Any]:
    """The endpoint's row as the database holds it, every column (a Core query: no ORM object)."""
    table = WebhookEndpoint.__table__
    async with db(database_url) as session:
        found = (
            (await session.execute(select(table).where(table.c.id == uuid.UUID(endpoint_id))))
            .mappings()
            .all()
        )
    assert len(found) == 1, endpoint_id
    return dict(found[0])


async def state_of(database_url: str, message_id: uuid.UUID) -> tuple[MessageState, int]:
    async with db(database_url) as session:
        found = await session.get(WebhookMessage, message_id)
    assert found is not None, message_id
    return found.state, found.attempts


async def count(database_url: str, model: Any) -> int:
    async with db(database_url) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def secrets_of(database_url: str, settings: Settings, endpoint_id: str) -> list[str]:
    """The secrets that sign the endpoint's deliveries now, decrypted as the sender does."""
    async with db(database_url) as session:
        endpoint = await session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
        assert endpoint is not None
        return WebhookService(session, settings).signing_secrets(endpoint, utcnow())


async def message(
    database_url: str,
    endpoint_id: str,
    *,
    event_type: str = "member.created",
    state: MessageState = MessageState.PENDING,
    attempts: int = 0,
    at: datetime | None = None,
) -> WebhookMessage:
    async with db(database_url) as session:
        made = WebhookMessage(
            endpoint_id=uuid.UUID(endpoint_id),
            message_id="msg_" + uuid.uuid4().hex[:20],
            event_type=event_type,
            payload={"type": event_type, "data": {}},
            state=state,
            attempts=attempts,
            next_attempt_at=at or utcnow(),
            leased_until=utcnow() + timedelta(minutes=1) if state == MessageState.PENDING else None,
        )
        session.add(made)
    return made


async def attempt(
    database_url: str,
    msg: WebhookMessage,
    at: datetime,
    *,
    status: int | None,
    error: str = "",
    excerpt: str = "",
) -> WebhookAttempt:
    async with db(database_url) as session:
        made = WebhookAttempt(
            endpoint_id=msg.endpoint_id,
            message_id=msg.id,
            status=status,
            latency_ms=12.5,
            excerpt=excerpt,
            error=error,
            created_at=at,
        )
        session.add(made)
    return made


# --- the secret: shown once, kept encrypted, rotated -----------------------------------------


async def test_adding_shows_the_secret_once_and_keeps_it_encrypted(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    await owner_of_daily(client, database_url)
    made = await add(
        client, url="HTTPS://Hooks.Example.com:443/tollgate", event_types=["member.created", "gift.redeemed"],
        description="CRM sync",
    )  # fmt: skip
    secret = made["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    endpoint = made["endpoint"]
    assert endpoint["url"] == HOOK  # normalised: scheme and host lower-cased, the default port dropped
    assert endpoint["event_types"] == ["gift.redeemed", "member.created"]
    assert endpoint["description"] == "CRM sync"
    assert endpoint["enabled"] is True and endpoint["disabled_reason"] is None
    assert endpoint["failing_since"] is None and endpoint["created_at"]
    assert set(endpoint) == {
        "id", "url", "description", "event_types", "enabled", "disabled_reason", "failing_since", "created_at"
    }  # fmt: skip

    # Never shown again: not in the list, not in the endpoint's own answer.
    listed = await client.get(f"{DAILY}/")
    assert listed.status_code == 200 and [e["id"] for e in listed.json()] == [endpoint["id"]]
    one = await client.get(f"{DAILY}/{endpoint['id']}")
    assert one.status_code == 200 and one.json() == endpoint
    for answer in (listed, one):
        assert secret not in answer.text and "secret" not in answer.text
        assert secret[6:] not in answer.text

    # Stored encrypted: the secret (or its random part) is in no column of the row, yet the
    # sender gets it back.
    row = await endpoint_row(database_url, endpoint["id"])
    assert row["secret"] and row["previous_secret"] is None
    stored = " ".join(str(v) for v in row.values())
    assert secret not in stored and secret[6:] not in stored
    assert await secrets_of(database_url, settings, endpoint["id"]) == [secret]


async def test_rotating_gives_a_new_secret_and_the_old_one_signs_for_a_day(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    await owner_of_daily(client, database_url)
    made = await add(client)
    endpoint_id, old = made["endpoint"]["id"], made["secret"]
    rotated = await client.post(f"{DAILY}/{endpoint_id}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    until = datetime.fromisoformat(rotated.json()["previous_valid_until"].replace("Z", "+00:00"))
    assert abs(until - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=5)
    assert await secrets_of(database_url, settings, endpoint_id) == [new, old]
    stored = " ".join(str(v) for v in (await endpoint_row(database_url, endpoint_id)).values())
    assert new not in stored and old not in stored
    shown = await client.get(f"{DAILY}/{endpoint_id}")
    assert new not in shown.text and old not in shown.text
    again = await client.post(f"{DAILY}/{endpoint_id}/rotate-secret")
    assert again.json()["secret"] not in (old, new)
    assert (await secrets_of(database_url, settings, endpoint_id))[1] == new  # the one before keeps signing


# --- who may do what ---------------------------------------------------------------------------


async def test_editors_see_endpoints_but_only_owners_change_them(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    await owner_of_daily(client, database_url)
    assert (
        await client.post("/api/publications/daily/staff", json={"email": "ed@example.com"})
    ).status_code == 201
    made = await add(client)
    endpoint_id = made["endpoint"]["id"]
    msg = await message(database_url, endpoint_id, state=MessageState.FAILED, attempts=9)
    before = await endpoint_row(database_url, endpoint_id)

    await as_reader(client, "ed@example.com")
    for path in ("/", f"/{endpoint_id}", f"/{endpoint_id}/attempts", f"/{endpoint_id}/messages"):
        assert (await client.get(DAILY + path)).status_code == 200, path
    refused = [
        await client.post(f"{DAILY}/", json={"url": "https://other.example.com/"}),
        await client.patch(f"{DAILY}/{endpoint_id}", json={"enabled": False}),
        await client.delete(f"{DAILY}/{endpoint_id}"),
        await client.post(f"{DAILY}/{endpoint_id}/rotate-secret"),
        await client.post(f"{DAILY}/{endpoint_id}/messages/{msg.id}/replay"),
    ]
    for answer in refused:
        body = assert_problem(answer, 403)
        assert body["detail"] == "Only owners of Daily may do this."
    assert await endpoint_row(database_url, endpoint_id) == before
    assert await count(database_url, WebhookEndpoint) == 1
    assert await secrets_of(database_url, settings, endpoint_id) == [made["secret"]]
    assert await state_of(database_url, msg.id) == (MessageState.FAILED, 9)

    await as_reader(client, "stranger@example.com")
    assert_problem(await client.get(f"{DAILY}/"), 403)
    assert_problem(await client.get(f"{DAILY}/{endpoint_id}"), 403)
    client.cookies.clear()
    assert_problem(await client.get(f"{DAILY}/"), 401)


async def test_another_publications_endpoint_is_not_found(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    await make_publication(database_url, "weekly", "owner@example.com")  # the same owner
    theirs = (await add(client, "/api/publications/weekly/webhooks"))["endpoint"]["id"]
    msg = await message(database_url, theirs, state=MessageState.FAILED, attempts=3)
    before = await endpoint_row(database_url, theirs)
    for endpoint_id in (theirs, str(uuid.uuid4())):
        answers = [
            await client.get(f"{DAILY}/{endpoint_id}"),
            await client.patch(f"{DAILY}/{endpoint_id}", json={"enabled": False}),
            await client.delete(f"{DAILY}/{endpoint_id}"),
            await client.post(f"{DAILY}/{endpoint_id}/rotate-secret"),
            await client.get(f"{DAILY}/{endpoint_id}/attempts"),
            await client.get(f"{DAILY}/{endpoint_id}/messages"),
            await client.post(f"{DAILY}/{endpoint_id}/messages/{msg.id}/replay"),
        ]
        for answer in answers:
            assert assert_problem(answer, 404)["detail"] == "No such webhook endpoint."
    assert (await client.get(f"{DAILY}/")).json() == []
    assert await endpoint_row(database_url, theirs) == before
    # Nor is another endpoint's message found through this one.
    ours = (await add(client))["endpoint"]["id"]
    answer = await client.post(f"{DAILY}/{ours}/messages/{msg.id}/replay")
    assert assert_problem(answer, 404)["detail"] == "No such message for this endpoint."
    assert await state_of(database_url, msg.id) == (MessageState.FAILED, 3)


# --- bad input ------------------------------------------------------------------------------------

BAD_ENDPOINTS = [
    pytest.param({"url": HOOK, "event_types": ["member.deleted"]}, "Unknown event type: member.deleted",
                 id="unknown-event"),
    pytest.param({"url": "ftp://hooks.example.com/x"}, "must start with http:// or https://", id="ftp-url"),
    pytest.param({"url": "https://user:pw@hooks.example.com/x"}, "may not contain a user name",
                 id="credentials"),
    pytest.param({"url": "https://"}, "", id="no-host"),
    pytest.param({"url": "not a url"}, "", id="not-a-url"),
    pytest.param({"url": ""}, "", id="empty-url"),
    pytest.param({"url": "https://hooks.example.com/" + "x" * 2000}, "", id="long-url"),
    pytest.param({"url": HOOK, "description": "d" * 201}, "", id="long-description"),
    pytest.param({"url": HOOK, "event_types": ["m" * 65]}, "", id="long-event-type"),
    pytest.param({"url": HOOK, "event_types": ["member.created"] * 51}, "", id="too-many-event-types"),
    pytest.param({"url": HOOK, "event_types": "member.created"}, "", id="event-types-not-a-list"),
    pytest.param({"url": HOOK, "secret": "whsec_mine"}, "", id="unknown-field"),
    pytest.param({"event_types": []}, "", id="no-url"),
    pytest.param({"url": 42}, "", id="url-not-a-string"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "sentence"), BAD_ENDPOINTS)
async def test_a_bad_endpoint_is_a_problem_and_nothing_is_stored(
    client: AsyncTestClient[Litestar], database_url: str, body: dict[str, Any], sentence: str
) -> None:
    await owner_of_daily(client, database_url)
    answer = await client.post(f"{DAILY}/", json=body)
    problem = assert_problem(answer, 400)
    assert sentence in problem["detail"]
    assert await count(database_url, WebhookEndpoint) == 0


BAD_CHANGES = [
    pytest.param({"event_types": ["member.created", "nope"]}, "Unknown event type: nope", id="unknown-event"),
    pytest.param({"url": "ftp://hooks.example.com/x"}, "must start with http:// or https://", id="ftp-url"),
    pytest.param({"url": "http://a:b@hooks.example.com/x"}, "may not contain a user name", id="credentials"),
    # The URL is fine but the event type is not: neither changes.
    pytest.param({"url": "https://new.example.com/", "event_types": ["nope"]}, "Unknown event type",
                 id="half-good"),
    pytest.param({"url": "https://new.example.com/", "enabled": "no"}, "", id="enabled-not-a-bool"),
    pytest.param({"description": "new"}, "", id="unknown-field"),
    pytest.param({"url": "https://hooks.example.com/" + "x" * 2000}, "", id="long-url"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "sentence"), BAD_CHANGES)
async def test_a_bad_change_is_a_problem_and_changes_nothing(
    client: AsyncTestClient[Litestar], database_url: str, body: dict[str, Any], sentence: str
) -> None:
    await owner_of_daily(client, database_url)
    endpoint_id = (await add(client, event_types=["gift.redeemed"]))["endpoint"]["id"]
    before = await endpoint_row(database_url, endpoint_id)
    problem = assert_problem(await client.patch(f"{DAILY}/{endpoint_id}", json=body), 400)
    assert sentence in problem["detail"]
    assert await endpoint_row(database_url, endpoint_id) == before


async def test_malformed_ids_and_limits_are_problems(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    endpoint_id = (await add(client))["endpoint"]["id"]
    before = await endpoint_row(database_url, endpoint_id)
    for answer in [
        await client.get(f"{DAILY}/not-a-uuid"),
        await client.patch(f"{DAILY}/not-a-uuid", json={"enabled": False}),
        await client.delete(f"{DAILY}/not-a-uuid"),
        await client.post(f"{DAILY}/not-a-uuid/rotate-secret"),
        await client.get(f"{DAILY}/not-a-uuid/attempts"),
    ]:
        assert "is not a webhook endpoint id" in assert_problem(answer, 400)["detail"]
    answer = await client.post(f"{DAILY}/{endpoint_id}/messages/msg_123/replay")
    assert "“msg_123” is not a message id" in assert_problem(answer, 400)["detail"]
    for limit in ("0", "501", "many"):
        assert_problem(await client.get(f"{DAILY}/{endpoint_id}/attempts", params={"limit": limit}), 400)
        assert_problem(await client.get(f"{DAILY}/{endpoint_id}/messages", params={"limit": limit}), 400)
    assert_problem(
        await client.post(f"{DAILY}/", content=b'{"url": ', headers={"content-type": "application/json"}), 400
    )
    assert await endpoint_row(database_url, endpoint_id) == before
    assert await count(database_url, WebhookEndpoint) == 1


# --- change, disable, enable, delete ------------------------------------------------------------


async def test_patch_changes_disables_and_enables_an_endpoint(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    endpoint_id = (await add(client))["endpoint"]["id"]
    changed = await client.patch(
        f"{DAILY}/{endpoint_id}",
        json={"url": "https://new.example.com/in", "event_types": ["offer.redeemed"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == "https://new.example.com/in"
    assert changed.json()["event_types"] == ["offer.redeemed"] and changed.json()["enabled"] is True
    assert (await client.patch(f"{DAILY}/{endpoint_id}", json={"event_types": []})).json()[
        "event_types"
    ] == []

    disabled = await client.patch(f"{DAILY}/{endpoint_id}", json={"enabled": False})
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "Disabled by the publisher."
    row = await endpoint_row(database_url, endpoint_id)
    assert row["disabled_at"] is not None and row["url"] == "https://new.example.com/in"
    assert (await client.get(f"{DAILY}/{endpoint_id}")).json()["enabled"] is False

    # Enabling clears the failure streak too.
    async with db(database_url) as session:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == uuid.UUID(endpoint_id))
            .values(
                failing_since=utcnow() - timedelta(days=5),
                disabled_reason="It failed every delivery for 5 days.",
            )
        )
    assert (await client.get(f"{DAILY}/{endpoint_id}")).json()["disabled_reason"] == (
        "It failed every delivery for 5 days."
    )
    enabled = await client.patch(f"{DAILY}/{endpoint_id}", json={"enabled": True})
    assert enabled.status_code == 200
    body = enabled.json()
    assert body["enabled"] is True and body["disabled_reason"] is None and body["failing_since"] is None
    row = await endpoint_row(database_url, endpoint_id)
    assert row["disabled_at"] is None and row["failing_since"] is None and row["disabled_reason"] == ""
    # An empty change changes nothing.
    assert (await client.patch(f"{DAILY}/{endpoint_id}", json={})).json() == body


async def test_delete_removes_the_endpoint_and_its_log(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    endpoint_id = (await add(client))["endpoint"]["id"]
    kept = (await add(client, url="https://kept.example.com/"))["endpoint"]["id"]
    msg = await message(database_url, endpoint_id, state=MessageState.DELIVERED, attempts=1)
    await attempt(database_url, msg, utcnow(), status=200)
    removed = await client.delete(f"{DAILY}/{endpoint_id}")
    assert removed.status_code == 204 and removed.content == b""
    assert_problem(await client.get(f"{DAILY}/{endpoint_id}"), 404)
    assert_problem(await client.delete(f"{DAILY}/{endpoint_id}"), 404)
    assert [e["id"] for e in (await client.get(f"{DAILY}/")).json()] == [kept]
    assert await count(database_url, WebhookEndpoint) == 1
    assert await count(database_url, WebhookMessage) == 0 and await count(database_url, WebhookAttempt) == 0


# --- the delivery log, messages and replay ---------------------------------------------------------


async def test_the_log_lists_attempts_newest_first_with_their_message(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    endpoint_id = (await add(client))["endpoint"]["id"]
    other = (await add(client, url="https://other.example.com/"))["endpoint"]["id"]
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)
    created = await message(database_url, endpoint_id, state=MessageState.DELIVERED, attempts=2)
    granted = await message(
        database_url, endpoint_id, event_type="entitlement.granted", state=MessageState.PENDING, attempts=1,
        at=start + timedelta(hours=2),
    )  # fmt: skip
    elsewhere = await message(database_url, other)
    await attempt(
        database_url, created, start, status=500, error="The endpoint answered 500.", excerpt="oops"
    )
    await attempt(database_url, created, start + timedelta(minutes=5), status=200, excerpt="thanks")
    await attempt(
        database_url, granted, start + timedelta(minutes=10), status=None, error="Timed out after 10 s."
    )
    await attempt(database_url, elsewhere, start + timedelta(minutes=20), status=200)

    answer = await client.get(f"{DAILY}/{endpoint_id}/attempts")
    assert answer.status_code == 200, answer.text
    log = answer.json()
    assert [(a["message_id"], a["status"]) for a in log] == [
        (granted.message_id, None), (created.message_id, 200), (created.message_id, 500)
    ]  # fmt: skip
    newest = log[0]
    assert newest["event_type"] == "entitlement.granted" and newest["error"] == "Timed out after 10 s."
    assert newest["latency_ms"] == 12.5 and newest["excerpt"] == ""
    at = datetime.fromisoformat(newest["at"].replace("Z", "+00:00"))
    assert at == start + timedelta(minutes=10)
    assert log[1]["error"] is None and log[1]["excerpt"] == "thanks"
    assert log[2]["error"] == "The endpoint answered 500." and log[2]["excerpt"] == "oops"
    assert set(newest) == {"id", "message_id", "event_type", "at", "status", "latency_ms", "excerpt", "error"}
    limited = (await client.get(f"{DAILY}/{endpoint_id}/attempts", params={"limit": 2})).json()
    assert [a["id"] for a in limited] == [a["id"] for a in log[:2]]
    assert (await client.get(f"{DAILY}/{endpoint_id}/attempts", params={"limit": 500})).status_code == 200

    messages = (await client.get(f"{DAILY}/{endpoint_id}/messages")).json()
    by_id = {m["message_id"]: m for m in messages}
    assert set(by_id) == {created.message_id, granted.message_id}
    assert by_id[created.message_id]["state"] == "delivered" and by_id[created.message_id]["attempts"] == 2
    assert by_id[created.message_id]["next_attempt_at"] is None
    assert by_id[granted.message_id]["state"] == "pending" and by_id[granted.message_id]["id"] == str(
        granted.id
    )
    next_at = datetime.fromisoformat(by_id[granted.message_id]["next_attempt_at"].replace("Z", "+00:00"))
    assert next_at == start + timedelta(hours=2)


async def test_replay_sends_a_failed_message_again_now(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    endpoint_id = (await add(client))["endpoint"]["id"]
    failed = await message(
        database_url, endpoint_id, state=MessageState.FAILED, attempts=10, at=utcnow() - timedelta(days=2)
    )
    await attempt(database_url, failed, utcnow() - timedelta(days=2), status=503)
    answer = await client.post(f"{DAILY}/{endpoint_id}/messages/{failed.id}/replay")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["id"] == str(failed.id) and body["message_id"] == failed.message_id
    assert body["state"] == "pending" and body["attempts"] == 0
    async with db(database_url) as session:
        stored = await session.get(WebhookMessage, failed.id)
        assert stored is not None
        assert stored.state == MessageState.PENDING and stored.attempts == 0 and stored.leased_until is None
        assert stored.message_id == failed.message_id  # the same webhook-id, so receivers drop repeats
        next_at = (
            stored.next_attempt_at.replace(tzinfo=UTC)
            if stored.next_attempt_at.tzinfo is None
            else stored.next_attempt_at
        )
        assert abs(next_at - utcnow()) < timedelta(seconds=30)
    assert await count(database_url, WebhookAttempt) == 1  # the log keeps what happened before
    missing = await client.post(f"{DAILY}/{endpoint_id}/messages/{uuid.uuid4()}/replay")
    assert assert_problem(missing, 404)["detail"] == "No such message for this endpoint."

    # A disabled endpoint would fail the replay at once: refused, nothing changes.
    again = await message(database_url, endpoint_id, state=MessageState.FAILED, attempts=10)
    assert (await client.patch(f"{DAILY}/{endpoint_id}", json={"enabled": False})).status_code == 200
    refused = await client.post(f"{DAILY}/{endpoint_id}/messages/{again.id}/replay")
    assert "enable it first" in assert_problem(refused, 409)["detail"]
    assert await state_of(database_url, again.id) == (MessageState.FAILED, 10)


async def test_the_routes_have_summaries_in_the_openapi_document(client: AsyncTestClient[Litestar]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    paths = document["paths"]
    ours = {p: ops for p, ops in paths.items() if p.startswith("/api/publications/{slug}/webhooks")}
    operations = [(p, m, op) for p, ops in ours.items() for m, op in ops.items()]
    assert len(operations) == 9, sorted(ours)
    assert all(op.get("summary") for _, _, op in operations)
    schemas = document["components"]["schemas"]
    assert "secret" not in schemas["EndpointOut"]["properties"]
    assert set(schemas["EndpointCreated"]["properties"]) == {"endpoint", "secret"}
