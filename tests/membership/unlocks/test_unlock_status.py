"""The gateway reads a reader's free unlocks this month: the same answer the reader gets at /me."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.membership.helpers import sign_in
from tests.membership.publications.test_publications import make_publication
from tests.membership.test_bad_input import assert_problem
from tests.membership.unlocks.test_unlocks import gateway_key, reader_id, unlock

NOBODY = "00000000-0000-4000-8000-000000000000"


def status(client: AsyncTestClient[Litestar], key: str, reader: str, slug: str = "daily") -> Any:
    return client.get(
        "/api/unlocks",
        params={"reader_id": reader, "publication": slug},
        headers={"authorization": f"Bearer {key}"},
    )


async def test_the_gateway_sees_what_the_reader_sees(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "weekly", "owner2@example.com")
    key = await gateway_key(database_url)
    reader = await reader_id(client, "metered@example.com")

    fresh = await status(client, key, reader)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json() == {
        "publication": "daily",
        "allowance": 3,
        "used": 0,
        "remaining": 3,
        "stories": [],
        "staff": False,
    }

    for story in ("story-one", "story-two", "story-one"):
        assert (await unlock(client, key, reader, story)).json()["unlocked"]
    assert (await unlock(client, key, reader, "elsewhere", slug="weekly")).json()["unlocked"]
    seen = (await status(client, key, reader)).json()
    assert seen == {
        "publication": "daily",
        "allowance": 3,
        "used": 2,
        "remaining": 1,
        "stories": ["story-one", "story-two"],
        "staff": False,
    }
    await sign_in(client, "metered@example.com")
    assert (await client.get("/api/me/unlocks", params={"publication": "daily"})).json() == seen
    client.cookies.clear()
    # Each publication counts its own; reading does not count anything.
    assert (await status(client, key, reader, "weekly")).json()["stories"] == ["elsewhere"]
    assert (await status(client, key, reader)).json() == seen

    own = await gateway_key(database_url, "daily")
    assert (await status(client, own, reader)).json() == seen
    # The publication's owner is on its staff: the gateway lets them read without spending.
    owner = await reader_id(client, "owner@example.com")
    assert (await status(client, key, owner)).json()["staff"] is True
    assert (await status(client, key, owner, "weekly")).json()["staff"] is False


@pytest.mark.parametrize(
    ("case", "status_code"),
    [
        ("no-key", 401),
        ("no-scope", 403),
        ("other-publication-key", 403),
        ("unknown-reader", 404),
        ("unknown-publication", 404),
        ("bad-reader-id", 400),
        ("missing-reader-id", 400),
        ("missing-publication", 400),
    ],
)
async def test_refusals(
    client: AsyncTestClient[Litestar], database_url: str, case: str, status_code: int
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "weekly", "owner2@example.com")
    reader = await reader_id(client, "refused@example.com")
    key = await gateway_key(database_url)
    params = {"reader_id": reader, "publication": "daily"}
    if case == "no-key":
        key = "tgk_nothing"
    elif case == "no-scope":
        key = await gateway_key(database_url, scopes=("entitlements:read", "friend-links:write"))
    elif case == "other-publication-key":
        key = await gateway_key(database_url, "weekly")
    elif case == "unknown-reader":
        params["reader_id"] = NOBODY
    elif case == "unknown-publication":
        params["publication"] = "nowhere"
    elif case == "bad-reader-id":
        params["reader_id"] = "me"
    elif case == "missing-reader-id":
        del params["reader_id"]
    elif case == "missing-publication":
        del params["publication"]
    answer = await client.get("/api/unlocks", params=params, headers={"authorization": f"Bearer {key}"})
    assert_problem(answer, status_code)
