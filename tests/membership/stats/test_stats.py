"""A publication's numbers over time (`GET /api/publications/{slug}/stats` and StatsService).

Histories are built by hand, rows with known dates, and each number is checked at each period:
members from grants (joins, rejoins, overlaps, revocations), MRR, trials and past-due from
subscriptions (cancel at period end, refunds and disputes, yearly prices, trials, unpaid). A last
test runs real subscriptions through the Stripe sandbox and compares with the members API.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from membership.grants.models import Grant
from membership.plans.models import Price, Tier
from membership.publications.models import Publication
from membership.stats.services import Point, Span, StatsService, merge, period_starts
from membership.subscriptions.models import Subscription
from tests.membership.conftest import Stack
from tests.membership.members.test_members import key_for, publication_id
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import db, give, reader_id

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)  # a Wednesday


def d(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def grant(
    database_url: str,
    email: str,
    key: str,
    starts: datetime,
    ends: datetime | None = None,
    revoked: datetime | None = None,
    source: str = "comp",
) -> None:
    rid = await reader_id(database_url, email)
    async with db(database_url) as session:
        session.add(
            Grant(
                reader_id=rid,
                key=key,
                source=source,
                source_id=uuid.uuid4().hex,
                starts_at=starts,
                ends_at=ends,
                revoked_at=revoked,
            )
        )


async def series(database_url: str, slug: str, **kwargs: Any) -> list[Point]:
    async with db(database_url) as session:
        publication = await session.get_one(Publication, await publication_id(database_url, slug))
        found = await StatsService(session).series(publication, **kwargs)
    return found.points


def column(points: list[Point], name: str) -> list[Any]:
    return [getattr(p, name) for p in points]


# --- periods ---------------------------------------------------------------------------


def test_months_run_back_across_a_new_year_and_weeks_start_on_monday() -> None:
    months = period_starts("month", 4, datetime(2027, 2, 3, 8, tzinfo=UTC))
    assert months == [datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC),
                      datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)]  # fmt: skip
    weeks = period_starts("week", 2, NOW)
    assert weeks == [datetime(2026, 5, 11, tzinfo=UTC), datetime(2026, 5, 18, tzinfo=UTC)]
    assert period_starts("week", 1, datetime(2026, 5, 18, tzinfo=UTC)) == [datetime(2026, 5, 18, tzinfo=UTC)]


def test_a_readers_grants_merge_into_the_stretches_they_were_a_member() -> None:
    spans = [Span(d(3, 2), d(5, 2)), Span(d(4, 1), d(6, 1)), Span(d(6, 1), None), Span(d(1, 1), d(1, 5))]
    assert merge(spans) == [Span(d(1, 1), d(1, 5)), Span(d(3, 2), None)]


# --- members, from grants --------------------------------------------------------------


async def test_active_new_and_churned_members_at_each_month(client: Any, database_url: str) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "daily-news", "news@example.com")
    # a: a comp since January, for good: a member throughout, new in none of these months.
    await grant(database_url, "a@example.com", "pub:daily", d(1, 10))
    # b: a subscription cancelled at its period's end: a member until April 10, then churned.
    await grant(database_url, "b@example.com", "pub:daily", d(2, 10), d(4, 10), source="subscription")
    # c: a trial from March 25, then the subscription (a key under the publication's), disputed
    # on April 20: the revocation ends it although its end was in June.
    await grant(database_url, "c@example.com", "pub:daily", d(3, 25), d(4, 8), source="trial")
    await grant(
        database_url, "c@example.com", "pub:daily:premium", d(4, 8), d(6, 8), d(4, 20), "subscription"
    )
    # d: a comp from April 3, taken back on May 10.
    await grant(database_url, "d@example.com", "pub:daily", d(4, 3), None, d(5, 10))
    # e: in February for a while, back from April 25: new twice, churned once.
    await grant(database_url, "e@example.com", "pub:daily", d(2, 2), d(2, 20))
    await grant(database_url, "e@example.com", "pub:daily", d(4, 25))
    # f: a subscription and an overlapping comp: one stretch, from March 2 to June 1.
    await grant(database_url, "f@example.com", "pub:daily", d(3, 2), d(5, 2), source="subscription")
    await grant(database_url, "f@example.com", "pub:daily", d(4, 1), d(6, 1))
    # Never members of daily at these moments: another publication's key, the platform's, a
    # comp that starts after now, one revoked before it began, one over before February.
    await grant(database_url, "g@example.com", "pub:daily-news", d(2, 1))
    await grant(database_url, "g@example.com", "member", d(2, 1))
    await grant(database_url, "h@example.com", "pub:daily", d(5, 25))
    await grant(database_url, "i@example.com", "pub:daily", d(3, 10), None, d(3, 9))
    await grant(database_url, "j@example.com", "pub:daily", d(1, 2), d(1, 20))

    points = await series(database_url, "daily", interval="month", periods=4, now=NOW)

    assert column(points, "period_start") == [d(2, 1, 0), d(3, 1, 0), d(4, 1, 0), d(5, 1, 0)]
    assert column(points, "measured_at") == [d(3, 1, 0), d(4, 1, 0), d(5, 1, 0), NOW]
    assert column(points, "active_members") == [2, 4, 4, 3]  # a b | a b c f | a d e f | a e f
    assert column(points, "new_members") == [2, 2, 2, 0]  # b e | c f | d e | (h is in the future)
    assert column(points, "churned_members") == [1, 0, 2, 1]  # e | - | b c | d
    # Nothing here is a subscription: no revenue, trials or past-due.
    assert column(points, "paying") == [0, 0, 0, 0]
    assert all(p.mrr_by_currency == {} for p in points)


async def test_a_change_at_the_very_start_of_a_week_belongs_to_that_week(
    client: Any, database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    monday = datetime(2026, 5, 18, tzinfo=UTC)
    await grant(database_url, "a@example.com", "pub:daily", monday - timedelta(days=3), monday)
    await grant(database_url, "b@example.com", "pub:daily", monday)

    points = await series(database_url, "daily", interval="week", periods=2, now=NOW)

    assert column(points, "period_start") == [monday - timedelta(weeks=1), monday]
    # At the last moment of the week before, a was still a member and b not yet.
    assert column(points, "active_members") == [1, 1]
    assert column(points, "new_members") == [1, 1]
    assert column(points, "churned_members") == [0, 1]


# --- revenue, trials and past-due, from subscriptions ----------------------------------------


async def test_mrr_trials_and_past_due_at_each_month(client: Any, database_url: str) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "other", "other@example.com")
    daily, other = await publication_id(database_url, "daily"), await publication_id(database_url, "other")
    async with db(database_url) as session:
        basic = Tier(publication_id=daily, name="Basic", entitlement_keys=["pub:daily"])
        premium = Tier(publication_id=daily, name="Premium", entitlement_keys=["pub:daily:premium"])
        europe = Tier(publication_id=daily, name="Europe", entitlement_keys=["pub:daily"])
        theirs = Tier(publication_id=other, name="Theirs", entitlement_keys=["pub:other"])
        session.add_all([basic, premium, europe, theirs])
        await session.flush()
        prices = {
            name: Price(
                tier_id=tier.id, interval=interval, currency=currency, unit_amount=amount, lookup_key=name
            )
            for name, tier, interval, currency, amount in [
                ("monthly", basic, "month", "usd", 500),
                ("yearly", premium, "year", "usd", 5000),
                ("eur", europe, "month", "eur", 400),
                ("theirs", theirs, "month", "usd", 900),
            ]
        }
        session.add_all(prices.values())
        await session.flush()
    tiers = {"monthly": basic.id, "yearly": premium.id, "eur": europe.id, "theirs": theirs.id}

    async def subscription(price: str, status: str, created: datetime, **fields: Any) -> None:
        rid = await reader_id(database_url, f"{uuid.uuid4().hex[:8]}@example.com")
        async with db(database_url) as session:
            session.add(
                Subscription(
                    reader_id=rid,
                    tier_id=tiers[price],
                    price_id=prices[price].id,
                    stripe_subscription_id=f"sub_{uuid.uuid4().hex}",
                    stripe_customer_id=f"cus_{uuid.uuid4().hex}",
                    status=status,
                    created_at=created,
                    current_period_start=fields.pop("cps", created),
                    synced_at=NOW,
                    **fields,
                )
            )

    # s1: cancelled at the period's end, and since ended: paying February 10 to April 10.
    await subscription("monthly", "canceled", d(2, 10), cps=d(3, 10), current_period_end=d(4, 10),
                       cancel_at_period_end=True, canceled_at=d(3, 15), ended_at=d(4, 10))  # fmt: skip
    # s2: cancelled at the period's end, which is still ahead: paying until June 2, so now.
    await subscription("monthly", "active", d(3, 2), cps=d(5, 2), current_period_end=d(6, 2),
                       cancel_at_period_end=True, canceled_at=d(5, 5))  # fmt: skip
    # s3: a trial from March 25 to April 8, paid, then disputed on April 20 (revoked).
    await subscription("yearly", "canceled", d(3, 25), trial_start=d(3, 25), trial_end=d(4, 8), cps=d(4, 8),
                       current_period_end=d(4, 8) + timedelta(days=365), canceled_at=d(4, 20),
                       ended_at=d(4, 20), revoked_at=d(4, 20), revoke_reason="dispute")  # fmt: skip
    # s4: yearly since January: 5000 a year is 416.67 a month.
    await subscription("yearly", "active", d(1, 20), current_period_end=d(1, 20) + timedelta(days=365))
    # s5: its renewal failed on May 15: past-due now, still in MRR until Stripe gives up.
    await subscription("monthly", "past_due", d(1, 15), cps=d(5, 15), current_period_end=d(6, 15))
    # s6: trialing now: counted as a trial, not revenue.
    await subscription("yearly", "trialing", d(5, 15), trial_start=d(5, 15), trial_end=d(5, 29))
    # s7: never paid.
    await subscription("monthly", "incomplete", d(4, 2))
    # s8: in euros; its renewal failed on April 15 and it is unpaid now: it stopped counting then.
    await subscription("eur", "unpaid", d(2, 1), cps=d(4, 15), current_period_end=d(5, 15))
    # s9: another publication's.
    await subscription("theirs", "active", d(1, 1), current_period_end=d(6, 1))
    # s10: fully refunded on April 6: revoked at once.
    await subscription("monthly", "canceled", d(2, 5), cps=d(4, 5), current_period_end=d(5, 5),
                       ended_at=d(4, 6), revoked_at=d(4, 6), revoke_reason="refund")  # fmt: skip
    # s11: cancelled during its trial, which ran out on March 6: a trial on March 1, never paying.
    await subscription("yearly", "canceled", d(2, 20), trial_start=d(2, 20), trial_end=d(3, 6),
                       cancel_at_period_end=True, canceled_at=d(2, 25), ended_at=d(3, 6))  # fmt: skip

    points = await series(database_url, "daily", interval="month", periods=4, now=NOW)

    assert column(points, "paying") == [5, 6, 3, 3]  # s1 s4 s5 s8 s10 | +s2 | s2 s4 s5 | s2 s4 s5
    # usd: (6000 + 5000 + 6000 + 6000) / 12, (4 * 6000 + 5000) / 12, (6000 + 5000 + 6000) / 12, same.
    assert column(points, "mrr_by_currency") == [
        {"usd": 1917, "eur": 400},
        {"usd": 2417, "eur": 400},
        {"usd": 1417, "eur": 0},
        {"usd": 1417, "eur": 0},
    ]
    assert column(points, "trials") == [1, 1, 0, 1]  # s11 | s3 | - | s6
    assert column(points, "past_due") == [0, 0, 0, 1]  # s5 from May 15
    async with db(database_url) as session:
        publication = await session.get_one(Publication, daily)
        assert await StatsService(session).currency(publication) == "usd"


# --- over the API ------------------------------------------------------------------------


async def test_the_api_serves_the_series_to_staff_and_to_keys_that_read_members(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "other", "other@example.com")
    # Begun this month, even a moment after it turned (a minute ago would be last month's).
    began = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for n in range(3):
        await give(database_url, await reader_id(database_url, f"m{n}@example.com"), {"pub:daily"},
                   source_id=f"daily:{n}", starts_at=began)  # fmt: skip
    gone = await reader_id(database_url, "gone@example.com")
    await give(database_url, gone, {"pub:daily"}, source_id="daily:gone", starts_at=began)
    await give(database_url, gone, {"pub:daily"}, source_id="daily:gone", starts_at=began, revoke=True)

    anonymous = await client.get("/api/publications/daily/stats")
    assert anonymous.status_code == 401
    await as_reader(client, "stranger@example.com")
    assert (await client.get("/api/publications/daily/stats")).status_code == 403

    await as_reader(client, "owner@example.com")
    answer = await client.get("/api/publications/daily/stats")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["publication"] == "daily" and body["interval"] == "month" and body["currency"] == "usd"
    assert len(body["points"]) == 12
    last = body["points"][-1]
    assert set(last) == {
        "period_start", "period_end", "measured_at", "active_members", "new_members", "churned_members",
        "mrr", "currency", "mrr_by_currency", "paying", "trials", "past_due",
        "gift_revenue", "gift_revenue_by_currency",
    }  # fmt: skip
    # The same rows the members API serves: three members now; the revoked one is not.
    members = (await client.get("/api/publications/daily/members")).json()["members"]
    assert last["active_members"] == len(members) == 3
    assert last["new_members"] == 4 and last["churned_members"] == 1
    assert last["mrr"] == 0 and last["trials"] == 0
    assert abs(datetime.fromisoformat(last["measured_at"]) - datetime.now(UTC)) < timedelta(minutes=1)

    weekly = (
        await client.get("/api/publications/daily/stats", params={"interval": "week", "periods": 3})
    ).json()
    assert weekly["interval"] == "week" and len(weekly["points"]) == 3
    starts = [datetime.fromisoformat(p["period_start"]) for p in weekly["points"]]
    assert all(s.weekday() == 0 and s.hour == 0 for s in starts)
    for bad in ({"interval": "day"}, {"periods": 0}, {"periods": 500}):
        refused = await client.get("/api/publications/daily/stats", params=bad)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")

    client.cookies.clear()
    reads = await key_for(database_url, "daily", ["members:read"])
    assert (
        await client.get("/api/publications/daily/stats", headers={"authorization": f"Bearer {reads}"})
    ).status_code == 200
    other = await key_for(database_url, "other", ["members:read"])
    assert (
        await client.get("/api/publications/daily/stats", headers={"authorization": f"Bearer {other}"})
    ).status_code == 403
    unscoped = await key_for(database_url, "daily", ["entitlements:read"])
    assert (
        await client.get("/api/publications/daily/stats", headers={"authorization": f"Bearer {unscoped}"})
    ).status_code == 403


# --- real subscriptions, through the Stripe sandbox -------------------------------------


async def current(owner: Any, slug: str, periods: int) -> dict[str, Any]:
    """The current period's numbers. Once worked out, an answer is served for a while (the stack's
    default `stats_cache_seconds`), so each look asks for another number of periods: a new answer."""
    answer = await owner.get(f"/api/publications/{slug}/stats", params={"periods": periods})
    assert answer.status_code == 200, answer.text
    point: dict[str, Any] = answer.json()["points"][-1]
    return point


@pytest.mark.timeout(120)
async def test_real_subscriptions_yearly_normalised_trials_apart_cancel_keeps_dispute_ends(
    stack: Stack,
) -> None:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(
        owner,
        slug,
        prices=[
            {"interval": "month", "currency": "usd", "unit_amount": 500},
            {"interval": "year", "currency": "usd", "unit_amount": 5000},
        ],
    )
    trial_tier = await stack.tier(owner, slug, name="Try it", trial_days=14)
    monthly, yearly = (next(p["id"] for p in tier["prices"] if p["interval"] == i) for i in ("month", "year"))
    readers = [await stack.reader() for _ in range(3)]
    paid = await stack.subscribe(readers[0], monthly)
    await stack.subscribe(readers[1], yearly)
    await stack.subscribe(readers[2], trial_tier["prices"][0]["id"])

    point = await current(owner, slug, 1)
    members = (await owner.get(f"/api/publications/{slug}/members")).json()["members"]
    assert point["active_members"] == len(members) == 3
    assert point["new_members"] == 3 and point["churned_members"] == 0
    assert point["paying"] == 2 and point["trials"] == 1 and point["past_due"] == 0
    assert point["mrr"] == 500 + 417 and point["currency"] == "usd"

    # Cancelling at the period's end changes nothing until the period ends.
    sub = next(s for s in (await readers[1].get("/api/me/subscriptions")).json())
    assert (await readers[1].post(f"/api/me/subscriptions/{sub['id']}/cancel")).status_code == 200
    await stack.settle()
    assert (await current(owner, slug, 2))["mrr"] == 917

    # A dispute ends the monthly one at once: out of MRR, and its reader has churned.
    await stack.control("post", f"/_sandbox/charges/{paid['charge']}/dispute")
    await stack.settle()
    point = await current(owner, slug, 3)
    assert point["mrr"] == 417 and point["paying"] == 1
    assert point["active_members"] == 2 and point["churned_members"] == 1
    await owner.aclose()
    for reader in readers:
        await reader.aclose()


async def test_staff_see_their_publications_numbers_only(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "other", "other@example.com")
    await give(
        database_url, await reader_id(database_url, "x@example.com"), {"pub:other"}, source_id="other:x"
    )
    await as_reader(client, "owner@example.com")
    body = (await client.get("/api/publications/daily/stats", params={"periods": 1})).json()
    assert body["points"][0]["active_members"] == 0
    assert (await client.get("/api/publications/other/stats")).status_code == 403
    assert (await client.get("/api/publications/nowhere/stats")).status_code == 404
