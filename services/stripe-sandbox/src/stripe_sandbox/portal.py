"""Billing portal sessions: the API that makes one, and what the portal page's buttons do.

The page (in `pages.py`) lists the customer's subscriptions; each button acts like the API
would: cancel at period end or take that back (`customer.subscription.updated`), or cancel now
(`customer.subscription.deleted`).
"""

from __future__ import annotations

import copy

from stripe_sandbox.endpoints import Endpoint, router
from stripe_sandbox.errors import invalid, no_such
from stripe_sandbox.events import emit_update
from stripe_sandbox.forms import IGNORED, Str
from stripe_sandbox.state import JSON, Sandbox, new_id
from stripe_sandbox.subscriptions import cancel, period, set_cancel_at

ROUTES: list[Endpoint] = []
route = router(ROUTES)

ACTIONS = ("cancel_at_period_end", "keep", "cancel_now")
LIVE = ("active", "trialing", "past_due", "unpaid", "paused")


@route(
    "POST",
    "/v1/billing_portal/sessions",
    {
        "customer": Str(),
        "return_url": Str(max_length=5000),
        "configuration": IGNORED,
        "locale": IGNORED,
        "on_behalf_of": IGNORED,
    },
    required=("customer",),
)
def create_portal_session(sb: Sandbox, params: JSON) -> JSON:
    if not sb.get("customers", params["customer"]):
        raise no_such("customers", params["customer"], param="customer")
    session_id = new_id("bps")
    session: JSON = {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": "bpc_sandbox_default",
        "created": sb.now(),
        "customer": params["customer"],
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": params.get("return_url"),
        "url": f"{sb.settings.public_url}/portal/{session_id}",
    }
    return sb.add("portal_sessions", session)


def subscriptions_of(sb: Sandbox, customer_id: str) -> list[JSON]:
    return [s for s in sb.newest_first("subscriptions") if s["customer"] == customer_id]


def act(sb: Sandbox, session: JSON, subscription_id: str, action: str) -> str:
    """Do one portal button's action; returns a sentence for the page."""
    subscription = sb.get("subscriptions", subscription_id)
    if subscription is None or subscription["customer"] != session["customer"]:
        raise no_such("subscriptions", subscription_id)
    if action not in ACTIONS:
        raise invalid(f"Unknown portal action: {action}")
    if subscription["status"] not in LIVE:
        raise invalid("This subscription has already ended.")
    if action == "cancel_now":
        cancel(sb, subscription)
        return "The subscription is canceled."
    before = copy.deepcopy(subscription)
    if action == "cancel_at_period_end":
        set_cancel_at(sb, subscription, period(subscription)[1])
        message = "The subscription will end at the end of the current period."
    else:
        set_cancel_at(sb, subscription, None)
        message = "The subscription will renew as usual."
    emit_update(sb, "customer.subscription.updated", before, subscription)
    return message
