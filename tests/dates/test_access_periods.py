"""Access from a subscription on awkward dates: the period end plus the renewal leeway, the
past_due grace counted from the failed renewal, both from the day Stripe really renews on.

Membership and the Stripe sandbox run over real HTTP (tests/membership/conftest.py's stack); time-machine pins
the sandbox's clock to each start. Membership's settings: 48 h leeway, 7 days' grace.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine

from tests.membership.conftest import Stack, subscriptions
from tests.membership.subscriptions.test_lifecycle import price_of, setup_tier, stripe_customer_of

DAY = 86400
LEEWAY, GRACE = timedelta(hours=48), timedelta(days=7)


async def pin_sandbox(stack: Stack, clock: time_machine.Coordinates, moment: datetime) -> None:
    """Move our clock so the sandbox's (ours plus the offset earlier tests grew) reads `moment`."""
    ahead = (await stack.control("get", "/_sandbox/clock"))["now"] - int(datetime.now(UTC).timestamp())
    clock.move_to(moment - timedelta(seconds=ahead))
    assert (await stack.control("get", "/_sandbox/clock"))["now"] == int(moment.timestamp())


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def subscription_grant(reader: httpx.AsyncClient) -> dict[str, Any]:
    grants = (await reader.get("/api/me/entitlements")).json()["grants"]
    [grant] = [g for g in grants if g["source"] == "subscription"]
    return dict(grant)


@pytest.mark.parametrize(
    ("start", "renewal"),
    [
        pytest.param(
            datetime(2027, 1, 31, 10, 30, tzinfo=UTC),
            datetime(2027, 2, 28, 10, 30, tzinfo=UTC),
            id="31-january",
        ),
        pytest.param(
            datetime(2028, 1, 31, 10, 30, tzinfo=UTC),
            datetime(2028, 2, 29, 10, 30, tzinfo=UTC),
            id="leap-year",
        ),
        pytest.param(
            datetime(2027, 12, 31, 23, 59, 30, tzinfo=UTC),
            datetime(2028, 1, 31, 23, 59, 30, tzinfo=UTC),
            id="year-end",
        ),
        pytest.param(datetime(2027, 3, 5, 9, tzinfo=UTC), datetime(2027, 4, 5, 9, tzinfo=UTC), id="a-5th"),
    ],
)
async def test_access_runs_to_the_renewal_plus_leeway_then_the_grace_from_the_failed_renewal(
    stack: Stack, start: datetime, renewal: datetime
) -> None:
    with time_machine.travel(start, tick=False) as clock:
        await pin_sandbox(stack, clock, start)
        _, slug, tier = await setup_tier(stack)
        reader = await stack.reader()
        await stack.subscribe(reader, price_of(tier))
        [sub] = await subscriptions(reader)
        assert (sub["status"], _at(sub["current_period_end"])) == ("active", renewal)
        grant = await subscription_grant(reader)
        assert (grant["key"], _at(grant["ends_at"])) == (f"pub:{slug}", renewal + LEEWAY)

        # The renewal fails: past_due, and access for the grace counted from that renewal.
        customer = await stripe_customer_of(stack, reader)
        await stack.control("post", f"/_sandbox/customers/{customer}/card", json={"fails": True})
        now = (await stack.control("get", "/_sandbox/clock"))["now"]
        await stack.advance((renewal.timestamp() - now) / DAY + 1 / 24)
        [sub] = await subscriptions(reader)
        assert sub["status"] == "past_due"
        grant = await subscription_grant(reader)
        assert _at(grant["ends_at"]) == renewal + GRACE
