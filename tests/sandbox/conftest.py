"""Fixtures for the Stripe sandbox tests: the sandbox over real HTTP, a real webhook receiver, the real SDK.

The sandbox and the receiver each run under uvicorn in a background thread on a free 127.0.0.1
port. The receiver verifies every delivery with `stripe.Webhook.construct_event` and records
what it accepted (and what it refused) in a per-test inbox, so each test sees only its own
sandbox's events. Tests drive the sandbox through `stripe.StripeClient`, exactly as membership
does; API keys and webhook secrets are made up at runtime.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from litestar import Litestar, Request, Response, post
from litestar.params import FromPath
from stripe import Price
from stripe.checkout import Session

from stripe_sandbox.app import create_app
from stripe_sandbox.settings import Settings
from tests.servers import bound_socket
from tests.servers import serve as shared_serve

HERE = Path(__file__).parent
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
FAILS_LATER_CARD = "4000000000000341"
DAY = 86400


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # stripe-python's HTTPXClient posts bytes as `data=`, which httpx deprecates; not ours to fix.
    quiet = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(quiet)


@contextmanager
def serve(make_app: Callable[[str], Any]) -> Iterator[str]:
    """Serve the app `make_app(its own URL)` on a free port in a background thread; yields the URL."""
    sock = bound_socket()
    with shared_serve(make_app(f"http://127.0.0.1:{sock.getsockname()[1]}"), sock=sock) as url:
        yield url


# The webhook receiver.


@dataclass
class Inbox:
    """What one test's webhook endpoint received."""

    secret: str
    events: list[dict[str, Any]] = field(default_factory=list)  # verified, in arrival order
    headers: list[dict[str, str]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # signatures that did not verify
    fail_next: int = 0  # answer 500 to this many deliveries first
    failed: int = 0

    def types(self, since: int = 0) -> list[str]:
        return [event["type"] for event in self.events[since:]]

    def of(self, object_id: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["data"]["object"].get("id") == object_id]


@dataclass
class Receiver:
    url: str
    inboxes: dict[str, Inbox]

    def new_inbox(self) -> tuple[str, Inbox]:
        name = secrets.token_hex(8)
        inbox = Inbox(secret="whsec_" + secrets.token_urlsafe(24))
        self.inboxes[name] = inbox
        return f"{self.url}/hooks/{name}", inbox


def _receiver_app(inboxes: dict[str, Inbox]) -> Litestar:
    @post("/hooks/{name:str}", status_code=200)
    async def hook(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[str]:
        inbox = inboxes.get(name)
        if inbox is None:
            return Response("no such inbox", status_code=404)
        body = (await request.body()).decode()
        if inbox.fail_next > 0:
            inbox.fail_next -= 1
            inbox.failed += 1
            return Response("failing on purpose", status_code=500)
        try:
            stripe.Webhook.construct_event(body, request.headers.get("stripe-signature", ""), inbox.secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            inbox.rejected.append(str(exc))
            return Response("bad signature", status_code=400)
        inbox.events.append(json.loads(body))
        inbox.headers.append(dict(request.headers))
        return Response("ok")

    return Litestar(route_handlers=[hook])


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    inboxes: dict[str, Inbox] = {}
    with serve(lambda url: _receiver_app(inboxes)) as url:
        yield Receiver(url, inboxes)


# The sandbox.


@dataclass
class Sandbox:
    """One running sandbox, the SDK pointed at it, and its webhook inbox."""

    url: str
    settings: Settings
    stripe: stripe.StripeClient
    http: httpx.AsyncClient
    inbox: Inbox
    api_key: str

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, f"/_sandbox{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def wait(self) -> None:
        """Until every webhook of what happened so far has been delivered."""
        answer = await self.control("POST", "/delivery/wait", {"timeout": 20})
        assert answer["idle"], json.dumps(answer["delivery"])

    async def advance(self, days: float) -> dict[str, Any]:
        answer = await self.control("POST", "/clock/advance", {"days": days})
        await self.wait()
        return answer  # type: ignore[no-any-return]

    async def now(self) -> int:
        return (await self.control("GET", "/clock"))["now"]  # type: ignore[no-any-return]

    async def price(self, amount: int = 500, interval: str = "month", **extra: Any) -> Price:
        product = await self.stripe.v1.products.create_async(params={"name": "Membership"})
        params: dict[str, Any] = {
            "product": product.id,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": interval},
            **extra,
        }
        return await self.stripe.v1.prices.create_async(params=params)  # type: ignore[arg-type]

    async def session(self, price_id: str, **extra: Any) -> Session:
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": "https://reader.example/welcome?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://reader.example/plans",
            **extra,
        }
        return await self.stripe.v1.checkout.sessions.create_async(params=params)  # type: ignore[arg-type]

    async def pay(self, session_id: str, card: str = GOOD_CARD) -> dict[str, Any]:
        answer = await self.control("POST", f"/checkout/{session_id}/pay", {"card": card})
        await self.wait()
        return answer["session"]  # type: ignore[no-any-return]

    async def subscribe(self, card: str = GOOD_CARD, **session_extra: Any) -> tuple[Price, dict[str, Any]]:
        """A price and a paid checkout for it; returns the price and the completed session."""
        price = await self.price()
        session = await self.session(price.id, customer_email="reader@example.com", **session_extra)
        return price, await self.pay(session.id, card)


SandboxFactory = Callable[..., AbstractAsyncContextManager[Sandbox]]


@pytest.fixture
def make_sandbox(receiver: Receiver, tmp_path: Path) -> SandboxFactory:
    """`async with make_sandbox(past_due_days=3) as sandbox:` for tests that need other settings."""

    @asynccontextmanager
    async def make(*, webhooks: bool = True, **overrides: Any) -> AsyncIterator[Sandbox]:
        hook_url, inbox = receiver.new_inbox()
        values: dict[str, Any] = {
            "environment": "test",
            "log_level": "WARNING",
            "log_format": "console",
            "webhook_url": hook_url,
            "webhook_secret": inbox.secret if webhooks else "",
            **overrides,
        }
        made: list[Settings] = []

        def app(url: str) -> Litestar:
            made.append(Settings(**{"public_url": url, **values}))
            return create_app(made[0])

        with serve(app) as url:
            settings = made[0]
            api_key = "sk_test_" + secrets.token_hex(12)
            client = stripe.StripeClient(api_key=api_key, base_addresses={"api": url}, max_network_retries=0)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                yield Sandbox(url, settings, client, http, inbox, api_key)

    return make


@pytest.fixture
async def sandbox(make_sandbox: SandboxFactory) -> AsyncIterator[Sandbox]:
    async with make_sandbox() as running:
        yield running
