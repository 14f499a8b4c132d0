"""`membership seed scale`'s data set, and what the stats and the member list make of it.

A few hundred readers and grants through the seed's own code, on both databases; then every
number of the overview and every page of the member list is checked against the same rows worked
out here another way: row by row in Python, by the rules of `membership.stats.services` (the
reference below is the per-row implementation the SQL replaced).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from membership.cli import seed_group
from membership.grants.models import Grant
from membership.plans.models import Price, Tier
from membership.publications.models import Publication
from membership.seed import seed_scale
from membership.stats.services import Point, Span, StatsService, grant_span, merge, monthly
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import NEVER_PAID, SubscriptionStatus
from tests.membership.members.test_members import key_for, walk
from tests.membership.tokens.test_tokens import bearer, db
from tollgate_common.problems import Conflict

READERS, GRANTS = 300, 1500


# --- the reference: each subscription's phases, row by row ----------------------------------


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


def live(span: Span, at: datetime) -> bool:
    return span.start < at and (span.stop is None or at <= span.stop)


def expected_points(
    grants: list[Grant], subs: list[tuple[Subscription, Price | None]], points: list[Point]
) -> list[dict[str, Any]]:
    by_reader: dict[UUID, list[Span]] = {}
    for g in grants:
        if (span := grant_span(g.starts_at, g.ends_at, g.revoked_at)) is not None:
            by_reader.setdefault(g.reader_id, []).append(span)
    stretches = [s for spans in by_reader.values() for s in merge(spans)]
    phases = []
    for sub, price in subs:
        yearly = 0 if price is None else price.unit_amount * (12 if price.interval == "month" else 1)
        facts = SubscriptionFacts(
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
            yearly_amount=yearly,
            currency=price.currency if price else "",
        )
        phases.append((facts, facts.spans()))
    expected = []
    for p in points:
        a, at = p.period_start, p.measured_at
        money = [(f, s) for f, spans in phases for k, s in spans.items() if k != Phase.TRIAL]
        currencies = {f.currency for f, _ in money if f.currency}
        expected.append(
            {
                "active_members": sum(live(s, at) for s in stretches),
                "new_members": sum(a <= s.start < at for s in stretches),
                "churned_members": sum(s.stop is not None and a <= s.stop < at for s in stretches),
                "paying": sum(live(s, at) for _, s in money),
                "trials": sum(Phase.TRIAL in spans and live(spans[Phase.TRIAL], at) for _, spans in phases),
                "past_due": sum(
                    Phase.PAST_DUE in spans and live(spans[Phase.PAST_DUE], at) for _, spans in phases
                ),
                "mrr_by_currency": {
                    c: monthly(sum(f.yearly_amount for f, s in money if f.currency == c and live(s, at)))
                    for c in sorted(currencies)
                },
            }
        )
    return expected


# --- the tests ---------------------------------------------------------------------------


async def seeded(database_url: str, now: datetime) -> Publication:
    async with db(database_url) as session:
        done = await seed_scale(session, readers=READERS, grants=GRANTS, slug="scale", now=now)
    assert (done.readers, done.grants) == (READERS, GRANTS)
    async with db(database_url) as session:
        return (await session.scalars(select(Publication).where(Publication.slug == "scale"))).one()


async def test_the_overview_counts_the_seeded_rows_as_they_are(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    now = datetime.now(UTC)
    publication = await seeded(database_url, now)
    async with db(database_url) as session:
        grants = list(await session.scalars(select(Grant).where(Grant.key == publication.key)))
        subs = [
            (s, p)
            for s, p in (
                await session.execute(
                    select(Subscription, Price)
                    .join(Tier, Tier.id == Subscription.tier_id)
                    .outerjoin(Price, Price.id == Subscription.price_id)
                    .where(Tier.publication_id == publication.id, Subscription.status.not_in(NEVER_PAID))
                )
            ).tuples()
        ]
        assert len(grants) == GRANTS
        assert len({g.reader_id for g in grants}) == READERS
        # a realistic mix: every kind of history is there
        assert {s.status for s, _ in subs} >= {
            SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.TRIALING,
            SubscriptionStatus.CANCELED,
        }  # fmt: skip
        assert {g.source for g in grants} == {"subscription", "trial", "comp", "gift"}
        for interval, periods in (("month", 30), ("week", 10)):
            series = await StatsService(session).series(
                publication, interval=interval, periods=periods, now=now
            )
            got = [
                {k: getattr(p, k) for k in ("active_members", "new_members", "churned_members", "paying",
                                             "trials", "past_due", "mrr_by_currency")}
                for p in series.points
            ]  # fmt: skip
            assert got == expected_points(grants, subs, series.points), interval
    last = got[-1]
    assert last["active_members"] > READERS // 3 and last["paying"] > 0 and last["trials"] > 0
    assert last["mrr_by_currency"]["usd"] > 0
    # The API serves the same numbers.
    key = await key_for(database_url, "scale", ["members:read"])
    body = (await client.get("/api/publications/scale/stats", headers=bearer(key))).json()
    assert body["points"][-1]["active_members"] == last["active_members"]


async def test_the_member_list_pages_through_every_seeded_member_once(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    now = datetime.now(UTC)
    publication = await seeded(database_url, now)
    async with db(database_url) as session:
        grants = list(await session.scalars(select(Grant).where(Grant.key == publication.key)))
    live_now = [
        g
        for g in grants
        if g.revoked_at is None and g.starts_at <= now and (g.ends_at is None or g.ends_at > now)
    ]
    expected: dict[UUID, dict[str, Any]] = {}
    for g in live_now:
        m = expected.setdefault(g.reader_id, {"sources": set(), "ends": []})
        m["sources"].add(str(g.source))
        m["ends"].append(g.ends_at)
    key = await key_for(database_url, "scale", ["members:read"])
    client.headers.update(bearer(key))
    pages = await walk(client, "/api/publications/scale/members", "members", limit=37)
    ids = [UUID(m["reader_id"]) for page in pages for m in page]
    assert len(ids) == len(set(ids)) == len(expected)  # each exactly once
    assert set(ids) == set(expected)
    assert ids == sorted(ids)
    for m in (m for page in pages for m in page):
        want = expected[UUID(m["reader_id"])]
        assert set(m["sources"]) == want["sources"]
        until = None if None in want["ends"] else max(want["ends"])
        assert (datetime.fromisoformat(m["until"]) if m["until"] else None) == until
    assert all(len(page) == 37 for page in pages[:-1])


async def test_seeding_a_seeded_publication_again_is_refused(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await seeded(database_url, datetime.now(UTC))
    async with db(database_url) as session:
        with pytest.raises(Conflict):
            await seed_scale(session, readers=10, grants=20, slug="scale")


def test_the_command_says_it_refuses_rather_than_tops_up() -> None:
    result = CliRunner().invoke(seed_group, ["scale", "--help"])
    assert result.exit_code == 0
    assert "refuses" in result.output and "--readers" in result.output and "--grants" in result.output
