"""Events: what each change emits (a snapshot of the object at that moment), and the events API.

`emit` records the event, marks it for delivery and adds it to the current action's batch;
`webhooks.py` sends the batch once the action ends. `changes` computes `previous_attributes`
the way Stripe does: the old values of what changed, partially for plain hashes.
"""

from __future__ import annotations

import copy

from stripe_sandbox import API_VERSION
from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.forms import Bool, ListOf, Str
from stripe_sandbox.state import JSON, Sandbox, new_id

ROUTES: list[Endpoint] = []
route = router(ROUTES)


def emit(sb: Sandbox, type_: str, obj: JSON, previous: JSON | None = None) -> JSON:
    sending = bool(sb.settings.webhook_secret)
    data: JSON = {"object": copy.deepcopy(obj)}
    if previous is not None:
        data["previous_attributes"] = copy.deepcopy(previous)
    event: JSON = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": sb.now(),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1 if sending else 0,
        "request": dict(sb.request),
        "type": type_,
    }
    sb.add("events", event)
    sb.data["deliveries"][event["id"]] = {"outcome": "pending" if sending else "not_sent", "attempts": []}
    sb.batch.append(event["id"])
    return event


def changes(before: JSON, after: JSON) -> JSON:
    """The old values of every top-level field that differs (plain hashes: only their changed keys)."""
    previous: JSON = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and "object" not in old:
            previous[key] = changes(old, new)
        else:
            previous[key] = old
    return previous


def emit_update(sb: Sandbox, type_: str, before: JSON, after: JSON) -> bool:
    """Emit `*.updated` with previous_attributes, unless nothing changed (Stripe stays silent then)."""
    previous = changes(before, after)
    if not previous:
        return False
    emit(sb, type_, after, previous)
    return True


@route("GET", "/v1/events/{id}")
def retrieve_event(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("events", id)


@route(
    "GET", "/v1/events", {"type": Str(), "types": ListOf(Str(), 20), "delivery_success": Bool()}, listing=True
)
def list_events(sb: Sandbox, params: JSON) -> Page:
    wanted = set(params.get("types") or [])
    if "type" in params:
        wanted.add(params["type"])
    items = [e for e in sb.newest_first("events") if not wanted or _matches(e["type"], wanted)]
    if "delivery_success" in params:
        # Stripe's filter: events whose webhook was delivered (true) or is still failing (false).
        outcomes = {"delivered"} if params["delivery_success"] else {"failed", "retrying"}
        items = [e for e in items if sb.data["deliveries"].get(e["id"], {}).get("outcome") in outcomes]
    return Page(items, "/v1/events")


def _matches(event_type: str, wanted: set[str]) -> bool:
    # Stripe's type filter takes a trailing wildcard: "customer.subscription.*".
    return any(event_type == w or (w.endswith("*") and event_type.startswith(w[:-1])) for w in wanted)
