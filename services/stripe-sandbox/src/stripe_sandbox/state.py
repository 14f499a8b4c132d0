"""The sandbox's whole state: plain dicts of Stripe-shaped objects behind one asyncio lock.

Every change happens inside `Sandbox.action()`, which holds the lock, collects the events the
change emits, saves the state file (when one is configured) and hands the events to webhook
delivery. The state is JSON through and through, so saving it is `json.dumps`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import string
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog

from stripe_sandbox.errors import OBJECT_NAMES, no_such
from stripe_sandbox.settings import Settings

log = structlog.get_logger("stripe_sandbox.state")

COLLECTIONS = tuple(OBJECT_NAMES)
# Which collection an id belongs to, by its Stripe prefix (the part before the first "_").
PREFIXES = {
    "cus": "customers",
    "prod": "products",
    "price": "prices",
    "cs": "checkout_sessions",
    "sub": "subscriptions",
    "in": "invoices",
    "inpay": "invoice_payments",
    "pi": "payment_intents",
    "ch": "charges",
    "re": "refunds",
    "dp": "disputes",
    "bps": "portal_sessions",
    "evt": "events",
    "promo": "promotion_codes",
    "di": "discounts",
}
STATE_VERSION = 1
_ALPHABET = string.ascii_letters + string.digits

JSON = dict[str, Any]


def empty_state() -> JSON:
    return {
        "version": STATE_VERSION,
        # Sandbox time is real time plus this offset; advancing the clock only ever grows it.
        "clock_offset": 0.0,
        "objects": {name: {} for name in COLLECTIONS},
        # What the sandbox knows about an object that Stripe does not show (checkout line items...).
        "private": {},
        # Each customer's card: which test number paid, and whether later charges fail.
        "cards": {},
        "idempotency": {},
        # Per event: outcome ("pending", "held", "delivered", "failed", "not_sent") and attempts.
        "deliveries": {},
    }


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Sandbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = asyncio.Lock()
        self.data: JSON = empty_state()
        # The events emitted by the action in progress, in order.
        self.batch: list[str] = []
        self.request: dict[str, str | None] = {"id": None, "idempotency_key": None}
        # Set by webhook delivery: receives each finished action's events.
        self.dispatch: Callable[[list[str]], None] = lambda event_ids: None
        self.dirty = False

    # The clock.

    def now(self) -> int:
        return int(time.time() + self.data["clock_offset"])

    def move_clock_to(self, moment: int) -> None:
        """Sandbox time becomes `moment` (never earlier than it already is)."""
        # The microsecond keeps int() from rounding the new time down to moment - 1.
        wanted = moment - time.time() + 1e-6
        self.data["clock_offset"] = max(self.data["clock_offset"], wanted)

    # Objects.

    def table(self, collection: str) -> dict[str, JSON]:
        return self.data["objects"][collection]  # type: ignore[no-any-return]

    def get(self, collection: str, object_id: str) -> JSON | None:
        return self.table(collection).get(object_id)

    def require(self, collection: str, object_id: str, *, param: str = "id") -> JSON:
        found = self.get(collection, object_id)
        if found is None:
            raise no_such(collection, object_id, param=param)
        return found

    def add(self, collection: str, obj: JSON) -> JSON:
        self.table(collection)[obj["id"]] = obj
        return obj

    def newest_first(self, collection: str) -> list[JSON]:
        # Insertion order is creation order, and JSON keeps it across a restart.
        return list(reversed(self.table(collection).values()))

    def find(self, object_id: str) -> JSON | None:
        collection = PREFIXES.get(object_id.split("_", 1)[0])
        found = self.get(collection, object_id) if collection else None
        # A coupon's id is whatever its creator chose, so it has no prefix to go by.
        return found if found is not None else self.get("coupons", object_id)

    def private(self, object_id: str) -> JSON:
        return self.data["private"].setdefault(object_id, {})  # type: ignore[no-any-return]

    # Actions and persistence.

    @asynccontextmanager
    async def action(
        self, *, request_id: str | None = None, idempotency_key: str | None = None
    ) -> AsyncIterator[None]:
        """Hold the lock for one change; at its end save the state and send its events."""
        async with self.lock:
            self.batch = []
            self.request = {"id": request_id, "idempotency_key": idempotency_key}
            try:
                yield
            finally:
                batch, self.batch = self.batch, []
                self.request = {"id": None, "idempotency_key": None}
                self.save()
                if batch:
                    self.dispatch(batch)

    def load(self) -> None:
        path = self._path()
        if path is None or not path.exists():
            return
        data = json.loads(path.read_text())
        if data.get("version") != STATE_VERSION:
            raise RuntimeError(
                f"{path} holds sandbox state version {data.get('version')}, not {STATE_VERSION}"
            )
        fresh = empty_state()
        fresh.update(data)
        for name in COLLECTIONS:
            fresh["objects"].setdefault(name, {})
        self.data = fresh
        log.info("state loaded", state_file=str(path), events=len(self.table("events")))

    def save(self) -> None:
        self.dirty = False
        path = self._path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(self.data))
        # A crash mid-write leaves the previous state intact rather than half a file.
        os.replace(temporary, path)

    def _path(self) -> Path | None:
        return Path(self.settings.state_file) if self.settings.state_file else None
