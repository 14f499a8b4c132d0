"""Rate limits across replicas: two membership apps on one database and one Redis count together.

Each app is a replica of its own (its own process state, its own Redis connection); what one lets
through counts at the other. Fifty requests raced at both at once let exactly the limit through:
the count is one atomic operation in Redis, not a read and a write. A Redis that does not answer
lets requests through (reading goes on) and answers no 500.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import ClientFactory
from tests.membership.helpers import sign_in
from tests.membership.publications.test_publications import make_publication
from tests.membership.unlocks.test_unlocks import gateway_key, reader_id, unlock


async def replicas(
    stack: AsyncExitStack, client_with: ClientFactory, redis: tuple[str, str], **overrides: object
) -> list[AsyncTestClient[Litestar]]:
    url, prefix = redis
    return [
        await stack.enter_async_context(client_with(redis_url=url, redis_prefix=prefix, **overrides))
        for _ in range(2)
    ]


async def test_sign_in_links_count_at_every_replica(
    client_with: ClientFactory, shared_redis: tuple[str, str]
) -> None:
    async with AsyncExitStack() as stack:
        a, b = await replicas(stack, client_with, shared_redis, signin_rate_per_email=3)
        for client in (a, b, a):
            assert (
                await client.post("/api/auth/sign-in", json={"email": "busy@example.com"})
            ).status_code == 202
        limited = await b.post("/api/auth/sign-in", json={"email": "busy@example.com"})
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(limited.headers["retry-after"]) <= 15 * 60
        assert (await a.post("/api/auth/sign-in", json={"email": "busy@example.com"})).status_code == 429


async def test_a_race_at_two_replicas_lets_exactly_the_limit_through(
    client_with: ClientFactory, shared_redis: tuple[str, str]
) -> None:
    async with AsyncExitStack() as stack:
        a, b = await replicas(stack, client_with, shared_redis, signin_rate_per_address=7)
        answers = await asyncio.gather(
            *(
                (a if n % 2 else b).post("/api/auth/sign-in", json={"email": f"racer{n}@example.com"})
                for n in range(50)
            )
        )
    assert sorted(r.status_code for r in answers) == [202] * 7 + [429] * 43


async def test_token_issue_is_limited_per_session_across_replicas(
    client_with: ClientFactory, shared_redis: tuple[str, str]
) -> None:
    async with AsyncExitStack() as stack:
        a, b = await replicas(stack, client_with, shared_redis, token_rate_per_session=4)
        await sign_in(a, "reader@example.com")
        b.cookies.update(a.cookies)  # the same browser, its requests landing on either replica
        statuses = [(await client.post("/api/auth/token")).status_code for client in (a, b, a, b, a)]
        assert statuses == [200, 200, 200, 200, 429]
        # Another session of the same reader has its own allowance.
        other = await stack.enter_async_context(
            client_with(redis_url=shared_redis[0], redis_prefix=shared_redis[1])
        )
        await sign_in(other, "reader@example.com")
        assert (await other.post("/api/auth/token")).status_code == 200


async def test_unlock_attempts_are_limited_per_reader_across_replicas(
    client_with: ClientFactory, shared_redis: tuple[str, str], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    key = await gateway_key(database_url)
    async with AsyncExitStack() as stack:
        a, b = await replicas(stack, client_with, shared_redis, unlock_rate_per_reader=3)
        reader = await reader_id(a, "reader@example.com")
        answers = [await unlock(client, key, reader, "the-same-story") for client in (a, b, a, b)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert answers[0].json()["unlocked"]
        assert "Too many free unlocks" in answers[3].json()["detail"]
        other = await reader_id(b, "other@example.com")
        assert (await unlock(b, key, other, "the-same-story")).status_code == 200


async def test_a_redis_that_does_not_answer_lets_requests_through(client_with: ClientFactory) -> None:
    # Nothing listens on port 9 (discard): every count fails, and the limits step aside.
    async with client_with(redis_url="redis://127.0.0.1:9/0", signin_rate_per_email=1) as client:
        for _ in range(3):
            answer = await client.post("/api/auth/sign-in", json={"email": "reader@example.com"})
            assert answer.status_code == 202, answer.text
