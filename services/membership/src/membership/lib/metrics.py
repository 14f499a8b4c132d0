"""Membership's Prometheus metrics, served at `/metrics`.

Each app has its own registry, so several apps in one process (the tests) do not collide. Requests
are counted by their route's path template, never the raw path; the Stripe inbox's and the webhook
outbox's gauges are read from the database when scraped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from membership.lib.clock import utcnow

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Backlog:
    """Where a queue table keeps its state and arrival time, and which state means still waiting.

    The app passes the model's columns in: lib sits below the domains and imports none of them.
    """

    state: QueryableAttribute[Any]
    since: QueryableAttribute[datetime]
    waiting: StrEnum

    async def read(self, session: AsyncSession) -> tuple[dict[str, int], float]:
        """Rows in each state (every state, 0 when none) and the oldest waiting row's age in seconds."""
        counts = {str(state): 0 for state in type(self.waiting)}
        rows = await session.execute(select(self.state, func.count()).group_by(self.state))
        for state, count in rows.tuples():
            counts[str(state)] = count
        oldest = await session.scalar(select(func.min(self.since)).where(self.state == self.waiting))
        age = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
        return counts, age


# Reads the webhook outbox: (endpoint id, messages waiting, the oldest one's age in seconds) rows.
OutboxReader = Callable[[AsyncSession], Awaitable[list[tuple[str, int, float]]]]


class Metrics:
    def __init__(self, stripe_inbox: Backlog, outbox: OutboxReader | None = None) -> None:
        self.registry = CollectorRegistry()
        self.stripe_inbox = stripe_inbox
        self.outbox = outbox
        self.requests = Counter(
            "membership_requests",
            "HTTP requests by route template (or unmatched), method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "membership_request_seconds",
            "Time to answer an HTTP request, by route template (or unmatched).",
            ["route"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.stripe_inbox_events = Gauge(
            "membership_stripe_inbox_events",
            "Stripe events in the inbox by status, read when scraped.",
            ["status"],
            registry=self.registry,
        )
        self.stripe_inbox_oldest_seconds = Gauge(
            "membership_stripe_inbox_oldest_seconds",
            "Age of the oldest Stripe event still waiting to be processed (0 when none), read when scraped.",
            registry=self.registry,
        )
        self.token_issues = Counter(
            "membership_token_issues",
            "Access tokens issued (POST /api/auth/token).",
            registry=self.registry,
        )
        self.signin_emails = Counter(
            "membership_signin_emails",
            "Sign-in links emailed (the API and the sign-in page).",
            registry=self.registry,
        )
        self.webhook_outbox_messages = Gauge(
            "membership_webhook_outbox_messages",
            "Webhook messages waiting to be delivered, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.webhook_outbox_oldest_seconds = Gauge(
            "membership_webhook_outbox_oldest_seconds",
            "Age of the oldest webhook message waiting to be delivered, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "membership_webhook_deliveries",
            "Webhook delivery attempts by result.",
            ["result"],
            registry=self.registry,
        )
        # Labelled children, looked up once: prometheus-client's labels() takes a lock each call.
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._request_times: dict[str, Histogram] = {}
        self._deliveries: dict[str, Counter] = {}

    def request(self, route: str, method: str, status: int) -> Counter:
        child = self._requests.get((route, method, status))
        if child is None:
            child = self._requests[(route, method, status)] = self.requests.labels(route, method, str(status))
        return child

    def request_time(self, route: str) -> Histogram:
        child = self._request_times.get(route)
        if child is None:
            child = self._request_times[route] = self.request_seconds.labels(route)
        return child

    def delivery(self, result: str) -> Counter:
        child = self._deliveries.get(result)
        if child is None:
            child = self._deliveries[result] = self.webhook_deliveries.labels(result)
        return child

    def set_outbox(self, rows: list[tuple[str, int, float]]) -> None:
        """Sets the webhook outbox from (endpoint id, depth, oldest age in seconds) rows; others go."""
        self.webhook_outbox_messages.clear()
        self.webhook_outbox_oldest_seconds.clear()
        for endpoint, depth, oldest_seconds in rows:
            self.webhook_outbox_messages.labels(endpoint).set(depth)
            self.webhook_outbox_oldest_seconds.labels(endpoint).set(oldest_seconds)

    async def read_stripe_inbox(self, session: AsyncSession) -> None:
        counts, oldest_seconds = await self.stripe_inbox.read(session)
        for status, count in counts.items():
            self.stripe_inbox_events.labels(status).set(count)
        self.stripe_inbox_oldest_seconds.set(oldest_seconds)


class RequestMetrics:
    """ASGI middleware counting and timing each request under its route's path template.

    It wraps Litestar's router (not a route), so requests no route matches are counted too.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The router sets the template on the scope once a route matched; unmatched has none.
            route = scope.get("path_template") or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "other"  # any token is a method
            self.metrics.request(route, method, status).inc()
            self.metrics.request_time(route).observe(time.perf_counter() - started)


def metrics_of(request: Request[Any, Any, Any]) -> Metrics:
    metrics = request.app.state.metrics
    assert isinstance(metrics, Metrics)
    return metrics


@get("/metrics", include_in_schema=False, cache=False)
async def metrics_endpoint(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[bytes]:
    metrics = metrics_of(request)
    await metrics.read_stripe_inbox(db_session)
    if metrics.outbox is not None:
        metrics.set_outbox(await metrics.outbox(db_session))
    # As a header: Litestar would append a second charset to a text/ media type (Prometheus 3 refuses that).
    return Response(generate_latest(metrics.registry), headers={"content-type": CONTENT_TYPE_LATEST})
