"""Calendar months in UTC: the month a free read counts in (one definition for both services), and
adding months to a moment the way Stripe does (a gift of 3 months ends 3 calendar months on).

Membership's unlock allowance and the gateway's anonymous allowance both reset on the 1st at
00:00 UTC, whatever the server's timezone; keyed by "YYYY-MM" so the two always agree.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime

from tollgate_common.clock import utcnow


def month_key(moment: datetime) -> str:
    """`2027-01` for any moment of January 2027 in UTC; a naive moment is refused, not guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("month_key needs an aware datetime")
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def this_month() -> str:
    return month_key(utcnow())


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months on, clamped to a shorter month's last day
    (31 January + 1 is 28 or 29 February), as Stripe counts a monthly period."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("add_months needs an aware datetime")
    utc = moment.astimezone(UTC)
    index = utc.year * 12 + (utc.month - 1) + months
    year, month = divmod(index, 12)
    return utc.replace(year=year, month=month + 1, day=min(utc.day, monthrange(year, month + 1)[1]))
