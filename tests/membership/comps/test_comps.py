"""Comps: staff give a reader (by email) keys, until a date or for good; list them; end them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from membership.readers.models import Reader
from tests.membership.helpers import with_cookie
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import db, give, now, reader_id, version_of

COMPS = "/api/publications/daily/comps"


async def staff_of_daily(client: AsyncTestClient[Litestar], database_url: str) -> str:
    await make_publication(database_url, "daily", "owner@example.com")
    return await as_reader(client, "owner@example.com")


async def comp(client: AsyncTestClient[Litestar], **body: Any) -> dict[str, Any]:
    response = await client.post(COMPS, json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def my_entitlements(client: AsyncTestClient[Litestar], email: str) -> dict[str, Any]:
    cookie = await as_reader(client, email)
    client.cookies.clear()
    response = await client.get("/api/me/entitlements", headers=with_cookie(cookie))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def readers_named(database_url: str, email: str) -> int:
    async with db(database_url) as session:
        return int(await session.scalar(select(func.count()).where(Reader.email == email)) or 0)


async def test_staff_comp_a_new_reader_by_email_with_keys_and_an_end(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await staff_of_daily(client, database_url)
    assert await readers_named(database_url, "new.reader@example.com") == 0
    until = now() + timedelta(days=30)
    made = await comp(
        client,
        email="New.Reader@Example.com",
        keys=["pub:daily:premium", "pub:daily"],
        until=until.isoformat(),
        note="press pass",
    )
    assert made["id"].startswith("daily:")
    assert made["email"] == "new.reader@example.com"
    assert made["keys"] == ["pub:daily", "pub:daily:premium"]
    assert datetime.fromisoformat(made["until"]) == until
    assert made["ended_at"] is None and made["note"] == "press pass"
    assert abs(datetime.fromisoformat(made["starts_at"]) - datetime.now(UTC)) < timedelta(seconds=30)
    assert await readers_named(database_url, "new.reader@example.com") == 1
    assert made["reader_id"] == str(await reader_id(database_url, "new.reader@example.com"))

    mine = await my_entitlements(client, "new.reader@example.com")
    assert mine["keys"] == ["pub:daily", "pub:daily:premium"]
    assert {(g["key"], g["source"], g["source_id"]) for g in mine["grants"]} == {
        ("pub:daily", "comp", made["id"]),
        ("pub:daily:premium", "comp", made["id"]),
    }
    assert all(datetime.fromisoformat(g["ends_at"]) == until for g in mine["grants"])


async def test_a_comp_without_keys_or_end_grants_the_publication_for_good(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    owner = await staff_of_daily(client, database_url)
    existing = await reader_id(database_url, "known@example.com")
    made = await comp(client, email="known@example.com")
    assert made["keys"] == ["pub:daily"] and made["until"] is None
    assert made["reader_id"] == str(existing)
    assert await readers_named(database_url, "known@example.com") == 1
    mine = await my_entitlements(client, "known@example.com")
    assert mine["keys"] == ["pub:daily"]
    assert [(g["source"], g["ends_at"]) for g in mine["grants"]] == [("comp", None)]
    client.cookies.clear()
    listed = await client.get(COMPS, headers=with_cookie(owner))
    assert [c["id"] for c in listed.json()] == [made["id"]]


@pytest.mark.parametrize(
    "keys",
    [["member"], ["pub:other"], ["pub:dailyx"], ["pub:daily", "pub:other"], ["pub:daily-news"], ["pub"]],
)
async def test_keys_outside_the_publication_are_refused(
    client: AsyncTestClient[Litestar], database_url: str, keys: list[str]
) -> None:
    await staff_of_daily(client, database_url)
    await make_publication(database_url, "other", "other@example.com")
    refused = await client.post(COMPS, json={"email": "outsider@example.com", "keys": keys})
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(COMPS)).json() == []
    # The failed request made nothing, not even the reader it named.
    assert await readers_named(database_url, "outsider@example.com") == 0


# Ago, not moments: ids made from now() differ between xdist workers, which then refuse to run.
@pytest.mark.parametrize(
    "ago", [timedelta(days=1), timedelta(seconds=1), None], ids=["a-day-ago", "a-second-ago", "2001"]
)
async def test_an_end_in_the_past_is_refused(
    client: AsyncTestClient[Litestar], database_url: str, ago: timedelta | None
) -> None:
    until = "2001-01-01T00:00:00Z" if ago is None else (datetime.now(UTC) - ago).isoformat()
    await staff_of_daily(client, database_url)
    refused = await client.post(COMPS, json={"email": "late@example.com", "until": until})
    assert refused.status_code == 400, refused.text
    assert "future" in refused.json()["detail"]
    assert (await client.get(COMPS)).json() == []


async def test_an_end_without_a_time_zone_is_not_a_server_error(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await staff_of_daily(client, database_url)
    response = await client.post(COMPS, json={"email": "naive@example.com", "until": "2099-01-01T00:00:00"})
    assert response.status_code in (201, 400), response.text
    assert response.headers["content-type"].startswith(
        "application/json" if response.status_code == 201 else "application/problem+json"
    )


async def test_ending_one_comp_keeps_keys_another_source_still_grants(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    owner = await staff_of_daily(client, database_url)
    first = await comp(client, email="twice@example.com")
    second = await comp(client, email="twice@example.com", keys=["pub:daily", "pub:daily:extra"])
    assert first["id"] != second["id"]

    ended = await client.post(f"{COMPS}/{first['id']}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_at"] is not None and ended.json()["id"] == first["id"]
    mine = await my_entitlements(client, "twice@example.com")
    assert mine["keys"] == ["pub:daily", "pub:daily:extra"]
    assert {g["source_id"] for g in mine["grants"]} == {second["id"]}

    client.cookies.clear()
    assert (await client.post(f"{COMPS}/{second['id']}/end", headers=with_cookie(owner))).status_code == 200
    assert (await my_entitlements(client, "twice@example.com"))["keys"] == []


async def test_ending_a_comp_keeps_a_key_a_subscription_grants(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await staff_of_daily(client, database_url)
    rid = await reader_id(database_url, "payer@example.com")
    await give(database_url, rid, {"pub:daily"}, source="subscription", source_id="sub_1")
    made = await comp(client, email="payer@example.com", keys=["pub:daily", "pub:daily:vip"])
    assert (await client.post(f"{COMPS}/{made['id']}/end")).status_code == 200
    mine = await my_entitlements(client, "payer@example.com")
    assert mine["keys"] == ["pub:daily"]
    assert [g["source"] for g in mine["grants"]] == ["subscription"]


async def test_ending_twice_changes_nothing_more(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await staff_of_daily(client, database_url)
    made = await comp(client, email="once@example.com")
    assert (await client.post(f"{COMPS}/{made['id']}/end")).status_code == 200
    version = await version_of(database_url, await reader_id(database_url, "once@example.com"))
    again = await client.post(f"{COMPS}/{made['id']}/end")
    assert again.status_code in (200, 409), again.text
    assert await version_of(database_url, await reader_id(database_url, "once@example.com")) == version
    listed = (await client.get(COMPS)).json()
    assert len(listed) == 1 and listed[0]["ended_at"] is not None


async def test_ending_twice_reports_when_it_really_ended(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await staff_of_daily(client, database_url)
    made = await comp(client, email="once@example.com")
    assert (await client.post(f"{COMPS}/{made['id']}/end")).status_code == 200
    listed = datetime.fromisoformat((await client.get(COMPS)).json()[0]["ended_at"])
    await asyncio.sleep(0.05)
    again = await client.post(f"{COMPS}/{made['id']}/end")
    assert again.status_code == 409 or datetime.fromisoformat(again.json()["ended_at"]) == listed


async def test_only_staff_give_list_and_end_comps(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    owner = await staff_of_daily(client, database_url)
    await make_publication(database_url, "other", "other-owner@example.com")
    made = await comp(client, email="kept@example.com")

    for outsider in ["stranger@example.com", "other-owner@example.com", "kept@example.com"]:
        await as_reader(client, outsider)
        assert (await client.post(COMPS, json={"email": "free@example.com"})).status_code == 403
        assert (await client.get(COMPS)).status_code == 403
        assert (await client.post(f"{COMPS}/{made['id']}/end")).status_code == 403
    client.cookies.clear()
    assert (await client.post(COMPS, json={"email": "free@example.com"})).status_code == 401
    assert (await client.get(COMPS)).status_code == 401
    assert (await client.post(f"{COMPS}/{made['id']}/end")).status_code == 401
    assert await readers_named(database_url, "free@example.com") == 0

    # An editor is staff: editors give comps too.
    added = await client.post(
        "/api/publications/daily/staff", json={"email": "editor@example.com"}, headers=with_cookie(owner)
    )
    assert added.status_code == 201
    await as_reader(client, "editor@example.com")
    assert (await client.post(COMPS, json={"email": "by-editor@example.com"})).status_code == 201
    assert (await client.post(f"{COMPS}/{made['id']}/end")).status_code == 200
    assert (await my_entitlements(client, "kept@example.com"))["keys"] == []


async def test_unknown_and_other_publications_comps_are_404(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "other", "owner@example.com")
    await staff_of_daily(client, database_url)
    theirs = await client.post("/api/publications/other/comps", json={"email": "theirs@example.com"})
    assert theirs.status_code == 201
    assert (await client.post(f"{COMPS}/daily:nope/end")).status_code == 404
    # The other publication's comp, ended through this publication's path: not found, still live.
    crossed = await client.post(f"{COMPS}/{theirs.json()['id']}/end")
    assert crossed.status_code == 404
    assert crossed.headers["content-type"].startswith("application/problem+json")
    assert (await my_entitlements(client, "theirs@example.com"))["keys"] == ["pub:other"]
    await as_reader(client, "owner@example.com")
    assert (
        await client.post("/api/publications/nowhere/comps", json={"email": "x@example.com"})
    ).status_code == 404


async def test_comps_are_listed_newest_first_with_their_end(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await staff_of_daily(client, database_url)
    until = now() + timedelta(days=3)
    first = await comp(client, email="first@example.com")
    second = await comp(
        client, email="second@example.com", keys=["pub:daily", "pub:daily:a"], until=until.isoformat()
    )
    third = await comp(client, email="third@example.com", note="last")
    listed = (await client.get(COMPS)).json()
    assert [c["id"] for c in listed] == [third["id"], second["id"], first["id"]]
    assert [c["email"] for c in listed] == ["third@example.com", "second@example.com", "first@example.com"]
    assert all(c["ended_at"] is None for c in listed)
    assert listed[1]["keys"] == ["pub:daily", "pub:daily:a"] and listed[0]["note"] == "last"

    ended = (await client.post(f"{COMPS}/{second['id']}/end")).json()
    listed = (await client.get(COMPS)).json()
    assert [c["id"] for c in listed] == [third["id"], second["id"], first["id"]]
    by_id = {c["id"]: c for c in listed}
    assert by_id[second["id"]]["ended_at"] is not None
    assert abs(
        datetime.fromisoformat(by_id[second["id"]]["ended_at"]) - datetime.fromisoformat(ended["ended_at"])
    ) < (timedelta(seconds=5))
    assert datetime.fromisoformat(by_id[second["id"]]["until"]) == until
    assert by_id[first["id"]]["ended_at"] is None and by_id[third["id"]]["ended_at"] is None
