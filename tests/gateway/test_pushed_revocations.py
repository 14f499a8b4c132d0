"""Revocations reach every gateway by push: two gateways, one membership, the machine's Redis.

The feed's poll is a minute away in both gateways, so a reader losing access within seconds at
both can only be the push. A gateway whose Redis does not answer says so in /metrics and polls.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.gateway.stack import (
    OWNER,
    SECRET,
    Gateway,
    Membership,
    gateway_settings,
    running_gateway,
    running_membership,
    unique_email,
    write_story,
)

PUSHED = re.compile(r"^gateway_revocation_push_subscribed (\S+)$", re.MULTILINE)


@pytest.fixture
def stories(tmp_path: Path) -> Path:
    folder = tmp_path / "stories"
    folder.mkdir()
    write_story(folder, "night-press", "the-gazette", "[pub:the-gazette]")
    return folder


async def subscribed(gateway: Gateway) -> float:
    found = PUSHED.search((await gateway.get("/metrics")).text)
    assert found is not None
    return float(found.group(1))


async def is_subscribed(gateway: Gateway) -> bool:
    return await subscribed(gateway) == 1.0


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Waits for an async condition; the bound is a deadline for the wait, not a speed asserted."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not reached before the deadline"
        await asyncio.sleep(0.05)


async def test_an_ended_comp_reaches_both_gateways_by_push(
    membership: Membership, stories: Path, shared_redis: tuple[str, str]
) -> None:
    redis_url, prefix = shared_redis
    async with running_membership(
        membership.database_url,
        membership.data_dir,
        membership.api_key,
        redis_url=redis_url,
        redis_prefix=prefix,
    ) as own:
        email = unique_email("member")
        comp = await own.comp(email, "the-gazette")
        token = await own.token_of(email)
        settings = gateway_settings(
            own.url,
            own.api_key,
            stories,
            redis_url=redis_url,
            redis_prefix=prefix,
            revocation_poll_seconds=60,
            revocation_pushed_poll_seconds=60,
        )
        member = {"authorization": f"Bearer {token}"}
        async with running_gateway(settings) as one, running_gateway(settings) as two:
            for gateway in (one, two):
                await until(lambda g=gateway: is_subscribed(g))
                read = await gateway.get("/stories/night-press", headers=member)
                assert SECRET in read.text  # cached as verified from here on

            owner = await own.sign_in(OWNER)
            ended = await owner.post(f"/api/publications/the-gazette/comps/{comp['id']}/end")
            await owner.aclose()
            assert ended.status_code == 200, ended.text

            for gateway in (one, two):
                await until(lambda g=gateway: _teaser(g, member))
                refused = await gateway.get("/stories/night-press", headers=member)
                assert SECRET not in refused.text


async def test_a_gateway_whose_redis_is_away_says_so_and_polls(membership: Membership, stories: Path) -> None:
    settings = gateway_settings(
        membership.url, membership.api_key, stories, redis_url="redis://127.0.0.1:9/0", redis_prefix="nowhere"
    )
    async with running_gateway(settings) as gateway:
        assert await subscribed(gateway) == 0.0
        email = unique_email("member")
        await membership.comp(email, "the-gazette")
        read = await gateway.get(
            "/stories/night-press", headers={"authorization": f"Bearer {await membership.token_of(email)}"}
        )
        assert read.status_code == 200 and SECRET in read.text


async def _teaser(gateway: Gateway, headers: dict[str, str]) -> bool:
    answer = await gateway.get("/stories/night-press", headers=headers)
    return answer.status_code == 200 and SECRET not in answer.text
