"""Webhook bodies signed as Stripe signs them (by the sandbox's own signer), with a secret made now."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from stripe_sandbox.webhooks import signature_header


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


def signature(secret: str, payload: bytes, at: int | None = None) -> str:
    return signature_header(secret, payload, int(time.time()) if at is None else at)


def event(
    kind: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def body(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt).encode()
