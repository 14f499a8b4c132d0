"""The free-read month turns over on the 1st at 00:00 UTC: not a second before, not a second after.

Membership's allowance is driven through its real API at pinned moments (time-machine); the
gateway's anonymous allowance and membership's unlocks name the month by the same rule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import time_machine
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.free_reads import FreeReads, month_now
from membership.lib.clock import utcnow
from membership.unlocks.models import Unlock
from membership.unlocks.services import month_of
from tests.membership.helpers import sign_in
from tests.membership.publications.test_publications import make_publication
from tests.membership.unlocks.test_unlocks import gateway_key, reader_id, unlock
from tollgate_common.months import month_key

SECOND = timedelta(seconds=1)
# (the month's last second, the month it is, the next month): a 31st, a leap-day month's end, a year's end.
TURNS = [
    pytest.param(datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC), "2027-01", "2027-02", id="31-january"),
    pytest.param(datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC), "2028-02", "2028-03", id="29-february"),
    pytest.param(datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC), "2027-12", "2028-01", id="year-end"),
    pytest.param(datetime(2027, 4, 30, 23, 59, 59, tzinfo=UTC), "2027-04", "2027-05", id="30-april"),
]


@pytest.mark.parametrize(("last_second", "month", "next_month"), TURNS)
async def test_the_allowance_is_full_again_at_midnight_utc_on_the_1st(
    client: AsyncTestClient[Litestar], database_url: str, last_second: datetime, month: str, next_month: str
) -> None:
    with time_machine.travel(last_second - 30 * SECOND, tick=False) as clock:
        await make_publication(database_url, "daily", "owner@example.com")
        key = await gateway_key(database_url)
        reader = await reader_id(client, "turn@example.com")
        for story in ("one", "two", "three"):
            assert (await unlock(client, key, reader, story)).json()["unlocked"]
        clock.move_to(last_second + timedelta(microseconds=999_999))  # the month's very last instant
        refused = (await unlock(client, key, reader, "four")).json()
        assert refused == {
            "unlocked": False,
            "already": False,
            "remaining": 0,
            "allowance": 3,
            "outcome": "refused",
        }

        clock.move_to(last_second + SECOND)  # the 1st, 00:00:00 UTC
        fresh = (await unlock(client, key, reader, "four")).json()
        assert fresh == {
            "unlocked": True,
            "already": False,
            "remaining": 2,
            "allowance": 3,
            "outcome": "unlocked",
        }
        # Last month's story costs an unlock again in the new month.
        assert (await unlock(client, key, reader, "one")).json() == {
            "unlocked": True,
            "already": False,
            "remaining": 1,
            "allowance": 3,
            "outcome": "unlocked",
        }
        await sign_in(client, "turn@example.com")
        mine = (await client.get("/api/me/unlocks", params={"publication": "daily"})).json()
        assert (mine["used"], mine["remaining"], mine["stories"]) == (2, 1, ["four", "one"])

    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Unlock.month, Unlock.story_id).order_by(Unlock.created_at))).all()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [
        (month, "one"),
        (month, "two"),
        (month, "three"),
        (next_month, "four"),
        (next_month, "one"),
    ]


@pytest.mark.parametrize(("last_second", "month", "next_month"), TURNS)
def test_gateway_and_membership_name_the_same_month_at_the_turn(
    last_second: datetime, month: str, next_month: str
) -> None:
    with time_machine.travel(last_second, tick=False) as clock:
        assert month_now() == month_of(utcnow()) == month
        clock.move_to(last_second + SECOND)
        assert month_now() == month_of(utcnow()) == next_month


@pytest.mark.parametrize(("last_second", "month", "next_month"), TURNS)
def test_the_anonymous_allowance_comes_back_on_the_1st(
    last_second: datetime, month: str, next_month: str
) -> None:
    reads = FreeReads("secret", allowance=2)
    with time_machine.travel(last_second, tick=False) as clock:
        cookie = reads.write(frozenset({"tide-tables", "night-press"}), month_now())
        assert reads.read(cookie, month_now()) == {"tide-tables", "night-press"}
        clock.move_to(last_second + SECOND)
        assert reads.read(cookie, month_now()) == frozenset()


def test_the_month_is_the_utc_month_whatever_the_moments_timezone() -> None:
    # 00:30 on 1 February in Paris is still 31 January in UTC; 23:30 on 31 January in New York is February.
    paris, new_york = timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))
    assert month_of(datetime(2027, 2, 1, 0, 30, tzinfo=paris)) == "2027-01"
    assert month_of(datetime(2027, 1, 31, 23, 30, tzinfo=new_york)) == "2027-02"
    with pytest.raises(ValueError, match="aware"):
        month_key(datetime(2027, 2, 1))  # a naive moment, refused on purpose
