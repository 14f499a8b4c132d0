"""Back from Stripe Checkout, and the free trial offered once: gateway, membership and the sandbox.

The sandbox holds its webhooks in these tests unless one says otherwise, so what the reader sees
on coming back is what the gateway and membership make of Stripe's own answer, not of an event
that happens to have arrived first. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.apikeys.services import ApiKeyService
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from tests.conftest import empty_tables
from tests.gateway.stack import (
    GATEWAY_SCOPES,
    GATEWAY_URL,
    LINK,
    SECRET,
    Gateway,
    gateway_settings,
    running_gateway,
    write_story,
)
from tests.servers import serve_billing

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

GOOD_CARD = "4242424242424242"
PUBLICATION = "the-ledger"
STORY = "ledger-deep"


@dataclass
class Stack:
    membership: str
    sandbox: str
    api_key: str
    owner_email: str
    stories: Path

    async def sign_in(self, email: str | None = None) -> tuple[httpx.AsyncClient, str]:
        """A signed-in membership client (a new reader unless `email`), and the reader's email."""
        email = email or f"reader-{uuid.uuid4().hex[:10]}@example.com"
        client = httpx.AsyncClient(base_url=self.membership, timeout=30)
        assert (await client.post("/api/auth/sign-in", json={"email": email})).status_code == 202
        mail = (await client.get("/dev/outbox/messages", params={"to": email, "limit": 1})).json()
        token = LINK.search(mail[0]["body"])
        assert token
        done = await client.post("/api/auth/sign-in/complete", json={"token": token.group(1)})
        assert done.status_code == 200, done.text
        return client, email

    async def browse(self, gateway: Gateway, email: str) -> None:
        """The reader's browser on the gateway: a session of its own, which each refresh rotates."""
        client, _ = await self.sign_in(email)
        gateway.cookies.set("tollgate_session", client.cookies["tollgate_session"], domain="gateway.test")
        await client.aclose()

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.sandbox, timeout=30) as client:
            response = await client.request(method, path, **kwargs)
            assert response.status_code < 400, response.text
            return response.json() if response.content else None

    def sdk(self) -> stripe.StripeClient:
        return stripe.StripeClient(
            "sk_test_" + uuid.uuid4().hex, base_addresses={"api": self.sandbox}, max_network_retries=0
        )

    async def checkout(self, reader: httpx.AsyncClient, price_id: str) -> str:
        started = await reader.post(
            "/api/billing/checkout", json={"price_id": price_id, "return_to": f"/stories/{STORY}"}
        )
        assert started.status_code == 200, started.text
        session_id: str = started.json()["session_id"]
        return session_id

    async def pay(self, session_id: str) -> dict[str, Any]:
        paid: dict[str, Any] = await self.control(
            "post", f"/_sandbox/checkout/{session_id}/pay", json={"card": GOOD_CARD}
        )
        session: dict[str, Any] = paid["session"]
        return session

    async def unlocks_used(self, reader: httpx.AsyncClient) -> int:
        answer = await reader.get("/api/me/unlocks", params={"publication": PUBLICATION})
        assert answer.status_code == 200, answer.text
        used: int = answer.json()["used"]
        return used

    async def held_events(self) -> list[str]:
        delivery: dict[str, Any] = await self.control("get", "/_sandbox/delivery")
        return delivery.get("held", [])  # type: ignore[no-any-return]


async def _prepare(database_url: str) -> tuple[str, str]:
    """The publication, its owner and a platform key for the gateway: (owner's email, key)."""
    owner_email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        owner, _ = await ReaderService(session=session).get_or_create(owner_email)
        await PublicationService(session).create(PUBLICATION, "The Ledger", owner)
        _, secret = await ApiKeyService(session).create(
            "gateway", GATEWAY_SCOPES, publication_id=None, created_by_id=None
        )
        await session.commit()
    await engine.dispose()
    return owner_email, secret


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    owner_email, api_key = asyncio.run(_prepare(database_url))
    stories = Path(tmp_path_factory.mktemp("stories"))
    write_story(stories, STORY, PUBLICATION, f"[pub:{PUBLICATION}]")
    data_dir = Path(tmp_path_factory.mktemp("checkout-return"))
    with serve_billing(database_url, data_dir, public_url=GATEWAY_URL, workers=1) as served:
        yield Stack(served.membership, served.sandbox, api_key, owner_email, stories)
    asyncio.run(empty_tables(database_url))


@pytest.fixture(scope="module")
async def prices(stack: Stack) -> dict[str, str]:
    """Two tiers that open the story, `Monthly` and `Trial` (7 free days): their price ids."""
    owner, _ = await stack.sign_in(stack.owner_email)
    found = {}
    for name, trial in (("Monthly", 0), ("Trial", 7)):
        made = await owner.post(
            f"/api/publications/{PUBLICATION}/tiers",
            json={
                "name": name,
                "trial_days": trial,
                "prices": [{"interval": "month", "currency": "usd", "unit_amount": 500}],
            },
        )
        assert made.status_code == 201, made.text
        found[name] = made.json()["prices"][0]["id"]
    await owner.aclose()
    return found


@pytest.fixture
async def gateway(stack: Stack, prices: dict[str, str]) -> AsyncIterator[Gateway]:
    """The gateway in front of it all; the sandbox holds webhooks until a test flushes them."""
    await stack.control("post", "/_sandbox/delivery", json={"mode": "hold"})
    settings = gateway_settings(stack.membership, stack.api_key, stack.stories)
    async with running_gateway(settings) as client:
        yield client
    await stack.control("post", "/_sandbox/delivery/flush")
    await stack.control("post", "/_sandbox/delivery", json={"mode": "normal"})
    await stack.control("post", "/_sandbox/delivery/wait")


def back_from(session_id: str) -> str:
    """The success URL membership gave Stripe, as the reader's browser comes back to it."""
    return f"/stories/{STORY}?checkout=success&session_id={session_id}"


def access_of(response: httpx.Response) -> str:
    return response.headers["tollgate-access"]


async def test_back_from_checkout_before_the_webhook_the_story_opens_and_no_free_story_is_spent(
    stack: Stack, prices: dict[str, str], gateway: Gateway
) -> None:
    reader, email = await stack.sign_in()
    await stack.browse(gateway, email)
    session_id = await stack.checkout(reader, prices["Monthly"])
    await stack.pay(session_id)
    assert (await reader.get("/api/me/entitlements")).json()["keys"] == []  # no webhook has landed

    page = await gateway.get(back_from(session_id))

    assert page.status_code == 200
    assert SECRET in page.text
    assert access_of(page) == 'full; reason="entitled"'
    assert "your membership is active" in page.text
    assert "Subscribe:" not in page.text
    assert page.headers["cache-control"] == "private, no-store"
    assert await stack.unlocks_used(reader) == 0
    # The page set a fresh access token carrying the new key: alone, it opens the story now.
    assert gateway.cookies.get("tollgate_access")
    gateway.cookies.delete("tollgate_session")
    again = await gateway.get(f"/stories/{STORY}")
    assert access_of(again) == 'full; reason="entitled"'
    await reader.aclose()


async def test_a_payment_still_being_confirmed_says_so_and_reloads_until_the_story_opens(
    stack: Stack, prices: dict[str, str], gateway: Gateway
) -> None:
    reader, email = await stack.sign_in()
    await stack.browse(gateway, email)
    session_id = await stack.checkout(reader, prices["Monthly"])
    # Back on the success URL before Stripe has the payment (the session is still open).

    waiting = await gateway.get(back_from(session_id))

    assert waiting.status_code == 200
    assert "Confirming your payment" in waiting.text
    assert '<meta http-equiv="refresh" content="3">' in waiting.text
    assert SECRET not in waiting.text
    assert "Subscribe:" not in waiting.text and "free story" not in waiting.text.split("<article>")[1]
    assert waiting.headers["cache-control"] == "private, no-store"
    assert await stack.unlocks_used(reader) == 0

    await stack.pay(session_id)
    reloaded = await gateway.get(back_from(session_id))
    assert SECRET in reloaded.text
    assert "Confirming your payment" not in reloaded.text
    assert access_of(reloaded) == 'full; reason="entitled"'
    await reader.aclose()


async def test_json_clients_are_told_the_checkout_is_pending(
    stack: Stack, prices: dict[str, str], gateway: Gateway
) -> None:
    reader, email = await stack.sign_in()
    await stack.browse(gateway, email)
    session_id = await stack.checkout(reader, prices["Monthly"])
    answer = await gateway.get(back_from(session_id), headers={"accept": "application/json"})
    assert answer.status_code == 402
    assert answer.json()["checkout"] == "pending"
    assert await stack.unlocks_used(reader) == 0
    await reader.aclose()


async def test_another_readers_checkout_confirms_nothing_and_the_paywall_stays(
    stack: Stack, prices: dict[str, str], gateway: Gateway
) -> None:
    buyer, _ = await stack.sign_in()
    session_id = await stack.checkout(buyer, prices["Monthly"])
    await stack.pay(session_id)
    other, other_email = await stack.sign_in()
    await stack.browse(gateway, other_email)

    page = await gateway.get(back_from(session_id))

    assert "Confirming your payment" not in page.text
    assert (await other.get("/api/me/entitlements")).json()["keys"] == []
    # The other reader is treated as any signed-in reader: a free story opens it.
    assert access_of(page) == 'full; reason="free_unlock"'
    refused = await other.post(f"/api/billing/checkout/{session_id}/confirm")
    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("application/problem+json")
    await buyer.aclose()
    await other.aclose()


async def test_an_abandoned_checkout_says_nothing_was_charged(
    stack: Stack, prices: dict[str, str], gateway: Gateway
) -> None:
    reader, email = await stack.sign_in()
    await stack.browse(gateway, email)
    session_id = await stack.checkout(reader, prices["Monthly"])
    await stack.sdk().v1.checkout.sessions.expire_async(session_id)

    answer = await reader.post(f"/api/billing/checkout/{session_id}/confirm")
    assert answer.json() == {"state": "expired", "keys": []}
    page = await gateway.get(back_from(session_id))
    assert "nothing was charged" in page.text
    assert "Confirming your payment" not in page.text
    await reader.aclose()


@pytest.mark.parametrize("session_id", ["nope", "cs_" + "x" * 300, "cs_a/b", "cs_%00"])
async def test_a_malformed_checkout_id_is_a_400(
    stack: Stack, prices: dict[str, str], session_id: str
) -> None:
    reader, _ = await stack.sign_in()
    answer = await reader.post(f"/api/billing/checkout/{session_id}/confirm")
    assert answer.status_code in (400, 404), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    await reader.aclose()


async def test_the_free_trial_is_offered_once_and_checkout_agrees(
    stack: Stack, prices: dict[str, str], gateway: Gateway
) -> None:
    reader, email = await stack.sign_in()
    await stack.browse(gateway, email)
    newcomer, newcomer_email = await stack.sign_in()

    async def paywall(browser: Gateway) -> str:
        # A prefetch never spends a free story: the page shows the paywall and its offers.
        page = await browser.get(f"/stories/{STORY}", headers={"sec-purpose": "prefetch"})
        assert SECRET not in page.text
        return page.text

    assert "Free for 7 days" in await paywall(gateway)
    first = await stack.checkout(reader, prices["Trial"])
    paid = await stack.pay(first)
    subscription = await stack.sdk().v1.subscriptions.retrieve_async(paid["subscription"])
    assert subscription.status == "trialing"
    # The trial is cancelled at once; its events land, and the reader is back at the paywall.
    await stack.sdk().v1.subscriptions.cancel_async(subscription.id)
    await stack.control("post", "/_sandbox/delivery/flush")
    await stack.control("post", "/_sandbox/delivery/wait")
    for _ in range(200):
        subs = (await reader.get("/api/me/subscriptions")).json()
        if subs and subs[0]["status"] == "canceled":
            break
        await asyncio.sleep(0.05)
    assert (await reader.get("/api/me/entitlements")).json()["keys"] == []

    shown = await paywall(gateway)
    assert "Free for 7 days" not in shown
    assert "Subscribe: " in shown, shown[shown.find("<section") :]
    async with running_gateway(gateway_settings(stack.membership, stack.api_key, stack.stories)) as other:
        await stack.browse(other, newcomer_email)
        assert "Free for 7 days" in await paywall(other)
    reader_id = (await reader.get("/api/me")).json()["id"]
    trials = await reader.get(
        "/api/trials", params={"reader_id": reader_id}, headers={"authorization": f"Bearer {stack.api_key}"}
    )
    assert trials.status_code == 200, trials.text
    assert len(trials.json()["tier_ids"]) == 1

    # Checkout agrees with the page: the second subscription pays from the start.
    second = await stack.checkout(reader, prices["Trial"])
    again = await stack.pay(second)
    assert (await stack.sdk().v1.subscriptions.retrieve_async(again["subscription"])).status == "active"
    await reader.aclose()
    await newcomer.aclose()


async def test_an_old_success_url_after_the_membership_ended_shows_the_paywall_not_confirming(
    stack: Stack, prices: dict[str, str], gateway: Gateway
) -> None:
    reader, email = await stack.sign_in()
    await stack.browse(gateway, email)
    session_id = await stack.checkout(reader, prices["Monthly"])
    paid = await stack.pay(session_id)
    await stack.sdk().v1.subscriptions.cancel_async(paid["subscription"])

    answer = await reader.post(f"/api/billing/checkout/{session_id}/confirm")
    assert answer.json() == {"state": "ended", "keys": []}
    page = await gateway.get(back_from(session_id), headers={"sec-purpose": "prefetch"})
    assert "Confirming your payment" not in page.text
    assert "Subscribe:" in page.text
    assert SECRET not in page.text
    await reader.aclose()
