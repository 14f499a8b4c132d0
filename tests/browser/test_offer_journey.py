"""Offers in a real browser against the real system (`make run`): the Gazette's publisher makes a
campaign offer and a retention offer in the dashboard; a reader comes through the offer's link,
sees the discounted price on the paywall and pays it on the sandbox's Checkout; a member who
cancels is offered to stay at half price, stays, and keeps reading, billed the lower price."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import pytest
import stripe

from membership.demo import DEMO_OWNER
from tests.browser.helpers import System, screenshot, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import NewPage

pytestmark = pytest.mark.e2e

DASHBOARD = "/account/publications/the-gazette"
STORY = "/stories/the-night-press"  # member-only, in the Gazette
DISCOUNTED = "$2.50 a month for 3 months, then $5 a month"
GAZETTE_MEMBER_ONLY = [
    "/stories/the-night-press",
    "/stories/letters-from-the-bindery",
    "/stories/bookmobile-returns",
    "/stories/council-approves-reading-garden",
]


def sandbox_sdk(system: System) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_" + uuid.uuid4().hex, base_addresses={"api": system.sandbox}, max_network_retries=0
    )


def invoices_of(system: System, email: str) -> list[int]:
    """What the reader's Stripe invoices asked for, oldest first."""
    sdk = sandbox_sdk(system)
    [customer] = sdk.v1.customers.list({"email": email}).data
    listed = sdk.v1.invoices.list({"customer": customer.id, "limit": 20}).data
    return [i.amount_due for i in sorted(listed, key=lambda i: i.created)]


def make_offer(page: Page, name: str, code: str, audience: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("radio", name="A percentage off").check()
    page.get_by_label("Percentage off", exact=True).fill("50")
    page.get_by_role("radio", name="For some months").check()
    page.get_by_label("Months, for some months", exact=True).fill("3")
    page.get_by_role("radio", name=audience).check()
    page.get_by_role("button", name="Make the offer").click()
    page.wait_for_load_state()


def test_an_offer_link_a_discounted_checkout_and_a_member_who_stays(
    system: System, new_page: NewPage
) -> None:
    publisher = new_page()
    publisher.goto(system.url(f"{DASHBOARD}/offers"))
    sign_in(publisher, system, DEMO_OWNER)
    publisher.wait_for_url(system.url(f"{DASHBOARD}/offers"))
    make_offer(publisher, "Spring sale", "SPRING-50", "Anyone with the link")
    make_offer(publisher, "Stay with us", "STAY-50", "Members cancelling (offered instead; no link)")
    listed = publisher.locator("table").inner_text()
    assert "SPRING-50" in listed and "STAY-50" in listed
    screenshot(publisher, "dashboard-offers", docs=True)

    # A reader comes through the link: the paywall prices the tier as they will pay it.
    reader = new_page()
    reader.goto(system.url(f"{STORY}?offer=SPRING-50"))
    button = reader.get_by_role(
        "button", name=re.compile(re.escape(f"Subscribe with Spring sale: {DISCOUNTED}"))
    )
    assert button.is_visible()
    screenshot(reader, "paywall-offer", docs=True)
    # Its landing page: sign in there (a reader signed in with free stories left would read this
    # story free, so the paywall's button is for readers who have used them), then subscribe.
    reader.goto(system.url("/account/offers/SPRING-50"))
    reader.get_by_role("link", name="Sign in to take the offer").click()
    email = "offer.reader@example.com"
    sign_in(reader, system, email)
    reader.wait_for_url(re.compile(re.escape(system.url("/account/offers/SPRING-50")) + ".*"))
    assert DISCOUNTED in reader.inner_text("main")
    screenshot(reader, "offer-landing", docs=True)
    reader.get_by_role("button", name=f"Subscribe to Supporter: {DISCOUNTED}").click()
    reader.wait_for_url(f"{system.sandbox}/checkout/**")
    assert "$2.50" in reader.inner_text("body")
    reader.get_by_role("button", name="Pay with 4242 4242 4242 4242").click()
    reader.wait_for_url(re.compile(r".*checkout=success.*"))
    system.webhooks_delivered()
    reader.goto(system.url(STORY))
    assert reader.locator(".story-body.member-only").count() == 1
    assert invoices_of(system, email) == [250]  # the first month at half price, on the invoice

    # A member cancels: asked why, offered to stay at half price for three months, and stays.
    member = new_page()
    member.goto(system.url(STORY))
    member.locator("section.paywall").get_by_role("link", name="Sign in").click()
    member_email = "staying.member@example.com"
    sign_in(member, system, member_email)
    for story in GAZETTE_MEMBER_ONLY:  # the three free stories, then the paywall
        member.goto(system.url(story))
    member.get_by_role("button", name="Subscribe: $5 a month").click()
    member.wait_for_url(f"{system.sandbox}/checkout/**")
    member.get_by_role("button", name="Pay with 4242 4242 4242 4242").click()
    member.wait_for_url(re.compile(r".*checkout=success.*"))
    system.webhooks_delivered()
    member.goto(system.url("/account"))
    member.get_by_role("button", name="Cancel at period end for Supporter").click()
    assert member.get_by_role("heading", name="Before you go").is_visible()
    stay = member.get_by_role("button", name=re.compile(r"^Stay with "))
    assert "$2.50 a month for 3 months" in stay.inner_text()
    member.get_by_label("It costs too much").check()
    screenshot(member, "cancel-before-you-go", docs=True)
    stay.click()
    member.wait_for_url(system.url("/account?notice=saved"))
    assert "You're staying" in member.inner_text("main")
    screenshot(member, "stayed", docs=True)
    member.goto(system.url(STORY))
    assert member.locator(".story-body.member-only").count() == 1  # still reading

    # The discount is on the subscription at Stripe, so the renewals are billed the lower price
    # (tests/membership/offers lets the sandbox's clock run to the next invoice; the browser
    # journeys share one sandbox, whose clock they leave alone).
    sdk = sandbox_sdk(system)
    [customer] = sdk.v1.customers.list({"email": member_email}).data
    [subscription] = sdk.v1.subscriptions.list({"customer": customer.id, "expand": ["data.discounts"]}).data
    [discount] = subscription.discounts
    assert not isinstance(discount, str) and discount.source.coupon is not None
    coupon = sdk.v1.coupons.retrieve(str(discount.source.coupon))
    assert (coupon.percent_off, coupon.duration, coupon.duration_in_months) == (50, "repeating", 3)
    assert not subscription.cancel_at_period_end

    publisher.goto(system.url(f"{DASHBOARD}/cancellations"))
    assert "It costs too much" in publisher.inner_text("main")
