"""The one way Tollgate writes money, dates and waits for people (tollgate_common.words).

Every expected string is written out here by hand: what a reader should see, not what a formatter says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tollgate_common import words

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("minor_units", "currency", "expected"),
    [
        (1234, "usd", "$12.34"),
        (500, "usd", "$5"),
        (500, "USD", "$5"),
        (123456789, "usd", "$1,234,567.89"),
        (450, "eur", "€4.50"),
        (120000, "eur", "€1,200"),
        (1999, "gbp", "£19.99"),
        (500, "jpy", "¥500"),
        (1234567, "jpy", "¥1,234,567"),
        (500, "krw", "₩500"),
        (1234, "bhd", f"BHD{NBSP}1.234"),
        (1000, "bhd", f"BHD{NBSP}1"),
        (1200, "chf", f"CHF{NBSP}12"),
        (500, "xyz", f"XYZ{NBSP}5"),
        (0, "usd", "$0"),
        (-500, "eur", "-€5"),
        (-1234, "usd", "-$12.34"),
    ],
)
def test_money_in_stripe_minor_units(minor_units: int, currency: str, expected: str) -> None:
    assert words.money(minor_units, currency) == expected


def test_exact_money_keeps_every_decimal_of_the_currency() -> None:
    assert words.money(500, "usd", exact=True) == "$5.00"
    assert words.money(1000, "bhd", exact=True) == f"BHD{NBSP}1.000"
    assert words.money(500, "jpy", exact=True) == "¥500"


def test_decimals_follow_stripe() -> None:
    assert [words.decimals(c) for c in ("usd", "JPY", "krw", "bhd", "KWD", "tnd", "eur")] == [
        2,
        0,
        0,
        3,
        3,
        3,
        2,
    ]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2027, 1, 6, 14, 5, tzinfo=UTC), "6 January 2027"),
        (datetime(2027, 3, 1, tzinfo=UTC), "1 March 2027"),
        (datetime(2027, 9, 9, 23, 59, tzinfo=UTC), "9 September 2027"),
        (datetime(2027, 1, 29, tzinfo=UTC), "29 January 2027"),
        (datetime(2027, 1, 30, tzinfo=UTC), "30 January 2027"),
        (datetime(2027, 1, 31, tzinfo=UTC), "31 January 2027"),
        (datetime(2028, 2, 29, 12, tzinfo=UTC), "29 February 2028"),
        (date(2028, 2, 29), "29 February 2028"),
        # The last second of a month and of a year in UTC, given in other zones: written in UTC.
        (datetime(2027, 5, 1, 1, 59, 59, tzinfo=ZoneInfo("Europe/Paris")), "30 April 2027"),
        (datetime(2026, 12, 31, 18, 59, 59, tzinfo=ZoneInfo("America/New_York")), "31 December 2026"),
        (datetime(2027, 1, 1, 0, 59, 59, tzinfo=timezone(timedelta(hours=1))), "31 December 2026"),
        (datetime(2027, 1, 1, 0, 0, 0, tzinfo=ZoneInfo("Asia/Tokyo")), "31 December 2026"),
        # What SQLite gives back: a naive datetime, stored in UTC.
        (datetime(2027, 1, 6, 23, 30), "6 January 2027"),
    ],
)
def test_day(moment: datetime | date, expected: str) -> None:
    assert words.day(moment) == expected


def test_no_day_is_no_words() -> None:
    assert words.day(None) == "" and words.day_and_time(None) == ""


def test_day_and_time_in_utc() -> None:
    assert words.day_and_time(datetime(2027, 1, 6, 14, 5, 59, tzinfo=UTC)) == "6 January 2027, 14:05 UTC"
    assert words.day_and_time(datetime(2027, 3, 2, 9, 7, tzinfo=UTC)) == "2 March 2027, 09:07 UTC"
    last = datetime(2027, 1, 1, 8, 59, 59, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert words.day_and_time(last) == "31 December 2026, 23:59 UTC"


def test_months_and_chart_labels() -> None:
    moment = datetime(2027, 9, 3, tzinfo=UTC)
    assert words.month(moment) == "September 2027"
    assert words.month(moment, short=True) == "Sep 2027"
    assert words.month(moment, short=True, with_year=False) == "Sep"
    assert words.short_day(moment) == "3 Sep"
    last = datetime(2027, 2, 1, 0, 59, 59, tzinfo=ZoneInfo("Europe/Paris"))
    assert words.month(last) == "January 2027"


def test_stamp_for_log_like_lines() -> None:
    moment = datetime(2027, 1, 1, 0, 59, 59, tzinfo=ZoneInfo("Europe/Paris"))
    assert words.stamp(moment) == "2026-12-31 23:59:59 UTC"
    assert words.stamp(moment, seconds=False) == "2026-12-31 23:59 UTC"


def test_from_timestamp_is_utc() -> None:
    assert words.day(words.from_timestamp(1798761599)) == "31 December 2026"
    assert words.day(words.from_timestamp(1798761600)) == "1 January 2027"


@time_machine.travel(datetime(2027, 1, 6, 12, tzinfo=UTC), tick=False)
def test_today_in_words() -> None:
    assert words.day(datetime.now(UTC)) == "6 January 2027"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (897, "15 minutes"),
        (59, "1 minute"),
        (1, "1 second"),
        (0.2, "1 second"),
        (45, "45 seconds"),
        (7200, "2 hours"),
        (86400 * 3, "3 days"),
        (86400 * 14, "2 weeks"),
    ],
)
def test_duration(seconds: float, expected: str) -> None:
    assert words.duration(seconds) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (897, "in 15 minutes"),
        (900, "in 15 minutes"),
        (901, "in 16 minutes"),
        (61, "in 2 minutes"),
        (60, "in 1 minute"),
        (59, "in 59 seconds"),
        (1, "in 1 second"),
        (3599, "in 1 hour"),
        (3601, "in 2 hours"),
        (86400 * 3, "in 3 days"),
    ],
)
def test_in_time_never_says_less_than_the_wait(seconds: float, expected: str) -> None:
    assert words.in_time(seconds) == expected


def test_count() -> None:
    assert words.count(1, "story", "stories") == "1 story"
    assert words.count(3, "story", "stories") == "3 stories"
    assert words.count(0, "reader") == "0 readers"
    assert words.count(1200, "reader") == "1,200 readers"
