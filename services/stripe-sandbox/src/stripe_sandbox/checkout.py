"""Checkout sessions (subscription mode): the API, and what paying on the hosted page does.

Paying with a good card creates the customer if needed, the subscription (trialing when the
session asked for a trial), its first invoice and the payment, then completes the session, all
with the events Stripe sends in Stripe's order. A declined card creates nothing and leaves the
session open. Sessions expire at `expires_at` (24 hours by default).
"""

from __future__ import annotations

import copy
import secrets

from stripe_sandbox.customers import merge_metadata, new_customer
from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import card_declined, exclusive, invalid, missing_parameter, no_such
from stripe_sandbox.events import emit
from stripe_sandbox.forms import IGNORED, METADATA, Bool, Int, ListOf, Obj, Str
from stripe_sandbox.payments import TestCard, attach_card
from stripe_sandbox.state import JSON, Sandbox
from stripe_sandbox.subscriptions import DAY, start_subscription

ROUTES: list[Endpoint] = []
route = router(ROUTES)

SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
LINE_ITEM = Obj(
    {"price": Str(), "quantity": Int(1, 999999), "adjustable_quantity": IGNORED, "tax_rates": IGNORED}
)
SUBSCRIPTION_DATA = Obj(
    {
        "metadata": METADATA,
        "trial_period_days": Int(1, 730),
        "trial_end": Int(),
        "description": Str(max_length=500),
        "trial_settings": IGNORED,
        "billing_cycle_anchor": IGNORED,
        "proration_behavior": IGNORED,
        "default_tax_rates": IGNORED,
    }
)
# Real parameters the sandbox accepts and does not model: they change the page, not the outcome.
COSMETIC = dict.fromkeys(
    (
        "automatic_tax",
        "billing_address_collection",
        "consent_collection",
        "custom_fields",
        "custom_text",
        "customer_update",
        "locale",
        "payment_method_collection",
        "payment_method_types",
        "phone_number_collection",
        "submit_type",
        "tax_id_collection",
    ),
    IGNORED,
)


@route(
    "POST",
    "/v1/checkout/sessions",
    {
        "mode": Str("payment", "setup", "subscription"),
        "customer": Str(),
        "customer_email": Str(max_length=512),
        "client_reference_id": Str(max_length=200),
        "line_items": ListOf(LINE_ITEM, 20),
        "success_url": Str(max_length=5000),
        "cancel_url": Str(max_length=5000),
        "metadata": METADATA,
        "subscription_data": SUBSCRIPTION_DATA,
        "allow_promotion_codes": Bool(),
        "expires_at": Int(),
        "ui_mode": Str("hosted"),
        **COSMETIC,
    },
    required=("mode",),
)
def create_session(sb: Sandbox, params: JSON) -> JSON:
    if params["mode"] != "subscription":
        raise invalid("The Stripe sandbox supports only mode=subscription.", param="mode")
    if "customer" in params and "customer_email" in params:
        raise exclusive("customer", "customer_email")
    if "customer" in params and not sb.get("customers", params["customer"]):
        raise no_such("customers", params["customer"], param="customer")
    if "success_url" not in params:
        raise missing_parameter("success_url")
    lines = _line_items(sb, params.get("line_items") or [])
    now = sb.now()
    expires_at = params.get("expires_at", now + DAY)
    if not now + 30 * 60 <= expires_at <= now + DAY:
        raise invalid("expires_at must be between 30 minutes and 24 hours from now.", param="expires_at")
    subscription_data = params.get("subscription_data", {})
    if "trial_period_days" in subscription_data and "trial_end" in subscription_data:
        raise exclusive("subscription_data[trial_period_days]", "subscription_data[trial_end]")
    if subscription_data.get("trial_end") is not None and subscription_data["trial_end"] < now + 2 * DAY:
        raise invalid(
            "trial_end must be at least 48 hours in the future.", param="subscription_data[trial_end]"
        )
    trial = "trial_period_days" in subscription_data or "trial_end" in subscription_data
    amount = 0 if trial else sum(price["unit_amount"] * quantity for price, quantity in lines)
    session_id = "cs_test_" + secrets.token_urlsafe(44).replace("-", "a").replace("_", "b")[:58]
    session: JSON = {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": lines[0][0]["currency"],
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": params.get("customer"),
        "customer_account": None,
        "customer_creation": None,
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": None,
        "managed_payments": {"enabled": False},
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "mode": "subscription",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": params["success_url"],
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"{sb.settings.public_url}/checkout/{session_id}",
        "wallet_options": None,
    }
    sb.add("checkout_sessions", session)
    sb.private(session_id).update(
        lines=[{"price": price["id"], "quantity": quantity} for price, quantity in lines],
        subscription_data=subscription_data,
    )
    return session


def _line_items(sb: Sandbox, items: list[JSON]) -> list[tuple[JSON, int]]:
    if not items:
        raise missing_parameter("line_items")
    lines: list[tuple[JSON, int]] = []
    for index, item in enumerate(items):
        param = f"line_items[{index}][price]"
        if "price" not in item:
            raise missing_parameter(param)
        price = sb.get("prices", item["price"])
        if price is None:
            raise no_such("prices", item["price"], param=param)
        if not price["active"]:
            raise invalid(
                f"The price specified ({price['id']}) is inactive. This field only accepts active prices.",
                param=param,
            )
        if price["type"] != "recurring":
            raise invalid(
                "You must provide at least one recurring price in `subscription` mode when using prices.",
                param=param,
            )
        lines.append((price, item.get("quantity", 1)))
    first = lines[0][0]
    for price, _ in lines[1:]:
        if (
            price["currency"] != first["currency"]
            or price["recurring"]["interval"] != first["recurring"]["interval"]
            or (price["recurring"]["interval_count"] != first["recurring"]["interval_count"])
        ):
            raise invalid(
                "All prices on a subscription must have the same currency and billing interval.",
                param="line_items",
            )
    return lines


@route("GET", "/v1/checkout/sessions/{id}")
def retrieve_session(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("checkout_sessions", id)


@route(
    "GET",
    "/v1/checkout/sessions",
    {
        "customer": Str(),
        "subscription": Str(),
        "status": Str("complete", "expired", "open"),
        "payment_intent": Str(),
        "customer_details": IGNORED,
        "payment_link": IGNORED,
    },
    listing=True,
)
def list_sessions(sb: Sandbox, params: JSON) -> Page:
    def keep(session: JSON) -> bool:
        return all(
            params.get(key) in (None, session[key])
            for key in ("customer", "subscription", "status", "payment_intent")
        )

    return Page([s for s in sb.newest_first("checkout_sessions") if keep(s)], "/v1/checkout/sessions")


@route("POST", "/v1/checkout/sessions/{id}/expire")
def expire_session(sb: Sandbox, params: JSON, id: str) -> JSON:
    session = sb.require("checkout_sessions", id)
    if session["status"] != "open":
        status = session["status"]
        raise invalid(
            f'Only Checkout Sessions with a status in ["open"] can be expired; this one is {status}.'
        )
    expire(sb, session)
    return session


@route("GET", "/v1/checkout/sessions/{id}/line_items", listing=True)
def list_line_items(sb: Sandbox, params: JSON, id: str) -> Page:
    session = sb.require("checkout_sessions", id)
    return Page(line_items(sb, session), f"/v1/checkout/sessions/{id}/line_items")


def line_items(sb: Sandbox, session: JSON) -> list[JSON]:
    """The session's `item` objects, as `expand[]=line_items` and the page show them."""
    trial = bool(sb.private(session["id"])["subscription_data"].keys() & {"trial_period_days", "trial_end"})
    items = []
    for index, line in enumerate(sb.private(session["id"])["lines"]):
        price = sb.get("prices", line["price"]) or {}
        product = sb.get("products", price.get("product", "")) or {}
        amount = 0 if trial else price.get("unit_amount", 0) * line["quantity"]
        items.append(
            {
                "id": f"li_{session['id'][8:30]}{index}",
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": price.get("currency"),
                "description": product.get("name"),
                "metadata": {},
                "price": copy.deepcopy(price),
                "quantity": line["quantity"],
            }
        )
    return items


def expire(sb: Sandbox, session: JSON) -> None:
    session["status"] = "expired"
    session["url"] = None
    emit(sb, "checkout.session.expired", session)


def next_due(session: JSON) -> int | None:
    return session["expires_at"] if session["status"] == "open" else None


def pay(sb: Sandbox, session: JSON, card: TestCard, email: str | None = None) -> JSON:
    """What the hosted page's pay button does; returns the completed session."""
    if session["status"] == "open" and session["expires_at"] <= sb.now():
        expire(sb, session)
    if session["status"] != "open":
        raise invalid(f"This Checkout Session is {session['status']}: it can no longer be paid.")
    if card.declined:
        raise card_declined()
    private = sb.private(session["id"])
    lines = [
        (sb.require("prices", line["price"], param="price"), line["quantity"]) for line in private["lines"]
    ]
    customer = sb.get("customers", session["customer"]) if session["customer"] else None
    if customer is None:
        customer = new_customer(sb, {"email": session["customer_email"] or email or "reader@example.com"})
    card_record = attach_card(sb, customer["id"], card, sb.now())
    data = private["subscription_data"]
    trial_end = data.get("trial_end")
    if data.get("trial_period_days"):
        trial_end = sb.now() + data["trial_period_days"] * DAY
    subscription, invoice = start_subscription(
        sb,
        customer_id=customer["id"],
        lines=lines,
        metadata=data.get("metadata", {}),
        description=data.get("description"),
        trial_end=trial_end,
        payment_method=card_record["payment_method"],
    )
    session.update(
        status="complete",
        payment_status="paid" if invoice["amount_paid"] else "no_payment_required",
        customer=customer["id"],
        subscription=subscription["id"],
        invoice=invoice["id"],
        url=None,
        customer_details={
            "address": None,
            "business_name": None,
            "email": customer["email"],
            "individual_name": None,
            "name": customer["name"],
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
    )
    emit(sb, "checkout.session.completed", session)
    return session


def success_redirect(session: JSON) -> str:
    return str(session["success_url"]).replace(SESSION_ID_PLACEHOLDER, session["id"])
