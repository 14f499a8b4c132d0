"""The sandbox's own controls under `/_sandbox/`: what Stripe's dashboard, a bank or time would do.

They move the clock, make a customer's card fail, open disputes, pause subscriptions, pay a
checkout session without the HTML page, and steer webhook delivery (duplicate, shuffle, hold
and flush, resend, wait until the queue is empty). Bodies are JSON or form; answers are JSON.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get, post
from litestar.params import FromPath

from stripe_sandbox import checkout, clock
from stripe_sandbox.errors import invalid
from stripe_sandbox.forms import Bool, Int, Number, Obj, Str, parse_body
from stripe_sandbox.payments import card_of, test_card
from stripe_sandbox.refunds import DISPUTE_REASONS, open_dispute
from stripe_sandbox.state import JSON, Sandbox
from stripe_sandbox.subscriptions import pause
from stripe_sandbox.webhooks import MODES, ORDERS, Delivery

AnyRequest = Request[Any, Any, Any]


async def _params(request: AnyRequest, spec: Obj) -> JSON:
    body = parse_body(request.headers.get("content-type", ""), await request.body())
    return spec.coerce(body, "")  # type: ignore[no-any-return]


def _sandbox(request: AnyRequest) -> Sandbox:
    return request.app.state.sandbox  # type: ignore[no-any-return]


def _delivery(request: AnyRequest) -> Delivery:
    return request.app.state.delivery  # type: ignore[no-any-return]


@get("/clock")
async def read_clock(request: AnyRequest) -> JSON:
    return clock.describe(_sandbox(request))


@post("/clock/advance", status_code=200)
async def advance_clock(request: AnyRequest) -> JSON:
    params = await _params(request, Obj({"seconds": Number(), "days": Number()}))
    if ("seconds" in params) == ("days" in params):
        raise invalid("Give either seconds or days.", param="seconds")
    seconds = params.get("seconds", params.get("days", 0) * 86400)
    sb = _sandbox(request)
    async with sb.action():
        return clock.advance(sb, seconds)


@post("/customers/{customer_id:str}/card", status_code=200)
async def set_card_behaviour(request: AnyRequest, customer_id: FromPath[str]) -> JSON:
    params = await _params(request, Obj({"fails": Bool()}, required=("fails",)))
    sb = _sandbox(request)
    async with sb.action():
        sb.require("customers", customer_id)
        card = card_of(sb, customer_id)
        if card is None:
            raise invalid(f"Customer {customer_id} has no card yet: pay a checkout session first.")
        card["fails"] = params["fails"]
        return {"customer": customer_id, "last4": card["last4"], "fails": card["fails"]}


@post("/charges/{charge_id:str}/dispute", status_code=200)
async def dispute_charge(request: AnyRequest, charge_id: FromPath[str]) -> JSON:
    params = await _params(request, Obj({"reason": Str(*DISPUTE_REASONS)}))
    sb = _sandbox(request)
    async with sb.action():
        return open_dispute(sb, charge_id, params.get("reason", "fraudulent"))


@post("/subscriptions/{subscription_id:str}/pause", status_code=200)
async def pause_subscription(request: AnyRequest, subscription_id: FromPath[str]) -> JSON:
    sb = _sandbox(request)
    async with sb.action():
        subscription = sb.require("subscriptions", subscription_id)
        pause(sb, subscription)
        return subscription


@post("/checkout/{session_id:str}/pay", status_code=200)
async def pay_checkout(request: AnyRequest, session_id: FromPath[str]) -> JSON:
    """Exactly what the checkout page's button does (after its promotion code field, if given);
    answers the session and where the browser would go."""
    params = await _params(
        request, Obj({"card": Str(), "email": Str(), "promotion_code": Str()}, required=("card",))
    )
    sb = _sandbox(request)
    async with sb.action():
        session = sb.require("checkout_sessions", session_id)
        card = test_card(params["card"])
        if "promotion_code" in params:  # typed into the page's field first
            checkout.apply_promotion_code(sb, session, params["promotion_code"])
        checkout.pay(sb, session, card, email=params.get("email"))
        return {"session": session, "redirect": checkout.success_redirect(session)}


@get("/events")
async def list_events(request: AnyRequest) -> JSON:
    """Every event, oldest first, with its delivery attempts and outcome."""
    sb = _sandbox(request)
    async with sb.lock:
        deliveries = sb.data["deliveries"]
        listed = [
            {
                "id": event["id"],
                "type": event["type"],
                "created": event["created"],
                "object": event["data"]["object"].get("id"),
                **deliveries.get(event["id"], {"outcome": "unknown", "attempts": []}),
            }
            for event in sb.table("events").values()
        ]
        return {"events": listed, "delivery": _delivery(request).describe()}


@post("/events/{event_id:str}/resend", status_code=200)
async def resend_event(request: AnyRequest, event_id: FromPath[str]) -> JSON:
    sb = _sandbox(request)
    delivery = _delivery(request)
    if not delivery.enabled:
        raise invalid("No webhook secret is configured (STRIPE_SANDBOX_WEBHOOK_SECRET), so nothing is sent.")
    async with sb.lock:
        sb.require("events", event_id)
        delivery.resend(event_id)
    return {"resent": event_id}


@get("/delivery")
async def read_delivery(request: AnyRequest) -> JSON:
    return _delivery(request).describe()


@post("/delivery", status_code=200)
async def set_delivery(request: AnyRequest) -> JSON:
    params = await _params(
        request, Obj({"mode": Str(*MODES), "delay_seconds": Number(), "seed": Int()}, required=("mode",))
    )
    delivery = _delivery(request)
    async with _sandbox(request).lock:
        delivery.configure(params["mode"], min(params.get("delay_seconds", 0.0), 30.0), params.get("seed"))
    return delivery.describe()


@post("/delivery/flush", status_code=200)
async def flush_delivery(request: AnyRequest) -> JSON:
    params = await _params(request, Obj({"order": Str(*ORDERS), "duplicate": Bool(), "seed": Int()}))
    delivery = _delivery(request)
    async with _sandbox(request).lock:
        sent = delivery.flush(
            params.get("order", "as_created"),
            duplicate=params.get("duplicate", False),
            seed=params.get("seed"),
        )
    return {"sending": sent, "delivery": delivery.describe()}


@post("/delivery/wait", status_code=200)
async def wait_for_delivery(request: AnyRequest) -> JSON:
    """Answers once nothing is queued, retrying or in flight (or after `timeout` seconds, idle false)."""
    params = await _params(request, Obj({"timeout": Number()}))
    delivery = _delivery(request)
    idle = await delivery.wait(min(params.get("timeout", 30.0), 120.0))
    return {"idle": idle, "delivery": delivery.describe()}


controls_router = Router(
    path="/_sandbox",
    route_handlers=[
        read_clock,
        advance_clock,
        set_card_behaviour,
        dispute_charge,
        pause_subscription,
        pay_checkout,
        list_events,
        resend_event,
        read_delivery,
        set_delivery,
        flush_delivery,
        wait_for_delivery,
    ],
    include_in_schema=False,
)
