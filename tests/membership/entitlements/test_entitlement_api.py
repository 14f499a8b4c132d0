"""The entitlement API for services: a reader's entitlements, access checks, the revocation feed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from membership.apikeys.services import ApiKeyService
from membership.grants.models import Grant
from membership.grants.services import GrantService
from membership.publications.models import Publication
from membership.readers.models import Reader
from tests.conftest import ClientFactory
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import bearer, db, give, now, reader_id, version_of


async def platform_key(database_url: str, scopes: list[str] | None = None) -> str:
    async with db(database_url) as session:
        _, secret = await ApiKeyService(session).create(
            "platform", scopes or ["entitlements:read"], publication_id=None, created_by_id=None
        )
    return secret


async def publication_key(database_url: str, slug: str, scopes: list[str] | None = None) -> str:
    async with db(database_url) as session:
        publication = (await session.scalars(select(Publication).where(Publication.slug == slug))).one()
        _, secret = await ApiKeyService(session).create(
            slug, scopes or ["entitlements:read"], publication_id=publication.id, created_by_id=None
        )
    return secret


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def check(
    client: AsyncTestClient[Litestar], secret: str, rid: UUID | str, keys: list[str]
) -> dict[str, Any]:
    response = await client.post(
        "/api/access/check", json={"reader_id": str(rid), "keys": keys}, headers=bearer(secret)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_reader_entitlements_list_live_keys_with_sources_and_ends(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    secret = await platform_key(database_url)
    rid = await reader_id(database_url, "ent@example.com")
    month = now() + timedelta(days=30)
    week = now() + timedelta(days=7)
    await give(database_url, rid, {"pub:daily"}, source="subscription", source_id="sub_1", ends_at=month)
    await give(database_url, rid, {"pub:daily"}, source="comp", source_id="daily:c1")
    await give(database_url, rid, {"pub:weekly:premium"}, source="trial", source_id="tr_1", ends_at=week)
    await give(
        database_url, rid, {"pub:old"}, source="comp", source_id="old", ends_at=now() - timedelta(days=1)
    )
    await give(database_url, rid, {"pub:revoked"}, source="comp", source_id="rev")
    await give(database_url, rid, {"pub:revoked"}, source="comp", source_id="rev", revoke=True)
    await give(
        database_url,
        rid,
        {"pub:later"},
        source="comp",
        source_id="later",
        starts_at=now() + timedelta(days=1),
    )

    response = await client.get(f"/api/readers/{rid}/entitlements", headers=bearer(secret))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reader_id"] == str(rid)
    assert body["keys"] == ["pub:daily", "pub:weekly:premium"]
    # Seven writes, six changes to what a token carries: the comp that ended yesterday changes none.
    assert body["version"] == await version_of(database_url, rid) == 6
    grants = {(g["key"], g["source"], g["source_id"]): at(g["ends_at"]) for g in body["grants"]}
    assert grants == {
        ("pub:daily", "subscription", "sub_1"): month,
        ("pub:daily", "comp", "daily:c1"): None,
        ("pub:weekly:premium", "trial", "tr_1"): week,
    }


async def test_check_allows_with_the_longest_grant_and_denies_with_a_reason(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    secret = await platform_key(database_url)
    rid = await reader_id(database_url, "check@example.com")
    day, three_days = now() + timedelta(days=1), now() + timedelta(days=3)
    await give(database_url, rid, {"pub:a"}, source="comp", source_id="c", ends_at=day)
    await give(database_url, rid, {"pub:b"}, source="trial", source_id="t", ends_at=three_days)

    one = await check(client, secret, rid, ["pub:a"])
    assert one == {"allowed": True, "reason": "granted by comp", "key": "pub:a", "until": one["until"]}
    assert at(one["until"]) == day

    longest = await check(client, secret, rid, ["pub:a", "pub:b"])
    assert (
        longest["allowed"] is True and longest["key"] == "pub:b" and longest["reason"] == "granted by trial"
    )
    assert at(longest["until"]) == three_days

    # No end beats any end, whichever key and source it is.
    await give(database_url, rid, {"pub:a"}, source="subscription", source_id="s", ends_at=None)
    forever = await check(client, secret, rid, ["pub:b", "pub:a"])
    assert forever == {"allowed": True, "reason": "granted by subscription", "key": "pub:a", "until": None}

    denied = await check(client, secret, rid, ["pub:c", "pub:d"])
    assert denied["allowed"] is False and denied["key"] is None and denied["until"] is None
    assert "no live grant" in denied["reason"] and "pub:c" in denied["reason"]

    # Ended and revoked grants do not count.
    await give(database_url, rid, {"pub:e"}, source="comp", source_id="e")
    await give(database_url, rid, {"pub:e"}, source="comp", source_id="e", revoke=True)
    await give(
        database_url, rid, {"pub:f"}, source="comp", source_id="f", ends_at=now() - timedelta(seconds=1)
    )
    gone = await check(client, secret, rid, ["pub:e", "pub:f"])
    assert gone["allowed"] is False


async def test_unknown_reader_is_404_on_entitlements_and_denied_on_check(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    secret = await platform_key(database_url)
    nobody = uuid.uuid4()
    missing = await client.get(f"/api/readers/{nobody}/entitlements", headers=bearer(secret))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    denied = await check(client, secret, nobody, ["pub:a"])
    assert denied["allowed"] is False and denied["until"] is None
    batch = await client.post(
        "/api/access/check-batch",
        json={"reader_ids": [str(nobody)], "keys": ["pub:a"]},
        headers=bearer(secret),
    )
    assert batch.status_code == 200
    assert batch.json()["results"] == {str(nobody): {"allowed": False, "until": None}}


async def bulk_readers(database_url: str, count: int) -> list[tuple[UUID, datetime | None, bool]]:
    """`count` readers inserted at once; reader i is allowed by pattern i % 5 (see below)."""
    start = now() - timedelta(hours=1)
    expected: list[tuple[UUID, datetime | None, bool]] = []
    async with db(database_url) as session:
        readers = [Reader(id=uuid.uuid4(), email=f"bulk{i}@example.com") for i in range(count)]
        session.add_all(readers)
        await session.flush()
        grants: list[Grant] = []

        def grant(r: Reader, key: str, ends: datetime | None, revoked: bool = False) -> None:
            grants.append(
                Grant(
                    reader_id=r.id,
                    key=key,
                    source="subscription",
                    source_id=f"{r.id}:{key}:{ends}",
                    starts_at=start,
                    ends_at=ends,
                    revoked_at=now() if revoked else None,
                )
            )

        for i, r in enumerate(readers):
            pattern = i % 5
            ends = now() + timedelta(days=1 + i % 17)
            if pattern == 0:  # no end at all, beside one that ends
                grant(r, "pub:daily", ends)
                grant(r, "pub:daily:premium", None)
                expected.append((r.id, None, True))
            elif pattern == 1:  # two ends: the later one
                grant(r, "pub:daily", ends)
                grant(r, "pub:daily:premium", ends + timedelta(days=3))
                expected.append((r.id, ends + timedelta(days=3), True))
            elif pattern == 2:  # ended
                grant(r, "pub:daily", now() - timedelta(minutes=1))
                expected.append((r.id, None, False))
            elif pattern == 3:  # revoked, and a key the check does not ask about
                grant(r, "pub:daily", None, revoked=True)
                grant(r, "pub:other", None)
                expected.append((r.id, None, False))
            else:
                grant(r, "pub:daily", ends)
                expected.append((r.id, ends, True))
        session.add_all(grants)
    return expected


async def test_batch_check_of_a_thousand_readers(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    secret = await platform_key(database_url)
    expected = await bulk_readers(database_url, 1000)
    ids = [str(rid) for rid, _, _ in expected]
    response = await client.post(
        "/api/access/check-batch",
        json={"reader_ids": [*ids, ids[0], ids[1]], "keys": ["pub:daily", "pub:daily:premium"]},
        headers=bearer(secret),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert set(results) == set(ids)
    for rid, until, allowed in expected:
        result = results[str(rid)]
        assert result["allowed"] is allowed, (rid, result)
        assert at(result["until"]) == until, (rid, result)
    assert sum(r["allowed"] for r in results.values()) == 600


async def test_batch_check_refuses_more_than_ten_thousand_readers(
    client_with: ClientFactory, database_url: str
) -> None:
    async with client_with(max_body_bytes=1024 * 1024) as roomy:
        secret = await platform_key(database_url)
        ids = [str(uuid.uuid4()) for _ in range(10_001)]
        refused = await roomy.post(
            "/api/access/check-batch", json={"reader_ids": ids, "keys": ["pub:a"]}, headers=bearer(secret)
        )
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        allowed = await roomy.post(
            "/api/access/check-batch",
            json={"reader_ids": ids[:10_000], "keys": ["pub:a"]},
            headers=bearer(secret),
        )
        assert allowed.status_code == 200, allowed.text
        assert len(allowed.json()["results"]) == 10_000


async def test_a_batch_of_ten_thousand_fits_the_default_body_limit(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    secret = await platform_key(database_url)
    ids = [str(uuid.uuid4()) for _ in range(10_000)]
    response = await client.post(
        "/api/access/check-batch", json={"reader_ids": ids, "keys": ["pub:a"]}, headers=bearer(secret)
    )
    assert response.status_code == 200, response.text


async def test_a_publication_key_sees_and_checks_only_its_own_keys(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "alpha", "a@example.com")
    await make_publication(database_url, "beta", "b@example.com")
    alpha = await publication_key(database_url, "alpha")
    rid = await reader_id(database_url, "both@example.com")
    for key in ["pub:alpha", "pub:alpha:premium", "pub:beta", "pub:alphabet", "member"]:
        await give(database_url, rid, {key}, source_id=key)

    seen = await client.get(f"/api/readers/{rid}/entitlements", headers=bearer(alpha))
    assert seen.status_code == 200, seen.text
    assert seen.json()["keys"] == ["pub:alpha", "pub:alpha:premium"]
    assert {g["key"] for g in seen.json()["grants"]} == {"pub:alpha", "pub:alpha:premium"}

    assert (await check(client, alpha, rid, ["pub:alpha:premium"]))["allowed"] is True
    for foreign in (["pub:beta"], ["pub:alpha", "pub:beta"], ["pub:alphabet"], ["member"], ["pub:alph"]):
        one = await client.post(
            "/api/access/check", json={"reader_id": str(rid), "keys": foreign}, headers=bearer(alpha)
        )
        assert one.status_code == 403, (foreign, one.text)
        assert one.headers["content-type"].startswith("application/problem+json")
        batch = await client.post(
            "/api/access/check-batch", json={"reader_ids": [str(rid)], "keys": foreign}, headers=bearer(alpha)
        )
        assert batch.status_code == 403, (foreign, batch.text)

    # A platform key sees everything.
    platform = await platform_key(database_url)
    everything = await client.get(f"/api/readers/{rid}/entitlements", headers=bearer(platform))
    assert everything.json()["keys"] == [
        "member",
        "pub:alpha",
        "pub:alpha:premium",
        "pub:alphabet",
        "pub:beta",
    ]


async def test_scope_and_key_are_required(client: AsyncTestClient[Litestar], database_url: str) -> None:
    rid = await reader_id(database_url, "scoped@example.com")
    unscoped = await platform_key(database_url, ["members:read", "staff:read"])
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/api/readers/{rid}/entitlements", None),
        ("POST", "/api/access/check", {"reader_id": str(rid), "keys": ["pub:a"]}),
        ("POST", "/api/access/check-batch", {"reader_ids": [str(rid)], "keys": ["pub:a"]}),
        ("GET", "/api/entitlements/changes", None),
        ("GET", "/api/entitlements/changes/latest", None),
    ]
    await as_reader(client, "scoped@example.com")  # a reader's session is not an API key
    for method, path, body in calls:
        answers = {
            "no key": await client.request(method, path, json=body),
            "wrong key": await client.request(method, path, json=body, headers=bearer("tgk_" + "x" * 43)),
            "not a key": await client.request(
                method, path, json=body, headers={"Authorization": "Basic abc"}
            ),
        }
        for what, response in answers.items():
            assert response.status_code == 401, (path, what, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        missing = await client.request(method, path, json=body, headers=bearer(unscoped))
        assert missing.status_code == 403, (path, missing.text)
        assert "entitlements:read" in missing.json()["detail"]


async def test_revocation_feed_records_every_change_and_pages(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    secret = await platform_key(database_url)
    start = (await client.get("/api/entitlements/changes/latest", headers=bearer(secret))).json()["seq"]
    a = await reader_id(database_url, "feed-a@example.com")
    b = await reader_id(database_url, "feed-b@example.com")
    # One start for every call: give() would otherwise take the current second each time.
    since = now() - timedelta(minutes=1)
    assert await give(database_url, a, {"pub:x"}, source_id="1", starts_at=since)
    assert await give(database_url, b, {"pub:x"}, source_id="1", starts_at=since)
    # Nothing changed: no new version.
    assert not await give(database_url, a, {"pub:x"}, source_id="1", starts_at=since)
    assert await give(database_url, a, {"pub:x", "pub:y"}, source_id="1", starts_at=since)
    assert await give(database_url, b, {"pub:x"}, source_id="1", starts_at=since, revoke=True)
    assert await give(database_url, a, set(), source_id="1", starts_at=since, live=False)

    seen: list[dict[str, Any]] = []
    after, pages = start, 0
    while True:
        page = await client.get(
            "/api/entitlements/changes", params={"after": after, "limit": 2}, headers=bearer(secret)
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["changes"]) <= 2
        seen += body["changes"]
        pages += 1
        if body["changes"]:
            assert body["next_after"] == body["changes"][-1]["seq"]
        if not body["has_more"]:
            break
        after = body["next_after"]
    assert pages == 3
    assert [(c["reader_id"], c["version"]) for c in seen] == [
        (str(a), 1),
        (str(b), 1),
        (str(a), 2),
        (str(b), 2),
        (str(a), 3),
    ]
    seqs = [c["seq"] for c in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5 and seqs[0] > start
    assert await version_of(database_url, a) == 3 and await version_of(database_url, b) == 2

    latest = (await client.get("/api/entitlements/changes/latest", headers=bearer(secret))).json()
    assert latest == {"seq": seqs[-1]}
    tail = await client.get("/api/entitlements/changes", params={"after": seqs[-1]}, headers=bearer(secret))
    assert tail.json() == {"changes": [], "next_after": seqs[-1], "has_more": False}
    everything = await client.get(
        "/api/entitlements/changes", params={"after": start}, headers=bearer(secret)
    )
    assert [c["seq"] for c in everything.json()["changes"]] == seqs
    assert everything.json()["has_more"] is False


async def test_comps_through_the_api_appear_on_the_feed(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    secret = await platform_key(database_url)
    await make_publication(database_url, "daily", "owner@example.com")
    await as_reader(client, "owner@example.com")
    start = (await client.get("/api/entitlements/changes/latest", headers=bearer(secret))).json()["seq"]
    comp = (await client.post("/api/publications/daily/comps", json={"email": "fed@example.com"})).json()
    await client.post(f"/api/publications/daily/comps/{comp['id']}/end")
    changes = (
        await client.get("/api/entitlements/changes", params={"after": start}, headers=bearer(secret))
    ).json()["changes"]
    assert [(c["reader_id"], c["version"]) for c in changes] == [
        (comp["reader_id"], 1),
        (comp["reader_id"], 2),
    ]
    entitlements = await client.get(f"/api/readers/{comp['reader_id']}/entitlements", headers=bearer(secret))
    assert entitlements.json()["version"] == 2 and entitlements.json()["keys"] == []


async def test_a_follower_misses_no_change_committed_out_of_seq_order(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time, so changes commit in seq order")
    secret = await platform_key(database_url)
    slow_reader = await reader_id(database_url, "slow@example.com")
    fast_reader = await reader_id(database_url, "fast@example.com")
    after = (await client.get("/api/entitlements/changes/latest", headers=bearer(secret))).json()["seq"]
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine) as slow:
            # The slow transaction takes its seq first, and commits last.
            assert await GrantService(slow).sync(
                slow_reader,
                source="comp",
                source_id="slow",
                keys={"pub:x"},
                live=True,
                starts_at=now(),
                ends_at=None,
            )
            # A later change, by another transaction, while the slow one is still open.
            fast = asyncio.create_task(give(database_url, fast_reader, {"pub:x"}, source_id="fast"))
            await asyncio.sleep(0.5)
            seen: list[str] = []
            page = (
                await client.get("/api/entitlements/changes", params={"after": after}, headers=bearer(secret))
            ).json()
            seen += [c["reader_id"] for c in page["changes"]]
            after = page["next_after"]
            await slow.commit()
        assert await fast
        page = (
            await client.get("/api/entitlements/changes", params={"after": after}, headers=bearer(secret))
        ).json()
        seen += [c["reader_id"] for c in page["changes"]]
    finally:
        await engine.dispose()
    assert sorted(seen) == sorted([str(slow_reader), str(fast_reader)])
