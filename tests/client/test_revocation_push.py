"""Pushed revocations end to end: real membership, a Redis of the test's own, the client's feed.

The feed polls only once a minute here, so whatever arrives sooner came by the push. Then Redis
is killed: changes go on committing (membership's publish fails and logs), the feed falls back to
polling every 0.2 s and catches up without loss; Redis comes back on its port, the feed subscribes
again by itself, and pushes arrive again. Sign-out everywhere reaches the feed the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from membership.app import create_app
from tests.client.test_against_membership import platform_key, signed_in
from tests.conftest import empty_tables, make_settings
from tests.membership.publications.test_publications import make_publication
from tests.redis import PrivateRedis, unique_prefix
from tests.servers import bound_socket, serve
from tollgate_client import RevocationFeed, TokenExpired, TokenVerifier

PREFIX = unique_prefix()


@pytest.fixture
def membership(database_url: str, tmp_path: Path, private_redis: PrivateRedis) -> Iterator[str]:
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        database_url,
        tmp_path,
        public_url=url,
        stripe_workers=0,
        webhook_workers=0,
        redis_url=private_redis.url,
        redis_prefix=PREFIX,
    )
    with serve(create_app(settings), sock=sock):
        yield url


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.02)


async def test_changes_arrive_by_push_and_by_poll_while_redis_is_down(
    membership: str, database_url: str, private_redis: PrivateRedis
) -> None:
    await make_publication(database_url, "contract", "owner@example.com")
    key = await platform_key(database_url)
    owner = await signed_in(membership, "owner@example.com")
    async with RevocationFeed(
        membership,
        key,
        poll_interval=0.2,
        pushed_poll_interval=60,
        push_url=private_redis.url,
        push_channel=f"{PREFIX}:entitlements",
        push_retry=0.2,
    ) as feed:
        await until(lambda: feed.subscribed)
        comp = (
            await owner.post("/api/publications/contract/comps", json={"email": "one@example.com"})
        ).json()
        await until(lambda: feed.min_version(comp["reader_id"]) == 1)  # pushed: the poll is a minute away
        assert feed.pushes_applied == 1

        private_redis.stop()
        await until(lambda: not feed.subscribed)
        ended = await owner.post(f"/api/publications/contract/comps/{comp['id']}/end")
        assert ended.status_code == 200  # the commit does not wait on the push
        second = (
            await owner.post("/api/publications/contract/comps", json={"email": "two@example.com"})
        ).json()
        await until(lambda: feed.min_version(comp["reader_id"]) == 2)  # by the poll, every 0.2 s
        await until(lambda: feed.min_version(second["reader_id"]) == 1)
        assert feed.pushes_applied == 1

        private_redis.start()
        await until(lambda: feed.subscribed)
        third = (
            await owner.post("/api/publications/contract/comps", json={"email": "three@example.com"})
        ).json()
        await until(lambda: feed.min_version(third["reader_id"]) == 1)
        assert feed.pushes_applied == 2
    await owner.aclose()
    await empty_tables(database_url)


async def test_sign_out_everywhere_reaches_the_verifier_by_push(
    membership: str, database_url: str, private_redis: PrivateRedis
) -> None:
    await make_publication(database_url, "contract", "owner@example.com")
    key = await platform_key(database_url)
    owner = await signed_in(membership, "owner@example.com")
    await owner.post("/api/publications/contract/comps", json={"email": "reader@example.com"})
    reader = await signed_in(membership, "reader@example.com")
    token = (await reader.post("/api/auth/token")).json()["access_token"]
    async with (
        RevocationFeed(
            membership,
            key,
            poll_interval=60,
            pushed_poll_interval=60,
            push_url=private_redis.url,
            push_channel=f"{PREFIX}:entitlements",
        ) as feed,
        TokenVerifier(f"{membership}/.well-known/jwks.json", issuer=membership, revocations=feed) as verifier,
    ):
        await until(lambda: feed.subscribed)
        claims = await verifier.verify(token)
        assert claims.allows("pub:contract")
        assert (await reader.post("/api/auth/sign-out-everywhere")).status_code == 200
        await until(lambda: feed.is_stale(claims.sub, claims.ver))
        with pytest.raises(TokenExpired):
            await verifier.verify(token)  # cached a moment ago, refused now, with no poll in between
    for client in (owner, reader):
        await client.aclose()
    await empty_tables(database_url)
