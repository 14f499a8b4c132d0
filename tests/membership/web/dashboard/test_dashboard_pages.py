"""The publisher's dashboard (`/account/publications/...`): who may see it, the numbers as charts,
tiers and prices, members and subscribers (filters, search, pages, a reader's history), comps and
friend links through plain forms, the Origin check, and errors as pages with sentences.

Tiers are made in the Stripe sandbox (served over real HTTP); the rest runs in the test client.
Both databases.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from membership.friendlinks.models import FriendLink
from membership.grants.models import Grant
from membership.plans.models import Price, Tier
from membership.readers.models import Reader
from membership.subscriptions.models import Subscription
from membership.web.dashboard.charts import axis, bar_chart, line_chart
from membership.web.dashboard.words import parse_amount
from stripe_sandbox.app import create_app as create_sandbox
from stripe_sandbox.settings import Settings as SandboxSettings
from tests.conftest import ClientFactory
from tests.membership.members.test_members import publication_id
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import db, give, now, reader_id
from tests.membership.web.account.test_account_pages import assert_page, text_of
from tests.servers import bound_socket, serve
from tollgate_common.words import day, month

SITE = "http://testserver.local"  # the test client's public URL
DAILY = "/account/publications/daily"


async def post(
    client: AsyncTestClient[Litestar], path: str, data: dict[str, Any] | None = None, **kw: Any
) -> Any:
    origin = kw.pop("origin", SITE)
    headers = {"origin": origin} if origin else {}
    return await client.post(path, data=data or {}, headers=headers, follow_redirects=False, **kw)


async def follow(client: AsyncTestClient[Litestar], answer: Any) -> Any:
    """A form's 303, followed as a browser would."""
    assert answer.status_code == 303, answer.text
    return await client.get(answer.headers["location"])


async def owner_of_daily(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await as_reader(client, "owner@example.com")


def headings(html: str) -> list[int]:
    return [int(h) for h in re.findall(r"<h([1-6])[ >]", html)]


def assert_accessible(html: str) -> None:
    """Headings in order from one h1; every field has a label; the language is set."""
    levels = headings(html)
    assert levels.count(1) == 1 and levels[0] == 1, levels
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
    assert '<html lang="en">' in html
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    for tag, attrs in re.findall(r"<(input|select|textarea)\b([^>]*)>", html):
        if 'type="hidden"' in attrs or 'type="submit"' in attrs:
            continue
        found = re.search(r'id="([^"]+)"', attrs)
        assert found and found.group(1) in labelled, f"<{tag}{attrs}> has no label"


# --- who may see it ----------------------------------------------------------------------


async def test_not_signed_in_goes_to_sign_in_and_back_to_the_same_page(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    for path in ("/account/publications", f"{DAILY}/members?source=comp", f"{DAILY}/readers/{uuid.uuid4()}"):
        answer = await client.get(path, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        location = urlsplit(answer.headers["location"])
        assert location.path == "/auth/sign-in" and parse_qs(location.query)["next"] == [path]
    # A form sent after the session ended goes to sign-in too, then back to the page that holds it.
    answer = await post(client, f"{DAILY}/comps", {"email": "x@example.com"})
    assert answer.status_code == 303
    assert parse_qs(urlsplit(answer.headers["location"]).query)["next"] == [f"{DAILY}/comps"]


async def test_a_reader_not_on_the_staff_gets_a_page_in_words(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await as_reader(client, "stranger@example.com")
    for path in (DAILY, f"{DAILY}/members", f"{DAILY}/tiers"):
        page = await client.get(path)
        assert_page(page, 403, "Only readers on the staff of Daily may do this.")
        assert "application/problem+json" not in page.headers["content-type"]
        assert page.headers["cache-control"] == "no-store"
    refused = await post(client, f"{DAILY}/comps", {"email": "x@example.com"})
    assert_page(refused, 403, "Only readers on the staff of Daily may do this.")
    assert_page(await client.get("/account/publications/nowhere"), 404, "There is no publication `nowhere`.")
    # With no publications of their own, the index says so.
    assert_page(await client.get("/account/publications"), 200, "You are not on the staff of any publication")


async def test_the_index_lists_the_readers_publications_and_role(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await make_publication(database_url, "weekly", "owner@example.com")
    await make_publication(database_url, "theirs", "someone@example.com")
    await as_reader(client, "someone@example.com")
    added = await client.post("/api/publications/theirs/staff", json={"email": "owner@example.com"})
    assert added.status_code == 201
    await as_reader(client, "owner@example.com")
    page = await client.get("/account/publications")
    words = assert_page(
        page, 200, "Daily You are an owner.", "Theirs You are an editor.", "Weekly You are an owner."
    )
    assert words.index("Daily") < words.index("Theirs") < words.index("Weekly")
    assert_accessible(page.text)
    assert 'href="/account/publications/theirs"' in page.text


# --- overview: the numbers as charts -----------------------------------------------------------


async def test_the_overview_draws_the_numbers_with_words_and_a_table(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    for n in range(3):
        await give(database_url, await reader_id(database_url, f"m{n}@example.com"), {"pub:daily"},
                   source_id=f"daily:{n}", starts_at=now() - timedelta(days=70))  # fmt: skip
    page = await client.get(DAILY)
    words = assert_page(page, 200, "Active members 3", "Monthly recurring revenue $0", "Past due 0")
    assert_accessible(page.text)
    html = page.text
    # Four charts, each an image with a title and a description that say what it shows.
    assert html.count('<svg viewBox="0 0 400 220" role="img"') == 4
    for chart_id, title in [("active-members", "Active members"), ("mrr", "Monthly recurring revenue"),
                            ("new-churned", "New and churned members by month"),
                            ("trials-past-due", "Trials and past-due subscriptions")]:  # fmt: skip
        assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in html
        assert f'<title id="{chart_id}-title">{title}</title>' in html
        assert f'<desc id="{chart_id}-desc">{title},' in html
    this_month = month(datetime.now(UTC))
    assert f", 3 in {this_month}, highest 3 in" in words  # the description, in words
    # The table has every number: twelve months, the last one now.
    rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th>((?:<td[^>]*>[^<]*</td>\s*)+)</tr>", html)
    assert len(rows) == 12 and rows[-1][0] == this_month
    assert [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>[^<]*</td>", rows[-1][1])] == [
        "3", "0", "0", "$0", "0", "0", "0"
    ]  # fmt: skip
    stats = (await client.get("/api/publications/daily/stats")).json()["points"]
    assert [p["active_members"] for p in stats][-3:] == [3, 3, 3]
    weekly = await client.get(DAILY, params={"interval": "week"})
    assert_page(weekly, 200, "New this week", "The numbers, week by week")
    assert 'href="/account/publications/daily?interval=week" aria-current="page"' in weekly.text


def test_charts_scale_their_axes_and_label_every_point() -> None:
    assert axis(0) == (4, 1) and axis(9) == (10, 5) and axis(1917) == (2000, 500)
    labels = [f"M{i}" for i in range(12)]
    line = line_chart("x", "Things", labels, [("Things", list(range(12)))])
    assert len(line.lines) == 1 and len(line.lines[0].dots) == 12
    assert line.lines[0].dots[-1].label == "Things, M11: 11"
    assert [t.text for t in line.y_ticks] == ["0", "5", "10", "15"]
    assert line.x_ticks[-1].text == "M11" and len(line.x_ticks) <= 7
    assert line.description == "Things, M0 to M11. Things: 0 in M0, 11 in M11, highest 11 in M11."
    bars = bar_chart("y", "Flows", labels, [("New", [1] * 12), ("Churned", [0] * 12)], str)
    assert len(bars.bars) == 24 and bars.legend == [("New", "one"), ("Churned", "two")]
    assert all(b.y + b.height == bars.bottom for b in bars.bars)


def test_amounts_are_read_and_written_in_the_currencys_units() -> None:
    assert parse_amount("5", "usd") == 500 and parse_amount("$4.50", "usd") == 450
    assert parse_amount("1,200", "eur") == 120000 and parse_amount("5.5", "usd") == 550
    assert parse_amount("500", "jpy") == 500 and parse_amount("5.50", "jpy") is None
    assert parse_amount("five", "usd") is None and parse_amount("-5", "usd") is None
    assert parse_amount("1.234", "bhd") == 1234 and parse_amount("1.5", "kwd") == 1500
    assert parse_amount("1.2345", "bhd") is None and parse_amount("¥500", "jpy") == 500


# --- members, subscribers, a reader's history --------------------------------------------------


async def many_members(database_url: str, count: int) -> None:
    async with db(database_url) as session:
        readers = [Reader(email=f"bulk{n:03}@example.com", display_name=f"Bulk {n}") for n in range(count)]
        session.add_all(readers)
        await session.flush()
        session.add_all(
            Grant(reader_id=r.id, key="pub:daily", source="comp", source_id=f"daily:bulk{n}",
                  starts_at=now() - timedelta(days=1))
            for n, r in enumerate(readers)
        )  # fmt: skip


async def test_members_filter_search_pages_history_and_the_csv_link(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    ada = await reader_id(database_url, "ada@example.com")
    async with db(database_url) as session:
        await session.execute(update(Reader).where(Reader.id == ada).values(display_name="Ada Lovelace"))
    await give(database_url, ada, {"pub:daily"}, source="subscription", source_id="sub_ada",
               ends_at=now() + timedelta(days=20))  # fmt: skip
    bob = await reader_id(database_url, "bob@example.com")
    await give(database_url, bob, {"pub:daily"}, source="comp", source_id="daily:bob")
    gone = await reader_id(database_url, "gone.ada@example.com")
    await give(database_url, gone, {"pub:daily"}, source="comp", source_id="daily:gone")
    await give(database_url, gone, {"pub:daily"}, source="comp", source_id="daily:gone", revoke=True)
    await many_members(database_url, 55)

    first = await client.get(f"{DAILY}/members")
    words = assert_page(first, 200, "50 members on this page", "Download every member as CSV")
    assert_accessible(first.text)
    assert 'href="/api/publications/daily/members.csv" download' in first.text
    next_page = re.search(r'<a href="([^"]+)">Next page</a>', first.text)
    assert next_page, words
    second = await client.get(next_page.group(1).replace("&amp;", "&"))
    assert_page(second, 200, "7 members", "First page")  # 57 in all

    paying = await client.get(f"{DAILY}/members", params={"source": "subscription"})
    assert_page(paying, 200, "1 member, by subscription", "ada@example.com Ada Lovelace Subscription")
    by_name = await client.get(f"{DAILY}/members", params={"q": "lovelace"})
    words = assert_page(by_name, 200, "ada@example.com Ada Lovelace Subscription")
    assert "bob@example.com" not in words and "gone.ada" not in words  # a past member is not a member
    by_email = await client.get(f"{DAILY}/members", params={"q": "ADA@", "source": "comp"})
    assert_page(by_email, 200, "No members match.")
    odd = await client.get(f"{DAILY}/members", params={"q": "100%_"})
    assert_page(odd, 200, "No members match.")

    history = await client.get(f"{DAILY}/readers/{gone}")
    words = assert_page(history, 200, "gone.ada@example.com", "Not a member now.", "pub:daily Comp")
    assert_accessible(history.text)
    assert "No subscriptions to Daily." in words
    assert f'href="{DAILY}/comps?email=gone.ada%40example.com"' in history.text
    assert_page(await client.get(f"{DAILY}/readers/{ada}"), 200, "A member now through subscription.")
    stranger = await reader_id(database_url, "stranger@example.com")
    assert_page(
        await client.get(f"{DAILY}/readers/{stranger}"), 404, "This reader has no history with Daily."
    )
    assert_page(await client.get(f"{DAILY}/members", params={"cursor": "nonsense"}), 400, "start again")
    assert_page(await client.get(f"{DAILY}/readers/not-a-reader"), 404, "There is no such reader.")
    assert_page(
        await client.get(f"{DAILY}/no/such/page"), 404, "The dashboard of Daily has no page at this address."
    )


async def test_subscribers_by_tier_status_and_search(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    daily = await publication_id(database_url, "daily")
    async with db(database_url) as session:
        basic = Tier(publication_id=daily, name="Basic", entitlement_keys=["pub:daily"])
        gold = Tier(publication_id=daily, name="Gold", entitlement_keys=["pub:daily"])
        session.add_all([basic, gold])
        await session.flush()
        price = Price(tier_id=gold.id, interval="year", currency="usd", unit_amount=5000, lookup_key="g")
        session.add(price)
        await session.flush()
        rows = [
            ("carol", basic, "active", None),
            ("dave", gold, "past_due", price),
            ("erin", gold, "canceled", price),
        ]
        for name, tier, status, p in rows:
            reader = Reader(email=f"{name}@example.com")
            session.add(reader)
            await session.flush()
            session.add(Subscription(
                reader_id=reader.id, tier_id=tier.id, price_id=p.id if p else None, status=status,
                stripe_subscription_id=f"sub_{name}", stripe_customer_id=f"cus_{name}", synced_at=now(),
                current_period_start=now() - timedelta(days=3), current_period_end=now() + timedelta(days=27),
                ended_at=now() - timedelta(days=1) if status == "canceled" else None,
            ))  # fmt: skip
        gold_id = str(gold.id)
    page = await client.get(f"{DAILY}/subscribers")
    assert_page(
        page,
        200,
        "3 subscriptions",
        "carol@example.com Basic",
        "dave@example.com Gold $50 a year Payment failed",
    )
    assert_accessible(page.text)
    gold_only = text_of(await client.get(f"{DAILY}/subscribers", params={"tier": gold_id}))
    assert "carol" not in gold_only and "dave" in gold_only and "erin" in gold_only
    ended = text_of(await client.get(f"{DAILY}/subscribers", params={"tier": gold_id, "status": "canceled"}))
    assert "erin@example.com Gold $50 a year Ended Ended on" in ended and "dave" not in ended
    found = text_of(await client.get(f"{DAILY}/subscribers", params={"q": "dav"}))
    assert "dave@example.com" in found and "carol" not in found
    assert_page(await client.get(f"{DAILY}/subscribers", params={"tier": "gold"}), 400, "start again")


# --- comps ---------------------------------------------------------------------------------


async def test_give_a_comp_by_email_and_end_it(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await owner_of_daily(client, database_url)
    page = await client.get(f"{DAILY}/comps")
    assert_page(page, 200, "No comps given yet.")
    assert_accessible(page.text)
    last_day = (datetime.now(UTC) + timedelta(days=30)).date()
    form = {"email": "Press@Example.com", "last_day": last_day.isoformat(), "note": "press pass"}
    given = await post(client, f"{DAILY}/comps", form)
    assert given.status_code == 303 and given.headers["location"] == f"{DAILY}/comps"
    shown = await follow(client, given)
    words = assert_page(
        shown,
        200,
        f"press@example.com has a comp through {day(last_day)}.",
        "press@example.com pub:daily",
        f"Until {day(last_day + timedelta(days=1))} press pass End",
    )
    assert 'role="status"' in shown.text
    # The notice shows once.
    assert "has a comp through" not in text_of(await client.get(f"{DAILY}/comps"))
    comps = (await client.get("/api/publications/daily/comps")).json()
    assert [(c["email"], c["note"], c["ended_at"]) for c in comps] == [
        ("press@example.com", "press pass", None)
    ]
    assert datetime.fromisoformat(comps[0]["until"]) == datetime.combine(
        last_day + timedelta(days=1), datetime.min.time(), UTC
    )
    members = (await client.get("/api/publications/daily/members")).json()["members"]
    assert [m["email"] for m in members] == ["press@example.com"]

    ended = await post(client, f"{DAILY}/comps/{comps[0]['id']}/end")
    words = assert_page(
        await follow(client, ended), 200, "The comp for press@example.com is ended", "Ended on"
    )
    assert "End the comp for" not in words
    assert (await client.get("/api/publications/daily/members")).json()["members"] == []

    # Mistakes come back as sentences, with what was typed kept.
    for form, sentence in [
        ({"email": "not-an-address"}, "Give the reader's email address"),
        ({"email": "a@example.com", "last_day": "2020-01-01"}, "The last day has passed"),
        ({"email": "a@example.com", "last_day": "soon"}, "The last day is a date"),
        ({"email": "a@example.com", "keys": "pub:other"}, "This publication cannot give pub:other."),
    ]:
        answer = await post(client, f"{DAILY}/comps", form)
        assert_page(answer, 400, sentence)
        assert f'value="{form["email"]}"' in answer.text
    assert_page(await post(client, f"{DAILY}/comps/daily:nothing/end"), 404, "No such comp.")
    # A comp with no end, from the reader's history page link.
    prefilled = await client.get(f"{DAILY}/comps", params={"email": "friend@example.com"})
    assert 'value="friend@example.com"' in prefilled.text
    forever = await follow(client, await post(client, f"{DAILY}/comps", {"email": "friend@example.com"}))
    assert_page(forever, 200, "friend@example.com has a comp with no end date.", "No end date")


# --- friend links ------------------------------------------------------------------------------


async def test_make_a_friend_link_see_it_once_and_revoke_it(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    made = await post(client, f"{DAILY}/friend-links", {"story_id": f"{SITE}/stories/the-long-read?x=1"})
    shown = await follow(client, made)
    words = assert_page(shown, 200, "A friend link to “the-long-read” is made. Copy it now")
    link = re.search(r'id="made-link" type="text" readonly value="([^"]+)"', shown.text)
    assert link, words
    url = urlsplit(link.group(1))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{SITE}/stories/the-long-read"
    code = parse_qs(url.query)["friend"][0]
    assert code.startswith("fl_")
    again = await client.get(f"{DAILY}/friend-links")
    assert code not in again.text  # shown once
    assert_page(again, 200, f"the-long-read …{code[-4:]}", "(staff)", "Opens the story")
    assert_accessible(again.text)

    async with db(database_url) as session:
        link_id = (await session.scalars(select(FriendLink.id))).one()
    revoked = await post(client, f"{DAILY}/friend-links/{link_id}/revoke")
    words = assert_page(await follow(client, revoked), 200, f"ending in {code[-4:]} is revoked", "Revoked")
    assert "Revoke the link" not in words
    listed = (
        await client.get("/api/publications/daily/friend-links", params={"include_revoked": True})
    ).json()
    assert listed[0]["revoked_at"] is not None

    for typed, sentence in [("", "Give the story's id"), ("Not A Story!", "is not a story id")]:
        answer = await post(client, f"{DAILY}/friend-links", {"story_id": typed})
        assert_page(answer, 400, sentence)
    assert_page(
        await post(client, f"{DAILY}/friend-links/{uuid.uuid4()}/revoke"), 404, "No such friend link."
    )


# --- forms from elsewhere ------------------------------------------------------------------


async def test_a_form_from_another_site_is_refused_with_a_page(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    for origin in ("https://evil.example", "null", "http://testserver.local:8080"):
        answer = await post(client, f"{DAILY}/comps", {"email": "x@example.com"}, origin=origin)
        assert_page(answer, 403, "This form may only be sent from a page of this site.")
    assert (await client.get("/api/publications/daily/comps")).json() == []
    # No Origin at all (an older browser): accepted; SameSite=Lax cookies guard that case.
    assert (await post(client, f"{DAILY}/comps", {"email": "x@example.com"}, origin=None)).status_code == 303


# --- tiers and prices, made in the Stripe sandbox ---------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with serve(
        create_sandbox(SandboxSettings(public_url=url, log_level="WARNING", log_format="console")), sock=sock
    ):
        yield url


@pytest.fixture
async def shop(client_with: ClientFactory, sandbox: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with client_with(stripe_sandbox_url=sandbox) as client:
        yield client


async def test_a_tier_in_yen_is_priced_in_yen(shop: AsyncTestClient[Litestar], database_url: str) -> None:
    """500 JPY is ¥500 (a zero-decimal currency), not "500 JPY" (issue 12, defect 7)."""
    await owner_of_daily(shop, database_url)
    form = {"name": "Yen", "monthly": "500", "yearly": "5000", "currency": "jpy", "trial_days": "0"}
    page = await follow(shop, await post(shop, f"{DAILY}/tiers", form))
    assert_page(page, 200, "The tier “Yen” is on offer at ¥500 a month and ¥5,000 a year.")
    tier = (await shop.get("/api/publications/daily/tiers")).json()[0]
    assert sorted(p["unit_amount"] for p in tier["prices"]) == [500, 5000]


async def test_create_a_tier_archive_a_price_add_one_and_archive_the_tier(
    shop: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(shop, database_url)
    page = await shop.get(f"{DAILY}/tiers")
    assert_page(page, 200, "No tiers on offer yet.")
    assert_accessible(page.text)
    form = {"name": "Supporter", "description": "Every story.", "monthly": "5", "yearly": "$50.00",
            "currency": "usd", "trial_days": "7"}  # fmt: skip
    made = await post(shop, f"{DAILY}/tiers", form)
    page = await follow(shop, made)
    assert_page(
        page,
        200,
        "The tier “Supporter” is on offer at $5 a month and $50 a year.",
        "Supporter Every story. Opens pub:daily. A 7-day free trial. 0 live subscriptions.",
    )
    assert_accessible(page.text)
    tier = (await shop.get("/api/publications/daily/tiers")).json()[0]
    assert tier["trial_days"] == 7 and tier["stripe_product_id"]
    assert sorted((p["interval"], p["unit_amount"]) for p in tier["prices"]) == [
        ("month", 500),
        ("year", 5000),
    ]
    monthly = next(p for p in tier["prices"] if p["interval"] == "month")

    archived = await post(shop, f"{DAILY}/tiers/{tier['id']}/prices/{monthly['id']}/archive")
    words = assert_page(await follow(shop, archived), 200, "The price $5 a month of “Supporter” is archived",
                        "$5 a month Archived on")  # fmt: skip
    assert "Archive the price $5 a month" not in words
    on_offer = (await shop.get("/api/publications/daily/tiers")).json()[0]["prices"]
    assert [p["interval"] for p in on_offer] == ["year"]

    added = await post(
        shop, f"{DAILY}/tiers/{tier['id']}/prices", {"interval": "month", "amount": "6.50", "currency": "usd"}
    )
    assert_page(await follow(shop, added), 200, "“Supporter” now costs $6.50 a month")
    on_offer = (await shop.get("/api/publications/daily/tiers")).json()[0]["prices"]
    assert sorted((p["interval"], p["unit_amount"]) for p in on_offer) == [("month", 650), ("year", 5000)]

    for form, sentence in [
        (
            {"name": "Nothing", "monthly": "", "yearly": ""},
            "Give the tier a monthly price, a yearly price, or both.",
        ),
        ({"name": "", "monthly": "5"}, "Give the tier a name"),
        ({"name": "Cheap", "monthly": "0.20"}, "at least $0.50"),
        ({"name": "Odd", "monthly": "five dollars"}, "is not an amount"),
        ({"name": "Odd", "monthly": "5", "currency": "dollars"}, "three-letter code"),
        ({"name": "Long", "monthly": "5", "trial_days": "999"}, "Free trial days are a whole number"),
    ]:
        answer = await post(shop, f"{DAILY}/tiers", form)
        assert_page(answer, 400, sentence)
        if form["name"]:
            assert f'value="{form["name"]}"' in answer.text  # what was typed stays
    assert len((await shop.get("/api/publications/daily/tiers")).json()) == 1

    gone = await post(shop, f"{DAILY}/tiers/{tier['id']}/archive")
    assert_page(
        await follow(shop, gone), 200, "“Supporter” is archived", "Archived tiers", "Supporter, archived on"
    )
    assert (await shop.get("/api/publications/daily/tiers")).json() == []
    refused = await post(shop, f"{DAILY}/tiers/{tier['id']}/prices", {"interval": "year", "amount": "40"})
    assert_page(refused, 409, "This tier is archived; it takes no new prices.")
    assert_page(await post(shop, f"{DAILY}/tiers/{uuid.uuid4()}/archive"), 404, "No such tier.")
