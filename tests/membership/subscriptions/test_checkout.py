"""Checkout and the billing portal: who may start one, what the Stripe session carries, and where
the reader is sent back to. Sessions are inspected in the sandbox through the real SDK."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.membership.conftest import Stack, subscriptions


async def setup_tier(stack: Stack, **fields: Any) -> tuple[httpx.AsyncClient, str, dict[str, Any]]:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    return owner, slug, await stack.tier(owner, slug, **fields)


def price_of(tier: dict[str, Any]) -> str:
    return str(tier["prices"][0]["id"])


def is_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == status
    return problem


async def newest_session(stack: Stack) -> str | None:
    sessions = await stack.sdk().v1.checkout.sessions.list_async({"limit": 1})
    return sessions.data[0].id if sessions.data else None


async def stripe_customers(stack: Stack, reader: httpx.AsyncClient) -> list[Any]:
    email = (await reader.get("/api/me")).json()["email"]
    return list((await stack.sdk().v1.customers.list_async({"email": email})).data)


async def test_checkout_needs_a_signed_in_reader(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack)
    before = await newest_session(stack)
    async with httpx.AsyncClient(base_url=stack.membership, timeout=30) as anonymous:
        is_problem(await anonymous.post("/api/billing/checkout", json={"price_id": price_of(tier)}), 401)
        is_problem(await anonymous.post("/api/billing/portal", json={}), 401)
    assert await newest_session(stack) == before


async def test_unknown_and_archived_prices_are_not_on_offer(stack: Stack) -> None:
    owner, slug, tier = await setup_tier(stack)
    reader = await stack.reader()
    before = await newest_session(stack)
    unknown = await reader.post("/api/billing/checkout", json={"price_id": str(uuid.uuid4())})
    assert "no such price" in is_problem(unknown, 404)["detail"].lower()
    is_problem(await reader.post("/api/billing/checkout", json={"price_id": "not-a-uuid"}), 400)

    archived = await owner.post(
        f"/api/publications/{slug}/tiers/{tier['id']}/prices/{price_of(tier)}/archive"
    )
    assert archived.status_code == 200, archived.text
    gone = await reader.post("/api/billing/checkout", json={"price_id": price_of(tier)})
    assert "no longer on offer" in is_problem(gone, 404)["detail"]

    # A price whose whole tier was archived is off the shelf too.
    other = await stack.tier(owner, slug, name="Other")
    assert (await owner.post(f"/api/publications/{slug}/tiers/{other['id']}/archive")).status_code == 200
    gone = await reader.post("/api/billing/checkout", json={"price_id": price_of(other)})
    assert "no longer on offer" in is_problem(gone, 404)["detail"]

    assert await newest_session(stack) == before
    assert await stripe_customers(stack, reader) == []


async def test_off_site_return_to_is_refused_before_anything_is_made(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack)
    reader = await stack.reader()
    before = await newest_session(stack)
    for target in (
        "https://evil.example/",
        "//evil.example",
        "//evil.example/stories/s",
        "/\\evil.example",
        "evil.example/stories",
        "javascript:alert(1)",
        "/stories/s\r\nLocation: https://evil.example/",
    ):
        answer = await reader.post(
            "/api/billing/checkout", json={"price_id": price_of(tier), "return_to": target}
        )
        is_problem(answer, 400)
    assert await newest_session(stack) == before
    assert await stripe_customers(stack, reader) == []  # not even a customer


async def test_the_session_carries_who_what_and_where_back(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack)
    reader = await stack.reader()
    me = (await reader.get("/api/me")).json()
    started = await reader.post(
        "/api/billing/checkout", json={"price_id": price_of(tier), "return_to": "/stories/s?ref=home"}
    )
    assert started.status_code == 200, started.text
    answer = started.json()
    session = await stack.sdk().v1.checkout.sessions.retrieve_async(answer["session_id"])
    assert answer["url"] == session.url and str(session.url).startswith(f"{stack.sandbox}/checkout/cs_")
    assert session.mode == "subscription" and session.status == "open"
    assert session.client_reference_id == me["id"]
    assert session.to_dict()["metadata"] == {
        "tollgate_reader_id": me["id"],
        "tollgate_tier_id": tier["id"],
        "tollgate_price_id": price_of(tier),
    }
    [customer] = await stripe_customers(stack, reader)
    assert session.customer == customer.id
    assert customer.metadata["tollgate_reader_id"] == me["id"]
    back = f"{stack.membership}/stories/s?ref=home"
    assert session.success_url == f"{back}&checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
    assert session.cancel_url == f"{back}&checkout=canceled"
    assert session.amount_total == 500  # no trial: the first period is charged at once
    items = await stack.sdk().v1.checkout.sessions.line_items.list_async(answer["session_id"])
    assert [(i.price.id if i.price else None, i.quantity) for i in items.data] == [
        (tier["prices"][0]["stripe_price_id"], 1)
    ]

    paid = await stack.control(
        "post", f"/_sandbox/checkout/{answer['session_id']}/pay", json={"card": "4242424242424242"}
    )
    assert paid["redirect"] == back + f"&checkout=success&session_id={answer['session_id']}"
    await stack.settle()
    remote = await stack.sdk().v1.subscriptions.retrieve_async(paid["session"]["subscription"])
    assert remote.status == "active" and remote.trial_start is None and remote.trial_end is None
    assert remote.to_dict()["metadata"] == session.to_dict()["metadata"]


async def test_a_plain_return_path_gets_its_own_query(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack)
    reader = await stack.reader()
    started = await reader.post("/api/billing/checkout", json={"price_id": price_of(tier)})
    assert started.status_code == 200, started.text
    session = await stack.sdk().v1.checkout.sessions.retrieve_async(started.json()["session_id"])
    assert session.success_url == f"{stack.membership}/?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
    assert session.cancel_url == f"{stack.membership}/?checkout=canceled"


async def test_a_tier_with_a_trial_asks_stripe_for_one(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack, trial_days=14)
    reader = await stack.reader()
    started = await reader.post("/api/billing/checkout", json={"price_id": price_of(tier), "return_to": "/a"})
    assert started.status_code == 200, started.text
    session_id = started.json()["session_id"]
    session = await stack.sdk().v1.checkout.sessions.retrieve_async(session_id)
    assert session.amount_total == 0  # the sandbox's view of subscription_data.trial_period_days
    paid = await stack.control(
        "post", f"/_sandbox/checkout/{session_id}/pay", json={"card": "4242424242424242"}
    )
    await stack.settle()
    remote = await stack.sdk().v1.subscriptions.retrieve_async(paid["session"]["subscription"])
    assert remote.status == "trialing"
    assert remote.trial_start is not None and remote.trial_end is not None
    assert remote.trial_end - remote.trial_start == 14 * 86400
    [mine] = await subscriptions(reader)
    assert mine["status"] == "trialing"
    assert mine["trial_end"] is not None


async def test_a_double_click_is_one_session(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack)
    reader = await stack.reader()
    body = {"price_id": price_of(tier), "return_to": "/stories/s"}
    first, second = await asyncio.gather(
        reader.post("/api/billing/checkout", json=body), reader.post("/api/billing/checkout", json=body)
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json()
    [customer] = await stripe_customers(stack, reader)  # one customer, too
    sessions = await stack.sdk().v1.checkout.sessions.list_async({"customer": customer.id})
    assert [s.id for s in sessions.data] == [first.json()["session_id"]]

    # Anything different is a different checkout.
    elsewhere = await reader.post("/api/billing/checkout", json=body | {"return_to": "/stories/t"})
    assert elsewhere.status_code == 200, elsewhere.text
    assert elsewhere.json()["session_id"] != first.json()["session_id"]


async def test_billing_portal(stack: Stack) -> None:
    _, _, tier = await setup_tier(stack, name="Gold")
    reader = await stack.reader()
    none_yet = await reader.post("/api/billing/portal", json={"return_to": "/account"})
    assert "subscribe first" in is_problem(none_yet, 404)["detail"]

    paid = await stack.subscribe(reader, price_of(tier))
    opened = await reader.post("/api/billing/portal", json={"return_to": "/account"})
    assert opened.status_code == 200, opened.text
    url = opened.json()["url"]
    for target in ("https://evil.example/", "//evil.example"):
        is_problem(await reader.post("/api/billing/portal", json={"return_to": target}), 400)
    assert url.startswith(f"{stack.sandbox}/portal/bps_")
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"id='{paid['subscription']}'" in page.text
    assert "Gold" in page.text and "Status: <strong>active</strong>" in page.text
    assert f"href='{stack.membership}/account'" in page.text
    assert (await reader.get("/api/me")).json()["email"] in page.text
