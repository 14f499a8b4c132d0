"""How the dashboard says things to a publication's staff: money, dates, states, in words."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from membership.subscriptions.models import Subscription

CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
# Stripe's zero-decimal currencies: an amount of 500 is 500 yen, not 5.
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
SOURCES = {
    "subscription": "Subscription",
    "trial": "Free trial",
    "comp": "Comp",
    "gift": "Gift",
}
STATUSES = {
    "active": "Active",
    "trialing": "Free trial",
    "past_due": "Payment failed",
    "unpaid": "Unpaid",
    "canceled": "Ended",
    "incomplete": "Waiting for first payment",
    "incomplete_expired": "Never started",
    "paused": "Paused",
}
INTERVALS = {"month": "a month", "year": "a year"}


def money(minor_units: int, currency: str) -> str:
    """`$5`, `$4.50`, `€1,200`, `¥` currencies whole, `12 CHF`."""
    currency = currency.lower()
    whole = currency in ZERO_DECIMAL
    text = f"{minor_units:,}" if whole else f"{minor_units / 100:,.2f}".removesuffix(".00")
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def price_words(unit_amount: int, currency: str, interval: str) -> str:
    return f"{money(unit_amount, currency)} {INTERVALS.get(interval, interval)}"


_AMOUNT = re.compile(r"^\d{1,9}(?:\.\d{1,2})?$")


def parse_amount(text: str, currency: str) -> int | None:
    """`5`, `5.00`, `$4.50`, `1,200` as minor units; None when it is not an amount."""
    cleaned = re.sub(r"[\s,$€£]", "", text)
    if not _AMOUNT.match(cleaned):
        return None
    whole, _, cents = cleaned.partition(".")
    if currency.lower() in ZERO_DECIMAL:
        return int(whole) if not cents.strip("0") else None
    return int(whole) * 100 + int(cents.ljust(2, "0") or 0)


def day(moment: datetime | None) -> str:
    """`3 May 2027` (UTC), or an empty string."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%-d %B %Y")


def day_and_time(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%-d %B %Y, %H:%M UTC")


def source_words(source: str) -> str:
    return SOURCES.get(source, source.replace("_", " ").capitalize())


def status_words(status: str) -> str:
    return STATUSES.get(status, status.replace("_", " ").capitalize())


def subscription_detail(sub: Subscription) -> str:
    """One sentence on where a subscription stands, for its publication's staff."""
    if sub.revoked_at is not None:
        why = {"dispute": "disputed", "refund": "refunded"}.get(
            sub.revoke_reason or "", "refunded or disputed"
        )
        return f"Access ended on {day(sub.revoked_at)}: the payment was {why}."
    if sub.status == "trialing":
        then = "then it ends (cancelled)" if sub.cancel_at_period_end else "then it is charged"
        return f"Trial until {day(sub.trial_end)}, {then}."
    if sub.status == "active":
        if sub.cancel_at_period_end:
            return f"Cancelled; keeps access until {day(sub.current_period_end)}."
        return f"Renews on {day(sub.current_period_end)}."
    if sub.status == "past_due":
        return f"The renewal on {day(sub.current_period_start)} failed; Stripe is retrying."
    if sub.status == "canceled":
        ended = sub.ended_at or sub.canceled_at
        return f"Ended on {day(ended)}." if ended else "Ended."
    return ""
