"""Cancelling from "My membership": the "Before you go" page (a reason, a note, the tier's retention
offer), cancelling with a reason, staying at the offer's price (the next invoice is discounted at
Stripe, the sandbox), and the dashboard's Cancellations section counting why."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from membership.subscriptions.models import Subscription
from tests.membership.conftest import Stack, keys, subscriptions
from tests.membership.offers.test_offers import make_offer, tier_with_owner
from tests.membership.tokens.test_tokens import db
from tests.membership.web.account.test_account_pages import assert_page, text_of
from tests.membership.web.dashboard.test_dashboard_pages import assert_accessible

HALF_FOR_3_MONTHS = "$2.50 a month for 3 months, then $5 a month"


async def member_of(
    stack: Stack, **tier: Any
) -> tuple[httpx.AsyncClient, str, dict[str, Any], httpx.AsyncClient]:
    """An owner, their publication and tier, and a member with an active subscription to it."""
    owner, slug, made = await tier_with_owner(stack, **tier)
    member = await stack.reader()
    await stack.subscribe(member, made["prices"][0]["id"])
    return owner, slug, made, member


async def only_subscription(member: httpx.AsyncClient) -> dict[str, Any]:
    [sub] = await subscriptions(member)
    assert sub["status"] == "active", sub
    return sub


async def test_cancelling_asks_why_and_records_the_reason(stack: Stack) -> None:
    owner, slug, _, member = await member_of(stack, name="Supporter")
    sub = await only_subscription(member)
    cancel = f"/account/subscriptions/{sub['id']}/cancel"

    asked = await member.post(cancel)
    words = assert_page(
        asked,
        200,
        "Before you go",
        "Cancelling Supporter stops it renewing",
        "Why are you cancelling? (optional)",
        "I'd rather not say",
        "It costs too much",
        "I don't read enough to keep it",
        "Something else",
        "Cancel at period end",
        "Keep my subscription as it is",
    )
    assert "Stay with" not in words  # the tier has no retention offer
    assert 'id="reason-none" name="reason" value="" checked' in asked.text
    assert asked.headers["cache-control"] == "no-store"
    assert_accessible(asked.text)
    assert (await only_subscription(member))["cancel_at_period_end"] is False  # only asked

    # A reason that is not on the list, or a note too long: the page again, with what was typed.
    bad = await member.post(cancel, data={"confirm": "yes", "reason": "bored", "note": "Too busy lately"})
    assert_page(bad, 400, "That is not one of the reasons on offer.", "Before you go")
    assert "Too busy lately</textarea>" in bad.text
    long = await member.post(cancel, data={"confirm": "yes", "reason": "not_reading", "note": "x" * 1001})
    assert_page(long, 400, "The note is 1001 characters; at most 1000 fit.")
    assert 'id="reason-not_reading" name="reason" value="not_reading" checked' in long.text
    assert_accessible(long.text)
    assert (await only_subscription(member))["cancel_at_period_end"] is False

    done = await member.post(
        cancel, data={"confirm": "yes", "reason": "not_reading", "note": "Too busy lately"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/account?notice=cancelled"
    assert_page(await member.get(done.headers["location"]), 200, "You keep access until then")
    assert (await only_subscription(member))["cancel_at_period_end"] is True
    assert f"pub:{slug}" in await keys(member)  # until the period's end

    page = await owner.get(f"/account/publications/{slug}/cancellations")
    words = assert_page(
        page,
        200,
        "Why members cancelled",
        "1 member asked; 0 stayed with the retention offer, of 0 shown it.",
        "I don't read enough to keep it: 1 member, 0 of them stayed.",  # the chart's description
        "I don't read enough to keep it 1 0",  # the table
        "Supporter I don't read enough to keep it Too busy lately Cancelled at period end",
    )
    assert "<svg" in page.text and 'role="img"' in page.text
    assert "No member has cancelled yet" not in words
    assert_accessible(page.text)


async def test_a_retention_offer_keeps_a_member_at_half_price_once(stack: Stack) -> None:
    owner, slug, tier, member = await member_of(stack)
    offer = await make_offer(
        owner, slug, tier, code=f"STAY-{slug[-6:].upper()}", name="Stay with us", audience="retention"
    )
    sub = await only_subscription(member)
    cancel = f"/account/subscriptions/{sub['id']}/cancel"
    stay = f"/account/subscriptions/{sub['id']}/stay"

    asked = await member.post(cancel)
    assert_page(
        asked, 200, "Before you go", f"Stay with {HALF_FOR_3_MONTHS}", "Stay with us", "Cancel at period end"
    )
    assert f'formaction="{stay}"' in asked.text
    assert_accessible(asked.text)

    # The Stay button sends the same form's reason and note.
    bad = await member.post(stay, data={"confirm": "yes", "reason": "bored"})
    assert_page(bad, 400, "That is not one of the reasons on offer.", f"Stay with {HALF_FOR_3_MONTHS}")
    stayed = await member.post(
        stay, data={"confirm": "yes", "reason": "too_expensive", "note": "tight month"}
    )
    assert stayed.status_code == 303 and stayed.headers["location"] == "/account?notice=saved"
    assert_page(
        await member.get(stayed.headers["location"]),
        200,
        f"You're staying with Members: {HALF_FOR_3_MONTHS}, from your next invoice.",
    )
    await stack.settle()
    sub = await only_subscription(member)
    assert not sub["cancel_at_period_end"] and f"pub:{slug}" in await keys(member)

    async with db(stack.database_url) as session:
        remote_id = await session.scalar(
            select(Subscription.stripe_subscription_id).where(Subscription.id == sub["id"])
        )
    await stack.advance(31)  # the next invoice is half price
    invoices = await stack.sdk().v1.invoices.list_async({"subscription": remote_id, "limit": 5})
    assert [i.amount_due for i in invoices.data] == [250, 500]  # newest first

    # Once a year: the next time, no offer; staying is refused with a page.
    again = await member.post(cancel)
    assert "Stay with" not in assert_page(again, 200, "Before you go")
    refused = await member.post(stay, data={"reason": ""})
    assert_page(refused, 409, "There is no offer to take on this subscription now.")
    done = await member.post(cancel, data={"confirm": "yes", "reason": "not_reading"})
    assert done.status_code == 303

    page = await owner.get(f"/account/publications/{slug}/cancellations")
    words = assert_page(
        page,
        200,
        "2 members asked; 1 stayed with the retention offer, of 1 shown it.",
        "It costs too much 1 1",
        "I don't read enough to keep it 1 0",
        "It costs too much tight month Stayed with the offer Stay with us",
        "I don't read enough to keep it Cancelled at period end",
        "1 member, 1 stayed",  # the value on the bar
    )
    assert words.index("I don't read enough to keep it Cancelled") < words.index("It costs too much tight")
    assert_accessible(page.text)
    assert offer["audience"] == "retention"


async def test_cancel_and_stay_from_another_site_are_refused(stack: Stack) -> None:
    owner, slug, tier, member = await member_of(stack)
    await make_offer(owner, slug, tier, code=f"STAY-{slug[-6:].upper()}", audience="retention")
    sub = await only_subscription(member)
    for action in ("cancel", "stay"):
        forged = await member.post(
            f"/account/subscriptions/{sub['id']}/{action}",
            data={"confirm": "yes", "reason": "too_expensive"},
            headers={"origin": "https://evil.example"},
        )
        assert_page(forged, 403, "This form may only be sent from a page of this site.")
    assert (await only_subscription(member))["cancel_at_period_end"] is False
    page = await owner.get(f"/account/publications/{slug}/cancellations")
    assert_page(page, 200, "No member has cancelled yet.", "None yet.")
    assert "<svg" not in page.text
    # Someone else's subscription: not found, on either form.
    stranger = await stack.reader()
    for action in ("cancel", "stay"):
        answer = await stranger.post(f"/account/subscriptions/{sub['id']}/{action}")
        assert_page(answer, 404, "No such subscription.")
    assert "Before you go" not in text_of(answer)
