"""The offer pages: the dashboard's Offers section (make, list, archive, mistakes re-shown with what
was typed) and an offer's landing page (its words, a Subscribe form that checks out through the
offer at Stripe, ended offers, and no page for a retention offer or an unknown code)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from membership.offers.models import Offer
from tests.membership.conftest import GOOD_CARD, Stack, keys
from tests.membership.offers.test_offers import make_offer, tier_with_owner
from tests.membership.tokens.test_tokens import db
from tests.membership.web.account.test_account_pages import assert_page, text_of
from tests.membership.web.dashboard.test_dashboard_pages import assert_accessible

HALF_FOR_3_MONTHS = "$2.50 a month for 3 months, then $5 a month"


def offer_form(tier: dict[str, Any], code: str, **fields: str) -> dict[str, str]:
    return {
        "tier_id": tier["id"],
        "name": "Spring sale",
        "code": code,
        "kind": "percent_off",
        "percent_off": "50",
        "currency": "usd",
        "duration": "repeating",
        "duration_in_months": "3",
        "audience": "campaign",
    } | fields


def code_for(slug: str, prefix: str = "SPRING") -> str:
    return f"{prefix}-{slug[-6:].upper()}"


async def test_the_dashboard_makes_lists_and_archives_offers(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    here = f"/account/publications/{slug}/offers"
    empty = await owner.get(here)
    assert_page(empty, 200, "Offers", "No offers yet.", "Make an offer", "Anyone with the link")
    assert_accessible(empty.text)
    assert f'href="/account/publications/{slug}/cancellations"' in empty.text  # the tabs

    # A mistake the form catches, and one the service refuses: the sentence, and what was typed.
    code = code_for(slug)
    typo = await owner.post(here, data=offer_form(tier, code, kind="amount_off", amount_off="two dollars"))
    assert_page(typo, 400, "The amount off “two dollars” is not an amount; write it like 1.00.")
    assert (
        'value="two dollars"' in typo.text
        and 'id="kind-amount_off" name="kind" value="amount_off" checked' in (typo.text)
    )
    too_much = await owner.post(here, data=offer_form(tier, code, percent_off="150", name="Too kind"))
    assert_page(too_much, 400, "A percentage off is between 1 and 100.")
    assert 'value="150"' in too_much.text and 'value="Too kind"' in too_much.text
    assert_accessible(too_much.text)
    assert (await owner.get(f"/api/publications/{slug}/offers")).json() == []  # nothing was made

    made = await owner.post(here, data=offer_form(tier, code.lower()))
    assert made.status_code == 303 and made.headers["location"] == here
    link = f"{stack.settings.public_url}/account/offers/{code}"
    listed = await owner.get(here)
    words = assert_page(
        listed,
        200,
        f"The offer Spring sale is made: {HALF_FOR_3_MONTHS}. Share its link.",
        f"Spring sale {code}",
        HALF_FOR_3_MONTHS,
        "Anyone with the link",
        "0 (0 live)",
        "$0",
        "No end date",
        "Open",
        "before the offer's discount",
    )
    assert words.count(HALF_FOR_3_MONTHS) >= 2  # the notice and the row
    assert f'value="{link}"' in listed.text  # the landing link, to copy
    assert_accessible(listed.text)

    again = await owner.post(here, data=offer_form(tier, code, name="Again"))
    assert_page(again, 409, f"The code {code} is taken; choose another.")
    assert 'value="Again"' in again.text

    # A retention offer has no link; a last day is shown whole.
    last_day = (datetime.now(UTC) + timedelta(days=40)).date()
    stay = await owner.post(
        here,
        data=offer_form(
            tier,
            code_for(slug, "STAY"),
            name="Please stay",
            audience="retention",
            duration="forever",
            percent_off="20",
            last_day=last_day.isoformat(),
        ),
    )
    assert stay.status_code == 303
    listed = await owner.get(here)
    assert_page(
        listed,
        200,
        "members of Members who cancel are offered $4 a month (instead of $5 a month) to stay.",
        "Members cancelling (offered instead; no link)",
        f"Through {last_day.day} {last_day:%B %Y}",
    )
    assert f"/account/offers/{code_for(slug, 'STAY')}" not in listed.text

    [_, spring] = (await owner.get(f"/api/publications/{slug}/offers")).json()
    assert spring["offer"]["code"] == code
    forged = await owner.post(
        f"{here}/{spring['offer']['id']}/archive", headers={"origin": "https://x.example"}
    )
    assert_page(forged, 403, "only be sent from a page of this site")
    archived = await owner.post(f"{here}/{spring['offer']['id']}/archive")
    assert archived.status_code == 303
    words = assert_page(await owner.get(here), 200, "The offer Spring sale is archived", "Archived on")
    assert words.count("Archive the offer") == 1  # only the retention offer can still be archived
    unknown = await owner.post(f"{here}/not-an-id/archive")
    assert_page(unknown, 404, "There is no such offer.")

    stranger = await stack.reader()
    assert_page(await stranger.get(here), 403, "Only readers on the staff")


async def test_the_landing_page_prices_the_tier_and_checks_out_through_the_offer(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack, description="Every story, first.")
    offer = await make_offer(owner, slug, tier, description="Half price for a season.")
    landing = f"/account/offers/{offer['code'].lower()}"

    anonymous = httpx.AsyncClient(base_url=stack.membership)
    page = await anonymous.get(landing)
    words = assert_page(
        page,
        200,
        "Spring sale",
        "Half price for a season.",
        "Members",
        "Every story, first.",
        HALF_FOR_3_MONTHS,
    )
    assert "Sign in to take the offer" in words and 'action="/account/checkout"' not in page.text
    assert f"/auth/sign-in?next=%2Faccount%2Foffers%2F{offer['code']}" in page.text  # back here after
    assert_accessible(page.text)

    reader = await stack.reader()
    page = await reader.get(landing)
    assert_page(page, 200, HALF_FOR_3_MONTHS, f"Subscribe to Members: {HALF_FOR_3_MONTHS}")
    assert 'action="/account/checkout"' in page.text
    assert f'name="offer" value="{offer["code"]}"' in page.text
    assert f'name="price_id" value="{tier["prices"][0]["id"]}"' in page.text
    assert 'name="return_to" value="/"' in page.text
    assert_accessible(page.text)
    back = await reader.get(landing, params={"return_to": "/stories/spring"})
    assert 'name="return_to" value="/stories/spring"' in back.text
    elsewhere = await reader.get(landing, params={"return_to": "https://evil.example/"})
    assert 'name="return_to" value="/"' in elsewhere.text and "evil" not in elsewhere.text

    # The form as the page has it: 303 to Stripe Checkout, where the first month is half price.
    form = dict(re.findall(r'name="(price_id|offer|return_to)" value="([^"]*)"', page.text))
    started = await reader.post("/account/checkout", data=form)
    assert started.status_code == 303, started.text
    session_id = re.search(r"cs_[A-Za-z0-9_]+", started.headers["location"])
    assert session_id and started.headers["location"].startswith(stack.sandbox)
    session = await stack.sdk().v1.checkout.sessions.retrieve_async(session_id.group(0))
    assert session.amount_total == 250
    await stack.control("post", f"/_sandbox/checkout/{session_id.group(0)}/pay", json={"card": GOOD_CARD})
    await stack.settle()
    assert f"pub:{slug}" in await keys(reader)

    # On the dashboard: one redemption, live, at the $5 list price.
    listed = await owner.get(f"/account/publications/{slug}/offers")
    assert_page(listed, 200, "1 (1 live)", "$5")

    # A new-readers offer tells a member at once, not after a click.
    newcomers = await make_offer(owner, slug, tier, code=code_for(slug, "NEW"), audience="new")
    page = await reader.get(f"/account/offers/{newcomers['code']}")
    assert_page(page, 200, "This offer is for readers new to the publication.")
    assert 'action="/account/checkout"' not in page.text


async def test_an_ended_offer_says_so_and_others_are_not_found(stack: Stack) -> None:
    owner, slug, tier = await tier_with_owner(stack)
    archived = await make_offer(owner, slug, tier)
    await owner.post(f"/api/publications/{slug}/offers/{archived['id']}/archive")
    past = await make_offer(owner, slug, tier, code=code_for(slug, "PAST"))
    async with db(stack.database_url) as session:  # its last day has gone by
        yesterday = datetime.now(UTC) - timedelta(days=1)
        await session.execute(update(Offer).where(Offer.code == past["code"]).values(ends_at=yesterday))
    reader = await stack.reader()
    for code in (archived["code"], past["code"]):
        page = await reader.get(f"/account/offers/{code}")
        words = assert_page(page, 200, "Spring sale", "This offer has ended.")
        assert "Subscribe" not in words and "/account/checkout" not in page.text
        assert_accessible(page.text)

    retention = await make_offer(owner, slug, tier, code=code_for(slug, "STAY"), audience="retention")
    for code in (retention["code"], "NOPE-NOPE"):
        page = await reader.get(f"/account/offers/{code}")
        assert_page(page, 404, "No offer has this code.", "Back to my membership")
        assert "Please stay" not in text_of(page)
