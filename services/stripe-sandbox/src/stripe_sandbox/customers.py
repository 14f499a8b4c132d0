"""Customers: create, retrieve, update, list (by email), each shaped like Stripe's customer object."""

from __future__ import annotations

import copy
import secrets

from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import card_declined
from stripe_sandbox.events import emit, emit_update
from stripe_sandbox.forms import IGNORED, METADATA, Str
from stripe_sandbox.payments import attach_card, test_payment_method
from stripe_sandbox.state import JSON, Sandbox, new_id

ROUTES: list[Endpoint] = []
route = router(ROUTES)

FIELDS = {
    "email": Str(nullable=True, max_length=512),
    "name": Str(nullable=True, max_length=256),
    "description": Str(nullable=True),
    "phone": Str(nullable=True, max_length=20),
    "metadata": METADATA,
    # Real parameters the sandbox accepts without modelling them.
    "address": IGNORED,
    "preferred_locales": IGNORED,
    "invoice_settings": IGNORED,
    "tax_exempt": IGNORED,
}
# Only on create, as at Stripe: a test payment method becomes the customer's card.
CREATE_FIELDS = {**FIELDS, "payment_method": Str(max_length=100)}


def new_customer(sb: Sandbox, params: JSON) -> JSON:
    """A customer in the state with its `customer.created` event (checkout makes them too)."""
    customer: JSON = {
        "id": new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": sb.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "discount": None,
        "email": params.get("email"),
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "name": params.get("name"),
        "next_invoice_sequence": 1,
        "phone": params.get("phone"),
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    sb.add("customers", customer)
    emit(sb, "customer.created", customer)
    return customer


@route("POST", "/v1/customers", CREATE_FIELDS)
def create_customer(sb: Sandbox, params: JSON) -> JSON:
    card = test_payment_method(params["payment_method"]) if "payment_method" in params else None
    if card is not None and card.declined:
        raise card_declined()
    customer = new_customer(sb, params)
    if card is not None:
        record = attach_card(sb, customer["id"], card, sb.now())
        customer["invoice_settings"]["default_payment_method"] = record["payment_method"]
    return customer


@route("GET", "/v1/customers/{id}")
def retrieve_customer(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("customers", id)


@route("POST", "/v1/customers/{id}", FIELDS)
def update_customer(sb: Sandbox, params: JSON, id: str) -> JSON:
    customer = sb.require("customers", id)
    before = copy.deepcopy(customer)
    for key in ("email", "name", "description", "phone"):
        if key in params:
            customer[key] = params[key]
    if "metadata" in params:
        customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
    emit_update(sb, "customer.updated", before, customer)
    return customer


@route("GET", "/v1/customers", {"email": Str(max_length=512), "test_clock": IGNORED}, listing=True)
def list_customers(sb: Sandbox, params: JSON) -> Page:
    email = params.get("email")
    # Stripe's email filter is exact and case-sensitive.
    items = [c for c in sb.newest_first("customers") if email is None or c["email"] == email]
    return Page(items, "/v1/customers")


def merge_metadata(current: JSON, update: JSON) -> JSON:
    """Stripe's metadata update: keys merge in, an empty value removes its key, `{}` clears all."""
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
