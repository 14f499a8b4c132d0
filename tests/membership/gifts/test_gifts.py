"""Gifts end to end: bought through Stripe Checkout (a one-time payment in the sandbox), settled by
the webhook or the buyer's return, delivered by email (now or on a chosen day), redeemed once, and
undone by a refund. Real membership and sandbox over HTTP, real webhooks, SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import time_machine
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.db import alchemy_config
from membership.gifts.models import Gift, GiftState
from membership.gifts.worker import GiftMailer
from membership.grants.services import GrantService
from membership.lib.stripe_client import StripeApi
from membership.subscriptions.reconcile import reconcile_all
from tests.membership.conftest import GOOD_CARD, Stack, keys, subscriptions
from tollgate_common import clock
from tollgate_common.words import day

CODE = re.compile(r"/account/gifts/redeem/(GIFT-[A-Z0-9-]+)")


async def giftable_tier(
    stack: Stack, months: list[int] | None = None
) -> tuple[httpx.AsyncClient, str, dict[str, Any]]:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug)
    made = await owner.post(
        f"/api/publications/{slug}/tiers/{tier['id']}/gifts", json={"months": months or [1, 3, 12]}
    )
    assert made.status_code == 200, made.text
    return owner, slug, made.json()


async def buy(
    stack: Stack, buyer: httpx.AsyncClient, tier: dict[str, Any], months: int = 3, **fields: Any
) -> dict[str, Any]:
    started = await buyer.post(
        "/api/gifts/checkout", json={"tier_id": tier["id"], "months": months, "currency": "usd"} | fields
    )
    assert started.status_code == 200, started.text
    session_id = re.search(r"cs_[A-Za-z0-9_]+", started.json()["url"])
    assert session_id
    paid = await stack.control(
        "post", f"/_sandbox/checkout/{session_id.group(0)}/pay", json={"card": GOOD_CARD}
    )
    assert paid["session"]["payment_status"] == "paid"
    await stack.settle()
    [gift] = [g for g in (await buyer.get("/api/me/gifts")).json() if g["id"] == started.json()["gift_id"]]
    return gift


async def outbox(client: httpx.AsyncClient, to: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await client.get("/dev/outbox/messages", params={"to": to})).json()
    return found


async def test_a_gift_is_paid_once_emailed_to_its_recipient_and_redeemed_once(stack: Stack) -> None:
    _, slug, tier = await giftable_tier(stack)
    buyer = await stack.reader()
    recipient_email = f"friend-{slug}@example.com"
    options = (await buyer.get(f"/api/tiers/{tier['id']}/gift-options")).json()
    assert options == [
        {"months": 1, "amount": 500, "currency": "usd"},
        {"months": 3, "amount": 1500, "currency": "usd"},
        {"months": 12, "amount": 6000, "currency": "usd"},
    ]
    gift = await buy(stack, buyer, tier, recipient_email=recipient_email, message="Happy birthday")
    assert gift["state"] == "paid" and gift["amount"] == 1500 and gift["code"].startswith("GIFT-")
    charged = await stack.sdk().v1.checkout.sessions.list_async({"limit": 5})
    assert any(s.amount_total == 1500 and s.mode == "payment" for s in charged.data)

    [sent] = await outbox(buyer, recipient_email)
    assert "Happy birthday" in sent["body"] and gift["code"] in sent["body"]
    code = CODE.search(sent["body"])
    assert code and code.group(1) == gift["code"]

    recipient = await stack.reader(recipient_email)
    assert (await recipient.get(f"/api/gifts/{gift['code'].lower()}")).json()["state"] == "paid"
    before = datetime.now(UTC)
    redeemed = await recipient.post("/api/gifts/redeem", json={"code": gift["code"]})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["redeemed_as"] == "grant"
    ends = datetime.fromisoformat(redeemed.json()["ends_at"])
    assert before + timedelta(days=89) < ends < before + timedelta(days=93)  # three calendar months
    assert f"pub:{slug}" in await keys(recipient)
    assert await subscriptions(recipient) == []  # a gift involves no Stripe subscription

    again = await (await stack.reader()).post("/api/gifts/redeem", json={"code": gift["code"]})
    assert again.status_code == 409 and "already been redeemed" in again.json()["detail"]
    [mine] = [g for g in (await buyer.get("/api/me/gifts")).json() if g["id"] == gift["id"]]
    assert mine["state"] == "redeemed" and mine["redeemed_at"]
    listed = (await stack.reader()).get(f"/api/publications/{slug}/gifts")
    assert (await listed).status_code in (401, 403)  # not staff


async def test_a_gift_lapses_on_time_without_stripe(stack: Stack) -> None:
    _, slug, tier = await giftable_tier(stack, [1])
    buyer = await stack.reader()
    gift = await buy(stack, buyer, tier, months=1)
    recipient = await stack.reader()
    reader_id = UUID((await recipient.get("/api/me")).json()["id"])
    ends = datetime.fromisoformat(
        (await recipient.post("/api/gifts/redeem", json={"code": gift["code"]})).json()["ends_at"]
    )

    async def live_keys() -> set[str]:
        engine = create_async_engine(stack.database_url)
        async with async_sessionmaker(engine, class_=AsyncSession)() as session:
            found = await GrantService(session).keys(reader_id)
        await engine.dispose()
        return set(found)

    # A month on (the session cookie would have lapsed too): the grants alone say what is open.
    with time_machine.travel(ends - timedelta(seconds=5), tick=False):
        assert f"pub:{slug}" in await live_keys()
    with time_machine.travel(ends + timedelta(seconds=1), tick=False):
        assert f"pub:{slug}" not in await live_keys()
    assert await stack.events("failed") == []  # nothing at Stripe had to happen for it to end


async def test_the_recipients_account_page_says_until_when_and_then_that_it_ended(stack: Stack) -> None:
    _, _, tier = await giftable_tier(stack, [1])
    buyer = await stack.reader()
    gift = await buy(stack, buyer, tier, months=1)
    recipient = await stack.reader()
    redeemed = await recipient.post("/api/gifts/redeem", json={"code": gift["code"]})
    ends = datetime.fromisoformat(redeemed.json()["ends_at"])
    giver = (await buyer.get("/api/me")).json()["email"]

    page = (await recipient.get("/account")).text
    assert f"{tier['name']} (" in page and f"for 1 month, from {giver}: until {day(ends)}." in page
    assert "To keep reading when a gift has ended" not in page
    try:
        clock.set_offset(20 * 86400)  # reading on: the session lives on (the gateway asks for tokens)
        assert (await recipient.post("/api/auth/token")).status_code == 200
        clock.set_offset((ends - datetime.now(UTC)).total_seconds() + 60)
        page = (await recipient.get("/account")).text
    finally:
        clock.set_offset(0)
    assert f"for 1 month, from {giver}: ended on {day(ends)}." in page
    assert "To keep reading when a gift has ended, subscribe from any member-only story." in page
    assert "through a gift" not in page


async def test_a_gift_for_a_paying_member_becomes_free_time_on_the_subscription(stack: Stack) -> None:
    _, slug, tier = await giftable_tier(stack)
    member = await stack.reader()
    await stack.subscribe(member, tier["prices"][0]["id"])
    [sub] = await subscriptions(member)
    period_end = datetime.fromisoformat(sub["current_period_end"])
    gift = await buy(stack, await stack.reader(), tier, months=3)
    redeemed = (await member.post("/api/gifts/redeem", json={"code": gift["code"]})).json()
    assert redeemed["redeemed_as"] == "trial_extension"
    await stack.settle()
    [sub] = await subscriptions(member)
    assert sub["status"] == "trialing"
    trial_end = datetime.fromisoformat(sub["trial_end"])
    assert trial_end == datetime.fromisoformat(redeemed["ends_at"])
    assert period_end + timedelta(days=88) < trial_end < period_end + timedelta(days=93)
    assert f"pub:{slug}" in await keys(member)


async def test_a_refund_kills_an_unredeemed_code_and_ends_a_redeemed_gift(stack: Stack) -> None:
    _, slug, tier = await giftable_tier(stack)
    buyer = await stack.reader()
    unused, used = await buy(stack, buyer, tier), await buy(stack, buyer, tier)
    recipient = await stack.reader()
    assert (await recipient.post("/api/gifts/redeem", json={"code": used["code"]})).status_code == 200
    assert f"pub:{slug}" in await keys(recipient)
    sdk = stack.sdk()
    for gift in (unused, used):
        session = next(
            s
            for s in (await sdk.v1.checkout.sessions.list_async({"limit": 20})).data
            if s.to_dict().get("metadata", {}).get("tollgate_gift_id") == gift["id"]
        )
        await sdk.v1.refunds.create_async({"payment_intent": str(session.payment_intent)})
    await stack.settle()
    assert f"pub:{slug}" not in await keys(recipient)
    late = await (await stack.reader()).post("/api/gifts/redeem", json={"code": unused["code"]})
    assert late.status_code == 409 and "refunded" in late.json()["detail"]
    states = {g["id"]: g["state"] for g in (await buyer.get("/api/me/gifts")).json()}
    assert states[unused["id"]] == states[used["id"]] == "refunded"


async def test_a_gift_for_a_later_day_is_emailed_that_day_once(stack: Stack) -> None:
    _, slug, tier = await giftable_tier(stack)
    buyer = await stack.reader()
    recipient_email = f"later-{slug}@example.com"
    tomorrow = date.today() + timedelta(days=1)
    gift = await buy(stack, buyer, tier, recipient_email=recipient_email, deliver_on=tomorrow.isoformat())
    assert gift["delivered_at"] is None and await outbox(buyer, recipient_email) == []
    mailer = GiftMailer(alchemy_config(stack.settings), stack.settings, StripeApi(stack.settings))
    await mailer.run_once()
    assert await outbox(buyer, recipient_email) == []  # not yet
    with time_machine.travel(
        datetime.combine(tomorrow, datetime.min.time(), UTC) + timedelta(hours=8, seconds=1)
    ):
        assert (await mailer.run_once())[0] >= 1
        await mailer.run_once()  # claimed once: never sent twice
    [sent] = await outbox(buyer, recipient_email)
    assert gift["code"] in sent["body"]


async def test_a_recipient_is_reminded_a_week_before_the_gift_ends(stack: Stack) -> None:
    _, _, tier = await giftable_tier(stack, [1])
    gift = await buy(stack, await stack.reader(), tier, months=1)
    recipient_email = f"remind-{gift['id'][:8]}@example.com"
    recipient = await stack.reader(recipient_email)
    ends = datetime.fromisoformat(
        (await recipient.post("/api/gifts/redeem", json={"code": gift["code"]})).json()["ends_at"]
    )
    mailer = GiftMailer(alchemy_config(stack.settings), stack.settings, StripeApi(stack.settings))
    with time_machine.travel(ends - timedelta(days=8)):
        await mailer.run_once()
        assert [m for m in await outbox(recipient, recipient_email) if "ends soon" in m["subject"]] == []
    with time_machine.travel(ends - timedelta(days=6)):
        assert (await mailer.run_once())[1] >= 1
        await mailer.run_once()
    reminders = [m for m in await outbox(recipient, recipient_email) if "ends soon" in m["subject"]]
    assert len(reminders) == 1 and "/account" in reminders[0]["body"]


async def test_bad_gifts_are_refused_and_change_nothing(stack: Stack) -> None:
    owner, slug, tier = await giftable_tier(stack, [3])
    buyer = await stack.reader()

    async def refused(status: int, words: str, **fields: Any) -> None:
        body = {"tier_id": tier["id"], "months": 3, "currency": "usd"} | fields
        answer = await buyer.post("/api/gifts/checkout", json=body)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert words in answer.json()["detail"]

    await refused(400, "can be given for 3 months", months=6)
    await refused(400, "can be given for", currency="eur")
    await refused(400, "not valid", recipient_email="not-an-email")
    await refused(400, "has passed", recipient_email="a@example.com", deliver_on="2020-01-01")
    await refused(400, "needs the recipient", deliver_on=(date.today() + timedelta(days=3)).isoformat())
    plain = await stack.tier(owner, slug, name="No gifts")
    await refused(400, "cannot be given", tier_id=plain["id"])
    await owner.post(f"/api/publications/{slug}/tiers/{tier['id']}/archive")
    await refused(404, "not on offer")
    assert (await buyer.get("/api/me/gifts")).json() == []
    bad_length = await owner.post(f"/api/publications/{slug}/tiers/{plain['id']}/gifts", json={"months": [2]})
    assert bad_length.status_code == 400 and "2 is not one of them" in bad_length.json()["detail"]
    unknown = await buyer.post("/api/gifts/redeem", json={"code": "GIFT-AAAA-BBBB-CCCC"})
    assert unknown.status_code == 404


async def test_an_expired_code_is_refused(stack: Stack) -> None:
    _, _, tier = await giftable_tier(stack)
    gift = await buy(stack, await stack.reader(), tier)
    engine = create_async_engine(stack.database_url)
    async with engine.begin() as conn:
        await conn.execute(
            update(Gift)
            .where(Gift.code == gift["code"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    await engine.dispose()
    answer = await (await stack.reader()).post("/api/gifts/redeem", json={"code": gift["code"]})
    assert answer.status_code == 409 and "expired on" in answer.json()["detail"]


async def test_reconcile_settles_a_gift_whose_webhook_was_lost(stack: Stack) -> None:
    _, _, tier = await giftable_tier(stack)
    buyer = await stack.reader()
    gift = await buy(stack, buyer, tier)
    engine = create_async_engine(stack.database_url)
    async with engine.begin() as conn:  # as if neither the webhook nor the buyer's return arrived
        await conn.execute(
            update(Gift)
            .where(Gift.id == UUID(gift["id"]))
            .values(state=GiftState.AWAITING_PAYMENT, code=None, paid_at=None)
        )
    await engine.dispose()
    assert all(g["id"] != gift["id"] for g in (await buyer.get("/api/me/gifts")).json())
    report = await reconcile_all(stack.settings, show_progress=False)
    assert report.gifts_settled >= 1 and f"gift {gift['id']}: paid" in report.changes
    [again] = [g for g in (await buyer.get("/api/me/gifts")).json() if g["id"] == gift["id"]]
    assert again["state"] == "paid" and again["code"].startswith("GIFT-")


async def test_a_refund_whose_event_comes_before_the_payment_still_ends_the_gift(stack: Stack) -> None:
    _, _, tier = await giftable_tier(stack)
    buyer = await stack.reader()
    await stack.control("post", "/_sandbox/delivery", json={"mode": "hold"})
    try:
        started = await buyer.post(
            "/api/gifts/checkout", json={"tier_id": tier["id"], "months": 3, "currency": "usd"}
        )
        session_id = re.search(r"cs_[A-Za-z0-9_]+", started.json()["url"])
        assert session_id
        pay = f"/_sandbox/checkout/{session_id.group(0)}/pay"
        await stack.control("post", pay, json={"card": GOOD_CARD})
        session = await stack.sdk().v1.checkout.sessions.retrieve_async(session_id.group(0))
        await stack.sdk().v1.refunds.create_async({"payment_intent": str(session.payment_intent)})
        # Every event, twice, newest first: the refund's before the payment's.
        await stack.control("post", "/_sandbox/delivery/flush", json={"order": "reverse", "duplicate": True})
        await stack.settle()
    finally:
        await stack.control("post", "/_sandbox/delivery", json={"mode": "normal"})
    [gift] = [g for g in (await buyer.get("/api/me/gifts")).json() if g["id"] == started.json()["gift_id"]]
    assert gift["state"] == "refunded" and gift["code"] is None
    assert await stack.events("failed") == []


async def test_gift_revenue_is_in_the_publications_stats(stack: Stack) -> None:
    owner, slug, tier = await giftable_tier(stack)
    kept, refunded = (
        await buy(stack, await stack.reader(), tier),
        await buy(stack, await stack.reader(), tier),
    )
    sdk = stack.sdk()
    session = next(
        s
        for s in (await sdk.v1.checkout.sessions.list_async({"limit": 30})).data
        if s.to_dict().get("metadata", {}).get("tollgate_gift_id") == refunded["id"]
    )
    await sdk.v1.refunds.create_async({"payment_intent": str(session.payment_intent)})
    await stack.settle()
    stats = (await owner.get(f"/api/publications/{slug}/stats", params={"periods": 2})).json()
    this_month = stats["points"][-1]
    assert this_month["gift_revenue"] == kept["amount"] == 1500  # the refunded one is left out
    assert this_month["gift_revenue_by_currency"] == {"usd": 1500}
    assert stats["points"][0]["gift_revenue"] == 0


@pytest.mark.parametrize("refund", [False, True], ids=["paid", "refunded"])
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_gifts_events_in_any_order_and_twice_end_the_same(
    stack: Stack, refund: bool, seed: int
) -> None:
    """The sandbox's chaos: a gift's events held, then sent shuffled and duplicated."""
    _, _, tier = await giftable_tier(stack)
    buyer = await stack.reader()
    await stack.control("post", "/_sandbox/delivery", json={"mode": "hold"})
    try:
        started = await buyer.post(
            "/api/gifts/checkout", json={"tier_id": tier["id"], "months": 1, "currency": "usd"}
        )
        session_id = re.search(r"cs_[A-Za-z0-9_]+", started.json()["url"])
        assert session_id
        await stack.control("post", f"/_sandbox/checkout/{session_id.group(0)}/pay", json={"card": GOOD_CARD})
        if refund:
            session = await stack.sdk().v1.checkout.sessions.retrieve_async(session_id.group(0))
            await stack.sdk().v1.refunds.create_async({"payment_intent": str(session.payment_intent)})
        await stack.control(
            "post", "/_sandbox/delivery/flush", json={"order": "shuffled", "duplicate": True, "seed": seed}
        )
        await stack.settle()
    finally:
        await stack.control("post", "/_sandbox/delivery", json={"mode": "normal"})
    [gift] = [g for g in (await buyer.get("/api/me/gifts")).json() if g["id"] == started.json()["gift_id"]]
    assert gift["state"] == ("refunded" if refund else "paid")
    assert (gift["code"] is None) is refund
    assert await stack.events("failed") == []
