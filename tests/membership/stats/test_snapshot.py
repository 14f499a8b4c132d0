"""The overview's numbers once worked out (`StatsService.latest`, a `stats_snapshot` row): served
to every replica until their age lapses, dated by when, and then worked out afresh; exactly what a
fresh computation at that moment gives."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from membership.publications.models import Publication
from membership.stats.models import StatsSnapshot
from membership.stats.services import Series, StatsService
from tests.conftest import ClientFactory
from tests.membership.members.test_members import key_for, publication_id
from tests.membership.publications.test_publications import make_publication
from tests.membership.stats.test_stats import grant
from tests.membership.tokens.test_tokens import bearer, db

EARLIER = datetime.now(UTC) - timedelta(days=3)


async def latest(database_url: str, max_age: float, interval: str = "month") -> Series:
    async with db(database_url) as session:
        publication = await session.get_one(Publication, await publication_id(database_url, "daily"))
        return await StatsService(session).latest(
            publication,
            interval="week" if interval == "week" else "month",
            periods=3,
            max_age=max_age,
        )


async def fresh(database_url: str, at: datetime) -> Series:
    async with db(database_url) as session:
        publication = await session.get_one(Publication, await publication_id(database_url, "daily"))
        return await StatsService(session).series(publication, interval="month", periods=3, now=at)


async def daily_with_a_member(database_url: str) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await grant(database_url, "a@example.com", "pub:daily", EARLIER)


async def snapshots(database_url: str) -> int:
    async with db(database_url) as session:
        return int(await session.scalar(select(func.count()).select_from(StatsSnapshot)) or 0)


async def test_numbers_are_served_as_computed_until_their_age_lapses(client: Any, database_url: str) -> None:
    await daily_with_a_member(database_url)
    first = await latest(database_url, max_age=60)
    assert first.points[-1].active_members == 1
    assert first == await fresh(database_url, first.generated_at)  # exactly a fresh computation

    await grant(database_url, "b@example.com", "pub:daily", EARLIER)
    # Within its age: the same answer, dated when it was worked out, though a member joined.
    assert await latest(database_url, max_age=60) == first
    # Another interval is another answer, worked out now.
    assert (await latest(database_url, max_age=60, interval="week")).points[-1].active_members == 2

    await asyncio.sleep(0.2)
    # Older than the age asked for: worked out afresh, and kept in its place.
    second = await latest(database_url, max_age=0.1)
    assert second.generated_at > first.generated_at
    assert second.points[-1].active_members == 2
    assert second == await fresh(database_url, second.generated_at)
    assert await latest(database_url, max_age=60) == second
    assert await snapshots(database_url) == 2  # one per publication, interval and periods


async def test_an_age_of_zero_works_the_numbers_out_every_time_and_keeps_none(
    client: Any, database_url: str
) -> None:
    await daily_with_a_member(database_url)
    assert (await latest(database_url, max_age=0)).points[-1].active_members == 1
    await grant(database_url, "b@example.com", "pub:daily", EARLIER)
    assert (await latest(database_url, max_age=0)).points[-1].active_members == 2
    assert await snapshots(database_url) == 0


async def test_replicas_serve_the_same_numbers_until_the_setting_lets_them_lapse(
    client_with: ClientFactory, database_url: str
) -> None:
    """Two apps on one database are two replicas: the second serves what the first worked out."""
    keep = {"stats_cache_seconds": 60, "stats_keep_slower_than_seconds": 0}  # however quick
    async with client_with(**keep) as one, client_with(**keep) as two:
        await daily_with_a_member(database_url)
        headers = bearer(await key_for(database_url, "daily", ["members:read"]))
        url = "/api/publications/daily/stats?periods=3"

        before = (await one.get(url, headers=headers)).json()
        await grant(database_url, "b@example.com", "pub:daily", EARLIER)
        assert (await two.get(url, headers=headers)).json() == before
        assert before["points"][-1]["active_members"] == 1

    async with client_with(stats_cache_seconds=0.1, stats_keep_slower_than_seconds=0) as short:
        await asyncio.sleep(0.2)
        after = (await short.get(url, headers=headers)).json()
        assert after["points"][-1]["active_members"] == 2
        assert datetime.fromisoformat(after["generated_at"]) > datetime.fromisoformat(before["generated_at"])


async def test_numbers_quick_to_work_out_are_never_kept(
    client_with: ClientFactory, database_url: str
) -> None:
    """A small publication's overview is worked out afresh at every look: what just changed shows."""
    async with client_with(stats_cache_seconds=60, stats_keep_slower_than_seconds=30) as app:
        await daily_with_a_member(database_url)
        headers = bearer(await key_for(database_url, "daily", ["members:read"]))
        url = "/api/publications/daily/stats?periods=3"
        assert (await app.get(url, headers=headers)).json()["points"][-1]["active_members"] == 1
        await grant(database_url, "b@example.com", "pub:daily", EARLIER)
        assert (await app.get(url, headers=headers)).json()["points"][-1]["active_members"] == 2
        assert await snapshots(database_url) == 0
