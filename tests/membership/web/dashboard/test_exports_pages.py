"""The dashboard's exports (`/account/publications/{slug}/exports`): the members CSV (the API's)
and the subscribers CSV (served here, statuses in words), every page of them, cells a spreadsheet
would run as formulas quoted, and for the publication's staff only. Both databases.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from membership.plans.models import Tier
from membership.readers.models import Reader
from membership.subscriptions.models import Subscription
from tests.membership.members.test_members import publication_id
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import db, give, now, reader_id
from tests.membership.web.account.test_account_pages import assert_page
from tests.membership.web.dashboard.test_dashboard_pages import DAILY, assert_accessible, owner_of_daily

EXPORTS = f"{DAILY}/exports"
SUBSCRIBERS_CSV = f"{EXPORTS}/subscribers.csv"
MEMBERS_CSV = "/api/publications/daily/members.csv"


def rows_of(answer: Any, filename: str) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert answer.headers["cache-control"] == "no-store"
    return list(csv.reader(io.StringIO(answer.text)))


async def subscriptions(database_url: str, rows: list[tuple[str, str, str, datetime | None, bool]]) -> None:
    """(email, tier name, status, current period end, cancel at period end), on Daily's tiers."""
    daily = await publication_id(database_url, "daily")
    async with db(database_url) as session:
        tiers: dict[str, Tier] = {}
        for n, (email, tier_name, status, ends, cancels) in enumerate(rows):
            if tier_name not in tiers:
                tiers[tier_name] = Tier(publication_id=daily, name=tier_name, entitlement_keys=["pub:daily"])
                session.add(tiers[tier_name])
                await session.flush()
            reader = Reader(email=email)
            session.add(reader)
            await session.flush()
            session.add(Subscription(
                reader_id=reader.id, tier_id=tiers[tier_name].id, status=status, cancel_at_period_end=cancels,
                stripe_subscription_id=f"sub_{n}", stripe_customer_id=f"cus_{n}", synced_at=now(),
                current_period_start=ends - timedelta(days=30) if ends else None, current_period_end=ends,
            ))  # fmt: skip


async def test_the_exports_page_offers_both_files(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    page = await client.get(EXPORTS)
    assert_page(page, 200, "Download every member as CSV", "Download every subscription as CSV")
    assert_accessible(page.text)
    assert f'href="{MEMBERS_CSV}" download' in page.text
    assert f'href="{SUBSCRIBERS_CSV}" download' in page.text
    assert 'href="/account/publications/daily/exports" aria-current="page">Exports' in page.text


async def test_the_members_csv_lists_current_members_with_formulas_quoted(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    ada = await reader_id(database_url, "ada@example.com")
    async with db(database_url) as session:
        await session.execute(update(Reader).where(Reader.id == ada).values(display_name="=HYPERLINK(1)"))
    ends = now() + timedelta(days=20)
    await give(database_url, ada, {"pub:daily"}, source="subscription", source_id="sub_ada", ends_at=ends)
    bob = await reader_id(database_url, "bob@example.com")
    await give(database_url, bob, {"pub:daily"}, source="comp", source_id="daily:bob")
    gone = await reader_id(database_url, "gone@example.com")
    await give(database_url, gone, {"pub:daily"}, source="comp", source_id="daily:gone", revoke=True)

    assert f'href="{MEMBERS_CSV}"' in (await client.get(EXPORTS)).text
    rows = rows_of(await client.get(MEMBERS_CSV), "daily-members.csv")
    assert rows[0] == ["reader_id", "email", "display_name", "keys", "sources", "until"]
    by_email = {r[1]: r for r in rows[1:]}
    assert set(by_email) == {"ada@example.com", "bob@example.com"}  # not the revoked one
    assert by_email["ada@example.com"] == [
        str(ada), "ada@example.com", "'=HYPERLINK(1)", "pub:daily", "subscription", ends.isoformat()
    ]  # fmt: skip
    assert by_email["bob@example.com"] == [str(bob), "bob@example.com", "bob", "pub:daily", "comp", ""]


async def test_the_subscribers_csv_has_a_row_per_subscription_in_words(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    renews = datetime(2031, 1, 31, 23, 30, tzinfo=UTC)  # the period's last day, late: the date is UTC's
    await subscriptions(
        database_url,
        [
            ("carol@example.com", "Basic", "active", renews, False),
            ("dave@example.com", "Basic", "past_due", renews, False),
            ("erin@example.com", "=cmd|' /C calc'!A0", "active", renews, True),
            ("+frank@example.com", "Basic", "incomplete", None, False),
        ],
    )
    rows = rows_of(await client.get(SUBSCRIBERS_CSV), "daily-subscribers.csv")
    assert rows[0] == ["subscription_id", "reader_id", "email", "tier", "status",
                       "current_period_end", "cancel_at_period_end"]  # fmt: skip
    assert sorted(r[2:] for r in rows[1:]) == [
        ["'+frank@example.com", "Basic", "Waiting for first payment", "", "no"],
        ["carol@example.com", "Basic", "Active", "2031-01-31", "no"],
        ["dave@example.com", "Basic", "Payment failed", "2031-01-31", "no"],
        ["erin@example.com", "'=cmd|' /C calc'!A0", "Active", "2031-01-31", "yes"],
    ]
    assert len({r[0] for r in rows[1:]}) == 4  # one row per subscription, by its id


async def test_the_subscribers_csv_holds_every_page(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    """More than one page of the service (1,000 a page): each subscription exactly once."""
    await owner_of_daily(client, database_url)
    daily = await publication_id(database_url, "daily")
    async with db(database_url) as session:
        tier = Tier(publication_id=daily, name="Basic", entitlement_keys=["pub:daily"])
        reader = Reader(email="many@example.com")
        session.add_all([tier, reader])
        await session.flush()
        session.add_all(
            Subscription(reader_id=reader.id, tier_id=tier.id, status="canceled", synced_at=now(),
                         stripe_subscription_id=f"sub_{n}", stripe_customer_id="cus_many")
            for n in range(1001)
        )  # fmt: skip
    rows = rows_of(await client.get(SUBSCRIBERS_CSV), "daily-subscribers.csv")
    assert len(rows) == 1 + 1001 and len({r[0] for r in rows[1:]}) == 1001
    assert {tuple(r[2:]) for r in rows[1:]} == {("many@example.com", "Basic", "Ended", "", "no")}


async def test_exports_are_for_the_publications_staff_only(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await subscriptions(database_url, [("carol@example.com", "Basic", "active", None, False)])
    # Not signed in: sign in, then back to the file.
    answer = await client.get(SUBSCRIBERS_CSV, follow_redirects=False)
    assert answer.status_code == 303
    assert parse_qs(urlsplit(answer.headers["location"]).query)["next"] == [SUBSCRIBERS_CSV]
    # Signed in, not on the staff: a page that says so, and no file.
    await as_reader(client, "stranger@example.com")
    for path in (EXPORTS, SUBSCRIBERS_CSV):
        refused = await client.get(path)
        words = assert_page(refused, 403, "Only readers on the staff of Daily may do this.")
        assert "carol@example.com" not in words
    assert (await client.get(MEMBERS_CSV)).status_code == 403
    # An editor is on the staff: both files.
    await as_reader(client, "owner@example.com")
    added = await client.post("/api/publications/daily/staff", json={"email": "ed@example.com"})
    assert added.status_code == 201
    await as_reader(client, "ed@example.com")
    assert_page(await client.get(EXPORTS), 200, "Download every subscription as CSV")
    assert rows_of(await client.get(SUBSCRIBERS_CSV), "daily-subscribers.csv")[1][2] == "carol@example.com"
    assert rows_of(await client.get(MEMBERS_CSV), "daily-members.csv")[0][0] == "reader_id"
