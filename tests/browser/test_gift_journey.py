"""A gift, in a real browser against the real system (`make run`): a reader gives the Gazette's
Supporter tier for 3 months to a friend by email and pays on the sandbox's Checkout page; the
friend opens the emailed link, signs up with their email, redeems it, and reads a member-only
story. (The gift running out is checked at the moment it ends in tests/membership/gifts, with
the clock moved; the services started by `make run` keep the real time.)"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import System, screenshot, sign_in

if TYPE_CHECKING:
    from tests.browser.conftest import NewPage

pytestmark = pytest.mark.e2e

BUYER = "gift-buyer@example.com"
FRIEND = "gift-friend@example.com"
CODE_LINK = re.compile(r"https?://\S+/account/gifts/redeem/GIFT-[A-Z0-9-]+")
STORY = "/stories/council-approves-reading-garden"  # a member-only Gazette story


def test_a_reader_gives_a_gift_and_a_friend_redeems_it_and_reads(system: System, new_page: NewPage) -> None:
    page = new_page()
    page.goto(system.url("/account/gifts"))
    assert page.get_by_role("heading", name="Sign in").is_visible()  # sent to sign in, then back
    sign_in(page, system, BUYER)
    page.wait_for_url(system.url("/account/gifts"))
    gazette = page.locator("li.card", has_text="The Tollgate Gazette")
    assert "3 months: $15" in gazette.inner_text()
    screenshot(page, "gifts", docs=True)
    gazette.get_by_role("link", name="Give Supporter").click()

    assert page.get_by_role("heading", name="Give Supporter").is_visible()
    page.get_by_label("3 months: $15").check()
    page.get_by_label("Their email address").fill(FRIEND)
    page.get_by_label("A message (optional)").fill("Happy reading!")
    screenshot(page, "gift-give", docs=True)
    page.get_by_role("button", name="Pay and give").click()
    page.wait_for_url(f"{system.sandbox}/checkout/**")
    assert page.get_by_text("$15").first.is_visible()
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
    assert friend.get_by_role("heading", name="A gift: Supporter for 3 months").is_visible()
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
