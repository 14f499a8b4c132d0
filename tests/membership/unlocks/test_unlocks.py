"""Free unlocks: counted once per story per month, within the publication's allowance, atomically."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.apikeys.services import ApiKeyService
from membership.publications.models import Publication
from membership.unlocks.models import Unlock, UnlockQuota
from tests.conftest import ClientFactory
from tests.membership.helpers import sign_in
from tests.membership.publications.test_publications import make_publication


async def gateway_key(
    database_url: str, slug: str | None = None, scopes: tuple[str, ...] = ("unlocks:write",)
) -> str:
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        publication_id = None
        if slug:
            publication_id = (
                await session.scalars(select(Publication.id).where(Publication.slug == slug))
            ).one()
        _, secret = await ApiKeyService(session).create(
            "gateway", list(scopes), publication_id=publication_id, created_by_id=None
        )
        await session.commit()
    await engine.dispose()
    return secret


async def reader_id(client: AsyncTestClient[Litestar], email: str) -> str:
    signed_in = await sign_in(client, email)
    client.cookies.clear()
    return str(signed_in["reader"]["id"])


def unlock(client: AsyncTestClient[Litestar], key: str, reader: str, story: str, slug: str = "daily") -> Any:
    return client.post(
        "/api/unlocks",
        json={"reader_id": reader, "publication": slug, "story_id": story},
        headers={"authorization": f"Bearer {key}"},
    )


async def test_allowance_counts_each_story_once_a_month(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    key = await gateway_key(database_url)
    reader = await reader_id(client, "metered@example.com")
    first = (await unlock(client, key, reader, "story-one")).json()
    assert first == {
        "unlocked": True,
        "already": False,
        "remaining": 2,
        "allowance": 3,
        "outcome": "unlocked",
    }
    again = (await unlock(client, key, reader, "story-one")).json()
    assert again == {
        "unlocked": True,
        "already": True,
        "remaining": 2,
        "allowance": 3,
        "outcome": "already",
    }  # rereading is free
    assert (await unlock(client, key, reader, "story-two")).json()["remaining"] == 1
    assert (await unlock(client, key, reader, "story-three")).json()["remaining"] == 0
    refused = (await unlock(client, key, reader, "story-four")).json()
    assert refused == {
        "unlocked": False,
        "already": False,
        "remaining": 0,
        "allowance": 3,
        "outcome": "refused",
    }
    assert (await unlock(client, key, reader, "story-two")).json()["unlocked"] is True  # still free to reread
    await sign_in(client, "metered@example.com")
    mine = (await client.get("/api/me/unlocks", params={"publication": "daily"})).json()
    assert mine == {
        "publication": "daily",
        "allowance": 3,
        "used": 3,
        "remaining": 0,
        "stories": ["story-one", "story-two", "story-three"],
        "staff": False,
    }


async def test_fifty_concurrent_unlocks_with_one_left_give_exactly_one(
    client_with: ClientFactory, database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    key = await gateway_key(database_url)
    # The per-reader rate limit would refuse most of fifty at once: this is about the quota.
    async with client_with(unlock_rate_per_reader=100) as client:
        reader = await reader_id(client, "racer@example.com")
        for story in ("warm-one", "warm-two"):
            assert (await unlock(client, key, reader, story)).json()["unlocked"]
        answers = await asyncio.gather(*(unlock(client, key, reader, f"race-{n}") for n in range(50)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
    assert sum(a.json()["unlocked"] for a in answers) == 1
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        stories = (
            (await conn.execute(select(Unlock.story_id).where(Unlock.reader_id == reader))).scalars().all()
        )
        used = (
            await conn.execute(select(UnlockQuota.used).where(UnlockQuota.reader_id == reader))
        ).scalar_one()
    await engine.dispose()
    assert used == 3
    assert len(stories) == 3  # the refused forty-nine left no row behind


async def test_last_month_does_not_count(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    key = await gateway_key(database_url)
    reader = await reader_id(client, "monthly@example.com")
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        publication_id = (
            await conn.execute(select(Publication.id).where(Publication.slug == "daily"))
        ).scalar_one()
        await conn.execute(
            insert(UnlockQuota).values(
                reader_id=reader, publication_id=publication_id, month="2000-01", used=3
            )
        )
    await engine.dispose()
    assert (await unlock(client, key, reader, "new-month")).json()["remaining"] == 2


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("other-publication-key", 403),
        ("no-scope", 403),
        ("no-key", 401),
        ("unknown-reader", 404),
        ("bad-story", 400),
    ],
)
async def test_refusals(client: AsyncTestClient[Litestar], database_url: str, case: str, status: int) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "weekly", "owner2@example.com")
    reader = await reader_id(client, "refused@example.com")
    key = await gateway_key(database_url)
    story = "a-story"
    if case == "other-publication-key":
        key = await gateway_key(database_url, "weekly")
    elif case == "no-scope":
        key = await gateway_key(database_url, scopes=("entitlements:read",))
    elif case == "no-key":
        key = "tgk_nothing"
    elif case == "unknown-reader":
        reader = "00000000-0000-4000-8000-000000000000"
    elif case == "bad-story":
        story = "../etc/passwd"
    answer = await unlock(client, key, reader, story)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        assert (await conn.execute(select(Unlock.id))).all() == []
    await engine.dispose()
