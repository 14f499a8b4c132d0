"""A large made-up publication for measuring reads at scale (`membership seed scale`).

Readers and their grants (with the subscriptions behind the paid ones) are written straight into
the real tables, in bulk: COPY on PostgreSQL, batched inserts on SQLite. The mix is what a
publication a few years old has: paying monthly and yearly subscribers (some cancelling at the
period's end, some past due), ended and refunded subscriptions, trials, comps forever or ended,
gifts. No entitlement versions or feed rows are written: nothing the seeded readers' reads need.

A publication that was seeded once is refused: the command never tops up or doubles a data set.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.models import Grant
from membership.grants.states import GrantSource
from membership.lib.clock import utcnow
from membership.plans.models import Price, Tier
from membership.publications.models import Publication, StaffMember, StaffRole
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import SubscriptionStatus
from tollgate_common.problems import BadRequest, Conflict

DEFAULT_SLUG = "scale"
BATCH = 50_000
MONTHLY, YEARLY = 500, 5000  # the seeded tiers' prices, minor units (usd)


@dataclass(frozen=True)
class Seeded:
    publication: str
    readers: int
    grants: int
    subscriptions: int


def seed_email(slug: str, n: int) -> str:
    return f"seed{n}@{slug}.seed.example"


@dataclass(frozen=True)
class _Plan:
    """What the generator needs to know of the seeded publication."""

    slug: str
    key: str
    monthly_tier: uuid.UUID
    monthly_price: uuid.UUID
    yearly_tier: uuid.UUID
    yearly_price: uuid.UUID
    now: datetime


async def seed_scale(
    session: AsyncSession, *, readers: int, grants: int, slug: str = DEFAULT_SLUG, now: datetime | None = None
) -> Seeded:
    if readers < 1 or grants < readers:
        raise BadRequest("Seed at least one reader, and at least as many grants as readers.")
    now = now or utcnow()
    publication = await session.scalar(select(Publication).where(Publication.slug == slug))
    if publication is None:
        owner, _ = await ReaderService(session=session).get_or_create(f"owner@{slug}.seed.example")
        publication = Publication(slug=slug, name=f"Seeded {slug}")
        session.add(publication)
        await session.flush()
        session.add(StaffMember(publication_id=publication.id, reader_id=owner.id, role=StaffRole.OWNER))
    elif await session.scalar(select(Reader.id).where(Reader.email == seed_email(slug, 0))) is not None:
        raise Conflict(f"The publication `{slug}` was seeded already; seed another slug.")
    tiers = []
    for name, interval, amount in (("Seeded monthly", "month", MONTHLY), ("Seeded yearly", "year", YEARLY)):
        tier = Tier(publication_id=publication.id, name=name, entitlement_keys=[publication.key], prices=[])
        session.add(tier)
        await session.flush()
        price = Price(
            tier_id=tier.id,
            interval=interval,
            currency="usd",
            unit_amount=amount,
            lookup_key=f"{slug}-{interval}",
        )
        session.add(price)
        await session.flush()
        tiers.append((tier.id, price.id))
    plan = _Plan(slug, publication.key, tiers[0][0], tiers[0][1], tiers[1][0], tiers[1][1], now)
    reader_ids = [uuid.uuid4() for _ in range(readers)]
    await _write(
        session,
        Reader.__table__,  # type: ignore[arg-type]
        (
            {
                "id": rid,
                "email": seed_email(slug, n),
                "display_name": f"Reader {n}",
                "entitlement_version": 0,
                "created_at": now,
                "updated_at": now,
            }
            for n, rid in enumerate(reader_ids)
        ),
    )
    subscriptions: list[dict[str, Any]] = []
    grant_rows = _grants(plan, reader_ids, grants, subscriptions)
    await _write(session, Grant.__table__, grant_rows)  # type: ignore[arg-type]
    await _write(session, Subscription.__table__, iter(subscriptions))  # type: ignore[arg-type]
    if session.get_bind().dialect.name == "postgresql":
        for table in ("reader", "reader_grant", "subscription"):
            await session.execute(text(f"ANALYZE {table}"))
    return Seeded(slug, readers, grants, len(subscriptions))


def _reader(rid: uuid.UUID, email: str, n: int, now: datetime) -> dict[str, Any]:
    return {
        "id": rid,
        "email": email,
        "display_name": f"Reader {n}",
        "entitlement_version": 0,
        "created_at": now,
        "updated_at": now,
    }


def _grants(
    plan: _Plan, reader_ids: list[uuid.UUID], count: int, subscriptions: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """`count` grants spread evenly over the readers, each reader's a history: earlier grants all
    over (cancelled or refunded subscriptions, comps and gifts that ended; back to back, with
    gaps, a few overlapping), the last one what the reader has now. Each paid or trial grant
    appends the subscription it comes from."""
    rng = random.Random(f"{plan.slug}:{len(reader_ids)}:{count}")  # noqa: S311 - made-up data
    base, extra = divmod(count, len(reader_ids))
    n = 0
    for index, rid in enumerate(reader_ids):
        history = [_current(plan, rng)]
        for _ in range(base + (index < extra) - 1):
            gap = rng.choice((timedelta(0), timedelta(days=-5), timedelta(days=rng.randint(1, 120))))
            history.append(_earlier(plan, rng, history[-1].starts - gap))
        for spell in reversed(history):
            sub = None
            if spell.status is not None:
                sub = _subscription(plan, rid, spell)
                subscriptions.append(sub)
            yield {
                "id": uuid.uuid4(),
                "reader_id": rid,
                "key": plan.key,
                "source": spell.source,
                "source_id": sub["stripe_subscription_id"] if sub else f"{plan.slug}:seed-{n}",
                "starts_at": spell.starts,
                "ends_at": spell.ends,
                "revoked_at": spell.revoked,
                "note": "",
                "created_at": spell.starts,
                "updated_at": plan.now,
            }
            n += 1


@dataclass
class _Spell:
    """One grant, and the subscription behind it when it has one (a status)."""

    source: GrantSource
    starts: datetime
    ends: datetime | None
    revoked: datetime | None = None
    status: SubscriptionStatus | None = None
    yearly: bool = False
    period_start: datetime | None = None
    cancel_at_period_end: bool = False


DAY = timedelta(days=1)


def _current(plan: _Plan, rng: random.Random) -> _Spell:
    """What a reader has now: mostly a paid subscription, else a trial, a comp, a gift, or nothing
    any more (a lapsed reader)."""
    now, roll = plan.now, rng.random()
    began = now - rng.randint(1, 700) * DAY - rng.randint(60, 86_399) * timedelta(seconds=1)
    if roll < 0.40:
        yearly = rng.random() < 0.25
        length = 365 if yearly else 30
        period_start = max(
            began, now - rng.randint(0, length - 1) * DAY - rng.randint(1, 23) * timedelta(hours=1)
        )
        return _Spell(
            GrantSource.SUBSCRIPTION,
            began,
            period_start + length * DAY,
            status=SubscriptionStatus.ACTIVE,
            yearly=yearly,
            period_start=period_start,
            cancel_at_period_end=rng.random() < 0.08,
        )
    if roll < 0.46:  # the renewal failed a few days ago: a grace week
        period_start = now - rng.randint(1, 6) * DAY
        began = min(began, period_start - 30 * DAY)
        return _Spell(
            GrantSource.SUBSCRIPTION,
            began,
            period_start + 7 * DAY,
            status=SubscriptionStatus.PAST_DUE,
            period_start=period_start,
        )
    if roll < 0.51:
        began = now - rng.randint(0, 13) * DAY - rng.randint(1, 23) * timedelta(hours=1)
        return _Spell(GrantSource.TRIAL, began, began + 14 * DAY, status=SubscriptionStatus.TRIALING)
    if roll < 0.61:
        return _Spell(GrantSource.COMP, began, None)
    if roll < 0.65:
        return _Spell(GrantSource.GIFT, now - rng.randint(1, 29) * DAY, now + rng.randint(1, 300) * DAY)
    return _earlier(plan, rng, now - rng.randint(1, 400) * DAY)


def _earlier(plan: _Plan, rng: random.Random, ends: datetime) -> _Spell:
    """A grant over by `ends`: a cancelled or refunded subscription, a comp or a gift that ended."""
    roll = rng.random()
    if roll < 0.70:
        yearly = rng.random() < 0.2
        starts = ends - (365 if yearly else 30) * rng.randint(1, 2 if yearly else 12) * DAY
        return _Spell(
            GrantSource.SUBSCRIPTION,
            starts,
            ends,
            status=SubscriptionStatus.CANCELED,
            yearly=yearly,
            period_start=ends - (365 if yearly else 30) * DAY,
        )
    if roll < 0.75:  # refunded or disputed: access ended at once, before the period's end
        starts = ends - rng.randint(2, 25) * DAY
        return _Spell(
            GrantSource.SUBSCRIPTION,
            starts,
            starts + 30 * DAY,
            revoked=ends,
            status=SubscriptionStatus.CANCELED,
            period_start=starts,
        )
    if roll < 0.90:
        return _Spell(GrantSource.COMP, ends - rng.randint(7, 365) * DAY, ends)
    return _Spell(GrantSource.GIFT, ends - 30 * rng.choice((1, 3, 6, 12)) * DAY, ends)


def _subscription(plan: _Plan, reader_id: uuid.UUID, spell: _Spell) -> dict[str, Any]:
    sid = uuid.uuid4()
    over = spell.status == SubscriptionStatus.CANCELED
    stopped = spell.revoked or spell.ends
    trial = spell.status == SubscriptionStatus.TRIALING
    return {
        "id": sid,
        "reader_id": reader_id,
        "tier_id": plan.yearly_tier if spell.yearly else plan.monthly_tier,
        "price_id": plan.yearly_price if spell.yearly else plan.monthly_price,
        "stripe_subscription_id": f"sub_seed_{sid.hex}",
        "stripe_customer_id": f"cus_seed_{reader_id.hex}",
        "status": spell.status,
        "cancel_at_period_end": spell.cancel_at_period_end,
        "current_period_start": spell.starts if trial else spell.period_start,
        "current_period_end": spell.ends,
        "trial_start": spell.starts if trial else None,
        "trial_end": spell.ends if trial else None,
        "canceled_at": stopped if over else None,
        "ended_at": stopped if over else None,
        "revoked_at": spell.revoked,
        "revoke_reason": "refund" if spell.revoked else None,
        "synced_at": plan.now,
        "offer_id": None,
        "created_at": spell.starts,
        "updated_at": plan.now,
    }


async def _write(session: AsyncSession, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    """In batches: COPY through the driver on PostgreSQL, executemany elsewhere."""
    copy = session.get_bind().dialect.name == "postgresql"
    if copy:
        raw = await (await session.connection()).get_raw_connection()
        driver = raw.driver_connection
    columns: list[str] | None = None
    batch: list[dict[str, Any]] = []

    async def flush() -> None:
        nonlocal columns
        if not batch:
            return
        if copy:
            columns = columns or list(batch[0])
            records = [tuple(r[c] for c in columns) for r in batch]
            await driver.copy_records_to_table(table.name, records=records, columns=columns)  # type: ignore[union-attr]
        else:
            await session.execute(insert(table), batch)
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            await flush()
    await flush()
