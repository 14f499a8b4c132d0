"""The gateway's Prometheus metrics, served at `/metrics`.

Each app has its own registry, so several apps in one process (the tests) do not collide.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
_SLOW = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.story_requests = Counter(
            "gateway_story_requests",
            "Story requests by what the reader got (full, teaser, unavailable) and why.",
            ["access", "reason"],
            registry=self.registry,
        )
        self.token_check_seconds = Histogram(
            "gateway_token_check_seconds",
            "Time to check an access token (cached checks included).",
            buckets=_FAST,
            registry=self.registry,
        )
        self.token_refreshes = Counter(
            "gateway_token_refreshes",
            "Access tokens renewed through membership from the reader's session.",
            registry=self.registry,
        )
        self.jwks_refreshes = Counter(
            "gateway_jwks_refreshes",
            "Fetches of membership's signing keys, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.origin_seconds = Histogram(
            "gateway_origin_seconds",
            "Time to get a story from the origin (cache hits included), by outcome.",
            ["outcome"],
            buckets=_SLOW,
            registry=self.registry,
        )
        self.revocation_push = Gauge(
            "gateway_revocation_push_subscribed",
            "1 while pushed revocations arrive from Redis, 0 while the feed is polled alone.",
            registry=self.registry,
        )
        # Labelled children, looked up once: prometheus-client's labels() takes a lock each call.
        self._story_requests: dict[tuple[str, str], Counter] = {}
        self._origin_times: dict[str, Histogram] = {}

    def story_request(self, access: str, reason: str) -> Counter:
        child = self._story_requests.get((access, reason))
        if child is None:
            child = self._story_requests[(access, reason)] = self.story_requests.labels(access, reason)
        return child

    def origin_time(self, outcome: str) -> Histogram:
        child = self._origin_times.get(outcome)
        if child is None:
            child = self._origin_times[outcome] = self.origin_seconds.labels(outcome)
        return child


def metrics_of(request: Request[Any, Any, Any]) -> Metrics:
    metrics = request.app.state.metrics
    assert isinstance(metrics, Metrics)
    return metrics


@get("/metrics", include_in_schema=False, cache=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(generate_latest(metrics_of(request).registry), media_type=CONTENT_TYPE_LATEST)
