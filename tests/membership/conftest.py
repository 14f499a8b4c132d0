"""The billing stack: membership and the Stripe sandbox, each served over real HTTP.

Membership talks to the sandbox through the real stripe-python SDK; the sandbox signs its
webhooks with a secret made here at runtime and posts them to membership's endpoint. Each test
gets an empty membership database; the sandbox keeps its objects (every reader is new anyway).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from membership.settings import Settings
from membership.stripe_events.models import StripeEvent
from tests.conftest import empty_tables
from tests.servers import serve_billing

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
LINK = re.compile(r"/auth/sign-in/confirm\?token=(\S+)")


@dataclass
class Stack:
    membership: str
    sandbox: str
    secret: str
    database_url: str
    settings: Settings

    async def reader(self, email: str | None = None) -> httpx.AsyncClient:
        """A signed-in reader's HTTP client (cookie jar included)."""
        email = email or f"reader-{uuid.uuid4().hex[:10]}@example.com"
        client = httpx.AsyncClient(base_url=self.membership, timeout=30)
        assert (await client.post("/api/auth/sign-in", json={"email": email})).status_code == 202
        mail = (await client.get("/dev/outbox/messages", params={"to": email, "limit": 1})).json()
        token = LINK.search(mail[0]["body"])
        assert token
        assert (
            await client.post("/api/auth/sign-in/complete", json={"token": token.group(1)})
        ).status_code == 200
        return client

    async def publication(self, owner: httpx.AsyncClient, slug: str | None = None) -> str:
        slug = slug or f"pub-{uuid.uuid4().hex[:8]}"
        email = (await owner.get("/api/me")).json()["email"]
        engine = create_async_engine(self.database_url)
        async with async_sessionmaker(engine, class_=AsyncSession)() as session:
            reader, _ = await ReaderService(session=session).get_or_create(email)
            await PublicationService(session).create(slug, slug.title(), reader)
            await session.commit()
        await engine.dispose()
        return slug

    async def tier(self, owner: httpx.AsyncClient, slug: str, **fields: Any) -> dict[str, Any]:
        body = {
            "name": "Members",
            "prices": [{"interval": "month", "currency": "usd", "unit_amount": 500}],
        } | fields
        made = await owner.post(f"/api/publications/{slug}/tiers", json=body)
        assert made.status_code == 201, made.text
        tier: dict[str, Any] = made.json()
        return tier

    async def subscribe(
        self, reader: httpx.AsyncClient, price_id: str, card: str = GOOD_CARD
    ) -> dict[str, Any]:
        started = await reader.post(
            "/api/billing/checkout", json={"price_id": price_id, "return_to": "/stories/s"}
        )
        assert started.status_code == 200, started.text
        session_id = started.json()["session_id"]
        paid: dict[str, Any] = await self.control(
            "post", f"/_sandbox/checkout/{session_id}/pay", json={"card": card}, allow=(402,)
        )
        if "session" not in paid:  # declined: nothing was bought
            await self.settle()
            return paid
        await self.settle()
        session = paid["session"]
        paid["subscription"] = session.get("subscription")
        paid["charge"] = await self.charge_of_invoice(session["invoice"]) if session.get("invoice") else None
        return paid

    def sdk(self) -> stripe.StripeClient:
        return stripe.StripeClient(
            "sk_test_" + uuid.uuid4().hex, base_addresses={"api": self.sandbox}, max_network_retries=0
        )

    async def charge_of_invoice(self, invoice_id: str) -> str | None:
        """The charge that paid an invoice: invoice payment → payment intent → its latest charge."""
        sdk = self.sdk()
        payments = await sdk.v1.invoice_payments.list_async({"invoice": invoice_id, "limit": 1})
        if not payments.data or payments.data[0].payment.payment_intent is None:
            return None
        intent = payments.data[0].payment.payment_intent
        intent_id = intent if isinstance(intent, str) else intent.id
        latest = (await sdk.v1.payment_intents.retrieve_async(intent_id)).latest_charge
        return latest if isinstance(latest, str) or latest is None else latest.id

    async def control(self, method: str, path: str, allow: tuple[int, ...] = (), **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.sandbox, timeout=30) as client:
            response = await client.request(method, path, **kwargs)
            assert response.status_code < 400 or response.status_code in allow, response.text
            return response.json() if response.content else None

    async def advance(self, days: float) -> None:
        await self.control("post", "/_sandbox/clock/advance", json={"days": days})
        await self.settle()

    async def settle(self, within: float = 30) -> None:
        """Until the sandbox has delivered everything and membership has processed it."""
        await self.control("post", "/_sandbox/delivery/wait")
        engine = create_async_engine(self.database_url)
        deadline = time.monotonic() + within
        try:
            while True:
                async with engine.connect() as conn:
                    pending = (
                        await conn.execute(
                            select(func.count())
                            .select_from(StripeEvent)
                            .where(StripeEvent.status == "pending")
                        )
                    ).scalar_one()
                if not pending:
                    return
                if time.monotonic() > deadline:
                    async with engine.connect() as conn:
                        stuck = (
                            await conn.execute(
                                select(
                                    StripeEvent.type,
                                    StripeEvent.attempts,
                                    StripeEvent.leased_until,
                                    StripeEvent.next_attempt_at,
                                    StripeEvent.last_error,
                                ).where(StripeEvent.status == "pending")
                            )
                        ).all()
                    # What held them, for whoever reads the failure: a lease, a retry's time, an error.
                    raise AssertionError(f"{pending} Stripe event(s) still pending: {stuck}")
                await asyncio.sleep(0.05)
        finally:
            await engine.dispose()

    async def events(self, status: str) -> list[str]:
        engine = create_async_engine(self.database_url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(StripeEvent.type).where(StripeEvent.status == status))
            ).scalars()
            found = list(rows)
        await engine.dispose()
        return found


async def keys(reader: httpx.AsyncClient) -> list[str]:
    answer = await reader.get("/api/me/entitlements")
    assert answer.status_code == 200, answer.text
    found: list[str] = answer.json()["keys"]
    return found


async def subscriptions(reader: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await reader.get("/api/me/subscriptions")).json()
    return found


@pytest.fixture(scope="module")
def running_stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve_billing(database_url, Path(tmp_path_factory.mktemp("billing"))) as served:
        yield Stack(served.membership, served.sandbox, served.secret, database_url, served.settings)
    asyncio.run(empty_tables(database_url))


@pytest.fixture
async def stack(running_stack: Stack) -> AsyncIterator[Stack]:
    """The module's stack; tests keep apart by using new readers and publications each time."""
    await running_stack.control("post", "/_sandbox/delivery", json={"mode": "normal"})
    yield running_stack
    await running_stack.settle()
