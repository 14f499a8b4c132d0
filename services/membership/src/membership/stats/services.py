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

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ColumnElement, FunctionElement, Integer, Over, and_, case, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from membership.gifts.models import Gift, GiftState
from membership.grants.models import Grant
from membership.lib.clock import utcnow
from membership.members.services import under_publication
from membership.plans.models import Price, Tier
from membership.publications.models import Publication
from membership.stats.models import StatsSnapshot
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


# --- subscriptions -----------------------------------------------------------------------


def yearly_minor_units(price: Price | None) -> tuple[int, str]:
    if price is None:
        return 0, ""
    return (price.unit_amount * 12 if price.interval == "month" else price.unit_amount), price.currency


def monthly(yearly: int) -> int:
    """A year's minor units as a month's, rounded half up."""
    return (yearly + 6) // 12


# --- in SQL ----------------------------------------------------------------------------

# "Never stops": a moment after any other, so a stop compares and orders without NULLs.
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


class least(FunctionElement[datetime]):
    """LEAST(a, b, ...) of non-null moments (SQLite's scalar MIN)."""

    type = DateTimeUTC(timezone=True)
    name = "least"
    inherit_cache = True


class greatest(FunctionElement[datetime]):
    """GREATEST(a, b, ...) of non-null moments (SQLite's scalar MAX)."""

    type = DateTimeUTC(timezone=True)
    name = "greatest"
    inherit_cache = True


@compiles(least)
def _least(element: least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element: least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"MIN({compiler.process(element.clauses, **kw)})"


@compiles(greatest)
def _greatest(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"MAX({compiler.process(element.clauses, **kw)})"


def _forever() -> ColumnElement[datetime]:
    return literal(FOREVER, DateTimeUTC(timezone=True))


def _or_forever(moment: Any) -> ColumnElement[datetime]:
    return func.coalesce(moment, _forever(), type_=DateTimeUTC(timezone=True))


def _live_at(
    start: ColumnElement[datetime], stop: ColumnElement[datetime], at: datetime
) -> ColumnElement[bool]:
    """Live at `at`: start < at <= stop (a stop of FOREVER never comes)."""
    return and_(start < at, stop >= at)


def _bounds(windows: list[tuple[datetime, datetime]]) -> list[datetime]:
    """Every window's start and measuring moment, in order: the edges of the buckets."""
    return sorted({t for window in windows for t in window})


class _bucket(FunctionElement[int]):
    """How many of the bounds are at or before the moment: 0 before the first, len(bounds) from
    the last on. PostgreSQL's width_bucket() (a binary search); elsewhere a CASE, the last bound
    asked first (a stop of FOREVER, most often)."""

    type = Integer()
    name = "bucket"
    inherit_cache = True

    def __init__(self, moment: ColumnElement[datetime], bounds: list[datetime]) -> None:
        super().__init__(moment, *(literal(b, DateTimeUTC(timezone=True)) for b in bounds))


@compiles(_bucket)
def _bucket_case(element: _bucket, compiler: SQLCompiler, **kw: Any) -> str:
    moment, *bounds = element.clauses
    whens: list[tuple[ColumnElement[bool], int]] = [(moment >= bounds[-1], len(bounds))]
    whens += [(moment < bound, n) for n, bound in enumerate(bounds)]
    return compiler.process(case(*whens, else_=len(bounds)), **kw)


@compiles(_bucket, "postgresql")
def _bucket_width(element: _bucket, compiler: SQLCompiler, **kw: Any) -> str:
    moment, *bounds = element.clauses
    edges = ", ".join(compiler.process(b, **kw) for b in bounds)
    return f"width_bucket({compiler.process(moment, **kw)}, ARRAY[{edges}])"


class _window(Over[Any]):
    """OVER (...) with its frame's offsets written out: two functions over the same window are
    then one window to the database (one pass), not two windows that differ in a parameter."""

    inherit_cache = True


@compiles(_window)
def _window_literal(element: _window, compiler: SQLCompiler, **kw: Any) -> str:
    text: str = compiler.visit_over(element, **{**kw, "literal_binds": True})  # type: ignore[no-untyped-call]
    return text


class Histogram:
    """Counts (or amounts) per bucket between the bounds, answering "how many before t" and "how
    many in [a, b)" for t, a and b among the bounds."""

    def __init__(self, bounds: list[datetime]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)

    def add(self, bucket: int | None, n: int) -> Histogram:
        if bucket is not None:
            self.counts[bucket] += n
        return self

    def before(self, t: datetime) -> int:
        """Moments earlier than the bound t: their bucket counts at most t's index."""
        return sum(self.counts[: self.bounds.index(t) + 1])

    def within(self, a: datetime, b: datetime) -> int:
        return self.before(b) - self.before(a)


# --- the service -------------------------------------------------------------------------


class StatsService:
    """Every number comes from aggregate queries in the database (a grant or subscription never
    comes back as a row): the members' stretches are merged with window functions, the
    subscriptions' phases are worked out per row in SQL, and both come back as counts of starts
    and stops per bucket between the periods' bounds, summed up here."""

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
        windows = [(start, min(next_start(interval, start), now)) for start in starts]
        members = await self._members(publication, windows, now)
        subs = await self._subscriptions(publication, windows)
        gifts = await self._gifts(publication, windows)
        points = []
        for n, start in enumerate(starts):
            end = next_start(interval, start)
            live, new, churned = members[n]
            paying, trials, past_due, mrr = subs[n]
            points.append(
                Point(
                    period_start=start,
                    period_end=end,
                    measured_at=windows[n][1],
                    active_members=live,
                    new_members=new,
                    churned_members=churned,
                    mrr_by_currency=mrr,
                    paying=paying,
                    trials=trials,
                    past_due=past_due,
                    gift_revenue_by_currency=gifts[n],
                )
            )
        return Series(interval, await self.currency(publication), now, points)

    async def latest(
        self,
        publication: Publication,
        *,
        interval: Interval,
        periods: int,
        max_age: float,
        keep_slower_than: float = 0.0,
    ) -> Series:
        """The series as of now, or as of at most `max_age` seconds ago: the last one any replica
        worked out (a `StatsSnapshot` row), else a fresh one, stored for the others if working it
        out took longer than `keep_slower_than` seconds. Either way its numbers are exactly
        `series`' at its `generated_at`, which says the moment they describe."""
        now = utcnow()
        if max_age <= 0:
            return await self.series(publication, interval=interval, periods=periods, now=now)
        kept = await self.db.scalar(
            select(StatsSnapshot.series).where(
                StatsSnapshot.publication_id == publication.id,
                StatsSnapshot.interval == interval,
                StatsSnapshot.periods == periods,
                StatsSnapshot.computed_at > now - timedelta(seconds=max_age),
                StatsSnapshot.computed_at <= now,  # a clock set back: not an answer from the future
            )
        )
        if kept is not None:
            return msgspec.json.decode(kept, type=Series)
        started = time.perf_counter()
        fresh = await self.series(publication, interval=interval, periods=periods, now=now)
        if time.perf_counter() - started <= keep_slower_than:
            return fresh  # cheap to work out again: the next look is fresh too
        row = {
            "publication_id": publication.id,
            "interval": interval,
            "periods": periods,
            "computed_at": now,
            "series": msgspec.json.encode(fresh).decode(),
        }
        upsert = pg_insert if self.db.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = upsert(StatsSnapshot).values(row)
        await self.db.execute(
            stmt.on_conflict_do_update(
                index_elements=["publication_id", "interval", "periods"],
                set_={"computed_at": stmt.excluded.computed_at, "series": stmt.excluded.series},
                where=StatsSnapshot.computed_at < stmt.excluded.computed_at,  # the newer one stays
            )
        )
        return fresh

    async def _members(
        self, publication: Publication, windows: list[tuple[datetime, datetime]], now: datetime
    ) -> list[tuple[int, int, int]]:
        """(active at the window's end, began in it, ended in it) per window, of the readers'
        merged stretches: a grant joins the stretch before it when it starts no later than that
        stretch's stop (overlapping or touching), as `merge` does.

        In one pass over the grants ordered by reader and start: a grant opens a stretch when it
        starts after every earlier one's stop, and closes one when the next starts after every stop
        so far. The database counts openings and closings per bucket between the windows' bounds.

        Only grants reaching into the first window are read: one over before it cannot change a
        count in it, since whatever it touches began before the window too."""
        since = windows[0][0]
        stop = case(
            (Grant.revoked_at.is_(None), Grant.ends_at),
            (Grant.ends_at.is_(None), Grant.revoked_at),
            (Grant.ends_at < Grant.revoked_at, Grant.ends_at),
            else_=Grant.revoked_at,
        )
        spans = (
            select(
                Grant.reader_id.label("reader_id"),
                Grant.starts_at.label("s"),
                _or_forever(stop).label("e"),
            )
            .where(
                under_publication(publication),
                Grant.starts_at < now,
                or_(Grant.ends_at.is_(None), Grant.ends_at >= since),
                or_(Grant.revoked_at.is_(None), Grant.revoked_at >= since),
                or_(stop.is_(None), stop > Grant.starts_at),  # an empty grant was never a membership
            )
            .subquery("spans")
        )
        # One window (a frame up to the row before): ties in start may come in any order, and
        # lead() ignores the frame, so the database sorts once and runs one window pass.
        ahead: dict[str, Any] = {"partition_by": spans.c.reader_id, "order_by": spans.c.s, "rows": (None, -1)}
        marked = select(
            spans.c.s,
            spans.c.e,
            _window(func.max(spans.c.e), **ahead).label("before"),
            _window(func.lead(spans.c.s), **ahead).label("next"),
        ).subquery("marked")
        m = marked.c
        bounds = _bounds(windows)
        upto = case((m.before.is_(None), m.e), else_=greatest(m.before, m.e))
        opened = case((or_(m.before.is_(None), m.s > m.before), _bucket(m.s, bounds)), else_=None)
        closed = case((or_(m.next.is_(None), m.next > upto), _bucket(upto, bounds)), else_=None)
        rows = (await self.db.execute(select(opened, closed, func.count()).group_by(opened, closed))).all()
        starts, stops = Histogram(bounds), Histogram(bounds)
        for opened_in, closed_in, count in rows:
            starts.add(opened_in, int(count))
            stops.add(closed_in, int(count))
        return [
            (starts.before(at) - stops.before(at), starts.within(a, at), stops.within(a, at))
            for a, at in windows
        ]

    async def _subscriptions(
        self, publication: Publication, windows: list[tuple[datetime, datetime]]
    ) -> list[tuple[int, int, int, dict[str, int]]]:
        """(paying, trials, past-due, MRR by currency) at each window's end.

        Each subscription's trial, paying and past-due stretches are worked out in SQL by the
        rules in this module's docstring (a stop of FOREVER is one that has not come); the
        database counts (and sums the prices of) their starts and stops per bucket between the
        windows' bounds."""
        since = windows[0][0]
        S = Subscription
        status = S.status
        created, trial_start, trial_end = S.created_at, S.trial_start, S.trial_end
        period_start, period_end = S.current_period_start, S.current_period_end
        never = _forever()
        began = least(created, func.coalesce(trial_start, created), func.coalesce(period_start, created))
        cancelled_open = and_(status == SubscriptionStatus.CANCELED, S.ended_at.is_(None))
        stopped_on_hold = status.in_([SubscriptionStatus.UNPAID, SubscriptionStatus.PAUSED])
        stop = least(
            _or_forever(S.ended_at),
            _or_forever(S.revoked_at),
            case((cancelled_open, _or_forever(S.canceled_at)), else_=never),
            case((cancelled_open, _or_forever(period_end)), else_=never),
            case(
                (and_(S.cancel_at_period_end, status == SubscriptionStatus.ACTIVE), _or_forever(period_end)),
                else_=never,
            ),
            case(
                (and_(S.cancel_at_period_end, status == SubscriptionStatus.TRIALING), _or_forever(trial_end)),
                else_=never,
            ),
            case((stopped_on_hold, _or_forever(trial_end)), else_=never),
            case((stopped_on_hold, _or_forever(period_start)), else_=never),
        )
        facts = (
            select(
                status.label("status"),
                period_start.label("period_start"),
                trial_start.label("trial_start"),
                trial_end.label("trial_end"),
                began.label("began"),
                stop.label("stop"),
                S.price_id.label("price_id"),
            )
            .join(Tier, Tier.id == S.tier_id)
            .where(
                Tier.publication_id == publication.id,
                status.not_in(NEVER_PAID),
                or_(S.ended_at.is_(None), S.ended_at >= since),
                or_(S.revoked_at.is_(None), S.revoked_at >= since),
            )
            # OFFSET 0 keeps the subquery apart, so each row's expressions are worked out once
            # (a subquery merged into the next would repeat them, a materialized CTE store them).
            .offset(0)
            .subquery("facts")
        )
        f = facts.c
        had_trial = and_(f.trial_end.is_not(None), f.trial_end > f.began)
        trial_from = greatest(func.coalesce(f.trial_start, f.began), f.began)
        trial_to = least(func.coalesce(f.trial_end, never), f.stop)
        paid_from = case((had_trial, f.trial_end), else_=f.began)
        fell_due = and_(f.status == SubscriptionStatus.PAST_DUE, f.period_start.is_not(None))
        due_from = greatest(func.coalesce(f.period_start, f.began), paid_from)
        paid_to = case((fell_due, least(due_from, f.stop)), else_=f.stop)
        phases = (
            select(
                f.price_id,
                case((and_(had_trial, trial_to > trial_from), True), else_=False).label("trial_ok"),
                trial_from.label("trial_from"),
                trial_to.label("trial_to"),
                case(
                    (and_(f.status != SubscriptionStatus.TRIALING, paid_to > paid_from), True), else_=False
                ).label("paid_ok"),
                paid_from.label("paid_from"),
                paid_to.label("paid_to"),
                case((and_(fell_due, f.stop > due_from), True), else_=False).label("due_ok"),
                due_from.label("due_from"),
                f.stop.label("due_to"),
            )
            .offset(0)
            .subquery("phases")
        )
        p = phases.c
        bounds = _bounds(windows)
        keys: list[ColumnElement[Any]] = [p.price_id]
        for phase in ("trial", "paid", "due"):
            ok = p[f"{phase}_ok"]
            keys += [
                case((ok, _bucket(p[f"{phase}_from"], bounds)), else_=None),
                case((ok, _bucket(p[f"{phase}_to"], bounds)), else_=None),
            ]
        rows = (await self.db.execute(select(*keys, func.count()).group_by(*keys))).all()
        # Counted per price in SQL; the few prices' amounts are applied here.
        ids = {row[0] for row in rows if row[0] is not None}
        prices = {price.id: price for price in await self.db.scalars(select(Price).where(Price.id.in_(ids)))}
        trials, dues = Histogram(bounds), Histogram(bounds)
        paid = Histogram(bounds)
        by_currency: dict[str, Histogram] = {}
        for price_id, *edges, count in rows:
            yearly, currency = yearly_minor_units(prices.get(price_id))
            n, weight = int(count), int(count) * yearly
            trials.add(edges[0], n).add(edges[1], -n)
            dues.add(edges[4], n).add(edges[5], -n)
            paid.add(edges[2], n).add(edges[3], -n).add(edges[4], n).add(edges[5], -n)
            if currency and (edges[2] is not None or edges[4] is not None):  # it brought money
                revenue = by_currency.setdefault(str(currency), Histogram(bounds))
                revenue.add(edges[2], weight).add(edges[3], -weight)
                revenue.add(edges[4], weight).add(edges[5], -weight)
        return [
            (
                paid.before(at),
                trials.before(at),
                dues.before(at),
                {c: monthly(h.before(at)) for c, h in sorted(by_currency.items())},
            )
            for _, at in windows
        ]

    async def _gifts(
        self, publication: Publication, windows: list[tuple[datetime, datetime]]
    ) -> list[dict[str, int]]:
        """Per window, the gifts of the publication's tiers paid within it, by currency (refunded
        ones left out)."""
        columns: list[Any] = [Gift.currency]
        columns += [func.sum(Gift.amount).filter(Gift.paid_at >= a, Gift.paid_at < at) for a, at in windows]
        rows = (
            await self.db.execute(
                select(*columns)
                .join(Tier, Tier.id == Gift.tier_id)
                .where(
                    Tier.publication_id == publication.id,
                    Gift.paid_at >= windows[0][0],
                    Gift.state.in_([GiftState.PAID, GiftState.REDEEMED]),
                )
                .group_by(Gift.currency)
                .order_by(Gift.currency)
            )
        ).all()
        return [
            {str(row[0]): int(row[n + 1]) for row in rows if row[n + 1] is not None}
            for n in range(len(windows))
        ]

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
