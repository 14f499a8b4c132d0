"""Money moving (pretend): test cards, payment intents and charges.

Stripe's test card numbers decide what happens: 4242 4242 4242 4242 pays, 4000 0000 0000 0002
is declined outright, and 4000 0000 0000 0341 attaches and pays once but every later charge
fails. A customer's card can also be switched to failing or working from the sandbox controls.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import invalid
from stripe_sandbox.events import emit
from stripe_sandbox.forms import IGNORED, Str
from stripe_sandbox.state import JSON, Sandbox, new_id

ROUTES: list[Endpoint] = []
route = router(ROUTES)


@dataclass(frozen=True)
class TestCard:
    number: str
    label: str
    declined: bool  # refused at checkout: nothing is created
    fails_later: bool  # pays at checkout, then every later charge fails


TEST_CARDS = {
    card.number: card
    for card in (
        TestCard("4242424242424242", "succeeds", declined=False, fails_later=False),
        TestCard("4000000000000002", "is declined", declined=True, fails_later=False),
        TestCard("4000000000000341", "pays once, then later charges fail", declined=False, fails_later=True),
    )
}
# Stripe's test payment methods, for a customer made through the API (`payment_method=pm_card_visa`).
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeCustomerFail": "4000000000000341",
}
DECLINE = {
    "code": "card_declined",
    "decline_code": "generic_decline",
    "message": "Your card was declined.",
}


def test_card(number: str) -> TestCard:
    card = TEST_CARDS.get(number.replace(" ", ""))
    if card is None:
        known = ", ".join(TEST_CARDS)
        raise invalid(f"The sandbox knows only these test cards: {known}.", param="card")
    return card


def test_payment_method(name: str) -> TestCard:
    """The test card behind one of Stripe's test payment methods (`pm_card_visa`, ...)."""
    number = TEST_PAYMENT_METHODS.get(name)
    if number is None:
        known = ", ".join(TEST_PAYMENT_METHODS)
        raise invalid(f"The sandbox knows only these test payment methods: {known}.", param="payment_method")
    return TEST_CARDS[number]


def attach_card(sb: Sandbox, customer_id: str, card: TestCard, now: int) -> JSON:
    """The customer's card from now on (Checkout saves the card it was paid with)."""
    record = card_record(card, now)
    sb.data["cards"][customer_id] = record
    return record


def card_record(card: TestCard, now: int) -> JSON:
    """A card as a payment method; `attach_card` keeps it for a customer, a guest's is used once."""
    return {
        "payment_method": new_id("pm"),
        "brand": "visa",
        "last4": card.number[-4:],
        "exp_month": 12,
        "exp_year": 2034,
        "fingerprint": secrets.token_urlsafe(12)[:16],
        # The first payment goes through with either card; "fails" governs the later ones.
        "fails": card.fails_later,
        "attached_at": now,
    }


def card_of(sb: Sandbox, customer_id: str) -> JSON | None:
    return sb.data["cards"].get(customer_id)  # type: ignore[no-any-return]


def new_payment_intent(
    sb: Sandbox, customer_id: str | None, amount: int, currency: str, description: str | None
) -> JSON:
    pi_id = new_id("pi")
    intent: JSON = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": "automatic",
        "created": sb.now(),
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": "off_session",
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    return sb.add("payment_intents", intent)


def attempt_payment(
    sb: Sandbox, intent: JSON, *, first_payment: bool = False, card: JSON | None = None
) -> bool:
    """Charge the card (by default the customer's) for the intent; emits charge.* and payment_intent.*."""
    card = card or (card_of(sb, intent["customer"]) if intent["customer"] else None)
    succeeds = card is not None and (first_payment or not card["fails"])
    charge = _new_charge(sb, intent, card, succeeds)
    intent["latest_charge"] = charge["id"]
    intent["payment_method"] = card["payment_method"] if card else None
    if succeeds:
        intent.update(status="succeeded", amount_received=intent["amount"], last_payment_error=None)
        emit(sb, "charge.succeeded", charge)
        emit(sb, "payment_intent.succeeded", intent)
    else:
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {
            **DECLINE,
            "type": "card_error",
            "charge": charge["id"],
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "payment_method": {"id": intent["payment_method"], "object": "payment_method", "type": "card"},
        }
        emit(sb, "charge.failed", charge)
        emit(sb, "payment_intent.payment_failed", intent)
    return succeeds


def _new_charge(sb: Sandbox, intent: JSON, card: JSON | None, succeeds: bool) -> JSON:
    customer = sb.get("customers", intent["customer"]) or {}
    charge_id = new_id("ch")
    charge: JSON = {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if succeeds else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn") if succeeds else None,
        "billing_details": {
            "address": dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
            "email": customer.get("email"),
            "name": customer.get("name"),
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "TOLLGATE SANDBOX",
        "captured": succeeds,
        "created": sb.now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if succeeds else DECLINE["code"],
        "failure_message": None if succeeds else DECLINE["message"],
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": _outcome(succeeds),
        "paid": succeeds,
        "payment_intent": intent["id"],
        "payment_method": card["payment_method"] if card else None,
        "payment_method_details": _card_details(card),
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/charges/{charge_id}/refunds",
        },
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeds else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }
    return sb.add("charges", charge)


def _outcome(succeeds: bool) -> JSON:
    if succeeds:
        return {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "advice_code": "try_again_later",
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "declined_by_network",
        "reason": "generic_decline",
        "risk_level": "normal",
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


def _card_details(card: JSON | None) -> JSON | None:
    if card is None:
        return None
    return {
        "card": {
            "amount_authorized": None,
            "brand": card["brand"],
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": "credit",
            "last4": card["last4"],
            "network": "visa",
            "three_d_secure": None,
            "wallet": None,
        },
        "type": "card",
    }


# Payment intents and charges: retrieve and list.


@route("GET", "/v1/payment_intents/{id}")
def retrieve_payment_intent(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("payment_intents", id)


@route("GET", "/v1/payment_intents", {"customer": Str()}, listing=True)
def list_payment_intents(sb: Sandbox, params: JSON) -> Page:
    items = [p for p in sb.newest_first("payment_intents") if params.get("customer") in (None, p["customer"])]
    return Page(items, "/v1/payment_intents")


@route("GET", "/v1/charges/{id}")
def retrieve_charge(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("charges", id)


@route(
    "GET",
    "/v1/charges",
    {"customer": Str(), "payment_intent": Str(), "transfer_group": IGNORED},
    listing=True,
)
def list_charges(sb: Sandbox, params: JSON) -> Page:
    items = [
        c
        for c in sb.newest_first("charges")
        if params.get("customer") in (None, c["customer"])
        and params.get("payment_intent") in (None, c["payment_intent"])
    ]
    return Page(items, "/v1/charges")
