"""Friend links: one story opened by a shared code until revoked; made by authors (through the
gateway) or staff; the code shown once and stored only as its hash; revoked and made-up codes
answer alike."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from membership.apikeys.models import ApiKey
from membership.friendlinks.models import FriendLink
from tests.membership.helpers import with_cookie
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.test_bad_input import assert_problem
from tests.membership.tokens.test_tokens import bearer, db, issue, reader_id
from tests.membership.unlocks.test_unlocks import gateway_key

CODE = re.compile(r"^fl_[A-Za-z0-9_-]{43}$")
MADE_UP = "fl_" + "A" * 43
DAILY = "/api/publications/daily/friend-links"


def key_header(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def author_link(
    client: AsyncTestClient[Litestar],
    key: str,
    author: str,
    story: str = "a-story",
    slug: str = "daily",
    status: int = 201,
) -> dict[str, Any]:
    """The gateway making a link on an author's behalf."""
    client.cookies.clear()
    made = await client.post(
        "/api/friend-links",
        json={"publication": slug, "story_id": story, "author_id": author},
        headers=key_header(key),
    )
    assert made.status_code == status, made.text
    body: dict[str, Any] = made.json()
    return body


async def resolve(client: AsyncTestClient[Litestar], key: str, code: str) -> Any:
    client.cookies.clear()
    return await client.post("/api/friend-links/resolve", json={"code": code}, headers=key_header(key))


async def stored_links(database_url: str) -> list[FriendLink]:
    async with db(database_url) as session:
        return list(await session.scalars(select(FriendLink)))


async def stored_link(database_url: str, link_id: str) -> FriendLink:
    async with db(database_url) as session:
        found = await session.get(FriendLink, UUID(link_id))
        assert found is not None
        return found


async def link_count(database_url: str) -> int:
    async with db(database_url) as session:
        return int(await session.scalar(select(func.count()).select_from(FriendLink)) or 0)


async def test_an_authors_link_opens_its_story_and_its_code_is_shown_once(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    author = str(await reader_id(database_url, "writer@example.com"))
    writer = await gateway_key(database_url, scopes=("friend-links:write",))
    reader = await gateway_key(database_url, scopes=("entitlements:read",))

    made = await author_link(client, writer, author, "the-night-press")
    assert CODE.match(made["code"]), made["code"]
    assert made["publication"] == "daily" and made["story_id"] == "the-night-press"
    assert made["path"] == f"/stories/the-night-press?friend={made['code']}"
    assert set(made) == {"id", "publication", "story_id", "code", "path", "created_at"}

    # Only the hash is kept; the code itself is nowhere in the row.
    (row,) = await stored_links(database_url)
    assert row.code_hash == hashlib.sha256(made["code"].encode()).hexdigest()
    async with db(database_url) as session:
        raw = (await session.execute(select(FriendLink.__table__))).one()
    assert not any(made["code"] in str(value) or made["code"][3:] in str(value) for value in raw)
    assert row.made_as == "author" and str(row.created_by_id) == author and row.hint == made["code"][-4:]

    found = await resolve(client, reader, made["code"])
    assert found.status_code == 200, found.text
    assert found.json() == {"id": made["id"], "publication": "daily", "story_id": "the-night-press"}
    # Without limit: any number of readers, any number of times.
    for _ in range(3):
        assert (await resolve(client, reader, made["code"])).status_code == 200

    # Lists name it by its hint, never its code; the author sees theirs under /me.
    await as_reader(client, "owner@example.com")
    listed = (await client.get(DAILY)).json()
    assert listed == [
        {
            "id": made["id"],
            "publication": "daily",
            "story_id": "the-night-press",
            "hint": made["code"][-4:],
            "made_as": "author",
            "created_by": {"id": author, "name": "writer"},
            "created_at": made["created_at"],
            "revoked_at": None,
        }
    ]
    await as_reader(client, "writer@example.com")
    mine = (await client.get("/api/me/friend-links")).json()
    assert mine == listed


async def test_codes_are_distinct(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    author = str(await reader_id(database_url, "writer@example.com"))
    key = await gateway_key(database_url, scopes=("friend-links:write",))
    codes = {(await author_link(client, key, author, "same-story"))["code"] for _ in range(5)}
    assert len(codes) == 5  # each share its own link, revocable on its own


async def test_staff_make_list_filter_and_revoke(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    resolver = await gateway_key(database_url, scopes=("entitlements:read",))
    owner = await as_reader(client, "owner@example.com")
    added = await client.post("/api/publications/daily/staff", json={"email": "ed@example.com"})
    assert added.status_code == 201, added.text

    first = await client.post(DAILY, json={"story_id": "story-one"})
    assert first.status_code == 201, first.text
    assert first.json()["publication"] == "daily" and CODE.match(first.json()["code"])
    # An editor may too, and with an access token instead of the cookie.
    await as_reader(client, "ed@example.com")
    token = (await issue(client))["access_token"]
    client.cookies.clear()
    second = await client.post(DAILY, json={"story_id": "story-two"}, headers=bearer(token))
    assert second.status_code == 201, second.text
    third = await client.post(DAILY, json={"story_id": "story-one"}, headers=bearer(token))
    assert third.status_code == 201, third.text

    listed = await client.get(DAILY, headers=bearer(token))
    assert listed.status_code == 200, listed.text
    assert [link["id"] for link in listed.json()] == [
        third.json()["id"],
        second.json()["id"],
        first.json()["id"],
    ]
    assert {link["made_as"] for link in listed.json()} == {"staff"}
    assert all("code" not in link for link in listed.json())
    one = (await client.get(DAILY, params={"story_id": "story-one"}, headers=bearer(token))).json()
    assert [link["id"] for link in one] == [third.json()["id"], first.json()["id"]]
    assert one[1]["created_by"]["name"] == "owner" and one[0]["created_by"]["name"] == "ed"

    # Revoking: 204, idempotent, and the first time stands.
    revoked = await client.delete(f"{DAILY}/{first.json()['id']}", headers=with_cookie(owner))
    assert revoked.status_code == 204, revoked.text
    before = await stored_link(database_url, first.json()["id"])
    assert before.revoked_at is not None
    again = await client.delete(f"{DAILY}/{first.json()['id']}", headers=bearer(token))
    assert again.status_code == 204, again.text
    after = await stored_link(database_url, first.json()["id"])
    assert after.revoked_at == before.revoked_at and after.revoked_by_id == before.revoked_by_id

    live = (await client.get(DAILY, headers=bearer(token))).json()
    assert [link["id"] for link in live] == [third.json()["id"], second.json()["id"]]
    everything = (await client.get(DAILY, params={"include_revoked": "true"}, headers=bearer(token))).json()
    assert len(everything) == 3
    assert [link["revoked_at"] is not None for link in everything] == [False, False, True]

    # A revoked code answers exactly as a made-up one.
    gone = await resolve(client, resolver, first.json()["code"])
    unknown = await resolve(client, resolver, MADE_UP)
    assert_problem(gone, 404)
    assert_problem(unknown, 404)
    assert gone.json() == unknown.json() | {"instance": gone.json()["instance"]}
    assert (await resolve(client, resolver, second.json()["code"])).status_code == 200


async def test_only_staff_make_list_or_revoke_a_publications_links(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "weekly", "other-owner@example.com")
    owner = await as_reader(client, "owner@example.com")
    made = (await client.post(DAILY, json={"story_id": "story-one"})).json()
    stranger = await as_reader(client, "stranger@example.com")
    other_staff = await as_reader(client, "other-owner@example.com")
    client.cookies.clear()

    assert_problem(await client.post(DAILY, json={"story_id": "x"}), 401)
    assert_problem(await client.get(DAILY), 401)
    assert_problem(await client.delete(f"{DAILY}/{made['id']}"), 401)
    for cookie in (stranger, other_staff):
        assert_problem(await client.post(DAILY, json={"story_id": "x"}, headers=with_cookie(cookie)), 403)
        assert_problem(await client.get(DAILY, headers=with_cookie(cookie)), 403)
        assert_problem(await client.delete(f"{DAILY}/{made['id']}", headers=with_cookie(cookie)), 403)
    # Staff of another publication cannot reach this link through their own either.
    weekly = f"/api/publications/weekly/friend-links/{made['id']}"
    assert_problem(await client.delete(weekly, headers=with_cookie(other_staff)), 404)
    assert_problem(
        await client.post(
            "/api/publications/nowhere/friend-links", json={"story_id": "x"}, headers=with_cookie(owner)
        ),
        404,
    )
    assert [link.revoked_at for link in await stored_links(database_url)] == [None]
    assert await link_count(database_url) == 1


async def test_a_reader_revokes_their_own_links_and_no_one_elses(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    alice = str(await reader_id(database_url, "alice@example.com"))
    key = await gateway_key(database_url, scopes=("friend-links:write", "entitlements:read"))
    hers = await author_link(client, key, alice, "her-story")

    await as_reader(client, "bob@example.com")
    assert (await client.get("/api/me/friend-links")).json() == []
    assert_problem(await client.delete(f"/api/me/friend-links/{hers['id']}"), 404)
    assert (await resolve(client, key, hers["code"])).status_code == 200

    await as_reader(client, "alice@example.com")
    assert (await client.delete(f"/api/me/friend-links/{hers['id']}")).status_code == 204
    assert (await client.delete(f"/api/me/friend-links/{hers['id']}")).status_code == 204
    assert (await client.get("/api/me/friend-links")).json() == []
    mine = (await client.get("/api/me/friend-links", params={"include_revoked": True})).json()
    assert [link["id"] for link in mine] == [hers["id"]] and mine[0]["revoked_at"] is not None
    assert_problem(await resolve(client, key, hers["code"]), 404)
    (row,) = await stored_links(database_url)
    assert str(row.revoked_by_id) == alice
    client.cookies.clear()
    assert_problem(await client.get("/api/me/friend-links"), 401)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no-key", 401),
        ("revoked-key", 401),
        ("no-scope", 403),
        ("other-publication-key", 403),
        ("unknown-publication", 404),
        ("unknown-author", 404),
        ("bad-story", 400),
        ("bad-author-id", 400),
        ("unknown-field", 400),
        ("missing-field", 400),
    ],
)
async def test_author_link_refusals(
    client: AsyncTestClient[Litestar], database_url: str, case: str, status: int
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "weekly", "owner2@example.com")
    body: dict[str, Any] = {
        "publication": "daily",
        "story_id": "a-story",
        "author_id": str(await reader_id(database_url, "writer@example.com")),
    }
    key = await gateway_key(database_url, "daily", scopes=("friend-links:write",))
    if case == "no-key":
        key = "tgk_nothing"
    elif case == "revoked-key":
        async with db(database_url) as session:
            for k in await session.scalars(select(ApiKey)):
                k.revoked_at = k.created_at
    elif case == "no-scope":
        key = await gateway_key(database_url, scopes=("unlocks:write", "entitlements:read"))
    elif case == "other-publication-key":
        key = await gateway_key(database_url, "weekly", scopes=("friend-links:write",))
    elif case == "unknown-publication":
        key = await gateway_key(database_url, scopes=("friend-links:write",))
        body["publication"] = "nowhere"
    elif case == "unknown-author":
        body["author_id"] = "00000000-0000-4000-8000-000000000000"
    elif case == "bad-story":
        body["story_id"] = "../etc/passwd"
    elif case == "bad-author-id":
        body["author_id"] = "clara"
    elif case == "unknown-field":
        body["made_as"] = "staff"
    elif case == "missing-field":
        del body["author_id"]
    answer = await client.post("/api/friend-links", json=body, headers=key_header(key))
    assert_problem(answer, status)
    assert await link_count(database_url) == 0


async def test_resolving_keys_see_only_their_publications_links(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "weekly", "owner2@example.com")
    author = str(await reader_id(database_url, "writer@example.com"))
    maker = await gateway_key(database_url, scopes=("friend-links:write",))
    code = (await author_link(client, maker, author))["code"]

    daily = await gateway_key(database_url, "daily", scopes=("entitlements:read",))
    weekly = await gateway_key(database_url, "weekly", scopes=("entitlements:read",))
    assert (await resolve(client, daily, code)).json()["story_id"] == "a-story"
    elsewhere = await resolve(client, weekly, code)
    assert_problem(elsewhere, 404)
    assert elsewhere.json()["detail"] == (await resolve(client, weekly, MADE_UP)).json()["detail"]
    assert_problem(await resolve(client, maker, code), 403)  # making links is not reading them
    assert_problem(await resolve(client, "tgk_nothing", code), 401)


@pytest.mark.parametrize(
    "body",
    [
        {"code": "fl_short"},
        {"code": MADE_UP + "A"},
        {"code": "xx_" + "A" * 43},
        {"code": "fl_" + "A" * 42 + "/"},
        {"code": 42},
        {},
        {"code": MADE_UP, "story_id": "a-story"},
    ],
)
async def test_malformed_codes_are_bad_requests(
    client: AsyncTestClient[Litestar], database_url: str, body: dict[str, Any]
) -> None:
    key = await gateway_key(database_url, scopes=("entitlements:read",))
    answer = await client.post("/api/friend-links/resolve", json=body, headers=key_header(key))
    assert_problem(answer, 400)


async def test_a_service_key_lists_a_publications_links(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "weekly", "owner2@example.com")
    author = str(await reader_id(database_url, "writer@example.com"))
    platform = await gateway_key(database_url, scopes=("friend-links:write",))
    made = await author_link(client, platform, author)
    own = await gateway_key(database_url, "daily", scopes=("friend-links:write",))
    listed = await client.get(DAILY, headers=key_header(own))
    assert listed.status_code == 200, listed.text
    assert [link["id"] for link in listed.json()] == [made["id"]]
    assert (await client.get(DAILY, headers=key_header(platform))).status_code == 200
    other = await gateway_key(database_url, "weekly", scopes=("friend-links:write",))
    assert_problem(await client.get(DAILY, headers=key_header(other)), 403)
    no_scope = await gateway_key(database_url, "daily", scopes=("entitlements:read",))
    assert_problem(await client.get(DAILY, headers=key_header(no_scope)), 403)
    assert_problem(await client.get(DAILY, headers=key_header("tgk_nothing")), 401)
    assert_problem(await client.get(DAILY, params={"story_id": "../x"}, headers=key_header(own)), 400)
    assert_problem(await client.get(DAILY, params={"include_revoked": "maybe"}, headers=key_header(own)), 400)
    # Revoking stays with people: a service key cannot.
    assert_problem(await client.delete(f"{DAILY}/{made['id']}", headers=key_header(own)), 401)


async def test_the_scope_is_known_to_api_keys(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await as_reader(client, "owner@example.com")
    made = await client.post(
        "/api/publications/daily/api-keys", json={"name": "gateway", "scopes": ["friend-links:write"]}
    )
    assert made.status_code == 201, made.text
    assert made.json()["key"]["scopes"] == ["friend-links:write"]
