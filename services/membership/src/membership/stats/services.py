"""A publication's numbers over time, computed from the grants and subscriptions the API serves.

Each period is a calendar week (Monday, UTC) or month (UTC); the last one is the current period.
Every number is worked out from timestamps, so a past period's figures are what the rows say
happened then, whatever happened since:

- **active members** at a moment: readers holding at least one of the publication's keys then
  (any source: subscription, trial, comp, gift), counting each grant from its start until its end
  or its revocation, whichever is first. The same rows and rule as `GET .../members`.
- **new members** in a period: readers whose membership began in it (after a gap, again);
  **churned members**: readers whose membership ended in it and did not continue at once. So
  active at a period's end = active at the previous end + new - churned.
- **MRR**: the monthly list price (a yearly price / 12) of every subscription paying at the
  moment: `active`, and `past_due` (not churned yet; Stripe counts it too), per currency, in
  minor units. Trials are not revenue: they are counted apart as **trials**.
- **past-due**: subscriptions whose renewal failed and that are still `past_due`.

Snapshots describe the last moment of a period (for the current one: now); a change at exactly a
period's start belongs to that period. The subscription mirror keeps each subscription's current
state with its timestamps, not every state it went through, so: a subscription counts from its
start (or its trial's end) until it ended, was revoked, or its cancellation at the period's end
took effect; one `past_due` now counts as past-due from its failed renewal; one `unpaid` or
`paused` now stops counting at its failed renewal (or trial's end); prices are the current ones.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from sqlalchemy import or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from membership.gifts.models import Gift, GiftState
from membership.grants.models import Grant
from membership.lib.clock import utcnow
from membership.members.services import under_publication
from membership.plans.models import Price, Tier
from membership.publications.models import Publication
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import NEVER_PAID, SubscriptionStatus
from tollgate_common.problems import BadRequest

Interval = Literal["week", "month"]
MAX_PERIODS = 120
DEFAULT_CURRENCY = "usd"


@dataclass(frozen=True)
class Point:
    period_start: datetime
    period_end: datetime
    measured_at: datetime
    active_members: int
    new_members: int
    churned_members: int
    mrr_by_currency: dict[str, int]
    paying: int
    trials: int
    past_due: int
    # Gifts of the publication's tiers paid within the period (refunded ones left out), minor units.
    gift_revenue_by_currency: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Series:
    interval: str
    currency: str
    generated_at: datetime
    points: list[Point]


# --- periods ---------------------------------------------------------------------------


def period_starts(interval: Interval, periods: int, now: datetime) -> list[datetime]:
    """The starts of the last `periods` periods, oldest first; the last one holds `now`."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        current = midnight - timedelta(days=midnight.weekday())
        return [current - timedelta(weeks=n) for n in reversed(range(periods))]
    year, month = midnight.year, midnight.month
    starts = []
    for _ in range(periods):
        starts.append(midnight.replace(year=year, month=month, day=1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def next_start(interval: Interval, start: datetime) -> datetime:
    if interval == "week":
        return start + timedelta(weeks=1)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


# --- spans: (start, stop], live at t when start < t <= stop; stop None: still going ----------


@dataclass(frozen=True)
class Span:
    start: datetime
    stop: datetime | None


def merge(spans: Iterable[Span]) -> list[Span]:
    """One reader's grants as the stretches they were a member: overlapping or touching spans join."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and (merged[-1].stop is None or span.start <= merged[-1].stop):
            last = merged[-1]
            stop = None if last.stop is None or span.stop is None else max(last.stop, span.stop)
            merged[-1] = Span(last.start, stop)
        else:
            merged.append(span)
    return merged


def grant_span(starts_at: datetime, ends_at: datetime | None, revoked_at: datetime | None) -> Span | None:
    """A grant counts from its start until its end or its revocation, whichever came first."""
    stop = ends_at if revoked_at is None else revoked_at if ends_at is None else min(ends_at, revoked_at)
    if stop is not None and stop <= starts_at:
        return None
    return Span(starts_at, stop)


class Timeline:
    """Spans, each with a weight, answering "how many (how much) live at t" and "how many began or
    ended in [a, b)" by binary search, so a long history costs log time per question."""

    def __init__(self, spans: list[tuple[Span, int]]) -> None:
        by_start = sorted((s.start, w) for s, w in spans)
        by_stop = sorted((s.stop, w) for s, w in spans if s.stop is not None)
        self.starts = [t for t, _ in by_start]
        self.stops = [t for t, _ in by_stop]
        self.start_weights = _prefix(w for _, w in by_start)
        self.stop_weights = _prefix(w for _, w in by_stop)

    def live(self, t: datetime) -> int:
        """Spans with start < t <= stop: begun before t, minus those over before t."""
        return len_before(self.starts, t) - len_before(self.stops, t)

    def weight(self, t: datetime) -> int:
        return self.start_weights[len_before(self.starts, t)] - self.stop_weights[len_before(self.stops, t)]

    def began(self, a: datetime, b: datetime) -> int:
        return len_before(self.starts, b) - len_before(self.starts, a)

    def ended(self, a: datetime, b: datetime) -> int:
        return len_before(self.stops, b) - len_before(self.stops, a)


def len_before(values: list[datetime], t: datetime) -> int:
    return bisect.bisect_left(values, t)


def _prefix(weights: Iterable[int]) -> list[int]:
    sums = [0]
    for w in weights:
        sums.append(sums[-1] + w)
    return sums


# --- subscriptions -----------------------------------------------------------------------


class Phase(StrEnum):
    """A stretch of a subscription's life, counted apart in the stats."""

    TRIAL = "trial"
    PAYING = "paying"
    PAST_DUE = "past_due"


@dataclass(frozen=True)
class SubscriptionFacts:
    """What the mirror knows of one subscription, and its price a month."""

    status: SubscriptionStatus
    created_at: datetime
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_start: datetime | None
    trial_end: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None
    revoked_at: datetime | None
    # Minor units a year (a monthly price times 12), so yearly prices stay whole until the end.
    yearly_amount: int
    currency: str

    @property
    def began(self) -> datetime:
        return min(t for t in (self.created_at, self.trial_start, self.current_period_start) if t is not None)

    @property
    def stopped(self) -> datetime | None:
        """When it stopped counting: ended, revoked, or a cancellation at the period's end taking effect."""
        stops = [t for t in (self.ended_at, self.revoked_at) if t is not None]
        if self.status == SubscriptionStatus.CANCELED and self.ended_at is None:
            stops.extend(t for t in (self.canceled_at, self.current_period_end) if t is not None)
        if self.cancel_at_period_end and self.status == SubscriptionStatus.ACTIVE and self.current_period_end:
            stops.append(self.current_period_end)
        if self.cancel_at_period_end and self.status == SubscriptionStatus.TRIALING and self.trial_end:
            stops.append(self.trial_end)
        if self.status in (SubscriptionStatus.UNPAID, SubscriptionStatus.PAUSED):
            stops.extend(t for t in (self.trial_end, self.current_period_start) if t is not None)
        return min(stops) if stops else None

    def spans(self) -> dict[Phase, Span]:
        """Its trial, paying and past-due stretches."""
        if self.status in NEVER_PAID:
            return {}
        began, stop = self.began, self.stopped
        found: dict[Phase, Span] = {}

        def add(phase: Phase, start: datetime, end: datetime | None) -> None:
            end = end if stop is None else (stop if end is None else min(end, stop))
            start = max(start, began)
            if end is None or end > start:
                found[phase] = Span(start, end)

        paid_from = began
        if self.trial_end is not None and self.trial_end > began:
            add(Phase.TRIAL, self.trial_start or began, self.trial_end)
            paid_from = self.trial_end
        if self.status == SubscriptionStatus.TRIALING:
            return found  # its trial is over, but what came next is not known yet
        if self.status == SubscriptionStatus.PAST_DUE and self.current_period_start is not None:
            add(Phase.PAYING, paid_from, max(self.current_period_start, paid_from))
            add(Phase.PAST_DUE, max(self.current_period_start, paid_from), None)
        else:
            add(Phase.PAYING, paid_from, None)
        return found


def yearly_minor_units(price: Price | None) -> tuple[int, str]:
    if price is None:
        return 0, ""
    return (price.unit_amount * 12 if price.interval == "month" else price.unit_amount), price.currency


def monthly(yearly: int) -> int:
    """A year's minor units as a month's, rounded half up."""
    return (yearly + 6) // 12


# --- the service -------------------------------------------------------------------------


class StatsService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def series(
        self,
        publication: Publication,
        *,
        interval: Interval = "month",
        periods: int = 12,
        now: datetime | None = None,
    ) -> Series:
        if interval not in ("week", "month"):
            raise BadRequest("The interval is `week` or `month`.")
        if not 1 <= periods <= MAX_PERIODS:
            raise BadRequest(f"Ask for 1 to {MAX_PERIODS} periods.")
        now = now or utcnow()
        starts = period_starts(interval, periods, now)
        members = Timeline([(span, 1) for span in await self._memberships(publication, starts[0], now)])
        subs = await self._subscriptions(publication, starts[0])
        phases: dict[Phase, list[tuple[Span, int]]] = {Phase.TRIAL: [], Phase.PAST_DUE: []}
        paying: dict[str, list[tuple[Span, int]]] = {}
        for facts in subs:
            for phase, span in facts.spans().items():
                if phase in (Phase.TRIAL, Phase.PAST_DUE):
                    phases[phase].append((span, 1))
                if phase in (Phase.PAYING, Phase.PAST_DUE):
                    paying.setdefault(facts.currency, []).append((span, facts.yearly_amount))
        trials, past_due = Timeline(phases[Phase.TRIAL]), Timeline(phases[Phase.PAST_DUE])
        revenue = {currency: Timeline(spans) for currency, spans in paying.items()}
        all_paying = Timeline([s for spans in paying.values() for s in spans])
        gifts = await self._gifts(publication, starts[0])
        points = []
        for start in starts:
            end = next_start(interval, start)
            at = min(end, now)
            points.append(
                Point(
                    period_start=start,
                    period_end=end,
                    measured_at=at,
                    active_members=members.live(at),
                    new_members=members.began(start, at),
                    churned_members=members.ended(start, at),
                    mrr_by_currency={c: monthly(t.weight(at)) for c, t in revenue.items() if c},
                    paying=all_paying.live(at),
                    trials=trials.live(at),
                    past_due=past_due.live(at),
                    gift_revenue_by_currency=_summed(g for g in gifts if start <= g[0] < at),
                )
            )
        return Series(interval, await self.currency(publication), now, points)

    async def _gifts(self, publication: Publication, since: datetime) -> list[tuple[datetime, str, int]]:
        """(paid at, currency, amount) of each gift of the publication's tiers paid since then."""
        rows = await self.db.execute(
            select(Gift.paid_at, Gift.currency, Gift.amount)
            .join(Tier, Tier.id == Gift.tier_id)
            .where(
                Tier.publication_id == publication.id,
                Gift.paid_at >= since,
                Gift.state.in_([GiftState.PAID, GiftState.REDEEMED]),
            )
        )
        return [(paid_at, currency, amount) for paid_at, currency, amount in rows if paid_at]

    async def _memberships(self, publication: Publication, since: datetime, now: datetime) -> list[Span]:
        """Every stretch a reader held the publication's keys that reaches into the window.

        A grant over before the window cannot change a count in it: whatever it touches began
        before the window too."""
        # The reader id only groups rows here: the driver's raw value spares a UUID per row.
        reader = type_coerce(Grant.reader_id, NullType())
        rows = await self.db.execute(
            select(reader, Grant.starts_at, Grant.ends_at, Grant.revoked_at).where(
                under_publication(publication),
                Grant.starts_at < now,
                or_(Grant.ends_at.is_(None), Grant.ends_at >= since),
                or_(Grant.revoked_at.is_(None), Grant.revoked_at >= since),
            )
        )
        by_reader: dict[object, list[Span]] = {}
        for reader_id, starts_at, ends_at, revoked_at in rows:
            if (span := grant_span(starts_at, ends_at, revoked_at)) is not None:
                by_reader.setdefault(reader_id, []).append(span)
        # Most readers have one grant here: nothing to merge.
        return [span for spans in by_reader.values() for span in (spans if len(spans) == 1 else merge(spans))]

    async def _subscriptions(self, publication: Publication, since: datetime) -> list[SubscriptionFacts]:
        rows = await self.db.execute(
            select(Subscription, Price)
            .join(Tier, Tier.id == Subscription.tier_id)
            .outerjoin(Price, Price.id == Subscription.price_id)
            .where(
                Tier.publication_id == publication.id,
                Subscription.status.not_in(NEVER_PAID),
                or_(Subscription.ended_at.is_(None), Subscription.ended_at >= since),
                or_(Subscription.revoked_at.is_(None), Subscription.revoked_at >= since),
            )
        )
        facts = []
        for sub, price in rows.tuples():
            amount, currency = yearly_minor_units(price)
            facts.append(
                SubscriptionFacts(
                    status=sub.status,
                    created_at=sub.created_at,
                    cancel_at_period_end=sub.cancel_at_period_end,
                    current_period_start=sub.current_period_start,
                    current_period_end=sub.current_period_end,
                    trial_start=sub.trial_start,
                    trial_end=sub.trial_end,
                    canceled_at=sub.canceled_at,
                    ended_at=sub.ended_at,
                    revoked_at=sub.revoked_at,
                    yearly_amount=amount,
                    currency=currency,
                )
            )
        return facts

    async def currency(self, publication: Publication) -> str:
        """The currency the publication mostly sells in: its prices on offer, else any it had."""
        rows = (
            await self.db.execute(
                select(Price.currency, Price.archived_at)
                .join(Tier, Tier.id == Price.tier_id)
                .where(Tier.publication_id == publication.id)
            )
        ).all()
        on_offer: Counter[str] = Counter(str(c) for c, archived in rows if archived is None)
        counts = on_offer or Counter(str(c) for c, _ in rows)
        if not counts:
            return DEFAULT_CURRENCY
        return min(counts, key=lambda c: (-counts[c], c))


def _summed(rows: Iterable[tuple[datetime, str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for _, currency, amount in rows:
        totals[currency] = totals.get(currency, 0) + amount
    return dict(sorted(totals.items()))
