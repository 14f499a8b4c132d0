"""Invoices and invoice payments: a subscription's bills, and how they get paid.

An invoice is drafted for a subscription period, then `collect` announces it, finalizes it and
charges the customer's card through a payment intent. The link from that payment back to the
invoice is an `invoice_payment` (charges and payment intents no longer name their invoice), and
the invoice names its subscription under `parent.subscription_details`.
"""

from __future__ import annotations

import copy

from stripe_sandbox import discounts
from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import card_declined, invalid, missing_parameter
from stripe_sandbox.events import emit, emit_update
from stripe_sandbox.forms import IGNORED, Bool, Obj, Str
from stripe_sandbox.payments import attempt_payment, new_payment_intent
from stripe_sandbox.state import JSON, Sandbox, new_id
from tollgate_common.words import money

ROUTES: list[Endpoint] = []
route = router(ROUTES)

DESCRIPTIONS = {
    "subscription_create": "Subscription creation",
    "subscription_cycle": "Subscription update",
    "subscription_update": "Subscription update",
}


def draft_invoice(
    sb: Sandbox, subscription: JSON, *, reason: str, lines_period: tuple[int, int], trial: bool = False
) -> JSON:
    """An invoice for the subscription's items over `lines_period`; stored, not yet announced."""
    customer = sb.require("customers", subscription["customer"])
    now = sb.now()
    invoice_id = new_id("in")
    lines = [
        _line(sb, invoice_id, subscription, item, lines_period, trial)
        for item in subscription["items"]["data"]
    ]
    total = sum(line["amount"] for line in lines)
    # Stripe's invoice period is the one just ended; a first invoice has nothing before it.
    period_start = lines_period[0] if reason == "subscription_create" else _previous_start(subscription)
    invoice: JSON = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Tollgate Stripe sandbox",
        "account_tax_ids": None,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "created": now,
        "currency": subscription["currency"],
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": copy.deepcopy(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": now if reason == "subscription_create" else lines_period[0],
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }
    _apply_discounts(sb, invoice, subscription, lines_period[0])
    return sb.add("invoices", invoice)


def _apply_discounts(sb: Sandbox, invoice: JSON, subscription: JSON, at: int) -> None:
    """Take off what the subscription's discounts in effect for a period starting `at` take off.

    Line amounts stay as they were (Stripe's are before discounts); each line's `discount_amounts`,
    the invoice's `total_discount_amounts` and `discounts`, and its total and amount due say the rest.
    """
    discounts.prune(sb, subscription, at)
    found = discounts.in_effect(sb, subscription["discounts"], at)
    lines = invoice["lines"]["data"]
    shares = discounts.split(
        [discounts.terms_of(sb, d["id"]) for d in found],
        [(line["pricing"]["price_details"]["product"], line["amount"]) for line in lines],
    )
    taken_in_all = 0
    for discount, per_line in zip(found, shares, strict=True):
        for line, amount in zip(lines, per_line, strict=True):
            line["discount_amounts"].append({"amount": amount, "discount": discount["id"]})
        taken = sum(per_line)
        invoice["total_discount_amounts"].append({"amount": taken, "discount": discount["id"]})
        if taken:  # a `once` discount is spent on the first invoice it takes something off (not a trial's)
            discounts.mark_used(sb, discount["id"])
        taken_in_all += taken
    invoice["discounts"] = [d["id"] for d in found]
    total = invoice["subtotal"] - taken_in_all
    invoice.update(total=total, total_excluding_tax=total, amount_due=total, amount_remaining=total)


def _previous_start(subscription: JSON) -> int:
    return subscription["items"]["data"][0]["current_period_start"]  # type: ignore[no-any-return]


def _line(
    sb: Sandbox, invoice_id: str, subscription: JSON, item: JSON, period: tuple[int, int], trial: bool
) -> JSON:
    price = item["price"]
    product = sb.get("products", price["product"]) or {"name": price["product"]}
    amount = 0 if trial else price["unit_amount"] * item["quantity"]
    interval = (price["recurring"] or {}).get("interval", "period")
    if trial:
        description = f"Trial period for {product['name']}"
    else:
        description = (
            f"{item['quantity']} × {product['name']} "  # noqa: RUF001 - Stripe's own sign
            f"(at {money(price['unit_amount'], price['currency'], exact=True)} / {interval})"
        )
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": copy.deepcopy(subscription["metadata"]),
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": "0" if trial else price["unit_amount_decimal"],
        },
        "quantity": item["quantity"],
        "quantity_decimal": str(item["quantity"]),
        "subscription": subscription["id"],
        "subtotal": amount,
        "taxes": [],
    }


def collect(sb: Sandbox, invoice: JSON, *, first_payment: bool = False, retry_at: int | None = None) -> bool:
    """Announce, finalize and pay the invoice; True when it ends up paid.

    `retry_at` is when the next attempt happens should this one fail (None: no further attempt).
    """
    emit(sb, "invoice.created", invoice)
    finalize(sb, invoice)
    if invoice["amount_due"] == 0:
        _mark_paid(sb, invoice)
        return True
    return pay(sb, invoice, first_payment=first_payment, retry_at=retry_at)


def finalize(sb: Sandbox, invoice: JSON) -> None:
    customer = sb.require("customers", invoice["customer"])
    now = sb.now()
    invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    invoice["status"] = "open"
    invoice["effective_at"] = now
    invoice["status_transitions"]["finalized_at"] = now
    invoice["webhooks_delivered_at"] = now
    emit(sb, "invoice.finalized", invoice)


def pay(sb: Sandbox, invoice: JSON, *, first_payment: bool = False, retry_at: int | None = None) -> bool:
    """One payment attempt on an open invoice, through its payment intent (one per invoice)."""
    payment = _default_payment(sb, invoice)
    intent = sb.require("payment_intents", payment["payment"]["payment_intent"])
    paid = attempt_payment(sb, intent, first_payment=first_payment)
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    customer = sb.require("customers", invoice["customer"])
    if paid:
        now = sb.now()
        payment.update(amount_paid=intent["amount"], status="paid")
        payment["status_transitions"]["paid_at"] = now
        customer["delinquent"] = False
        _mark_paid(sb, invoice)
        return True
    invoice["next_payment_attempt"] = retry_at
    customer["delinquent"] = True
    emit(sb, "invoice.payment_failed", invoice)
    return False


def _mark_paid(sb: Sandbox, invoice: JSON) -> None:
    now = sb.now()
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        next_payment_attempt=None,
    )
    invoice["status_transitions"]["paid_at"] = now
    emit(sb, "invoice.paid", invoice)
    emit(sb, "invoice.payment_succeeded", invoice)


def _default_payment(sb: Sandbox, invoice: JSON) -> JSON:
    for existing in sb.table("invoice_payments").values():
        if existing["invoice"] == invoice["id"] and existing["is_default"]:
            return existing
    description = DESCRIPTIONS.get(invoice["billing_reason"], "Subscription update")
    intent = new_payment_intent(
        sb, invoice["customer"], invoice["amount_due"], invoice["currency"], description
    )
    payment: JSON = {
        "id": new_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice["amount_due"],
        "created": sb.now(),
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": intent["id"], "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }
    return sb.add("invoice_payments", payment)


def unpaid_invoices(sb: Sandbox, subscription_id: str) -> list[JSON]:
    return [
        i
        for i in sb.table("invoices").values()
        if i["status"] == "open" and i["parent"]["subscription_details"]["subscription"] == subscription_id
    ]


def recover(sb: Sandbox, invoice: JSON) -> None:
    """A past_due subscription whose every invoice is now paid is active again."""
    subscription = sb.get("subscriptions", invoice["parent"]["subscription_details"]["subscription"])
    if subscription is None or subscription["status"] not in ("past_due", "unpaid"):
        return
    if unpaid_invoices(sb, subscription["id"]):
        return
    before = copy.deepcopy(subscription)
    subscription["status"] = "active"
    sb.private(subscription["id"]).pop("past_due_since", None)
    emit_update(sb, "customer.subscription.updated", before, subscription)


# The invoices API.


@route("GET", "/v1/invoices/{id}")
def retrieve_invoice(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("invoices", id)


@route(
    "GET",
    "/v1/invoices",
    {
        "customer": Str(),
        "subscription": Str(),
        "status": Str("draft", "open", "paid", "uncollectible", "void"),
        "collection_method": Str("charge_automatically", "send_invoice"),
        "due_date": IGNORED,
    },
    listing=True,
)
def list_invoices(sb: Sandbox, params: JSON) -> Page:
    def keep(invoice: JSON) -> bool:
        subscription = invoice["parent"]["subscription_details"]["subscription"]
        return (
            params.get("customer") in (None, invoice["customer"])
            and params.get("subscription") in (None, subscription)
            and params.get("status") in (None, invoice["status"])
            and params.get("collection_method") in (None, invoice["collection_method"])
        )

    return Page([i for i in sb.newest_first("invoices") if keep(i)], "/v1/invoices")


@route("GET", "/v1/invoices/{id}/lines", listing=True)
def list_invoice_lines(sb: Sandbox, params: JSON, id: str) -> Page:
    invoice = sb.require("invoices", id)
    # Lines keep their invoice order; the cursor logic only needs a stable sequence.
    return Page(list(invoice["lines"]["data"]), f"/v1/invoices/{id}/lines")


@route(
    "POST",
    "/v1/invoices/{id}/pay",
    {"paid_out_of_band": Bool(), "off_session": IGNORED, "forgive": IGNORED, "payment_method": IGNORED},
)
def pay_invoice(sb: Sandbox, params: JSON, id: str) -> JSON:
    """Try to pay now (after fixing a card, say); a declined card answers 402 like Stripe."""
    invoice = sb.require("invoices", id)
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid.", code="invoice_not_open")
    if invoice["status"] == "void":
        raise invalid("You cannot pay a void invoice.", code="invoice_not_open")
    if invoice["status"] == "draft":
        finalize(sb, invoice)
    if params.get("paid_out_of_band"):
        _mark_paid(sb, invoice)
    elif not pay(sb, invoice, retry_at=invoice["next_payment_attempt"]):
        intent = sb.require("payment_intents", _default_payment(sb, invoice)["payment"]["payment_intent"])
        raise card_declined(intent["latest_charge"])
    recover(sb, invoice)
    return invoice


# Invoice payments: the link from a payment intent to its invoice.

PAYMENT_FILTER = Obj(
    {"type": Str("payment_intent", "payment_record"), "payment_intent": Str(), "payment_record": Str()}
)


@route("GET", "/v1/invoice_payments/{id}")
def retrieve_invoice_payment(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("invoice_payments", id)


@route(
    "GET",
    "/v1/invoice_payments",
    {"invoice": Str(), "payment": PAYMENT_FILTER, "status": Str("canceled", "open", "paid")},
    listing=True,
)
def list_invoice_payments(sb: Sandbox, params: JSON) -> Page:
    wanted = params.get("payment", {})
    if wanted and "type" not in wanted:
        raise missing_parameter("payment[type]")

    def keep(payment: JSON) -> bool:
        return (
            params.get("invoice") in (None, payment["invoice"])
            and params.get("status") in (None, payment["status"])
            and wanted.get("type") in (None, payment["payment"]["type"])
            and wanted.get("payment_intent") in (None, payment["payment"].get("payment_intent"))
        )

    return Page([p for p in sb.newest_first("invoice_payments") if keep(p)], "/v1/invoice_payments")
