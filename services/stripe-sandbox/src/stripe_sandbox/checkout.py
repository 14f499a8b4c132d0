"""Checkout sessions (subscription and payment mode): the API, and what paying on the hosted page does.

In subscription mode, paying with a good card creates the customer if needed, the subscription
(trialing when the session asked for a trial, with the session's discount), its first invoice
and the payment, then completes the session, all with the events Stripe sends in Stripe's
order. In payment mode it makes one payment intent and its charge for the session's total (a
customer only with `customer_creation=always` or a given `customer`). A declined card creates
nothing and leaves the session open. Sessions expire at `expires_at` (24 hours by default).

A session takes one discount (`discounts: [{coupon}]` or `[{promotion_code}]`), or with
`allow_promotion_codes` lets the payer type a code on the hosted page. Its totals show what
comes off the first payment; the coupon is redeemed only when the session completes.
"""

from __future__ import annotations

import copy
import secrets

from stripe_sandbox import catalog, discounts
from stripe_sandbox.customers import merge_metadata, new_customer
from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import StripeError, card_declined, exclusive, invalid, missing_parameter, no_such
from stripe_sandbox.events import emit
from stripe_sandbox.forms import IGNORED, METADATA, Bool, Int, ListOf, Obj, Str
from stripe_sandbox.payments import TestCard, attach_card, attempt_payment, card_record, new_payment_intent
from stripe_sandbox.periods import DAY
from stripe_sandbox.state import JSON, Sandbox
from stripe_sandbox.subscriptions import start_subscription

ROUTES: list[Endpoint] = []
route = router(ROUTES)

SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
PRICE_DATA = Obj(
    {
        "currency": Str(),
        "unit_amount": Int(0, 99999999),
        "product": Str(),
        "product_data": Obj(
            {
                "name": Str(max_length=250),
                "description": Str(max_length=40000),
                "metadata": METADATA,
                "images": IGNORED,
                "tax_code": IGNORED,
                "unit_label": IGNORED,
            },
            required=("name",),
        ),
        "recurring": catalog.RECURRING,
        "tax_behavior": Str("exclusive", "inclusive", "unspecified"),
    },
    required=("currency",),
)
LINE_ITEM = Obj(
    {
        "price": Str(),
        "price_data": PRICE_DATA,
        "quantity": Int(1, 999999),
        "adjustable_quantity": IGNORED,
        "tax_rates": IGNORED,
    }
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
PAYMENT_INTENT_DATA = Obj(
    {
        "metadata": METADATA,
        "description": Str(max_length=1000),
        "receipt_email": Str(max_length=512),
        "capture_method": Str("automatic", "automatic_async"),
        "setup_future_usage": IGNORED,
        "statement_descriptor": IGNORED,
        "statement_descriptor_suffix": IGNORED,
        "shipping": IGNORED,
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
        "customer_creation": Str("always", "if_required"),
        "client_reference_id": Str(max_length=200),
        "line_items": ListOf(LINE_ITEM, 20),
        "success_url": Str(max_length=5000),
        "cancel_url": Str(max_length=5000),
        "metadata": METADATA,
        "subscription_data": SUBSCRIPTION_DATA,
        "payment_intent_data": PAYMENT_INTENT_DATA,
        "discounts": ListOf(discounts.DISCOUNT_ENTRY, 1),  # Stripe: "only up to one may be specified"
        "allow_promotion_codes": Bool(),
        "expires_at": Int(),
        "ui_mode": Str("hosted"),
        **COSMETIC,
    },
    required=("mode",),
)
def create_session(sb: Sandbox, params: JSON) -> JSON:
    mode = params["mode"]
    if mode not in ("subscription", "payment"):
        raise invalid("The Stripe sandbox supports only mode=subscription and mode=payment.", param="mode")
    if "customer" in params and "customer_email" in params:
        raise exclusive("customer", "customer_email")
    if "customer" in params and not sb.get("customers", params["customer"]):
        raise no_such("customers", params["customer"], param="customer")
    other = "payment" if mode == "subscription" else "subscription"
    for key in (f"{other}_intent_data" if other == "payment" else "subscription_data",):
        if key in params:
            raise invalid(f"You can not pass `{key}` in `{mode}` mode.", param=key)
    if "customer_creation" in params and mode != "payment":
        raise invalid(
            "`customer_creation` can only be used in `payment` and `setup` mode.", param="customer_creation"
        )
    if "success_url" not in params:
        raise missing_parameter("success_url")
    if params.get("discounts") and params.get("allow_promotion_codes"):
        raise exclusive("allow_promotion_codes", "discounts")
    lines = _line_items(sb, params.get("line_items") or [], mode)
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
    currency = lines[0][0]["currency"]
    entries = params.get("discounts") or []
    discounts.check_entries(
        sb,
        entries,
        "discounts",
        customer_id=params.get("customer"),
        currency=currency,
        lines=[(price["product"], price["unit_amount"] * quantity) for price, quantity in lines],
    )
    # Every check passed: from here on the state changes.
    lines = [(_store_inline(sb, price), quantity) for price, quantity in lines]
    session_id = "cs_test_" + secrets.token_urlsafe(44).replace("-", "a").replace("_", "b")[:58]
    session: JSON = {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": 0,
        "amount_total": 0,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": currency,
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
        "customer_creation": params.get("customer_creation", "if_required") if mode == "payment" else None,
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": _invoice_creation() if mode == "payment" else None,
        "livemode": False,
        "locale": None,
        "managed_payments": {"enabled": False},
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "mode": mode,
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
        payment_intent_data=params.get("payment_intent_data", {}),
        discounts=entries,
    )
    refresh_totals(sb, session)
    return session


def _invoice_creation() -> JSON:
    return {
        "enabled": False,
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": None,
            "metadata": {},
            "rendering_options": None,
        },
    }


def _line_items(sb: Sandbox, items: list[JSON], mode: str) -> list[tuple[JSON, int]]:
    """The checked lines: a stored price, or a price_data's price not stored yet (its id is None)."""
    if not items:
        raise missing_parameter("line_items")
    lines: list[tuple[JSON, int]] = []
    for index, item in enumerate(items):
        param = f"line_items[{index}][price]"
        if "price" in item and "price_data" in item:
            raise exclusive(param, f"line_items[{index}][price_data]")
        if "price_data" in item:
            price = _inline_price(sb, item["price_data"], f"line_items[{index}][price_data]")
        elif "price" not in item:
            raise missing_parameter(param)
        else:
            found = sb.get("prices", item["price"])
            if found is None:
                raise no_such("prices", item["price"], param=param)
            if not found["active"]:
                raise invalid(
                    f"The price specified ({found['id']}) is inactive. "
                    "This field only accepts active prices.",
                    param=param,
                )
            price = found
        if mode == "subscription" and price["type"] != "recurring":
            raise invalid(
                "You must provide at least one recurring price in `subscription` mode when using prices.",
                param=param,
            )
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                param=param,
            )
        lines.append((price, item.get("quantity", 1)))
    first = lines[0][0]
    for price, _ in lines[1:]:
        if price["currency"] != first["currency"]:
            raise invalid("All line items must have the same currency.", param="line_items")
        if mode == "subscription" and (
            price["recurring"]["interval"] != first["recurring"]["interval"]
            or (price["recurring"]["interval_count"] != first["recurring"]["interval_count"])
        ):
            raise invalid(
                "All prices on a subscription must have the same currency and billing interval.",
                param="line_items",
            )
    return lines


def _inline_price(sb: Sandbox, data: JSON, param: str) -> JSON:
    """A price_data, checked, as the price it will become (stored only once the whole session is valid)."""
    currency = data["currency"]
    if len(currency) != 3 or not currency.isalpha():
        raise invalid(
            f"Invalid currency: {currency}. Stripe currencies are three-letter ISO codes.",
            param=f"{param}[currency]",
        )
    if "unit_amount" not in data:
        raise missing_parameter(f"{param}[unit_amount]")
    if ("product" in data) == ("product_data" in data):
        if "product" not in data:
            raise missing_parameter(f"{param}[product_data]")
        raise exclusive(f"{param}[product]", f"{param}[product_data]")
    if "product" in data and not sb.get("products", data["product"]):
        raise no_such("products", data["product"], param=f"{param}[product]")
    try:
        recurring = catalog.recurring_of(data.get("recurring"))
    except StripeError as exc:
        exc.param = f"{param}[recurring][interval_count]"
        raise
    return {
        "id": None,
        "currency": currency.lower(),
        "unit_amount": data["unit_amount"],
        "product": data.get("product"),
        "recurring": recurring,
        "type": "recurring" if recurring else "one_time",
        "data": data,
    }


def _store_inline(sb: Sandbox, price: JSON) -> JSON:
    if price["id"] is not None:
        return price
    data = price["data"]
    params: JSON = {
        "currency": data["currency"],
        "unit_amount": data["unit_amount"],
        # Stripe keeps a session's inline price out of the catalog: it is not active.
        "active": False,
    }
    if "product" in data:
        params["product"] = data["product"]
    else:
        product_data = data["product_data"]
        params["product_data"] = {
            k: product_data[k] for k in ("name", "description", "metadata") if k in product_data
        }
    if data.get("recurring"):
        params["recurring"] = data["recurring"]
    if "tax_behavior" in data:
        params["tax_behavior"] = data["tax_behavior"]
    stored: JSON = catalog.create_price(sb, params)
    return stored


# Totals and discounts.


def _has_trial(sb: Sandbox, session: JSON) -> bool:
    return bool(sb.private(session["id"])["subscription_data"].keys() & {"trial_period_days", "trial_end"})


def _lines(sb: Sandbox, session: JSON) -> list[tuple[JSON, int]]:
    return [
        (sb.get("prices", line["price"]) or {}, line["quantity"])
        for line in sb.private(session["id"])["lines"]
    ]


def session_coupons(sb: Sandbox, session: JSON) -> list[JSON]:
    """The coupons the session's discounts name (a promotion code's coupon), where they still exist."""
    found = []
    for entry in sb.private(session["id"]).get("discounts", []):
        if "promotion_code" in entry:
            promo = sb.get("promotion_codes", entry["promotion_code"]) or {}
            coupon_id = promo.get("promotion", {}).get("coupon", "")
        else:
            coupon_id = entry["coupon"]
        if (coupon := sb.get("coupons", coupon_id)) is not None:
            found.append(coupon)
    return found


def amounts(sb: Sandbox, session: JSON) -> list[tuple[int, int]]:
    """Per line: (subtotal, discount) of the first payment (nothing in a trial)."""
    trial = _has_trial(sb, session)
    subtotals = [
        0 if trial else price.get("unit_amount", 0) * quantity for price, quantity in _lines(sb, session)
    ]
    products = [price.get("product", "") for price, _ in _lines(sb, session)]
    offs = discounts.preview(sb, session_coupons(sb, session), list(zip(products, subtotals, strict=True)))
    return list(zip(subtotals, offs, strict=True))


def refresh_totals(sb: Sandbox, session: JSON) -> None:
    per_line = amounts(sb, session)
    subtotal = sum(a for a, _ in per_line)
    off = sum(d for _, d in per_line)
    session["amount_subtotal"] = subtotal
    session["amount_total"] = subtotal - off
    session["total_details"]["amount_discount"] = off
    session["discounts"] = []
    for entry in sb.private(session["id"]).get("discounts", []):
        promo_id = entry.get("promotion_code")
        promo = sb.get("promotion_codes", promo_id) if promo_id else None
        coupon = promo["promotion"]["coupon"] if promo else entry.get("coupon")
        session["discounts"].append({"coupon": coupon, "promotion_code": promo_id})


def _checked_discounts(
    sb: Sandbox, session: JSON, param: str = "discounts"
) -> list[tuple[JSON, JSON | None]]:
    lines = _lines(sb, session)
    return discounts.check_entries(
        sb,
        sb.private(session["id"]).get("discounts", []),
        param,
        customer_id=session["customer"],
        currency=session["currency"],
        lines=[(price["product"], price["unit_amount"] * quantity) for price, quantity in lines],
    )


def apply_promotion_code(sb: Sandbox, session: JSON, code: str) -> None:
    """What the hosted page's promotion code field does: the code becomes the session's discount."""
    if session["status"] != "open":
        raise invalid(f"This Checkout Session is {session['status']}: it can no longer be changed.")
    if not session["allow_promotion_codes"]:
        raise invalid("This Checkout Session does not take promotion codes.", param="promotion_code")
    promo = discounts.find_code(sb, code)
    if promo is None:
        raise invalid("This code is invalid.", param="promotion_code")
    private = sb.private(session["id"])
    earlier = private.get("discounts", [])
    private["discounts"] = [{"promotion_code": promo["id"]}]
    try:
        _checked_discounts(sb, session, "promotion_code")
    except StripeError:
        private["discounts"] = earlier
        raise
    refresh_totals(sb, session)


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
    items = []
    per_line = amounts(sb, session)
    for index, ((price, quantity), (amount, off)) in enumerate(
        zip(_lines(sb, session), per_line, strict=True)
    ):
        product = sb.get("products", price.get("product", "")) or {}
        items.append(
            {
                "id": f"li_{session['id'][8:30]}{index}",
                "object": "item",
                "amount_discount": off,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount - off,
                "currency": price.get("currency"),
                "description": product.get("name"),
                "metadata": {},
                "price": copy.deepcopy(price),
                "quantity": quantity,
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
    # A code may have expired or run out since the session was made: then nothing is paid.
    redeeming = _checked_discounts(sb, session)
    if session["mode"] == "payment":
        return _pay_once(sb, session, card, email, redeeming)
    private = sb.private(session["id"])
    lines = [
        (sb.require("prices", line["price"], param="price"), line["quantity"]) for line in private["lines"]
    ]
    customer = sb.get("customers", session["customer"]) if session["customer"] else None
    if customer is None:
        customer = new_customer(sb, {"email": session["customer_email"] or email or "reader@example.com"})
    record = attach_card(sb, customer["id"], card, sb.now())
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
        payment_method=record["payment_method"],
        redeeming=redeeming,
    )
    session.update(
        status="complete",
        payment_status="paid" if invoice["amount_paid"] else "no_payment_required",
        customer=customer["id"],
        subscription=subscription["id"],
        invoice=invoice["id"],
        url=None,
        customer_details=_customer_details(customer["email"], customer["name"]),
    )
    emit(sb, "checkout.session.completed", session)
    return session


def _pay_once(
    sb: Sandbox, session: JSON, card: TestCard, email: str | None, redeeming: list[tuple[JSON, JSON | None]]
) -> JSON:
    """Payment mode: one payment intent and its charge for the session's total."""
    customer = sb.get("customers", session["customer"]) if session["customer"] else None
    paying_as = (customer or {}).get("email") or session["customer_email"] or email or "reader@example.com"
    if customer is None and session["customer_creation"] == "always":
        customer = new_customer(sb, {"email": paying_as})
    customer_id = customer["id"] if customer else None
    now = sb.now()
    record = attach_card(sb, customer_id, card, now) if customer_id else card_record(card, now)
    intent_id = None
    if session["amount_total"] > 0:
        data = sb.private(session["id"]).get("payment_intent_data", {})
        intent = new_payment_intent(
            sb, customer_id, session["amount_total"], session["currency"], data.get("description")
        )
        intent.update(
            metadata=merge_metadata({}, data.get("metadata", {})),
            receipt_email=data.get("receipt_email"),
            setup_future_usage=None,
        )
        attempt_payment(sb, intent, first_payment=True, card=record)
        charge = sb.require("charges", intent["latest_charge"])
        charge["billing_details"]["email"] = paying_as
        charge["metadata"] = copy.deepcopy(intent["metadata"])
        intent_id = intent["id"]
    for coupon, promo in redeeming:
        discounts.redeem(sb, coupon, promo, customer_id=customer_id, checkout_session=session["id"])
    session.update(
        status="complete",
        payment_status="paid" if intent_id else "no_payment_required",
        customer=customer_id,
        payment_intent=intent_id,
        url=None,
        customer_details=_customer_details(paying_as, (customer or {}).get("name")),
    )
    emit(sb, "checkout.session.completed", session)
    return session


def _customer_details(email: str | None, name: str | None) -> JSON:
    return {
        "address": None,
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def success_redirect(session: JSON) -> str:
    return str(session["success_url"]).replace(SESSION_ID_PLACEHOLDER, session["id"])
