"""Membership's `/metrics`: requests by route template, sign-in and token counters, the Stripe inbox.

Values are read from the exposition text with prometheus-client's own parser, on SQLite and
PostgreSQL; inbox rows are written to the test database through the ORM.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.lib.clock import utcnow
from membership.stripe_events.models import EventStatus, StripeEvent
from tests.conftest import ClientFactory
from tests.membership.helpers import sign_in

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by sample name and its labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: AsyncTestClient[Litestar]) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series was never written (prometheus-client leaves it out)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, method: str, status: str) -> float:
    return value(samples, "membership_requests_total", route=route, method=method, status=status)


async def test_requests_are_counted_by_route_template_and_status_never_by_raw_path(
    client: AsyncTestClient[Litestar],
) -> None:
    assert (await client.get("/health/live")).status_code == 200
    for slug in ("no-such-one", "no-such-two"):
        assert (await client.get(f"/api/publications/{slug}")).status_code == 404
    assert (await client.get("/no/such/place")).status_code == 404

    samples = await scrape(client)
    assert requests(samples, "/health/live", "GET", "200") == 1
    assert requests(samples, "/api/publications/{slug}", "GET", "404") == 2
    assert requests(samples, "unmatched", "GET", "404") == 1
    assert value(samples, "membership_request_seconds_count", route="/api/publications/{slug}") == 2
    routes = {dict(labels).get("route") for name, labels in samples if name.startswith("membership_request")}
    assert not any(route and ("no-such" in route or "/no/such" in route) for route in routes), routes


async def test_signing_in_and_issuing_a_token_are_counted(client: AsyncTestClient[Litestar]) -> None:
    before = await scrape(client)
    assert value(before, "membership_signin_emails_total") == 0
    assert value(before, "membership_token_issues_total") == 0

    await sign_in(client, f"metrics-{uuid4().hex[:8]}@example.com")
    between = await scrape(client)
    assert value(between, "membership_signin_emails_total") == 1
    assert value(between, "membership_token_issues_total") == 0

    for _ in range(2):
        assert (await client.post("/api/auth/token")).status_code == 200
    after = await scrape(client)
    assert value(after, "membership_token_issues_total") == 2
    assert value(after, "membership_signin_emails_total") == 1
    assert requests(after, "/api/auth/token", "POST", "200") == 2

    # The sign-in page's form sends one too (same-origin, as a browser posts it).
    form = {"email": f"page-{uuid4().hex[:8]}@example.com", "next": "/"}
    headers = {"origin": str(client.base_url).rstrip("/")}
    assert (await client.post("/auth/sign-in", data=form, headers=headers)).status_code == 200
    assert value(await scrape(client), "membership_signin_emails_total") == 2


async def test_the_stripe_inbox_gauges_are_read_from_the_database_when_scraped(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    empty = await scrape(client)
    for status in EventStatus:  # every status is there, at 0, before any event arrived
        assert ("membership_stripe_inbox_events", frozenset({("status", status.value)})) in empty
        assert value(empty, "membership_stripe_inbox_events", status=status.value) == 0
    assert value(empty, "membership_stripe_inbox_oldest_seconds") == 0

    now = utcnow()
    # (status, received how long ago): the oldest pending one arrived 10 minutes ago; the older
    # processed and failed ones are no longer waiting, so they do not count for the age.
    rows = [
        (EventStatus.PENDING, timedelta(minutes=10)),
        (EventStatus.PENDING, timedelta(minutes=1)),
        (EventStatus.PROCESSED, timedelta(hours=5)),
        (EventStatus.FAILED, timedelta(hours=3)),
        (EventStatus.FAILED, timedelta(hours=2)),
        (EventStatus.FAILED, timedelta(hours=1)),
    ]
    engine = create_async_engine(database_url)
    try:
        async with async_sessionmaker(engine, class_=AsyncSession)() as session:
            for status, ago in rows:
                session.add(
                    StripeEvent(
                        id=f"evt_metrics_{uuid4().hex[:12]}",
                        type="checkout.session.completed",
                        payload="{}",
                        created=int((now - ago).timestamp()),
                        status=status,
                        attempts=0,
                        received_at=now - ago,
                        # Not due for a day: the app's inbox worker leaves the pending ones waiting.
                        next_attempt_at=now + timedelta(days=1),
                    )
                )
            await session.commit()
    finally:
        await engine.dispose()

    samples = await scrape(client)
    assert value(samples, "membership_stripe_inbox_events", status="pending") == 2
    assert value(samples, "membership_stripe_inbox_events", status="processed") == 1
    assert value(samples, "membership_stripe_inbox_events", status="failed") == 3
    oldest = value(samples, "membership_stripe_inbox_oldest_seconds")
    assert 600 <= oldest < 660, oldest


async def test_each_app_counts_its_own_requests(
    client: AsyncTestClient[Litestar], client_with: ClientFactory
) -> None:
    for _ in range(3):
        await client.get("/health/live")
    async with client_with(stripe_workers=0) as other:
        await other.get("/health/live")
        theirs = await scrape(other)
    ours = await scrape(client)
    assert requests(ours, "/health/live", "GET", "200") == 3
    assert requests(theirs, "/health/live", "GET", "200") == 1
    assert client.app.state.metrics is not other.app.state.metrics


async def test_webhook_outbox_gauges_are_replaced_on_each_set_and_deliveries_counted(
    client: AsyncTestClient[Litestar],
) -> None:
    # Read from the registry, not /metrics: a scrape sets the outbox from the database's own rows.
    metrics = client.app.state.metrics
    metrics.set_outbox([("ep_a", 4, 30.0), ("ep_b", 1, 2.5)])
    metrics.delivery("ok").inc()
    metrics.delivery("ok").inc()
    metrics.delivery("failed").inc()
    first = parse(generate_latest(metrics.registry).decode())
    assert value(first, "membership_webhook_outbox_messages", endpoint="ep_a") == 4
    assert value(first, "membership_webhook_outbox_oldest_seconds", endpoint="ep_b") == 2.5
    assert value(first, "membership_webhook_deliveries_total", result="ok") == 2
    assert value(first, "membership_webhook_deliveries_total", result="failed") == 1

    metrics.set_outbox([("ep_b", 7, 9.0)])
    second = parse(generate_latest(metrics.registry).decode())
    assert ("membership_webhook_outbox_messages", frozenset({("endpoint", "ep_a")})) not in second
    assert value(second, "membership_webhook_outbox_messages", endpoint="ep_b") == 7
    assert value(second, "membership_webhook_outbox_oldest_seconds", endpoint="ep_b") == 9
