"""The month a free read counts in: the UTC calendar month, one definition for both services.

Membership's unlock allowance and the gateway's anonymous allowance both reset on the 1st at
00:00 UTC, whatever the server's timezone; keyed by "YYYY-MM" so the two always agree.
"""

from __future__ import annotations

from datetime import UTC, datetime


def month_key(moment: datetime) -> str:
    """`2027-01` for any moment of January 2027 in UTC; a naive moment is refused, not guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("month_key needs an aware datetime")
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def this_month() -> str:
    return month_key(datetime.now(UTC))
