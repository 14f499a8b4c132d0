"""The gateway's Prometheus metrics, served at `/metrics`.

Each app has its own registry, so several apps in one process (the tests) do not collide.

The ones counted on every story read (`gateway_story_requests`, `gateway_token_check_seconds`,
`gateway_origin_seconds`) are plain numbers on the event loop's thread, read out at scrape time
by a collector of their own: prometheus-client's `Counter.inc` and `Histogram.observe` take a
lock each (issue 18). /metrics shows them exactly as prometheus-client's own types would: the
same names, labels, buckets, `_created` series and order.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from litestar import Request, Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import INF, floatToGoString

_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
_SLOW = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CounterCell:
    """One labelled counter's number (`inc()`), and when it was first counted."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self) -> None:
        self.value += 1.0


class HistogramCell:
    """One histogram's observations (`observe(seconds)`): a count per bucket, and their sum."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0.0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        # The first bucket whose upper bound is at least the amount, as prometheus-client's.
        self.counts[bisect_left(self.bounds, amount)] += 1.0
        self.sum += amount


class _Family(Collector):
    """A counter or histogram of cells, one per label values, shown as prometheus-client shows its own."""

    def __init__(
        self,
        registry: CollectorRegistry,
        kind: str,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = (),
    ) -> None:
        self.kind = kind
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        bounds = [float(b) for b in buckets]
        if kind == "histogram" and bounds[-1] != INF:
            bounds.append(INF)
        self.bounds = bounds
        self.bound_names: list[str] = [floatToGoString(b) for b in bounds]  # type: ignore[no-untyped-call]
        self.cells: dict[tuple[str, ...], CounterCell | HistogramCell] = {}
        registry.register(self)

    def cell(self, *labels: str) -> CounterCell | HistogramCell:
        cell = self.cells.get(labels)
        if cell is None:
            cell = self.cells[labels] = (
                CounterCell() if self.kind == "counter" else HistogramCell(self.bounds)
            )
        return cell

    def describe(self) -> Iterable[Metric]:
        return [Metric(self.name, self.documentation, self.kind)]

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self.name, self.documentation, self.kind)
        created = prometheus_metrics._use_created
        for labels, cell in list(self.cells.items()):
            series = dict(zip(self.labelnames, labels, strict=True))
            if isinstance(cell, CounterCell):
                metric.add_sample(self.name + "_total", series, cell.value)
            else:
                total = 0.0
                for bound, count in zip(self.bound_names, list(cell.counts), strict=True):
                    total += count
                    metric.add_sample(self.name + "_bucket", {**series, "le": bound}, total)
                metric.add_sample(self.name + "_count", series, total)
                metric.add_sample(self.name + "_sum", series, cell.sum)
            if created:
                metric.add_sample(self.name + "_created", series, cell.created)
        return [metric]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.story_requests = _Family(
            self.registry,
            "counter",
            "gateway_story_requests",
            "Story requests by what the reader got (full, teaser, unavailable) and why.",
            ["access", "reason"],
        )
        token_checks = _Family(
            self.registry,
            "histogram",
            "gateway_token_check_seconds",
            "Time to check an access token (cached checks included).",
            buckets=_FAST,
        )
        token_check = token_checks.cell()
        assert isinstance(token_check, HistogramCell)
        self.token_check_seconds: HistogramCell = token_check
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
        self.origin_seconds = _Family(
            self.registry,
            "histogram",
            "gateway_origin_seconds",
            "Time to get a story from the origin (cache hits included), by outcome.",
            ["outcome"],
            buckets=_SLOW,
        )
        self.revocation_push = Gauge(
            "gateway_revocation_push_subscribed",
            "1 while pushed revocations arrive from Redis, 0 while the feed is polled alone.",
            registry=self.registry,
        )
        # Labelled cells, looked up once per label values (the families' own dicts, typed here).
        self._story_requests: dict[tuple[str, str], CounterCell] = {}
        self._origin_times: dict[str, HistogramCell] = {}

    def story_request(self, access: str, reason: str) -> CounterCell:
        cell = self._story_requests.get((access, reason))
        if cell is None:
            made = self.story_requests.cell(access, reason)
            assert isinstance(made, CounterCell)
            cell = self._story_requests[(access, reason)] = made
        return cell

    def origin_time(self, outcome: str) -> HistogramCell:
        cell = self._origin_times.get(outcome)
        if cell is None:
            made = self.origin_seconds.cell(outcome)
            assert isinstance(made, HistogramCell)
            cell = self._origin_times[outcome] = made
        return cell


def metrics_of(request: Request[Any, Any, Any]) -> Metrics:
    metrics = request.app.state.metrics
    assert isinstance(metrics, Metrics)
    return metrics


@get("/metrics", include_in_schema=False, cache=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(generate_latest(metrics_of(request).registry), media_type=CONTENT_TYPE_LATEST)
