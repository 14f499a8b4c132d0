"""The paywall's Subscribe button as a plain HTML form: `POST /account/checkout` answers 303, to
Stripe Checkout when signed in, to sign-in otherwise; a form from another site is refused.

Checkout sessions are made in the Stripe sandbox (served here over real HTTP) and inspected
through the real SDK, as the billing tests do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from litestar import Litestar
from litestar.testing import AsyncTestClient

from membership.subscriptions.models import Subscription
from stripe_sandbox.app import create_app as create_sandbox
from stripe_sandbox.settings import Settings as SandboxSettings
from tests.conftest import ClientFactory
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.test_bad_input import assert_problem
from tests.membership.tokens.test_tokens import db, reader_id
from tests.servers import bound_socket, serve

SITE = "http://testserver.local"  # the tests' public URL


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = SandboxSettings(public_url=url, log_level="WARNING", log_format="console")
    with serve(create_sandbox(settings), sock=sock):
        yield url


@pytest.fixture
async def shop(client_with: ClientFactory, sandbox: str) -> Any:
    async with client_with(stripe_sandbox_url=sandbox) as client:
        yield client


def sdk(sandbox: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_" + uuid.uuid4().hex, base_addresses={"api": sandbox}, max_network_retries=0
    )


async def newest_session(sandbox: str) -> str | None:
    sessions = await sdk(sandbox).v1.checkout.sessions.list_async({"limit": 1})
    return sessions.data[0].id if sessions.data else None


async def on_offer(client: AsyncTestClient[Litestar], database_url: str) -> dict[str, Any]:
    """A publication with a tier and a monthly price, made by its owner (in the sandbox too)."""
    await make_publication(database_url, "daily", "owner@example.com")
    await as_reader(client, "owner@example.com")
    made = await client.post(
        "/api/publications/daily/tiers",
        json={"name": "Members", "prices": [{"interval": "month", "currency": "usd", "unit_amount": 500}]},
    )
    assert made.status_code == 201, made.text
    client.cookies.clear()
    tier: dict[str, Any] = made.json()
    return tier


def subscribe(client: AsyncTestClient[Litestar], fields: dict[str, str], **headers: str) -> Any:
    """The form as a browser sends it (`data=` is urlencoded)."""
    return client.post("/account/checkout", data=fields, headers=headers, follow_redirects=False)


async def test_a_signed_in_reader_is_sent_to_stripe_checkout(
    shop: AsyncTestClient[Litestar], database_url: str, sandbox: str
) -> None:
    tier = await on_offer(shop, database_url)
    price = tier["prices"][0]["id"]
    await as_reader(shop, "reader@example.com")
    answer = await subscribe(shop, {"price_id": price, "return_to": "/stories/the-night-press"}, origin=SITE)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{sandbox}/checkout/cs_"), location
    session = await sdk(sandbox).v1.checkout.sessions.retrieve_async(location.rsplit("/", 1)[1])
    back = f"{SITE}/stories/the-night-press"
    assert session.success_url == f"{back}?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
    assert session.cancel_url == f"{back}?checkout=canceled"
    assert session.metadata is not None and session.metadata.to_dict() == {
        "tollgate_reader_id": str(await reader_id(database_url, "reader@example.com")),
        "tollgate_tier_id": tier["id"],
        "tollgate_price_id": price,
    }
    # A form without an Origin (an older browser, a same-origin navigation) is let through too.
    again = await subscribe(shop, {"price_id": price})
    assert again.status_code == 303 and again.headers["location"].startswith(f"{sandbox}/checkout/cs_")


async def test_a_reader_not_signed_in_is_sent_to_sign_in_and_back(
    shop: AsyncTestClient[Litestar], database_url: str, sandbox: str
) -> None:
    tier = await on_offer(shop, database_url)
    before = await newest_session(sandbox)
    fields = {"price_id": tier["prices"][0]["id"], "return_to": "/stories/x?ref=home&y=1"}
    for cookie in ({}, {"cookie": "tollgate_session=tgsession_forged"}):
        answer = await subscribe(shop, fields, origin=SITE, **cookie)
        assert answer.status_code == 303, answer.text
        target = urlsplit(answer.headers["location"])
        assert (target.scheme, target.netloc, target.path) == ("", "", "/auth/sign-in")
        assert parse_qs(target.query) == {"next": ["/stories/x?ref=home&y=1"]}
    page = await shop.get(answer.headers["location"])
    assert page.status_code == 200
    assert 'name="next" value="/stories/x?ref=home&amp;y=1"' in page.text
    assert await newest_session(sandbox) == before


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://testserver.local.evil.example",
        "https://testserver.local",
        "http://testserver.local:8080",
        "not a url",
    ],
)
async def test_a_form_from_another_site_is_refused(
    shop: AsyncTestClient[Litestar], database_url: str, sandbox: str, origin: str
) -> None:
    tier = await on_offer(shop, database_url)
    await as_reader(shop, "reader@example.com")
    before = await newest_session(sandbox)
    answer = await subscribe(shop, {"price_id": tier["prices"][0]["id"]}, origin=origin)
    assert_problem(answer, 403)
    shop.cookies.clear()
    assert_problem(await subscribe(shop, {"price_id": tier["prices"][0]["id"]}, origin=origin), 403)
    assert_problem(await subscribe(shop, {"price_id": "garbage"}, origin=origin), 403)  # before the body
    assert await newest_session(sandbox) == before


async def test_the_default_port_is_the_same_origin(
    shop: AsyncTestClient[Litestar], database_url: str, sandbox: str
) -> None:
    tier = await on_offer(shop, database_url)
    await as_reader(shop, "reader@example.com")
    answer = await subscribe(shop, {"price_id": tier["prices"][0]["id"]}, origin="http://testserver.local:80")
    assert answer.status_code == 303, answer.text


async def test_bad_input_is_a_problem_and_makes_nothing(
    shop: AsyncTestClient[Litestar], database_url: str, sandbox: str
) -> None:
    tier = await on_offer(shop, database_url)
    price = tier["prices"][0]["id"]
    before = await newest_session(sandbox)
    # Checked before anything else, signed in or not.
    for signed_in in (False, True):
        if signed_in:
            await as_reader(shop, "reader@example.com")
        assert_problem(await subscribe(shop, {"price_id": "not-a-uuid"}), 400)
        assert_problem(await subscribe(shop, {"return_to": "/stories/x"}), 400)
        assert_problem(await subscribe(shop, {"price_id": price, "return_to": "https://evil.example/"}), 400)
        assert_problem(await subscribe(shop, {"price_id": price, "return_to": "//evil.example/"}), 400)
        sent_as_json = await shop.post(
            "/account/checkout", json={"price_id": price}, headers={"origin": SITE}, follow_redirects=False
        )
        assert_problem(sent_as_json, 400)

    unknown = await subscribe(shop, {"price_id": str(uuid.uuid4())})
    assert "no such price" in assert_problem(unknown, 404)["detail"].lower()

    await as_reader(shop, "owner@example.com")
    archived = await shop.post(f"/api/publications/daily/tiers/{tier['id']}/prices/{price}/archive")
    assert archived.status_code == 200, archived.text
    await as_reader(shop, "reader@example.com")
    gone = await subscribe(shop, {"price_id": price})
    assert "no longer on offer" in assert_problem(gone, 404)["detail"]
    assert await newest_session(sandbox) == before


async def test_a_reader_who_already_subscribes_is_told_so(
    shop: AsyncTestClient[Litestar], database_url: str, sandbox: str
) -> None:
    tier = await on_offer(shop, database_url)
    await as_reader(shop, "subscriber@example.com")
    async with db(database_url) as session:
        session.add(
            Subscription(
                reader_id=await reader_id(database_url, "subscriber@example.com"),
                tier_id=uuid.UUID(tier["id"]),
                stripe_subscription_id="sub_" + uuid.uuid4().hex,
                stripe_customer_id="cus_" + uuid.uuid4().hex,
                status="active",
                synced_at=datetime.now(UTC),
            )
        )
    before = await newest_session(sandbox)
    answer = await subscribe(shop, {"price_id": tier["prices"][0]["id"]}, origin=SITE)
    assert "already have a live" in assert_problem(answer, 409)["detail"]
    assert await newest_session(sandbox) == before
