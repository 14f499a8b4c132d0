"""Adding calendar months the way Stripe counts a monthly period: clamped to short months, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tollgate_common.months import add_months


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (datetime(2027, 1, 31, 9, 30, tzinfo=UTC), 1, datetime(2027, 2, 28, 9, 30, tzinfo=UTC)),
        (datetime(2028, 1, 31, 9, 30, tzinfo=UTC), 1, datetime(2028, 2, 29, 9, 30, tzinfo=UTC)),
        (datetime(2028, 2, 29, 0, 0, tzinfo=UTC), 12, datetime(2029, 2, 28, 0, 0, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), 1, datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)),
        (datetime(2026, 11, 30, 12, 0, tzinfo=UTC), 3, datetime(2027, 2, 28, 12, 0, tzinfo=UTC)),
        (datetime(2027, 3, 5, 8, 0, tzinfo=UTC), 6, datetime(2027, 9, 5, 8, 0, tzinfo=UTC)),
        (datetime(2027, 8, 31, 8, 0, tzinfo=UTC), 1, datetime(2027, 9, 30, 8, 0, tzinfo=UTC)),
        (datetime(2027, 5, 1, 0, 0, tzinfo=UTC), 0, datetime(2027, 5, 1, 0, 0, tzinfo=UTC)),
    ],
    ids=["31-jan", "31-jan-leap", "29-feb-year", "year-end", "30-nov-3", "5th-6", "31-aug", "zero"],
)
def test_months_on_are_calendar_months_clamped_to_the_shorter_month(
    start: datetime, months: int, end: datetime
) -> None:
    assert add_months(start, months) == end


def test_a_moment_in_another_zone_counts_in_utc() -> None:
    # 1 February 00:30 in UTC+2 is 31 January 22:30 UTC: one month on is 28 February 22:30 UTC.
    local = datetime(2027, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert add_months(local, 1) == datetime(2027, 2, 28, 22, 30, tzinfo=UTC)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_months(datetime(2027, 1, 31), 1)
