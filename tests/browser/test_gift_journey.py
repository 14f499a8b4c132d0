"""A gift, in a real browser against the real system (`make run`): a reader gives the Gazette's
Supporter tier for a month to a friend by email and pays on the sandbox's Checkout page; the
friend opens the emailed link, signs up with their email, redeems it, and reads a member-only
story. Then the month passes on the sandbox's clock, moved with the form on its home page, which
membership and the gateway follow: a week before the end the friend is emailed an invitation to
subscribe, and at the end the story is behind the paywall again, with no Stripe subscription
involved. The clock only moves forward, so this module has a system of its own."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import System, reload_until, screenshot, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import NewPage

pytestmark = pytest.mark.e2e

BUYER = "gift-buyer@example.com"
FRIEND = "gift-friend@example.com"
CODE_LINK = re.compile(r"https?://\S+/account/gifts/redeem/GIFT-[A-Z0-9-]+")
STORY = "/stories/council-approves-reading-garden"  # a member-only Gazette story


def test_a_reader_gives_a_gift_a_friend_redeems_it_reads_and_it_lapses(
    system_of_its_own: System, new_page: NewPage
) -> None:
    system = system_of_its_own
    page = new_page()
    page.goto(system.url("/account/gifts"))
    assert page.get_by_role("heading", name="Sign in").is_visible()  # sent to sign in, then back
    sign_in(page, system, BUYER)
    page.wait_for_url(system.url("/account/gifts"))
    gazette = page.locator("li.card", has_text="The Tollgate Gazette")
    assert "1 month: $5" in gazette.inner_text() and "3 months: $15" in gazette.inner_text()
    screenshot(page, "gifts", docs=True)
    gazette.get_by_role("link", name="Give Supporter").click()

    assert page.get_by_role("heading", name="Give Supporter").is_visible()
    page.get_by_label("1 month: $5").check()
    page.get_by_label("Their email address").fill(FRIEND)
    page.get_by_label("A message (optional)").fill("Happy reading!")
    screenshot(page, "gift-give", docs=True)
    page.get_by_role("button", name="Pay and give").click()
    page.wait_for_url(f"{system.sandbox}/checkout/**")
    assert page.get_by_text("$5").first.is_visible()
    page.get_by_role("button", name="Pay with 4242 4242 4242 4242").click()
    page.wait_for_url(re.compile(re.escape(system.url("/account/gifts/bought/")) + ".*"))
    assert page.get_by_role("heading", name="Thank you: your gift is ready").is_visible()
    assert f"We have emailed it to {FRIEND}." in page.inner_text("main")
    screenshot(page, "gift-bought", docs=True)

    [mail] = [m for m in system.outbox(FRIEND) if "A gift for you" in m["subject"]]
    assert "Happy reading!" in mail["body"]
    link = CODE_LINK.search(mail["body"])
    assert link

    friend = new_page()
    friend.goto(system.url(STORY))
    assert friend.locator("section.paywall").is_visible()
    friend.goto(link.group(0))
    assert friend.get_by_role("heading", name="A gift: Supporter for 1 month").is_visible()
    friend.get_by_role("link", name="Sign in to redeem").click()
    sign_in(friend, system, FRIEND)
    friend.wait_for_url(link.group(0))
    screenshot(friend, "gift-redeem", docs=True)
    friend.get_by_role("button", name="Redeem my gift").click()
    assert friend.get_by_role("heading", name="It's yours: Supporter").is_visible()
    assert "Nothing renews and nothing is charged." in friend.inner_text("main")
    screenshot(friend, "gift-redeemed", docs=True)

    friend.goto(system.url(STORY))
    assert friend.locator(".story-body.member-only").count() == 1  # the whole story
    assert "free stor" not in friend.locator("article").inner_text()  # through the gift, not an unlock
    friend.goto(system.url("/account"))
    assert "through a gift" in friend.inner_text("main")

    page.goto(system.url("/account/gifts"))
    assert "Redeemed on" in page.locator("table").inner_text()

    # A month passes on the sandbox's clock; membership and the gateway follow it within a second.
    clock = new_page()
    move_clock(clock, system, days=24)  # a week before the gift ends
    reminder = system.mail_with(FRIEND, "Your gift of Supporter ends soon")
    assert "you are not charged" in reminder["body"]
    friend.goto(system.url(STORY))
    assert friend.locator(".story-body.member-only").count() == 1  # still a member for a week
    screenshot(clock, "sandbox-clock", docs=True)

    # Past the end: still signed in (a session in use lives on), the friend now reads as anyone
    # signed in does, with the month's free stories.
    move_clock(clock, system, days=8)
    reload_until(friend, lambda p: "free stories left this month" in p.locator("article").inner_text())
    assert "You have 2 free stories left this month." in friend.locator("article").inner_text()
    friend.goto(system.url("/account"))
    assert "through a gift" not in friend.inner_text("main")
    assert f"Supporter (The Tollgate Gazette) for 1 month, from {BUYER}: ended on" in friend.inner_text(
        "main"
    )
    screenshot(friend, "gift-lapsed", docs=True)


def move_clock(page: Page, system: System, *, days: int) -> None:
    """The sandbox's home page form, as a developer trying Tollgate would use it."""
    page.goto(f"{system.sandbox}/")
    before = page.get_by_role("status").inner_text()
    page.get_by_label("Days to move it forward").fill(str(days))
    page.get_by_role("button", name="Move the clock forward").click()
    page.wait_for_url(f"{system.sandbox}/")
    assert page.get_by_role("status").inner_text() != before
    time.sleep(2.5)  # membership and the gateway read the sandbox's clock every second
