"""Calendar arithmetic shared by subscriptions and discounts: a day, and moving a moment on by intervals.

Months keep the anchor's day where it exists, as Stripe's do: one month after 31 January is
28 (or 29) February, two months after it 31 March. A repeating coupon's end is counted the same way.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

DAY = 86400


def add_interval(anchor: int, interval: str, count: int) -> int:
    """`anchor` moved forward by `count` intervals; months keep the anchor's day where it exists."""
    if interval == "day":
        return anchor + count * DAY
    if interval == "week":
        return anchor + count * 7 * DAY
    months = count * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())
