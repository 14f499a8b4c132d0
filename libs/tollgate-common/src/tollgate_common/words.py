"""People's words for money, dates, months, durations and counts: one way, for every Tollgate service.

Every page, email and command line line that shows an amount, a date or a wait to a person calls
this module, so the membership pages, the dashboard, the gateway's paywall and the Stripe sandbox
never disagree. English, dates in UTC ("6 January 2027"), amounts in Stripe's minor units.
Babel does the writing; this module only decides the conventions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_currency, format_decimal, get_currency_symbol

LOCALE = "en"
# Stripe's zero-decimal currencies: an amount of 500 JPY is ¥500, not ¥5.
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
# Stripe's three-decimal currencies: their minor units are thousandths.
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
NO_BREAK_SPACE = "\u00a0"
_SECONDS_IN = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("week", 7 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)

Moment = datetime | date

# --- money ------------------------------------------------------------------------------------


def decimals(currency: str) -> int:
    """How many decimals Stripe's minor units of `currency` stand for: 0 (JPY), 3 (BHD) or 2."""
    code = currency.lower()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def major_units(minor_units: int, currency: str) -> Decimal:
    """Stripe's integer amount as the amount people count in: 1234 USD -> 12.34, 500 JPY -> 500."""
    return Decimal(minor_units).scaleb(-decimals(currency))


def money(minor_units: int, currency: str, *, exact: bool = False) -> str:
    """`$12.34`, `$5` (whole amounts without `.00`, unless `exact`), `¥500`, `BHD 1.234`."""
    code = currency.upper()
    amount = major_units(minor_units, code)
    places = decimals(code)
    shown = places if exact or amount != amount.to_integral_value() else 0
    # A symbol that is letters ("CHF") is kept apart from the digits, as CLDR's currency spacing says.
    symbol = get_currency_symbol(code, locale=LOCALE)
    gap = NO_BREAK_SPACE if symbol[-1:].isalpha() else ""
    pattern = f"¤{gap}#,##0" + ("." + "0" * shown if shown else "")
    return format_currency(amount, code, format=pattern, locale=LOCALE, currency_digits=False)


# --- dates --------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    # A naive datetime is one our databases gave back without its zone: they all store UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _in_utc(moment: Moment) -> Moment:
    return _utc(moment) if isinstance(moment, datetime) else moment


def from_timestamp(seconds: float) -> datetime:
    """A Unix time (as Stripe sends them) as a UTC datetime, to hand to the functions below."""
    return datetime.fromtimestamp(seconds, UTC)


def day(moment: Moment | None) -> str:
    """`6 January 2027` (the day in UTC), or an empty string for no date."""
    return "" if moment is None else format_date(_in_utc(moment), "d MMMM y", locale=LOCALE)


def day_and_time(moment: datetime | None) -> str:
    """`6 January 2027, 14:05 UTC`, or an empty string for no moment."""
    if moment is None:
        return ""
    return format_datetime(_utc(moment), "d MMMM y, HH:mm 'UTC'", tzinfo=UTC, locale=LOCALE)


def short_day(moment: Moment) -> str:
    """`6 Jan`, for a chart's axis."""
    return format_date(_in_utc(moment), "d MMM", locale=LOCALE)


def month(moment: Moment, *, short: bool = False, with_year: bool = True) -> str:
    """`January 2027`; short: `Jan 2027`, or `Jan` without the year (a chart's axis)."""
    name = "MMM" if short else "MMMM"
    return format_date(_in_utc(moment), f"{name} y" if with_year else name, locale=LOCALE)


def stamp(moment: datetime, *, seconds: bool = True) -> str:
    """`2027-01-06 14:05:09 UTC`: for log-like lines (the CLI, the outbox) that people scan and sort."""
    pattern = "yyyy-MM-dd HH:mm:ss 'UTC'" if seconds else "yyyy-MM-dd HH:mm 'UTC'"
    return format_datetime(_utc(moment), pattern, tzinfo=UTC, locale=LOCALE)


# --- durations and counts ---------------------------------------------------------------------


def _rounded_up(seconds: float) -> float:
    """The wait in whole units of its largest unit, never shorter: 897 s is 15 minutes, 61 s 2 minutes."""
    for _, size in _SECONDS_IN:
        if seconds >= size:
            return math.ceil(seconds / size) * size
    return 1


def duration(seconds: float, *, round_up: bool = False, ahead: bool = False) -> str:
    """`15 minutes`, `1 second`, `2 hours`, `3 days`; round_up never says less than the real wait."""
    seconds = abs(seconds)
    if round_up:
        # Already a whole number of its unit, so Babel must not round it again (threshold 1).
        span, threshold = _rounded_up(seconds), 1.0
    else:
        span, threshold = max(seconds, 1), 0.85
    return format_timedelta(timedelta(seconds=span), threshold=threshold, add_direction=ahead, locale=LOCALE)


def in_time(seconds: float) -> str:
    """`in 15 minutes`: when something can be tried again, rounded up so it is true when said."""
    return duration(seconds, round_up=True, ahead=True)


def count(number: int, singular: str, plural: str | None = None) -> str:
    """`1 story`, `3 stories`, `1,200 readers`."""
    one = Locale.parse(LOCALE).plural_form(number) == "one"
    return f"{format_decimal(number, locale=LOCALE)} {singular if one else plural or singular + 's'}"


# What every service's templates may call: `{{ day(story.published) }}`, `{{ money(500, "jpy") }}`.
TEMPLATE_FUNCTIONS: dict[str, Callable[..., str]] = {
    "money": money,
    "day": day,
    "day_and_time": day_and_time,
    "month": month,
    "stamp": stamp,
    "duration": duration,
    "in_time": in_time,
    "count": count,
}
