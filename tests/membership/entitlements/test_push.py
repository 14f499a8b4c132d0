"""Pushed entitlement changes: published after their commit, never for what was not stored.

A real database (both kinds), the real session events, the real Redis: a subscriber on the
channel hears exactly the feed entries that committed, with their seq and version.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from membership.db import alchemy_config
from membership.entitlements.push import PushedChanges, pushing, revocation_push
from membership.grants.models import EntitlementChange
from membership.grants.services import GrantService
from membership.readers.services import ReaderService
from tests.conftest import empty_tables, make_settings
from tests.redis import heard_on


@pytest.fixture
async def heard(shared_redis: tuple[str, str]) -> AsyncIterator[asyncio.Queue[PushedChanges]]:
    async with heard_on(*shared_redis) as queue:
        yield queue


async def next_heard(queue: asyncio.Queue[PushedChanges], seconds: float = 5.0) -> PushedChanges:
    async with asyncio.timeout(seconds):
        return await queue.get()


async def test_only_committed_changes_are_pushed(
    database_url: str, tmp_path: Path, shared_redis: tuple[str, str], heard: asyncio.Queue[PushedChanges]
) -> None:
    settings = make_settings(database_url, tmp_path, redis_url=shared_redis[0], redis_prefix=shared_redis[1])
    push = revocation_push(settings.redis_url, settings.redis_prefix)
    assert push is not None
    alchemy = alchemy_config(settings, info=push.session_info())
    try:
        async with pushing(push):
            async with alchemy.get_session() as session:
                reader, _ = await ReaderService(session=session).get_or_create("reader@example.com")
                await session.commit()

            # A committed change: heard once, with the entry's own seq and version.
            async with alchemy.get_session() as session:
                version = await GrantService(session).bump_version(reader.id)
                await session.commit()
            first = await next_heard(heard)
            assert [(c.reader_id, c.version) for c in first.changes] == [(str(reader.id), version)]

            # Rolled back: nothing is heard (the next thing heard is the later commit).
            async with alchemy.get_session() as session:
                await GrantService(session).bump_version(reader.id)
                await session.rollback()
            # A change inside a savepoint that is rolled back, then one that stays: only the second.
            async with alchemy.get_session() as session:
                savepoint = await session.begin_nested()
                await GrantService(session).bump_version(reader.id)
                await savepoint.rollback()
                kept = await GrantService(session).bump_version(reader.id)
                await session.commit()
            second = await next_heard(heard)
            assert [c.version for c in second.changes] == [kept] == [version + 1]

            async with alchemy.get_session() as session:
                stored = list(
                    await session.scalars(select(EntitlementChange).order_by(EntitlementChange.seq))
                )
            assert [(c.seq, c.version) for c in stored] == [
                (first.changes[0].seq, version),
                (second.changes[0].seq, kept),
            ]
            assert heard.empty()
        assert push.published == 2
    finally:
        await alchemy.get_engine().dispose()
        await empty_tables(database_url)


async def test_without_redis_nothing_is_pushed_and_changes_still_commit(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    assert revocation_push(settings.redis_url, settings.redis_prefix) is None
    alchemy = alchemy_config(settings)
    try:
        async with alchemy.get_session() as session:
            reader, _ = await ReaderService(session=session).get_or_create("reader@example.com")
            await GrantService(session).bump_version(reader.id)
            await session.commit()
            assert await session.scalar(select(EntitlementChange.version)) == 1
    finally:
        await alchemy.get_engine().dispose()
        await empty_tables(database_url)


async def test_a_redis_that_is_down_costs_the_commit_nothing(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, redis_url="redis://127.0.0.1:9/0")
    push = revocation_push(settings.redis_url, settings.redis_prefix)
    assert push is not None
    alchemy = alchemy_config(settings, info=push.session_info())
    try:
        async with pushing(push), alchemy.get_session() as session:
            reader, _ = await ReaderService(session=session).get_or_create("reader@example.com")
            await GrantService(session).bump_version(reader.id)
            await session.commit()
        assert push.published == 0
        async with alchemy.get_session() as session:
            assert await session.scalar(select(EntitlementChange.version)) == 1
    finally:
        await alchemy.get_engine().dispose()
        await empty_tables(database_url)
