"""Products and prices: create, retrieve, update, list; a price's `lookup_key` is unique among prices.

Taking a lookup key that another price holds fails unless `transfer_lookup_key=true`, which
moves it (and announces the old price's change). A subscription item carries a copy of its price
and of the legacy `plan` made from it; changing a price refreshes those copies.
"""

from __future__ import annotations

import copy
import re

from stripe_sandbox.customers import merge_metadata
from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import StripeError, invalid, missing_parameter, no_such
from stripe_sandbox.events import emit, emit_update
from stripe_sandbox.forms import IGNORED, METADATA, Bool, Int, ListOf, Obj, Str
from stripe_sandbox.state import JSON, Sandbox, new_id

ROUTES: list[Endpoint] = []
route = router(ROUTES)

PRODUCT_COSMETICS = dict.fromkeys(
    (
        "images",
        "marketing_features",
        "package_dimensions",
        "shippable",
        "statement_descriptor",
        "tax_code",
        "unit_label",
        "url",
    ),
    IGNORED,
)
PRODUCT_FIELDS = {
    "name": Str(max_length=250),
    "description": Str(nullable=True, max_length=40000),
    "metadata": METADATA,
    "active": Bool(),
    **PRODUCT_COSMETICS,
}
INTERVALS = ("day", "week", "month", "year")
# Stripe's longest billing interval is one year, whichever unit names it.
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}
RECURRING = Obj(
    {
        "interval": Str(*INTERVALS),
        "interval_count": Int(1),
        "usage_type": Str("licensed"),
        "trial_period_days": Int(1, 730),
    },
    required=("interval",),
)
PRICE_UPDATE_FIELDS = {
    "active": Bool(),
    "lookup_key": Str(nullable=True, max_length=200),
    "transfer_lookup_key": Bool(),
    "nickname": Str(nullable=True),
    "metadata": METADATA,
    "tax_behavior": Str("exclusive", "inclusive", "unspecified"),
    "currency_options": IGNORED,
}


# Products.


def new_product(sb: Sandbox, params: JSON) -> JSON:
    product_id = params.get("id") or new_id("prod", 14)
    if sb.get("products", product_id):
        raise StripeError("Product already exists.", code="resource_already_exists", param="id")
    now = sb.now()
    product: JSON = {
        "id": product_id,
        "object": "product",
        "active": params.get("active", True),
        "created": now,
        "default_price": None,
        "description": params.get("description"),
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "name": params["name"],
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    sb.add("products", product)
    emit(sb, "product.created", product)
    return product


@route("POST", "/v1/products", {"id": Str(max_length=200), **PRODUCT_FIELDS}, required=("name",))
def create_product(sb: Sandbox, params: JSON) -> JSON:
    return new_product(sb, params)


@route("GET", "/v1/products/{id}")
def retrieve_product(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("products", id)


@route("POST", "/v1/products/{id}", {**PRODUCT_FIELDS, "default_price": Str(nullable=True)})
def update_product(sb: Sandbox, params: JSON, id: str) -> JSON:
    product = sb.require("products", id)
    if params.get("default_price"):
        price = sb.require("prices", params["default_price"], param="default_price")
        if price["product"] != id:
            raise invalid(
                f"The price `{price['id']}` does not belong to product `{id}`.", param="default_price"
            )
    before = copy.deepcopy(product)
    for key in ("name", "description", "active", "default_price"):
        if key in params:
            product[key] = params[key]
    if "metadata" in params:
        product["metadata"] = merge_metadata(product["metadata"], params["metadata"])
    if product != before:
        product["updated"] = sb.now()
    emit_update(sb, "product.updated", before, product)
    return product


@route(
    "GET",
    "/v1/products",
    {"active": Bool(), "ids": ListOf(Str()), "shippable": IGNORED, "url": IGNORED},
    listing=True,
)
def list_products(sb: Sandbox, params: JSON) -> Page:
    items = sb.newest_first("products")
    if "active" in params:
        items = [p for p in items if p["active"] == params["active"]]
    if params.get("ids"):
        items = [p for p in items if p["id"] in params["ids"]]
    return Page(items, "/v1/products")


# Prices.


@route(
    "POST",
    "/v1/prices",
    {
        "product": Str(),
        "product_data": Obj(
            {
                "name": Str(max_length=250),
                "metadata": METADATA,
                "active": Bool(),
                "id": Str(),
                **PRODUCT_COSMETICS,
            },
            required=("name",),
        ),
        "currency": Str(),
        "unit_amount": Int(0, 99999999),
        "recurring": RECURRING,
        "billing_scheme": Str("per_unit"),
        **PRICE_UPDATE_FIELDS,
    },
    required=("currency",),
)
def create_price(sb: Sandbox, params: JSON) -> JSON:
    currency = _currency(params["currency"])
    if "unit_amount" not in params:
        raise missing_parameter("unit_amount")
    if ("product" in params) == ("product_data" in params):
        if "product" not in params:
            raise missing_parameter("product")
        raise StripeError(
            "You may only specify one of these parameters: product, product_data.",
            code="parameters_exclusive",
            param="product",
        )
    if "product" in params and not sb.get("products", params["product"]):
        raise no_such("products", params["product"], param="product")
    recurring = _recurring(params.get("recurring"))
    lookup_key = params.get("lookup_key")
    _check_lookup_key(sb, lookup_key, None, params.get("transfer_lookup_key", False))
    # Every check passed: from here on the state changes.
    product_id = params.get("product") or new_product(sb, params["product_data"])["id"]
    _take_lookup_key(sb, lookup_key, None)
    price: JSON = {
        "id": new_id("price"),
        "object": "price",
        "active": params.get("active", True),
        "billing_scheme": "per_unit",
        "created": sb.now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "nickname": params.get("nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": params.get("tax_behavior", "unspecified"),
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": params["unit_amount"],
        "unit_amount_decimal": str(params["unit_amount"]),
    }
    sb.add("prices", price)
    emit(sb, "price.created", price)
    return price


@route("GET", "/v1/prices/{id}")
def retrieve_price(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("prices", id)


@route("POST", "/v1/prices/{id}", PRICE_UPDATE_FIELDS)
def update_price(sb: Sandbox, params: JSON, id: str) -> JSON:
    price = sb.require("prices", id)
    if "lookup_key" in params:
        _check_lookup_key(sb, params["lookup_key"], id, params.get("transfer_lookup_key", False))
        _take_lookup_key(sb, params["lookup_key"], id)
    before = copy.deepcopy(price)
    for key in ("active", "lookup_key", "nickname", "tax_behavior"):
        if key in params:
            price[key] = params[key]
    if "metadata" in params:
        price["metadata"] = merge_metadata(price["metadata"], params["metadata"])
    if emit_update(sb, "price.updated", before, price):
        refresh_price_copies(sb, price)
    return price


@route(
    "GET",
    "/v1/prices",
    {
        "active": Bool(),
        "product": Str(),
        "currency": Str(),
        "type": Str("one_time", "recurring"),
        "lookup_keys": ListOf(Str(), 10),
        "recurring": Obj(
            {"interval": Str(*INTERVALS), "usage_type": Str("licensed", "metered"), "meter": IGNORED}
        ),
    },
    listing=True,
)
def list_prices(sb: Sandbox, params: JSON) -> Page:
    def keep(price: JSON) -> bool:
        if "active" in params and price["active"] != params["active"]:
            return False
        for key in ("product", "type"):
            if key in params and price[key] != params[key]:
                return False
        if "currency" in params and price["currency"] != params["currency"].lower():
            return False
        if params.get("lookup_keys") and price["lookup_key"] not in params["lookup_keys"]:
            return False
        wanted = params.get("recurring", {}).get("interval")
        return not wanted or (price["recurring"] or {}).get("interval") == wanted

    return Page([p for p in sb.newest_first("prices") if keep(p)], "/v1/prices")


def plan_from_price(price: JSON) -> JSON:
    """The legacy `plan` object Stripe still shows beside a subscription item's price."""
    recurring = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": price["metadata"],
        "meter": None,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def refresh_price_copies(sb: Sandbox, price: JSON) -> None:
    # Stripe shows an item's price as it is now, not as it was when the subscription began.
    for subscription in sb.table("subscriptions").values():
        for item in subscription["items"]["data"]:
            if item["price"]["id"] == price["id"]:
                item["price"] = copy.deepcopy(price)
                item["plan"] = plan_from_price(price)


def _currency(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise invalid(
            f"Invalid currency: {value}. Stripe currencies are three-letter ISO codes.", param="currency"
        )
    return value.lower()


def recurring_of(value: JSON | None) -> JSON | None:
    """A price's `recurring` hash from the parameter (checked), or None for a one-time price."""
    return _recurring(value)


def _recurring(value: JSON | None) -> JSON | None:
    if value is None:
        return None
    interval = value["interval"]
    count = value.get("interval_count", 1)
    if count > MAX_INTERVAL_COUNT[interval]:
        raise invalid(
            "The maximum billing interval is one year (1 year, 12 months, 52 weeks or 365 days).",
            param="recurring[interval_count]",
        )
    return {
        "interval": interval,
        "interval_count": count,
        "meter": None,
        "trial_period_days": value.get("trial_period_days"),
        "usage_type": "licensed",
    }


def _holder(sb: Sandbox, lookup_key: str | None, price_id: str | None) -> JSON | None:
    if lookup_key is None:
        return None
    for price in sb.table("prices").values():
        if price["lookup_key"] == lookup_key and price["id"] != price_id:
            return price
    return None


def _check_lookup_key(sb: Sandbox, lookup_key: str | None, price_id: str | None, transfer: bool) -> None:
    holder = _holder(sb, lookup_key, price_id)
    if holder and not transfer:
        raise invalid(f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key")


def _take_lookup_key(sb: Sandbox, lookup_key: str | None, price_id: str | None) -> None:
    holder = _holder(sb, lookup_key, price_id)
    if holder:
        before = copy.deepcopy(holder)
        holder["lookup_key"] = None
        emit_update(sb, "price.updated", before, holder)
        refresh_price_copies(sb, holder)
