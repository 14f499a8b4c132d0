"""A publisher's journey in a real browser, against `make run`: signing in as the demo owner with
the emailed link, the dashboard's overview with its charts, a new tier with a monthly price, a
price archived, members and subscribers (filters, search), one reader's history, the CSV export,
a comp given and ended, a friend link made, opened and revoked, and the charts again.

It works on Field Notes (the reader's journey uses The Gazette) and makes its own subscriber
through the API and the Stripe sandbox first, so it needs nothing from the other journey.
Screenshots of the key pages are kept (see tests/browser/helpers.py).
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.helpers import SIGN_IN_LINK, System, reload_until, screenshot, sign_in
from tests.browser.test_reader_journey import shows_full_story, shows_paywall
from tollgate_common.words import day

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import NewPage

pytestmark = pytest.mark.e2e

OWNER = "publisher@example.com"  # membership/demo.py: owns the-gazette and field-notes
SUBSCRIBER = "subscriber.journey@example.com"
GUEST = "guest.columnist@example.com"
DASHBOARD = "/account/publications"
NOTES = f"{DASHBOARD}/field-notes"
STORY = "lichens-on-the-old-wall"  # a member-only story of Field Notes
NO_SIDEWAYS_SCROLLING = "() => document.documentElement.scrollWidth <= window.innerWidth"


def subscribe_over_the_api(system: System, email: str, name: str) -> None:
    """A reader who subscribes to Field Notes' monthly price through checkout and the sandbox."""
    with httpx.Client(base_url=system.gateway, timeout=30) as reader:
        before = len(system.outbox(email))
        assert reader.post("/api/auth/sign-in", json={"email": email}).status_code == 202
        link = system.sign_in_link(email, newer_than=before)
        token = link.split("token=", 1)[1]
        assert SIGN_IN_LINK.match(link)
        assert reader.post("/api/auth/sign-in/complete", json={"token": token}).status_code == 200
        assert reader.patch("/api/me", json={"display_name": name}).status_code == 200
        tiers = reader.get("/api/publications/field-notes/tiers").json()
        price = next(
            p for t in tiers if t["name"] == "Supporter" for p in t["prices"] if p["interval"] == "month"
        )
        started = reader.post("/api/billing/checkout", json={"price_id": price["id"], "return_to": "/"})
        assert started.status_code == 200, started.text
        paid = httpx.post(
            f"{system.sandbox}/_sandbox/checkout/{started.json()['session_id']}/pay",
            json={"card": "4242424242424242"},
            timeout=30,
        )
        assert paid.status_code == 200, paid.text
        system.webhooks_delivered()
        deadline = time.monotonic() + 30
        while [s["status"] for s in reader.get("/api/me/subscriptions").json()] != ["active"]:
            assert time.monotonic() < deadline, "the subscription never became active"
            time.sleep(0.2)


def notice(page: Page) -> str:
    return page.get_by_role("status").first.inner_text()


def number(page: Page, name: str) -> str:
    """A headline number on the overview, by its label."""
    return page.locator("dl.numbers > div", has=page.locator("dt", has_text=name)).locator("dd").inner_text()


def assert_charts(page: Page) -> None:
    charts = page.locator("figure.chart svg[role=img]")
    assert charts.count() == 4
    for name in ("Active members", "Monthly recurring revenue", "New and churned members by month"):
        assert page.get_by_role("img", name=name).is_visible()
    # Each chart has its axis labels, and every number is in the table too.
    assert page.locator("#mrr-heading + svg text", has_text="$").count() >= 2
    assert page.get_by_role("table").first.locator("tbody tr").count() == 12


def test_a_publisher_manages_tiers_readers_comps_and_friend_links_and_reads_the_charts(
    system: System, new_page: NewPage, tmp_path: Path
) -> None:
    subscribe_over_the_api(system, SUBSCRIBER, "Sam Journey")
    page = new_page()

    # The dashboard asks for sign-in first, and comes back to it.
    page.goto(system.url(DASHBOARD))
    page.wait_for_url(
        re.compile(re.escape(system.url("/auth/sign-in")) + r"\?next=%2Faccount%2Fpublications")
    )
    sign_in(page, system, OWNER)
    page.wait_for_url(system.url(DASHBOARD))
    assert page.get_by_role("heading", name="Your publications", level=1).is_visible()
    assert page.get_by_role("link", name="The Tollgate Gazette").is_visible()
    screenshot(page, "dashboard-publications")

    # The overview: today's numbers and the charts over time.
    page.get_by_role("link", name="Field Notes").click()
    page.wait_for_url(system.url(NOTES))
    assert page.get_by_role("heading", name="Field Notes", level=1).is_visible()
    assert number(page, "Active members") == "1"
    assert number(page, "Monthly recurring revenue") == "$5"
    assert number(page, "New this month") == "1"
    assert_charts(page)
    screenshot(page, "dashboard-overview-first")

    # Tiers and prices: a new tier with a monthly and a yearly price, then the yearly one archived.
    page.get_by_role("link", name="Tiers and prices").click()
    page.wait_for_url(system.url(f"{NOTES}/tiers"))
    page.get_by_label("Name", exact=True).fill("Patron")
    page.get_by_label("Description").fill("Every story, and our thanks in the spring issue.")
    page.get_by_label("Monthly price").fill("8.00")
    page.get_by_label("Yearly price").fill("80")
    page.get_by_role("button", name="Create the tier").click()
    page.wait_for_url(system.url(f"{NOTES}/tiers"))
    assert "The tier “Patron” is on offer at $8 a month and $80 a year." in notice(page)
    patron = page.locator("section.tier", has=page.get_by_role("heading", name="Patron"))
    assert "$8 a month" in patron.inner_text() and "$80 a year" in patron.inner_text()
    screenshot(page, "dashboard-tiers", docs=True)
    patron.get_by_role("button", name="Archive the price $80 a year of Patron").click()
    assert "The price $80 a year of “Patron” is archived" in notice(page)
    patron = page.locator("section.tier", has=page.get_by_role("heading", name="Patron"))
    assert re.search(r"\$80 a year\s+Archived on", patron.inner_text())
    offered = httpx.get(system.url("/api/publications/field-notes/tiers"), timeout=10).json()
    assert [
        (p["interval"], p["unit_amount"]) for t in offered if t["name"] == "Patron" for p in t["prices"]
    ] == [("month", 800)]

    # Members: the subscriber, by source and by a search, then their history.
    page.get_by_role("link", name="Members", exact=True).click()
    page.wait_for_url(system.url(f"{NOTES}/members"))
    assert page.get_by_role("link", name=SUBSCRIBER).is_visible()
    page.get_by_label("Source").select_option("comp")
    page.get_by_role("button", name="Show members").click()
    assert page.get_by_text("No members match.").is_visible()
    page.get_by_label("Source").select_option("subscription")
    page.get_by_label("Email or name").fill("sam journ")
    page.get_by_role("button", name="Show members").click()
    page.wait_for_url(re.compile(r"q=sam\+journ"))
    assert page.get_by_role("link", name=SUBSCRIBER).is_visible()
    screenshot(page, "dashboard-members")
    page.get_by_role("link", name=SUBSCRIBER).click()
    assert page.get_by_role("heading", name="Sam Journey", level=1).is_visible()
    history = page.inner_text("main")
    assert (
        "A member now through subscription." in history and "Supporter" in history and "Renews on" in history
    )
    screenshot(page, "dashboard-reader-history")

    # The CSV export of every member.
    page.get_by_role("link", name="Back to the members").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download every member as CSV").click()
    saved = tmp_path / "members.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [(r["email"], r["display_name"], r["sources"]) for r in rows] == [
        (SUBSCRIBER, "Sam Journey", "subscription")
    ]

    # Subscribers, by tier and status.
    page.get_by_role("link", name="Subscribers").click()
    page.get_by_label("Tier").select_option(label="Supporter")
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Show subscribers").click()
    row = page.get_by_role("row", name=re.compile(re.escape(SUBSCRIBER)))
    assert "$5 a month" in row.inner_text() and "Active" in row.inner_text()
    page.get_by_label("Status").select_option("past_due")
    page.get_by_role("button", name="Show subscribers").click()
    assert page.get_by_text("No subscriptions match.").is_visible()
    screenshot(page, "dashboard-subscribers")

    # Comps: give one by email until a day, with a note, then end it.
    page.get_by_role("link", name="Comps").click()
    last_day = (datetime.now(UTC) + timedelta(days=60)).date()
    page.get_by_label("Reader's email").fill(GUEST)
    page.get_by_label("Last day").fill(last_day.isoformat())
    page.get_by_role("textbox", name="Note").fill("guest column in the spring issue")
    page.get_by_role("button", name="Give the comp").click()
    assert f"{GUEST} has a comp through {day(last_day)}." in notice(page)
    comp = page.get_by_role("row", name=re.compile(re.escape(GUEST)))
    assert "guest column in the spring issue" in comp.inner_text()
    screenshot(page, "dashboard-comps")
    comp.get_by_role("button", name=f"End the comp for {GUEST}").click()
    assert f"The comp for {GUEST} is ended" in notice(page)
    assert "Ended on" in page.get_by_role("row", name=re.compile(re.escape(GUEST))).inner_text()

    # Friend links: make one for a member-only story; it opens the story for anyone; revoke it.
    page.get_by_role("link", name="Friend links").click()
    page.get_by_label("Story").fill(STORY)
    page.get_by_role("button", name="Make the link").click()
    assert "Copy it now: it is shown only this once." in notice(page)
    shared = page.get_by_label("The link to share").input_value()
    assert shared.startswith(system.url(f"/stories/{STORY}?friend=fl_")), shared
    screenshot(page, "dashboard-friend-links")
    friend = new_page()
    friend.goto(shared)
    assert shows_full_story(friend)
    hint = shared[-4:]
    page.get_by_role("button", name=f"Revoke the link to {STORY} ending in {hint}").click()
    assert f"ending in {hint} is revoked" in notice(page)
    assert "Revoked" in page.get_by_role("row", name=re.compile(re.escape(STORY))).inner_text()
    # The gateway trusts a resolved link for a short while (30 s), then the story is shut.
    reload_until(friend, shows_paywall, within=45)

    # Back to the charts: the numbers as they stand.
    page.get_by_role("link", name="Overview").click()
    page.wait_for_url(system.url(NOTES))
    assert number(page, "Active members") == "1"  # the comp came and went
    assert number(page, "Churned this month") == "1"
    assert number(page, "Monthly recurring revenue") == "$5"
    assert_charts(page)
    screenshot(page, "dashboard-overview", docs=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(NO_SIDEWAYS_SCROLLING)
    screenshot(page, "dashboard-overview-phone")
    page.set_viewport_size({"width": 1000, "height": 800})
    # Keyboard: past the skip link and the site's links, focus reaches the tabs, and it shows.
    page.keyboard.press("Tab")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.closest('nav.tabs') !== null"):
            break
    focused = page.evaluate(
        "() => [document.activeElement.textContent, getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused == ["Overview", "solid"], focused
