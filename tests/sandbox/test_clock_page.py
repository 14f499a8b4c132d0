"""The clock on the sandbox's home page: a person moves it forward with a form, as a test would
with POST /_sandbox/clock/advance, and a bad number of days moves nothing."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import Sandbox

DAY = 86400


async def test_the_home_page_moves_the_clock_forward_by_the_days_given(sandbox: Sandbox) -> None:
    before = await sandbox.now()
    home = await sandbox.http.get("/")
    assert "Move the clock forward" in home.text and "ahead of the real time" not in home.text

    moved = await sandbox.http.post("/clock", data={"days": "10"})
    assert moved.status_code == 303 and moved.headers["location"] == "/"

    assert await sandbox.now() - before == pytest.approx(10 * DAY, abs=5)
    home = await sandbox.http.get("/")
    assert "1 week ahead of the real time" in home.text  # Babel's words for ten days


async def test_renewals_fall_due_on_the_way(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(session["subscription"])
    assert (await sandbox.http.post("/clock", data={"days": "40"})).status_code == 303
    renewed = await sandbox.stripe.v1.subscriptions.retrieve_async(subscription.id)
    started = subscription["items"].data[0].current_period_start
    assert renewed["items"].data[0].current_period_start > started


@pytest.mark.parametrize("days", ["0", "-3", "abc", "", "nan", "3661", "1e9"])
async def test_a_bad_number_of_days_moves_nothing(sandbox: Sandbox, days: str) -> None:
    before = await sandbox.now()
    refused = await sandbox.http.post("/clock", data={"days": days})
    assert refused.status_code == 400
    assert "Give a number of days from 1 to 3660." in refused.text
    assert await sandbox.now() - before < 5
