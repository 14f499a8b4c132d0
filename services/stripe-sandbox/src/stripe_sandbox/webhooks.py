"""Webhook delivery: each event POSTed to the webhook URL, signed exactly as Stripe signs it.

One background task sends in creation order and retries a failed send (connection error or a
non-2xx answer) a few times with a short backoff, without holding up the events behind it. The
delivery mode lets tests provoke what real Stripe does now and then: `duplicate` sends each
event twice, `shuffle` sends each action's events in random order, `hold` keeps them until
`flush` sends them in the order asked for. Every attempt is recorded in the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import hmac
import json
import random
import time
from collections import deque
from typing import Any, Literal

import httpx
import structlog

from stripe_sandbox.state import JSON, Sandbox

log = structlog.get_logger("stripe_sandbox.webhooks")

Mode = Literal["normal", "duplicate", "shuffle", "hold"]
Order = Literal["as_created", "reverse", "shuffled"]
MODES: tuple[Mode, ...] = ("normal", "duplicate", "shuffle", "hold")
ORDERS: tuple[Order, ...] = ("as_created", "reverse", "shuffled")
# Seconds to wait before the 2nd, 3rd... try; after the last one the event is marked failed.
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Delivery:
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.mode: Mode = "normal"
        self.delay_seconds = 0.0
        self.rng = random.Random()  # noqa: S311 - shuffling test deliveries, not secrets
        self.ready: deque[tuple[str, int]] = deque()  # (event id, which try)
        self.retries: list[tuple[float, int, str, int]] = []  # heap of (due, tie-break, event id, try)
        self.held: list[str] = []
        self.inflight = 0
        self._counter = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        sb.dispatch = self.submit

    @property
    def enabled(self) -> bool:
        return bool(self.sb.settings.webhook_secret)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        self._restore()
        self._task = asyncio.create_task(self._run(), name="stripe-sandbox-webhooks")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client:
            await self._client.aclose()

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _restore(self) -> None:
        # What a previous run had not delivered goes out now: a new run starts in normal mode.
        for event_id, record in self.sb.data["deliveries"].items():
            if record["outcome"] in ("pending", "retrying", "held"):
                record["outcome"] = "pending"
                self.ready.append((event_id, 1))
        self._wake.set()

    # What the sandbox and its controls call.

    def submit(self, event_ids: list[str]) -> None:
        """A finished action's events, in the order they were emitted."""
        if not self.enabled:
            return
        ids = list(event_ids)
        if self.mode == "hold":
            self.held.extend(ids)
            self._set_outcome(ids, "held")
            return
        if self.mode == "shuffle":
            self.rng.shuffle(ids)
        elif self.mode == "duplicate":
            ids = [event_id for event_id in ids for _ in range(2)]
        self._enqueue(ids)

    def configure(self, mode: Mode, delay_seconds: float, seed: int | None = None) -> None:
        leaving_hold = self.mode == "hold" and mode != "hold"
        self.mode = mode
        self.delay_seconds = delay_seconds
        if seed is not None:
            self.rng.seed(seed)
        if leaving_hold:
            # Nothing stays held once holding stops: release them in creation order.
            self.flush("as_created", duplicate=False)

    def flush(self, order: Order, *, duplicate: bool, seed: int | None = None) -> list[str]:
        ids, self.held = self.held, []
        if duplicate:
            ids = [event_id for event_id in ids for _ in range(2)]
        if order == "reverse":
            ids.reverse()
        elif order == "shuffled":
            (random.Random(seed) if seed is not None else self.rng).shuffle(ids)  # noqa: S311
        self._set_outcome(ids, "pending")
        self._enqueue(ids)
        return ids

    def resend(self, event_id: str) -> None:
        self._set_outcome([event_id], "pending")
        self._enqueue([event_id])

    def busy(self) -> int:
        return len(self.ready) + len(self.retries) + self.inflight

    async def wait(self, seconds: float) -> bool:
        """True once nothing is queued, retrying or in flight (held events do not count)."""
        deadline = time.monotonic() + seconds
        while self.busy():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def describe(self) -> JSON:
        return {
            "mode": self.mode,
            "delay_seconds": self.delay_seconds,
            "enabled": self.enabled,
            "webhook_url": self.sb.settings.webhook_url,
            "queued": len(self.ready),
            "retrying": len(self.retries),
            "in_flight": self.inflight,
            "held": list(self.held),
        }

    # The background task.

    def _enqueue(self, ids: list[str]) -> None:
        self.ready.extend((event_id, 1) for event_id in ids)
        self._wake.set()

    def _set_outcome(self, ids: list[str], outcome: str) -> None:
        deliveries = self.sb.data["deliveries"]
        for event_id in ids:
            if event_id in deliveries:
                deliveries[event_id]["outcome"] = outcome
        self.sb.dirty = True

    async def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                timeout = max(0.0, self.retries[0][0] - time.monotonic()) if self.retries else None
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            self.inflight += 1
            try:
                await self._send(*item)
            except Exception:  # one bad send must not stop delivery for good
                log.exception("webhook delivery crashed", event_id=item[0])
            finally:
                self.inflight -= 1

    def _next(self) -> tuple[str, int] | None:
        if self.ready:
            return self.ready.popleft()
        if self.retries and self.retries[0][0] <= time.monotonic():
            _, _, event_id, attempt = heapq.heappop(self.retries)
            return event_id, attempt
        return None

    async def _send(self, event_id: str, attempt: int) -> None:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        event = self.sb.get("events", event_id)
        if event is None or self._client is None:
            return
        body = json.dumps(event, indent=2).encode()
        # Real time, not sandbox time: the receiver checks the timestamp against its own clock.
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(self.sb.settings.webhook_secret, body, timestamp),
            "User-Agent": USER_AGENT,
            "Accept": "*/*; q=0.5, application/xml",
            "Cache-Control": "no-cache",
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(self.sb.settings.webhook_url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"answered {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        await self._record(event, attempt, status, error, round((time.perf_counter() - started) * 1000, 1))

    async def _record(
        self, event: JSON, attempt: int, status: int | None, error: str | None, ms: float
    ) -> None:
        async with self.sb.lock:
            record = self.sb.data["deliveries"].setdefault(
                event["id"], {"outcome": "pending", "attempts": []}
            )
            record["attempts"].append(
                {"at": int(time.time()), "status": status, "error": error, "duration_ms": ms}
            )
            if error is None:
                record["outcome"] = "delivered"
            elif attempt <= len(RETRY_DELAYS):
                record["outcome"] = "retrying"
                self._counter += 1
                due = time.monotonic() + RETRY_DELAYS[attempt - 1]
                heapq.heappush(self.retries, (due, self._counter, event["id"], attempt + 1))
            else:
                record["outcome"] = "failed"
            self.sb.dirty = True
        fields: dict[str, Any] = {
            "event_id": event["id"],
            "type": event["type"],
            "try": attempt,
            "status": status,
        }
        if error is None:
            log.info("webhook delivered", **fields)
        else:
            log.warning("webhook delivery failed", error=error, outcome=record["outcome"], **fields)
