"""A reader's whole journey in a real browser, against `make run`: the paywall, signing in with the
emailed link, free stories counting down, the paywall again, checkout on the Stripe sandbox's page,
the story in full, "My membership", the billing portal, cancelling and resuming, and signing out
everywhere. Screenshots of the key pages are kept (see tests/browser/helpers.py)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import System, screenshot, sign_in
from tollgate_common.words import day

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import NewPage

pytestmark = pytest.mark.e2e

READER = "reader.journey@example.com"
# The Gazette's member-only stories; its free allowance is three a month.
FIRST, SECOND, THIRD, FOURTH = (
    "the-night-press",
    "letters-from-the-bindery",
    "bookmobile-returns",
    "council-approves-reading-garden",
)
RENEWS = re.compile(r"Renews on (\d{1,2} \w+ \d{4})\.")


def renewal_day(text: str) -> date:
    """The renewal date a page states, as a date: two services' pages are compared by date, not by text."""
    found = RENEWS.search(text)
    assert found, text
    return datetime.strptime(found.group(1), "%d %B %Y").date()


def shows_paywall(page: Page) -> bool:
    return (
        page.locator("section.paywall").count() == 1 and page.locator(".story-body.member-only").count() == 0
    )


def shows_full_story(page: Page) -> bool:
    return (
        page.locator(".story-body.member-only").count() == 1 and page.locator("section.paywall").count() == 0
    )


def notice(page: Page) -> str:
    return page.get_by_role("status").first.inner_text()


def test_a_reader_signs_in_reads_free_stories_subscribes_manages_and_signs_out(
    system: System, new_page: NewPage
) -> None:
    page = new_page()

    # A member-only story, not signed in: the teaser and the paywall.
    page.goto(system.url(f"/stories/{FIRST}"))
    assert shows_paywall(page)
    assert page.get_by_text("Member-only story", exact=True).is_visible()
    paywall = page.locator("section.paywall")
    assert paywall.get_by_role("heading", name="This story is for members").is_visible()
    assert paywall.get_by_role("button", name=re.compile(r"Subscribe: \$5 a month")).is_visible()
    screenshot(page, "paywall", docs=True)

    # Sign in from the paywall with the emailed link; back on the story, read with a free story.
    paywall.get_by_role("link", name="Sign in").click()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    screenshot(page, "sign-in")
    sign_in(page, system, READER)
    assert page.url == system.url(f"/stories/{FIRST}")
    assert shows_full_story(page)
    assert "You have 2 free stories left this month." in notice(page)
    screenshot(page, "story-unlocked", docs=True)

    # Two more free stories, and the count falls.
    page.goto(system.url(f"/stories/{SECOND}"))
    assert shows_full_story(page)
    assert "You have 1 free story left this month." in notice(page)
    page.goto(system.url(f"/stories/{THIRD}"))
    assert shows_full_story(page)
    assert "You have 0 free stories left this month." in notice(page)
    # Reading one of them again this month is free.
    page.goto(system.url(f"/stories/{FIRST}"))
    assert shows_full_story(page)
    assert "reading it again is free" in notice(page)

    # The fourth: the paywall again.
    page.goto(system.url(f"/stories/{FOURTH}"))
    assert shows_paywall(page)
    assert page.get_by_role("heading", name="You have read your free stories this month").is_visible()
    screenshot(page, "paywall-free-stories-used")

    # Subscribe: the Stripe sandbox's checkout page, the test card, and back on the same story.
    page.get_by_role("button", name="Subscribe: $5 a month").click()
    page.wait_for_url(f"{system.sandbox}/checkout/**")
    assert page.get_by_role("heading", name="Checkout").is_visible()
    assert page.get_by_text("Due today").is_visible()
    screenshot(page, "checkout", docs=True)
    page.get_by_role("button", name="Pay with 4242 4242 4242 4242").click()
    page.wait_for_url(re.compile(re.escape(system.url(f"/stories/{FOURTH}")) + r"\?checkout=success"))
    # The gateway confirms the checkout with membership, which asks Stripe: no reload, no waiting
    # for the webhook.
    assert shows_full_story(page)
    assert "your membership is active" in notice(page)
    assert "free stor" not in page.locator("article").inner_text()  # a member spends no free story
    system.webhooks_delivered()
    screenshot(page, "story-subscribed")

    # My membership (the link in the story page's header): the tier, the renewal date, this device.
    page.locator("header").get_by_role("link", name="My membership").click()
    page.wait_for_url(system.url("/account"))
    assert page.get_by_role("heading", name="My membership", level=1).is_visible()
    subscription = page.locator(".subscription")
    assert subscription.get_by_role("heading", name="Supporter").is_visible()
    details = subscription.inner_text()
    assert "The Tollgate Gazette · $5 a month" in details and "Active" in details
    renews = renewal_day(details)
    main = page.inner_text("main")
    assert "Every member-only story in The Tollgate Gazette, through your subscription." in main
    assert "The Tollgate Gazette: 0 of 3 left (3 read)." in main
    devices = page.locator(".session")
    assert devices.count() == 1 and "(this device)" in devices.first.inner_text()
    screenshot(page, "my-membership", docs=True)
    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scrolling = "() => document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_sideways_scrolling)
    screenshot(page, "my-membership-phone", docs=True)
    page.set_viewport_size({"width": 1000, "height": 800})
    # Keyboard: the first Tab reaches the skip link, and focus is visible (after the screenshots).
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => [document.activeElement.textContent, getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused == ["Skip to the content", "solid"], focused
    page.evaluate("() => document.activeElement.blur()")

    # Manage billing: the sandbox's portal, and back.
    page.get_by_role("button", name="Manage billing").click()
    page.wait_for_url(f"{system.sandbox}/portal/**")
    assert page.get_by_role("heading", name="Billing portal").is_visible()
    assert renewal_day(page.inner_text("body")) == renews
    screenshot(page, "billing-portal")
    page.get_by_role("link", name="Return to the site").click()
    page.wait_for_url(system.url("/account"))

    # Cancel at period end: first why (optional), then cancel; access stays until then.
    page.get_by_role("button", name="Cancel at period end for Supporter").click()
    page.get_by_role("heading", name="Before you go").wait_for()
    page.get_by_label("I don't read enough to keep it").check()
    page.get_by_role("button", name="Cancel at period end").click()
    page.wait_for_url(system.url("/account?notice=cancelled"))
    assert "You keep access until then" in notice(page)
    assert f"Ends on {day(renews)}. You keep access until then." in page.locator(".subscription").inner_text()
    screenshot(page, "my-membership-cancelled")
    page.goto(system.url(f"/stories/{FOURTH}"))
    assert shows_full_story(page)

    # Resume: it renews as before.
    page.goto(system.url("/account"))
    page.get_by_role("button", name="Resume Supporter").click()
    page.wait_for_url(system.url("/account?notice=resumed"))
    assert "it renews as before" in notice(page)
    assert renewal_day(page.locator(".subscription").inner_text()) == renews

    # Sign out everywhere: the story is shut again.
    page.get_by_role("button", name="Sign out everywhere").click()
    page.wait_for_url(system.url("/account/signed-out?everywhere=true"))
    assert "signed out on every device" in notice(page)
    page.goto(system.url(f"/stories/{FOURTH}"))
    assert shows_paywall(page)
    page.goto(system.url("/account"))
    page.wait_for_url(re.compile(re.escape(system.url("/auth/sign-in")) + r"\?next=%2Faccount"))
