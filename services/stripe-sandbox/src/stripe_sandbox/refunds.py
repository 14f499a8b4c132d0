"""Refunds and disputes: money going back to the reader, by the publisher's choice or the bank's.

A refund lowers what the charge keeps (`amount_refunded`, `refunded` once all of it is back) and
emits `refund.created` and `charge.refunded`. Disputes are opened from the sandbox controls, as
a cardholder's bank would: the charge becomes `disputed` and `charge.dispute.created` is emitted.
"""

from __future__ import annotations

import copy

from stripe_sandbox.customers import merge_metadata
from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import exclusive, invalid, missing_parameter
from stripe_sandbox.events import emit
from stripe_sandbox.forms import IGNORED, METADATA, Int, Str
from stripe_sandbox.state import JSON, Sandbox, new_id
from tollgate_common.words import money

ROUTES: list[Endpoint] = []
route = router(ROUTES)


@route(
    "POST",
    "/v1/refunds",
    {
        "charge": Str(),
        "payment_intent": Str(),
        "amount": Int(1),
        "reason": Str("duplicate", "fraudulent", "requested_by_customer"),
        "metadata": METADATA,
        "instructions_email": IGNORED,
        "refund_application_fee": IGNORED,
        "reverse_transfer": IGNORED,
    },
)
def create_refund(sb: Sandbox, params: JSON) -> JSON:
    charge = _refundable_charge(sb, params)
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    amount = params.get("amount", remaining)
    if amount > remaining:
        asked, left = (money(a, charge["currency"], exact=True) for a in (amount, remaining))
        raise invalid(
            f"Refund amount ({asked}) is greater than unrefunded amount on charge ({left})",
            code="amount_too_large",
            param="amount",
        )
    refund: JSON = {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "charge": charge["id"],
        "created": sb.now(),
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_account": None,
        "destination_details": {"card": {"reference_status": "pending", "type": "refund"}, "type": "card"},
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": params.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    sb.add("refunds", refund)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
    emit(sb, "refund.created", refund)
    emit(sb, "charge.refunded", charge)
    return refund


def _refundable_charge(sb: Sandbox, params: JSON) -> JSON:
    if "charge" in params and "payment_intent" in params:
        raise exclusive("charge", "payment_intent")
    if "payment_intent" in params:
        intent = sb.require("payment_intents", params["payment_intent"], param="payment_intent")
        if intent["status"] != "succeeded" or not intent["latest_charge"]:
            raise invalid(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return sb.require("charges", intent["latest_charge"])
    if "charge" not in params:
        raise missing_parameter("charge")
    charge = sb.require("charges", params["charge"], param="charge")
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has not succeeded, so it cannot be refunded.", param="charge")
    return charge


@route("GET", "/v1/refunds/{id}")
def retrieve_refund(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("refunds", id)


@route("GET", "/v1/refunds", {"charge": Str(), "payment_intent": Str()}, listing=True)
def list_refunds(sb: Sandbox, params: JSON) -> Page:
    items = [
        r
        for r in sb.newest_first("refunds")
        if params.get("charge") in (None, r["charge"])
        and params.get("payment_intent") in (None, r["payment_intent"])
    ]
    return Page(items, "/v1/refunds")


# Disputes: opened from the sandbox controls (a cardholder's bank does it for real).


def open_dispute(sb: Sandbox, charge_id: str, reason: str) -> JSON:
    charge = sb.require("charges", charge_id)
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge_id} did not succeed: there is nothing to dispute.")
    if charge["disputed"]:
        raise invalid(f"Charge {charge_id} is already disputed.")
    now = sb.now()
    dispute: JSON = {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": charge["amount"] - charge["amount_refunded"],
        "balance_transactions": [],
        "charge": charge_id,
        "created": now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": dict.fromkeys(_EVIDENCE_FIELDS),
        "evidence_details": {
            "due_by": now + 21 * 86400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {"brand": "visa", "case_type": "chargeback", "network_reason_code": "10.4"},
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
    }
    sb.add("disputes", dispute)
    charge["disputed"] = True
    emit(sb, "charge.dispute.created", dispute)
    return dispute


_EVIDENCE_FIELDS = [
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
]
DISPUTE_REASONS = ("fraudulent", "product_not_received", "subscription_canceled", "unrecognized", "general")


@route("GET", "/v1/disputes/{id}")
def retrieve_dispute(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("disputes", id)


@route("GET", "/v1/disputes", {"charge": Str(), "payment_intent": Str()}, listing=True)
def list_disputes(sb: Sandbox, params: JSON) -> Page:
    items = [
        d
        for d in sb.newest_first("disputes")
        if params.get("charge") in (None, d["charge"])
        and params.get("payment_intent") in (None, d["payment_intent"])
    ]
    return Page(items, "/v1/disputes")
