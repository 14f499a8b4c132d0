"""Stripe's error shape: `{"error": {"type", "code", "param", "message"}}` with Stripe's status codes.

stripe-python turns these into its exception classes by status and type: 400/404 into
InvalidRequestError (IdempotencyError for `idempotency_error`), 401 into AuthenticationError and
402 into CardError, so the sandbox's errors reach callers exactly as Stripe's would.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response

# The Stripe name of each collection's objects, as it appears in "No such customer: 'cus_x'".
OBJECT_NAMES = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "checkout_sessions": "checkout.session",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "invoice_payments": "invoice_payment",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "refunds": "refund",
    "disputes": "dispute",
    "portal_sessions": "billing_portal.session",
    "events": "event",
    "coupons": "coupon",
    "promotion_codes": "promotion_code",
    "discounts": "discount",
}


class StripeError(Exception):
    """An error answered in Stripe's shape; the subclasses below are the kinds callers meet."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type_
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeError:
    return StripeError(message, code=code, param=param)


def unknown_parameter(name: str) -> StripeError:
    return StripeError(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def missing_parameter(name: str) -> StripeError:
    return StripeError(f"Missing required param: {name}.", code="parameter_missing", param=name)


def exclusive(*names: str) -> StripeError:
    return StripeError(
        f"You may only specify one of these parameters: {', '.join(names)}.",
        code="parameters_exclusive",
        param=names[0],
    )


def no_such(collection: str, object_id: str, *, param: str = "id") -> StripeError:
    # A missing object named in the URL is a 404; one named by a parameter is a 400.
    return StripeError(
        f"No such {OBJECT_NAMES.get(collection, collection)}: '{object_id}'",
        status=404 if param == "id" else 400,
        code="resource_missing",
        param=param,
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )


def authentication(message: str) -> StripeError:
    return StripeError(message, status=401)


def card_declined(charge_id: str | None = None) -> StripeError:
    extra: dict[str, Any] = {"decline_code": "generic_decline"}
    if charge_id:
        extra["charge"] = charge_id
    return StripeError(
        "Your card was declined.", status=402, type_="card_error", code="card_declined", extra=extra
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    # Stripe answers pretty-printed JSON; keep that so a curl session reads like the real one.
    return Response(
        json.dumps(body, indent=2).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def stripe_error_handler(request: Request[Any, Any, Any], exc: StripeError) -> Response[bytes]:
    return json_response(exc.body(), exc.status)
