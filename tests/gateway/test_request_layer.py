"""The gateway's request layer and its cheap metrics: request ids, the request id on every log
line of a request, and /metrics exactly as prometheus-client's own types show the same counts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import structlog
from litestar.types import Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway import metrics as gateway_metrics
from gateway.metrics import _FAST, _SLOW, Metrics
from gateway.request_layer import RequestLayer, request_ids
from tollgate_common.logging import REQUEST_ID, access_lines, configure_logging


def test_request_ids_are_32_hex_digits_and_never_repeat() -> None:
    made = [request_ids.new() for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in made)
    assert len(set(made)) == len(made)
    # A random prefix per process: another process (replica) starts elsewhere.
    assert len({rid[:16] for rid in made}) == 1


async def test_every_line_of_a_request_has_its_id_and_own_headers_are_gone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(list(scope["headers"]))
        structlog.get_logger("gateway.test").warning("inside the request")
        await send({"type": "http.response.start", "status": 204, "headers": [(b"x-one", b"1")]})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    headers = [
        (b"x-request-id", b"layer-check.1"),
        (b"x-tollgate-entitlements", b"member"),
        (b"accept", b"*/*"),
    ]
    scope: Any = {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "headers": headers,
        "client": ("10.0.0.9", 5),
    }
    configure_logging("INFO", "json")
    try:
        await RequestLayer(app)(scope, receive, send)
        access_lines.flush()
    finally:
        configure_logging("WARNING", "console")
    assert seen == [[(b"x-request-id", b"layer-check.1"), (b"accept", b"*/*")]]
    assert sent[0]["headers"] == [(b"x-one", b"1"), (b"x-request-id", b"layer-check.1")]
    assert scope["state"]["request_id"] == "layer-check.1"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [(line["event"], line["request_id"]) for line in lines] == [
        ("inside the request", "layer-check.1"),
        ("request", "layer-check.1"),
    ]
    assert (lines[1]["status"], lines[1]["client"], lines[1]["path"]) == (204, "10.0.0.9", "/x")
    assert REQUEST_ID.get() is None  # nothing of the request stays bound


def _prometheus_own(registry: CollectorRegistry) -> tuple[Counter, Histogram, Histogram]:
    story = Counter(
        "gateway_story_requests",
        "Story requests by what the reader got (full, teaser, unavailable) and why.",
        ["access", "reason"],
        registry=registry,
    )
    token = Histogram(
        "gateway_token_check_seconds",
        "Time to check an access token (cached checks included).",
        buckets=_FAST,
        registry=registry,
    )
    origin = Histogram(
        "gateway_origin_seconds",
        "Time to get a story from the origin (cache hits included), by outcome.",
        ["outcome"],
        buckets=_SLOW,
        registry=registry,
    )
    return story, token, origin


def _without_other_metrics(text: bytes) -> list[str]:
    wanted = ("gateway_story_requests", "gateway_token_check_seconds", "gateway_origin_seconds")
    return [line for line in text.decode().splitlines() if any(name in line for name in wanted)]


def test_metrics_show_as_prometheus_clients_own_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_metrics.time, "time", lambda: 1700000000.25)
    import prometheus_client.metrics

    monkeypatch.setattr(prometheus_client.metrics.time, "time", lambda: 1700000000.25)
    ours = Metrics()
    registry = CollectorRegistry()
    story, token, origin = _prometheus_own(registry)
    assert _without_other_metrics(generate_latest(ours.registry)) == _without_other_metrics(
        generate_latest(registry)
    )
    reads = [("full", "entitled"), ("teaser", "sign_in"), ("full", "entitled"), ("full", "public")]
    for access, reason in reads:
        ours.story_request(access, reason).inc()
        story.labels(access, reason).inc()
    # On a bound, between bounds, past the last, zero.
    for seconds in (0.00005, 0.0003, 0.3, 0.0, 12.0, 0.001):
        ours.token_check_seconds.observe(seconds)
        token.observe(seconds)
        for outcome in ("ok", "timeout"):
            ours.origin_time(outcome).observe(seconds)
            origin.labels(outcome).observe(seconds)
    assert _without_other_metrics(generate_latest(ours.registry)) == _without_other_metrics(
        generate_latest(registry)
    )
