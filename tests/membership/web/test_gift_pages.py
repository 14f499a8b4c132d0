"""The gift pages, as a reader and a publisher use them in a browser: plain forms that answer 303,
a page with a sentence for every mistake, and Stripe Checkout (the sandbox) in between."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.membership.conftest import GOOD_CARD, Stack, keys
from tests.membership.gifts.test_gifts import buy, giftable_tier
from tests.membership.web.account.test_account_pages import assert_page, text_of
from tests.membership.web.dashboard.test_dashboard_pages import assert_accessible


async def test_a_reader_gives_a_gift_through_the_pages_and_sees_its_link(stack: Stack) -> None:
    _, _, tier = await giftable_tier(stack, [1, 3])
    signed_out = httpx.AsyncClient(base_url=stack.membership)
    to_sign_in = await signed_out.get("/account/gifts")
    assert to_sign_in.status_code == 303
    assert to_sign_in.headers["location"] == "/auth/sign-in?next=%2Faccount%2Fgifts"

    buyer = await stack.reader()
    listing = assert_page(
        await buyer.get("/account/gifts"), 200, "Give a membership", "You have not given a gift yet."
    )
    assert "1 month: $5" in listing and "3 months: $15" in listing
    form = await buyer.get(f"/account/gifts/give/{tier['id']}")
    assert_page(form, 200, "How long", "Their email address", "Pay and give")
    assert_accessible(form.text)

    mistake = await buyer.post(
        f"/account/gifts/give/{tier['id']}", data={"choice": "3:usd", "recipient_email": "nobody-at-all"}
    )
    words = assert_page(mistake, 400, "That email address is not valid")
    assert 'value="nobody-at-all"' in mistake.text and "Pay and give" in words
    assert (await buyer.get("/api/me/gifts")).json() == []  # nothing was recorded

    started = await buyer.post(f"/account/gifts/give/{tier['id']}", data={"choice": "3:usd"})
    assert started.status_code == 303
    session_id = re.search(r"cs_[A-Za-z0-9_]+", started.headers["location"])
    assert session_id
    assert (await buyer.get("/api/me/gifts")).json() == []  # not paid yet: not among the reader's gifts
    await stack.control("post", f"/_sandbox/checkout/{session_id.group(0)}/pay", json={"card": GOOD_CARD})
    await stack.settle()
    [gift] = (await buyer.get("/api/me/gifts")).json()
    back = await buyer.get(f"/account/gifts/bought/{gift['id']}", params={"session_id": session_id.group(0)})
    assert_page(back, 200, "Thank you: your gift is ready", "Pass this link on", gift["code"], "$15")
    assert_page(await buyer.get("/account/gifts"), 200, "Not redeemed yet", gift["code"])

    stranger = await stack.reader()
    assert_page(await stranger.get(f"/account/gifts/bought/{gift['id']}"), 404, "no gift by that id")


async def test_a_recipient_redeems_on_the_page_once(stack: Stack) -> None:
    _, slug, tier = await giftable_tier(stack)
    gift = await buy(stack, await stack.reader(), tier)
    link = f"/account/gifts/redeem/{gift['code']}"
    anonymous = httpx.AsyncClient(base_url=stack.membership)
    page = assert_page(await anonymous.get(link), 200, "A gift: Members for 3 months", "Sign in to redeem")
    assert "/auth/sign-in?next=%2Faccount%2Fgifts%2Fredeem%2FGIFT-" in (await anonymous.get(link)).text
    assert "Redeem my gift" not in page

    recipient = await stack.reader()
    assert_page(await recipient.get(link), 200, "Redeem my gift")
    redeemed = await recipient.post(link)
    assert_page(redeemed, 200, "It's yours: Members", "Nothing renews and nothing is charged.")
    assert f"pub:{slug}" in await keys(recipient)
    assert_page(await recipient.get(link), 200, "This gift has already been redeemed.")
    assert_page(await (await stack.reader()).post(link), 409, "already been redeemed")
    assert_page(
        await recipient.get("/account/gifts/redeem/GIFT-0000-0000-0000"), 404, "No gift has this code"
    )


async def test_a_gift_form_from_another_site_is_refused(stack: Stack) -> None:
    _, _, tier = await giftable_tier(stack)
    buyer = await stack.reader()
    refused = await buyer.post(
        f"/account/gifts/give/{tier['id']}",
        data={"choice": "3:usd"},
        headers={"origin": "https://evil.example"},
    )
    assert_page(refused, 403, "only be sent from a page of this site")
    assert (await buyer.get("/api/me/gifts")).json() == []


async def test_the_publisher_sets_gift_lengths_and_sees_the_gifts(stack: Stack) -> None:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug)
    base = f"/account/publications/{slug}"
    tiers = await owner.get(f"{base}/tiers")
    assert_page(tiers, 200, "Gifts: not offered")
    assert_accessible(tiers.text)
    assert 'name="months" value="12"' in tiers.text
    saved = await owner.post(
        f"{base}/tiers/{tier['id']}/gifts", data={"months": ["1", "12"], "valid_days": "90"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{base}/tiers"
    assert "can be given for 1, 12 month(s)" in text_of(await owner.get(saved.headers["location"]))
    options = (await owner.get(f"/api/tiers/{tier['id']}/gift-options")).json()
    assert [o["months"] for o in options] == [1, 12]
    bad = await owner.post(f"{base}/tiers/{tier['id']}/gifts", data={"months": ["1"], "valid_days": "3"})
    assert_page(bad, 400, "redeemable for 7 to 1,095 days")

    made: dict[str, Any] = (await owner.get(f"/api/publications/{slug}/tiers")).json()[0]
    assert made["gift_months"] == [1, 12] and made["gift_valid_days"] == 90
    gift = await buy(stack, await stack.reader(), made, months=12)
    gifts = assert_page(
        await owner.get(f"{base}/gifts"), 200, "Gift revenue: $60 ", "Members, a year", "Not redeemed yet"
    )
    assert gift["recipient_email"] is None and "Passed on by the buyer" in gifts
    api = (await owner.get(f"/api/publications/{slug}/gifts")).json()
    assert [(g["months"], g["amount"], g["state"]) for g in api] == [(12, 6000, "paid")]
