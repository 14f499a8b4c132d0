"""Publishers' numbers and readers' tokens where a month or a year turns, through the real API.

Stats: a week that spans 31 December and 1 January is one week (it starts on Monday 27 December),
while the month is already January's; February 2028 runs to its 29th. Tokens: a grant ending at a
month's midnight caps the token there, and a token issued in a year's last minute lives on into
the next year for its full lifetime.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from litestar import Litestar
from litestar.testing import AsyncTestClient

from membership.settings import Settings
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import give, reader_id

SECOND = timedelta(seconds=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def stats(client: AsyncTestClient[Litestar], **params: Any) -> list[dict[str, Any]]:
    answer = await client.get("/api/publications/daily/stats", params=params)
    assert answer.status_code == 200, answer.text
    points: list[dict[str, Any]] = answer.json()["points"]
    return points


async def test_a_week_spanning_the_new_year_is_one_week_and_the_month_is_january(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    with time_machine.travel(datetime(2027, 12, 31, 23, 59, 30, tzinfo=UTC), tick=False) as clock:
        await make_publication(database_url, "daily", "owner@example.com")
        december = datetime(2027, 12, 29, 9, tzinfo=UTC)  # a Wednesday in the week of the 27th
        for n in range(2):
            rid = await reader_id(database_url, f"m{n}@example.com")
            await give(database_url, rid, {"pub:daily"}, source_id=f"d:{n}", starts_at=december)
        await as_reader(client, "owner@example.com")
        before = await stats(client, interval="week", periods=2)
        assert [at(p["period_start"]) for p in before] == [
            datetime(2027, 12, 20, tzinfo=UTC),
            datetime(2027, 12, 27, tzinfo=UTC),
        ]
        assert at(before[-1]["period_end"]) == datetime(2028, 1, 3, tzinfo=UTC)
        assert before[-1]["new_members"] == 2

        clock.move_to(datetime(2028, 1, 1, 0, 0, 10, tzinfo=UTC))
        newcomer = await reader_id(database_url, "january@example.com")
        await give(database_url, newcomer, {"pub:daily"}, source_id="j", starts_at=datetime.now(UTC) - SECOND)
        # Three weeks, not two: an answer is served for a minute once worked out (stats_cache_seconds).
        weekly = await stats(client, interval="week", periods=3)
        # The same week as a minute ago, now with the newcomer: the year's turn does not split it.
        assert at(weekly[-1]["period_start"]) == datetime(2027, 12, 27, tzinfo=UTC)
        assert weekly[-1]["new_members"] == 3 and weekly[-1]["active_members"] == 3
        monthly = await stats(client, interval="month", periods=2)
        assert [at(p["period_start"]) for p in monthly] == [
            datetime(2027, 12, 1, tzinfo=UTC),
            datetime(2028, 1, 1, tzinfo=UTC),
        ]
        assert [p["new_members"] for p in monthly] == [2, 1]
        assert [p["active_members"] for p in monthly] == [2, 3]


async def test_february_of_a_leap_year_runs_to_its_29th(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    with time_machine.travel(datetime(2028, 2, 29, 23, 0, tzinfo=UTC), tick=False):
        await make_publication(database_url, "daily", "owner@example.com")
        rid = await reader_id(database_url, "leap@example.com")
        await give(database_url, rid, {"pub:daily"}, source_id="leap", starts_at=datetime.now(UTC) - SECOND)
        await as_reader(client, "owner@example.com")
        points = await stats(client, interval="month", periods=3)
        assert [at(p["period_start"]).date().isoformat() for p in points] == [
            "2027-12-01",
            "2028-01-01",
            "2028-02-01",
        ]
        assert at(points[-1]["period_end"]) == datetime(2028, 3, 1, tzinfo=UTC)
        assert points[-1]["new_members"] == 1


async def test_a_grant_ending_at_the_months_midnight_caps_the_token_there(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    midnight = datetime(2027, 2, 1, tzinfo=UTC)
    with time_machine.travel(midnight - 2 * timedelta(minutes=1), tick=False) as clock:
        await as_reader(client, "monthend@example.com")
        rid = await reader_id(database_url, "monthend@example.com")
        await give(database_url, rid, {"pub:daily"}, source_id="jan", ends_at=midnight)
        issued = await client.post("/api/auth/token")
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert body["entitlements"] == ["pub:daily"]
        assert at(body["expires_at"]) == midnight
        bearer = {"authorization": f"Bearer {body['access_token']}"}

        clock.move_to(midnight - SECOND)  # 31 January's last second: still good
        assert (await client.get("/api/me", headers=bearer)).status_code == 200
        clock.move_to(midnight + timedelta(seconds=settings.token_leeway_seconds) + SECOND)
        refused = await client.get("/api/me", headers=bearer)
        assert refused.status_code == 401
        assert "expired" in refused.json()["detail"]
        # A new token in February carries no January grant.
        assert (await client.post("/api/auth/token")).json()["entitlements"] == []


async def test_a_token_issued_in_the_years_last_minute_lives_its_full_lifetime_into_the_next(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    issued_at = datetime(2027, 12, 31, 23, 59, 30, tzinfo=UTC)
    with time_machine.travel(issued_at, tick=False) as clock:
        await as_reader(client, "yearend@example.com")
        body = (await client.post("/api/auth/token")).json()
        lifetime = timedelta(minutes=settings.token_minutes)
        assert at(body["expires_at"]) == issued_at + lifetime
        assert at(body["expires_at"]).year == 2028
        bearer = {"authorization": f"Bearer {body['access_token']}"}
        clock.move_to(issued_at + lifetime - SECOND)
        assert (await client.get("/api/me", headers=bearer)).status_code == 200
        clock.move_to(issued_at + lifetime + timedelta(seconds=settings.token_leeway_seconds) + SECOND)
        assert (await client.get("/api/me", headers=bearer)).status_code == 401
