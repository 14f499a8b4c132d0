"""The webhook tests' stack: membership (with its webhook sender on short intervals) and the Stripe
sandbox over real HTTP, and a real receiving server that checks every delivery's signature with
the `standardwebhooks` library and answers as each test tells it to."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, Request, Response, post
from litestar.params import FromPath
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from membership.publications.models import Publication
from membership.webhooks.services import WebhookService
from tests.conftest import empty_tables
from tests.membership.conftest import Stack
from tests.servers import serve, serve_billing

FAST = {
    "webhook_poll_seconds": 0.05,
    "webhook_retry_seconds": (0.3, 0.3, 0.3, 0.3),
    "webhook_timeout_seconds": 1.0,
    "webhook_lease_seconds": 1.0,
}


@dataclass
class Inbox:
    """What one endpoint received: verified deliveries, refused ones, and what to answer next."""

    secrets: list[str] = field(default_factory=list)
    verified: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    refused: list[bytes] = field(default_factory=list)
    plan: list[int] = field(default_factory=list)  # statuses to answer, in order; then 200
    hang: float = 0.0

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [payload for _, payload, _ in self.verified if payload["type"] == event_type]


@dataclass
class Receiver:
    base: str
    inboxes: dict[str, Inbox]

    def new(self) -> tuple[str, Inbox]:
        name = uuid.uuid4().hex[:12]
        inbox = self.inboxes[name] = Inbox()
        return f"{self.base}/hook/{name}", inbox


def receiver_app(inboxes: dict[str, Inbox]) -> Litestar:
    @post("/hook/{name:str}", status_code=200)
    async def hook(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[str]:
        inbox = inboxes[name]
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if inbox.hang:
            await asyncio.sleep(inbox.hang)
        status = inbox.plan.pop(0) if inbox.plan else 200
        for secret in inbox.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            inbox.verified.append((headers["webhook-id"], payload, headers))
            break
        else:
            inbox.refused.append(body)
        return Response("thanks" if status < 300 else "not now", status_code=status)

    return Litestar([hook])


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    inboxes: dict[str, Inbox] = {}
    with serve(receiver_app(inboxes)) as base:
        yield Receiver(base, inboxes)


@pytest.fixture(scope="module")
def running_webhook_stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve_billing(database_url, Path(tmp_path_factory.mktemp("webhooks")), **FAST) as served:
        yield Stack(served.membership, served.sandbox, served.secret, database_url, served.settings)


@pytest.fixture
async def webhook_stack(running_webhook_stack: Stack) -> Stack:
    await empty_tables(running_webhook_stack.database_url)
    return running_webhook_stack


async def add_endpoint(
    stack: Stack, slug: str, url: str, inbox: Inbox, event_types: list[str] | None = None
) -> uuid.UUID:
    """An endpoint for the publication, added as the dashboard does; the inbox learns its secret."""
    engine = create_async_engine(stack.database_url)
    try:
        async with async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)() as session:
            publication = await session.scalar(select(Publication).where(Publication.slug == slug))
            assert publication is not None
            endpoint, secret = await WebhookService(session, stack.settings).add(
                publication.id, url, event_types or []
            )
            await session.commit()
    finally:
        await engine.dispose()
    inbox.secrets.append(secret)
    return endpoint.id


async def until(condition: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.05)
