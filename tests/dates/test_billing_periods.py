"""The sandbox's billing periods on awkward dates, as Stripe documents them.

Stripe counts every period from the billing cycle anchor (the start, or the trial's end) and
clamps the anchor's day to a short month's last day: a monthly subscription from 31 January
renews on 28 February (29 in a leap year), then 31 March, 30 April. A yearly one from
29 February 2028 renews on 28 February 2029. The sandbox runs in-process, its clock pinned by
time-machine, and is driven through the real SDK; each renewal is read back from the API.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from tests.sandbox.conftest import DAY, Sandbox


def _on(moment: datetime) -> int:
    return int(moment.timestamp())


def _day(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


async def _periods(sandbox: Sandbox, subscription_id: str, renewals: int) -> list[tuple[datetime, datetime]]:
    """The current period, then each one after a renewal: the clock moved just past each end."""
    seen = []
    for n in range(renewals + 1):
        subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)
        item = subscription["items"].data[0]
        assert subscription.status in ("active", "trialing"), subscription.status
        seen.append((_day(item.current_period_start), _day(item.current_period_end)))
        if n < renewals:
            await sandbox.advance((item.current_period_end - await sandbox.now()) / DAY + 1 / 24)
    return seen


async def _subscribe_at(sandbox: Sandbox, moment: datetime, interval: str, **session: object) -> str:
    price = await sandbox.price(interval=interval)
    made = await sandbox.session(price.id, customer_email="dates@example.com", **session)
    return str((await sandbox.pay(made.id))["subscription"])


@pytest.mark.parametrize(
    ("start", "ends"),
    [
        pytest.param(
            datetime(2027, 1, 31, 10, 30, tzinfo=UTC),
            [(2027, 2, 28), (2027, 3, 31), (2027, 4, 30), (2027, 5, 31)],
            id="from-31-january",
        ),
        pytest.param(
            datetime(2028, 1, 30, 8, tzinfo=UTC),
            [(2028, 2, 29), (2028, 3, 30), (2028, 4, 30)],
            id="from-30-january-in-a-leap-year",
        ),
        pytest.param(
            datetime(2027, 1, 3, 9, tzinfo=UTC),
            [(2027, 2, 3), (2027, 3, 3), (2027, 4, 3)],
            id="from-a-3rd",
        ),
        pytest.param(
            datetime(2027, 12, 31, 23, 59, 30, tzinfo=UTC),
            [(2028, 1, 31), (2028, 2, 29), (2028, 3, 31)],
            id="from-a-year's-last-seconds",
        ),
    ],
)
async def test_a_monthly_subscription_keeps_its_anchor_day_clamped_to_short_months(
    sandbox: Sandbox, start: datetime, ends: list[tuple[int, int, int]]
) -> None:
    with time_machine.travel(start, tick=False):
        subscription_id = await _subscribe_at(sandbox, start, "month")
        periods = await _periods(sandbox, subscription_id, renewals=len(ends) - 1)
    expected_ends = [start.replace(year=y, month=m, day=d) for y, m, d in ends]
    assert [end for _, end in periods] == expected_ends
    # Each period starts where the one before ended: no day lost or counted twice.
    assert [s for s, _ in periods] == [start, *expected_ends[:-1]]


async def test_a_yearly_subscription_from_29_february_renews_on_28_february_then_29_again(
    sandbox: Sandbox,
) -> None:
    start = datetime(2028, 2, 29, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        subscription_id = await _subscribe_at(sandbox, start, "year")
        periods = await _periods(sandbox, subscription_id, renewals=4)
    assert [end for _, end in periods] == [
        datetime(2029, 2, 28, 12, tzinfo=UTC),
        datetime(2030, 2, 28, 12, tzinfo=UTC),
        datetime(2031, 2, 28, 12, tzinfo=UTC),
        datetime(2032, 2, 29, 12, tzinfo=UTC),
        datetime(2033, 2, 28, 12, tzinfo=UTC),
    ]


async def test_after_a_trial_the_anchor_is_the_trial_end(sandbox: Sandbox) -> None:
    start = datetime(2027, 1, 29, 18, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        subscription_id = await _subscribe_at(
            sandbox, start, "month", subscription_data={"trial_period_days": 2}
        )
        periods = await _periods(sandbox, subscription_id, renewals=3)
    trial_end = datetime(2027, 1, 31, 18, tzinfo=UTC)
    assert periods == [
        (start, trial_end),
        (trial_end, datetime(2027, 2, 28, 18, tzinfo=UTC)),
        (datetime(2027, 2, 28, 18, tzinfo=UTC), datetime(2027, 3, 31, 18, tzinfo=UTC)),
        (datetime(2027, 3, 31, 18, tzinfo=UTC), datetime(2027, 4, 30, 18, tzinfo=UTC)),
    ]


async def test_each_renewal_invoice_bills_the_new_period(sandbox: Sandbox) -> None:
    start = datetime(2027, 1, 31, 10, 30, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        subscription_id = await _subscribe_at(sandbox, start, "month")
        await _periods(sandbox, subscription_id, renewals=2)
        invoices = await sandbox.stripe.v1.invoices.list_async(params={"subscription": subscription_id})
    lines = sorted(
        (_day(line.period.start), _day(line.period.end))
        for invoice in invoices.data
        for line in invoice.lines.data
    )
    assert lines == [
        (start, datetime(2027, 2, 28, 10, 30, tzinfo=UTC)),
        (datetime(2027, 2, 28, 10, 30, tzinfo=UTC), datetime(2027, 3, 31, 10, 30, tzinfo=UTC)),
        (datetime(2027, 3, 31, 10, 30, tzinfo=UTC), datetime(2027, 4, 30, 10, 30, tzinfo=UTC)),
    ]
