"""The stats series in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from membership.stats.services import Point, Series

Interval = Literal["week", "month"]


class StatsPoint(msgspec.Struct):
    period_start: datetime
    period_end: datetime
    # The moment the snapshot numbers describe: the period's end, or now for the current period.
    measured_at: datetime
    active_members: int
    new_members: int
    churned_members: int
    # Minor units (cents) a month, in `currency`; other currencies' MRR is in `mrr_by_currency`.
    mrr: int
    currency: str
    mrr_by_currency: dict[str, int]
    paying: int
    trials: int
    past_due: int
    # Gifts paid within the period, minor units in `currency` (other currencies by currency).
    gift_revenue: int = 0
    gift_revenue_by_currency: dict[str, int] = {}

    @classmethod
    def of(cls, p: Point, currency: str) -> StatsPoint:
        return cls(
            period_start=p.period_start,
            period_end=p.period_end,
            measured_at=p.measured_at,
            active_members=p.active_members,
            new_members=p.new_members,
            churned_members=p.churned_members,
            mrr=p.mrr_by_currency.get(currency, 0),
            currency=currency,
            mrr_by_currency=dict(sorted(p.mrr_by_currency.items())),
            paying=p.paying,
            trials=p.trials,
            past_due=p.past_due,
            gift_revenue=p.gift_revenue_by_currency.get(currency, 0),
            gift_revenue_by_currency=p.gift_revenue_by_currency,
        )


class StatsOut(msgspec.Struct):
    publication: str
    interval: str
    currency: str
    generated_at: datetime
    points: list[StatsPoint]

    @classmethod
    def of(cls, slug: str, s: Series) -> StatsOut:
        return cls(
            slug, s.interval, s.currency, s.generated_at, [StatsPoint.of(p, s.currency) for p in s.points]
        )
