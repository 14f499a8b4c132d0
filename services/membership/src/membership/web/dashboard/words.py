"""How the dashboard says things to a publication's staff: prices, states and sources, in words.

Money and dates come from tollgate_common.words, the one way every service writes them.
"""

from __future__ import annotations

import re

from membership.grants.states import GrantSource
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import SubscriptionStatus
from tollgate_common.words import day, decimals, money

SOURCES: dict[GrantSource, str] = {
    GrantSource.SUBSCRIPTION: "Subscription",
    GrantSource.TRIAL: "Free trial",
    GrantSource.COMP: "Comp",
    GrantSource.GIFT: "Gift",
}
STATUSES: dict[SubscriptionStatus, str] = {
    SubscriptionStatus.ACTIVE: "Active",
    SubscriptionStatus.TRIALING: "Free trial",
    SubscriptionStatus.PAST_DUE: "Payment failed",
    SubscriptionStatus.UNPAID: "Unpaid",
    SubscriptionStatus.CANCELED: "Ended",
    SubscriptionStatus.INCOMPLETE: "Waiting for first payment",
    SubscriptionStatus.INCOMPLETE_EXPIRED: "Never started",
    SubscriptionStatus.PAUSED: "Paused",
}
INTERVALS = {"month": "a month", "year": "a year"}


def price_words(unit_amount: int, currency: str, interval: str) -> str:
    return f"{money(unit_amount, currency)} {INTERVALS.get(interval, interval)}"


_AMOUNT = re.compile(r"^\d{1,9}(?:\.\d{1,3})?$")


def parse_amount(text: str, currency: str) -> int | None:
    """`5`, `5.00`, `$4.50`, `1,200` as Stripe's minor units; None when it is not an amount."""
    cleaned = re.sub(r"[\s,$€£¥₩]", "", text)
    if not _AMOUNT.match(cleaned):
        return None
    whole, _, fraction = cleaned.partition(".")
    places = decimals(currency)
    fraction = fraction.rstrip("0")
    if len(fraction) > places:
        return None
    scale: int = 10**places
    return int(whole) * scale + int(fraction.ljust(places, "0") or 0)


def source_words(source: GrantSource) -> str:
    return SOURCES[source]


def status_words(status: SubscriptionStatus) -> str:
    return STATUSES[status]


def subscription_detail(sub: Subscription) -> str:
    """One sentence on where a subscription stands, for its publication's staff."""
    if sub.revoked_at is not None:
        why = {"dispute": "disputed", "refund": "refunded"}.get(
            sub.revoke_reason or "", "refunded or disputed"
        )
        return f"Access ended on {day(sub.revoked_at)}: the payment was {why}."
    if sub.status == SubscriptionStatus.TRIALING:
        then = "then it ends (cancelled)" if sub.cancel_at_period_end else "then it is charged"
        return f"Trial until {day(sub.trial_end)}, {then}."
    if sub.status == SubscriptionStatus.ACTIVE:
        if sub.cancel_at_period_end:
            return f"Cancelled; keeps access until {day(sub.current_period_end)}."
        return f"Renews on {day(sub.current_period_end)}."
    if sub.status == SubscriptionStatus.PAST_DUE:
        return f"The renewal on {day(sub.current_period_start)} failed; Stripe is retrying."
    if sub.status == SubscriptionStatus.CANCELED:
        ended = sub.ended_at or sub.canceled_at
        return f"Ended on {day(ended)}." if ended else "Ended."
    return ""
