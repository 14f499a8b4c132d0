"""The only module that talks to Stripe.

A `StripeClient` with the API version pinned (the SDK's own, so its typed parameters, which mypy
checks every call against, describe the API we speak), network retries, async calls, and an
idempotency key derived from our own ids on every create. Callers get small records of our own,
so nothing else imports `stripe`. With no secret key configured it talks to the local sandbox.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stripe
import structlog

from membership.settings import Settings
from tollgate_common.problems import TollgateError

PINNED_API_VERSION: str = stripe.api_version
SANDBOX_KEY = "sk_test_tollgate_sandbox"
log = structlog.get_logger(__name__)


class PaymentProviderError(TollgateError):
    status_code = 502
    title = "Payment provider error"


class PaymentProviderUnavailable(TollgateError):
    status_code = 503
    title = "Payment provider unavailable"


class InvalidWebhook(TollgateError):
    status_code = 400


def _time(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


@dataclass(frozen=True)
class RemoteSubscription:
    """What we need of a Stripe subscription, as Stripe says it is now."""

    id: str
    customer: str
    status: str  # Stripe's word; subscriptions/states.py names each one we know
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_start: datetime | None
    trial_end: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None
    price_id: str | None
    metadata: dict[str, str]

    @classmethod
    def of(cls, sub: stripe.Subscription) -> RemoteSubscription:
        item = sub.items.data[0] if sub.items.data else None  # the period lives on the items now
        return cls(
            id=sub.id,
            customer=sub.customer if isinstance(sub.customer, str) else sub.customer.id,
            status=sub.status,
            cancel_at_period_end=bool(sub.cancel_at_period_end),
            current_period_start=_time(item.current_period_start) if item else None,
            current_period_end=_time(item.current_period_end) if item else None,
            trial_start=_time(sub.trial_start),
            trial_end=_time(sub.trial_end),
            canceled_at=_time(sub.canceled_at),
            ended_at=_time(sub.ended_at),
            price_id=item.price.id if item else None,
            metadata={str(k): str(v) for k, v in (sub.to_dict().get("metadata") or {}).items()},
        )


@dataclass(frozen=True)
class RemotePrice:
    """A price in the Stripe account (ours, or one a publisher made before Tollgate)."""

    id: str
    product_id: str
    product_name: str
    currency: str
    unit_amount: int | None
    interval: str | None  # None: a one-time price
    interval_count: int
    active: bool
    metadata: dict[str, str]

    @classmethod
    def of(cls, price: stripe.Price) -> RemotePrice:
        product = price.product
        product_id = product if isinstance(product, str) else product.id
        name = getattr(product, "name", None) if not isinstance(product, str) else None
        recurring = price.recurring
        return cls(
            id=price.id,
            product_id=product_id,
            product_name=str(name or product_id),
            currency=price.currency,
            unit_amount=price.unit_amount,
            interval=recurring.interval if recurring else None,
            interval_count=recurring.interval_count if recurring else 1,
            active=bool(price.active),
            metadata={str(k): str(v) for k, v in (price.to_dict().get("metadata") or {}).items()},
        )


@dataclass(frozen=True)
class RemoteCheckout:
    """A Checkout Session as Stripe says it is now: whose, and whether it started a subscription."""

    id: str
    status: str  # open, complete, expired
    payment_status: str  # paid, unpaid, no_payment_required
    reader_id: str | None  # our client_reference_id
    subscription: str | None
    mode: str = "subscription"  # or payment (a gift)
    payment_intent: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteCharge:
    id: str
    customer: str | None
    payment_intent: str | None
    amount: int
    amount_refunded: int
    refunded: bool


class StripeApi:
    def __init__(self, settings: Settings) -> None:
        self.sandboxed = settings.stripe_sandboxed
        key = SANDBOX_KEY if self.sandboxed else settings.stripe_secret_key.get_secret_value()
        self.webhook_secret = settings.stripe_webhook_secret.get_secret_value()
        self.client = stripe.StripeClient(
            key,
            stripe_version=PINNED_API_VERSION,
            base_addresses={"api": settings.stripe_sandbox_url} if self.sandboxed else None,
            max_network_retries=settings.stripe_network_retries,
            http_client=stripe.HTTPXClient(),
        )

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            return await coro
        except stripe.APIConnectionError as exc:
            log.warning("stripe unreachable", call=what, error=str(exc))
            raise PaymentProviderUnavailable("Payments are unavailable just now; please try again.") from exc
        except stripe.StripeError as exc:
            log.warning("stripe refused", call=what, error=str(exc), code=exc.code)
            raise PaymentProviderError(f"The payment provider refused: {exc.user_message or exc}") from exc

    # Catalogue ---------------------------------------------------------------------------

    async def create_product(
        self, *, tier_id: str, name: str, description: str, publication: str | None
    ) -> str:
        params: stripe.params.ProductCreateParams = {
            "name": name,
            "metadata": {"tollgate_tier_id": tier_id, "tollgate_publication": publication or "platform"},
        }
        if description:
            params["description"] = description
        product = await self._call(
            "products.create",
            self.client.v1.products.create_async(params, {"idempotency_key": f"tier-{tier_id}-product"}),
        )
        return str(product.id)

    async def archive_product(self, product_id: str) -> None:
        await self._call(
            "products.update", self.client.v1.products.update_async(product_id, {"active": False})
        )

    async def create_price(
        self,
        *,
        price_id: str,
        tier_id: str,
        product_id: str,
        interval: str,
        currency: str,
        unit_amount: int,
        lookup_key: str,
    ) -> str:
        params: stripe.params.PriceCreateParams = {
            "product": product_id,
            "currency": currency,
            "unit_amount": unit_amount,
            "recurring": {"interval": "month" if interval == "month" else "year"},
            "lookup_key": lookup_key,
            "transfer_lookup_key": True,
            "metadata": {"tollgate_price_id": price_id, "tollgate_tier_id": tier_id},
        }
        price = await self._call(
            "prices.create",
            self.client.v1.prices.create_async(params, {"idempotency_key": f"price-{price_id}"}),
        )
        return str(price.id)

    async def prices(self) -> AsyncIterator[RemotePrice]:
        """Every price in the account, with its product's name, page by page."""
        params: stripe.params.PriceListParams = {"limit": 100, "expand": ["data.product"]}
        page = await self._call("prices.list", self.client.v1.prices.list_async(params))
        async for price in page.auto_paging_iter():
            yield RemotePrice.of(price)

    async def price(self, stripe_price_id: str) -> RemotePrice | None:
        """One price with its product's name, or None when Stripe has none by that id."""
        params: stripe.params.PriceRetrieveParams = {"expand": ["product"]}
        try:
            price = await self._call(
                "prices.retrieve", self.client.v1.prices.retrieve_async(stripe_price_id, params)
            )
        except PaymentProviderError as exc:
            if _missing(exc):
                return None
            raise
        return RemotePrice.of(price)

    async def archive_price(self, stripe_price_id: str) -> None:
        await self._call(
            "prices.update", self.client.v1.prices.update_async(stripe_price_id, {"active": False})
        )

    # Customers, checkout, portal -----------------------------------------------------------

    async def create_customer(self, *, reader_id: str, email: str) -> str:
        params: stripe.params.CustomerCreateParams = {
            "email": email,
            "metadata": {"tollgate_reader_id": reader_id},
        }
        customer = await self._call(
            "customers.create",
            self.client.v1.customers.create_async(
                params, {"idempotency_key": f"reader-{reader_id}-customer"}
            ),
        )
        return str(customer.id)

    async def customer_exists(self, customer_id: str) -> bool:
        """Whether the account has this customer (a deleted one counts as gone)."""
        try:
            customer = await self._call(
                "customers.retrieve", self.client.v1.customers.retrieve_async(customer_id)
            )
        except PaymentProviderError as exc:
            if _missing(exc):
                return False
            raise
        return not customer.to_dict().get("deleted", False)

    async def customers_with_email(self, email: str) -> list[str]:
        """The ids of the customers with exactly this email (Stripe compares it as typed)."""
        params: stripe.params.CustomerListParams = {"email": email, "limit": 10}
        page = await self._call("customers.list", self.client.v1.customers.list_async(params))
        return [str(c.id) for c in page.data]

    async def create_checkout(
        self,
        *,
        idempotency_scope: str,
        customer: str,
        stripe_price_id: str,
        metadata: dict[str, str],
        trial_days: int,
        success_url: str,
        cancel_url: str,
        promotion_code: str | None = None,
    ) -> tuple[str, str]:
        subscription_data: stripe.params.checkout.SessionCreateParamsSubscriptionData = {"metadata": metadata}
        if trial_days:
            subscription_data["trial_period_days"] = trial_days
        params: stripe.params.checkout.SessionCreateParams = {
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": metadata["tollgate_reader_id"],
            "line_items": [{"price": stripe_price_id, "quantity": 1}],
            "metadata": metadata,
            "subscription_data": subscription_data,
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if promotion_code:
            params["discounts"] = [{"promotion_code": promotion_code}]
        # Same scope and same parameters: one session (a double click); anything different: a new one.
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
        session = await self._call(
            "checkout.sessions.create",
            self.client.v1.checkout.sessions.create_async(
                params, {"idempotency_key": f"{idempotency_scope}-{digest}"}
            ),
        )
        return str(session.id), str(session.url)

    async def checkout_session(self, session_id: str) -> RemoteCheckout | None:
        """The session, or None when Stripe has no session by that id."""
        try:
            session = await self._call(
                "checkout.sessions.retrieve", self.client.v1.checkout.sessions.retrieve_async(session_id)
            )
        except PaymentProviderError as exc:
            if _missing(exc):
                return None
            raise
        sub, intent = session.subscription, session.payment_intent
        return RemoteCheckout(
            id=session.id,
            status=str(session.status),
            payment_status=session.payment_status,
            reader_id=session.client_reference_id,
            subscription=sub if isinstance(sub, str) or sub is None else sub.id,
            mode=str(session.mode),
            payment_intent=intent if isinstance(intent, str) or intent is None else intent.id,
            metadata={str(k): str(v) for k, v in (session.to_dict().get("metadata") or {}).items()},
        )

    # Offers: coupons and promotion codes ------------------------------------------------

    async def create_coupon(
        self,
        *,
        offer_id: str,
        replacing: str | None = None,
        name: str,
        percent_off: int | None,
        amount_off: int | None,
        currency: str | None,
        duration: str,
        duration_in_months: int | None,
        max_redemptions: int | None,
        redeem_by: datetime | None,
        product: str,
    ) -> str:
        params: stripe.params.CouponCreateParams = {
            "name": name[:40],
            "duration": duration,
            "applies_to": {"products": [product]},
            "metadata": {"tollgate_offer_id": offer_id},
        }
        if percent_off is not None:
            params["percent_off"] = float(percent_off)
        if amount_off is not None and currency:
            params["amount_off"], params["currency"] = amount_off, currency
        if duration_in_months:
            params["duration_in_months"] = duration_in_months
        if max_redemptions:
            params["max_redemptions"] = max_redemptions
        if redeem_by:
            params["redeem_by"] = int(redeem_by.timestamp())
        coupon = await self._call(
            "coupons.create",
            self.client.v1.coupons.create_async(
                params, {"idempotency_key": _offer_key(offer_id, "coupon", replacing)}
            ),
        )
        return str(coupon.id)

    async def coupon_exists(self, coupon_id: str) -> bool:
        """False once the coupon is deleted at Stripe (a publisher tidying the Stripe dashboard)."""
        try:
            await self._call("coupons.retrieve", self.client.v1.coupons.retrieve_async(coupon_id))
        except PaymentProviderError as exc:
            if _missing(exc):
                return False
            raise
        return True

    async def create_promotion_code(
        self,
        *,
        offer_id: str,
        replacing: str | None = None,
        coupon: str,
        code: str,
        max_redemptions: int | None,
        expires_at: datetime | None,
    ) -> str:
        params: stripe.params.PromotionCodeCreateParams = {
            "promotion": {"type": "coupon", "coupon": coupon},
            "code": code,
            "metadata": {"tollgate_offer_id": offer_id},
        }
        if max_redemptions:
            params["max_redemptions"] = max_redemptions
        if expires_at:
            params["expires_at"] = int(expires_at.timestamp())
        promotion = await self._call(
            "promotion_codes.create",
            self.client.v1.promotion_codes.create_async(
                params, {"idempotency_key": _offer_key(offer_id, "promotion-code", replacing)}
            ),
        )
        return str(promotion.id)

    async def promotion_code_active(self, promotion_code_id: str) -> bool:
        promotion = await self._call(
            "promotion_codes.retrieve", self.client.v1.promotion_codes.retrieve_async(promotion_code_id)
        )
        return bool(promotion.active)

    async def deactivate_promotion_code(self, promotion_code_id: str) -> None:
        await self.set_promotion_code_active(promotion_code_id, active=False)

    async def set_promotion_code_active(self, promotion_code_id: str, *, active: bool) -> None:
        await self._call(
            "promotion_codes.update",
            self.client.v1.promotion_codes.update_async(promotion_code_id, {"active": active}),
        )

    async def apply_coupon(self, subscription_id: str, coupon: str) -> RemoteSubscription:
        """A discount on a live subscription from its next invoice (a retention offer taken)."""
        params: stripe.params.SubscriptionUpdateParams = {"discounts": [{"coupon": coupon}]}
        sub = await self._call(
            "subscriptions.update", self.client.v1.subscriptions.update_async(subscription_id, params)
        )
        return RemoteSubscription.of(sub)

    async def create_payment_checkout(
        self,
        *,
        idempotency_key: str,
        customer: str,
        amount: int,
        currency: str,
        description: str,
        metadata: dict[str, str],
        success_url: str,
        cancel_url: str,
    ) -> tuple[str, str]:
        """A one-time payment (a gift): Checkout in payment mode for one line of `amount`."""
        params: stripe.params.checkout.SessionCreateParams = {
            "mode": "payment",
            "customer": customer,
            "client_reference_id": metadata["tollgate_reader_id"],
            "line_items": [
                {
                    "price_data": {
                        "currency": currency,
                        "unit_amount": amount,
                        "product_data": {"name": description},
                    },
                    "quantity": 1,
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        session = await self._call(
            "checkout.sessions.create",
            self.client.v1.checkout.sessions.create_async(params, {"idempotency_key": idempotency_key}),
        )
        return str(session.id), str(session.url)

    async def set_trial_end(self, subscription_id: str, trial_end: datetime) -> RemoteSubscription:
        """Free time on a subscription (a redeemed gift): no charge until `trial_end`, no proration."""
        params: stripe.params.SubscriptionUpdateParams = {
            "trial_end": int(trial_end.timestamp()),
            "proration_behavior": "none",
        }
        sub = await self._call(
            "subscriptions.update", self.client.v1.subscriptions.update_async(subscription_id, params)
        )
        return RemoteSubscription.of(sub)

    async def create_portal(self, *, customer: str, return_url: str) -> str:
        params: stripe.params.billing_portal.SessionCreateParams = {
            "customer": customer,
            "return_url": return_url,
        }
        session = await self._call(
            "billing_portal.sessions.create", self.client.v1.billing_portal.sessions.create_async(params)
        )
        return str(session.url)

    # Subscriptions -----------------------------------------------------------------------

    async def subscription(self, subscription_id: str) -> RemoteSubscription:
        sub = await self._call(
            "subscriptions.retrieve", self.client.v1.subscriptions.retrieve_async(subscription_id)
        )
        return RemoteSubscription.of(sub)

    async def set_cancel_at_period_end(self, subscription_id: str, value: bool) -> RemoteSubscription:
        sub = await self._call(
            "subscriptions.update",
            self.client.v1.subscriptions.update_async(subscription_id, {"cancel_at_period_end": value}),
        )
        return RemoteSubscription.of(sub)

    async def cancel_now(self, subscription_id: str) -> RemoteSubscription:
        sub = await self._call(
            "subscriptions.cancel", self.client.v1.subscriptions.cancel_async(subscription_id)
        )
        return RemoteSubscription.of(sub)

    async def all_subscriptions(self) -> AsyncIterator[RemoteSubscription]:
        """Every subscription, canceled ones too, page by page."""
        page = await self._call(
            "subscriptions.list", self.client.v1.subscriptions.list_async({"status": "all", "limit": 100})
        )
        async for sub in page.auto_paging_iter():
            yield RemoteSubscription.of(sub)

    async def subscriptions_of(self, customer_id: str) -> list[RemoteSubscription]:
        """Every subscription of one customer, canceled ones too, newest first."""
        params: stripe.params.SubscriptionListParams = {
            "customer": customer_id,
            "status": "all",
            "limit": 100,
        }
        page = await self._call("subscriptions.list", self.client.v1.subscriptions.list_async(params))
        return [RemoteSubscription.of(sub) async for sub in page.auto_paging_iter()]

    # The account's own, as another system made them (the demo's imported publication) --------

    async def own_monthly_price(self, *, lookup_key: str, product: str, currency: str, amount: int) -> str:
        """The id of the account's price with this lookup key; made with its product if missing.

        No Tollgate metadata: a price the publisher's old platform made, for the demo to adopt."""
        listed: stripe.params.PriceListParams = {"lookup_keys": [lookup_key], "limit": 1}
        found = await self._call("prices.list", self.client.v1.prices.list_async(listed))
        if found.data:
            return str(found.data[0].id)
        made = await self._call("products.create", self.client.v1.products.create_async({"name": product}))
        params: stripe.params.PriceCreateParams = {
            "product": made.id,
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": "month"},
            "lookup_key": lookup_key,
        }
        price = await self._call("prices.create", self.client.v1.prices.create_async(params))
        return str(price.id)

    async def own_subscriber(self, *, email: str, name: str, price: str) -> str:
        """The id of the customer with this email; made if missing, with a test card and a
        subscription to `price` made straight through the API (no Checkout, no Tollgate metadata)."""
        if found := await self.customers_with_email(email):
            return found[0]
        params: stripe.params.CustomerCreateParams = {
            "email": email,
            "name": name,
            "payment_method": "pm_card_visa",
        }
        customer = await self._call("customers.create", self.client.v1.customers.create_async(params))
        items: stripe.params.SubscriptionCreateParams = {
            "customer": customer.id,
            "items": [{"price": price}],
        }
        await self._call("subscriptions.create", self.client.v1.subscriptions.create_async(items))
        return str(customer.id)

    # Payments ---------------------------------------------------------------------------

    async def charge(self, charge_id: str) -> RemoteCharge:
        ch = await self._call("charges.retrieve", self.client.v1.charges.retrieve_async(charge_id))
        return RemoteCharge(
            id=ch.id,
            customer=ch.customer if isinstance(ch.customer, str) or ch.customer is None else ch.customer.id,
            payment_intent=(
                ch.payment_intent
                if isinstance(ch.payment_intent, str) or ch.payment_intent is None
                else ch.payment_intent.id
            ),
            amount=ch.amount,
            amount_refunded=ch.amount_refunded,
            refunded=bool(ch.refunded),
        )

    async def payment_refunded(self, payment_intent: str) -> bool:
        """Whether a one-time payment came back in full (its latest charge refunded)."""
        intent = await self._call(
            "payment_intents.retrieve", self.client.v1.payment_intents.retrieve_async(payment_intent)
        )
        latest = intent.latest_charge
        if latest is None:
            return False
        charge_id = latest if isinstance(latest, str) else latest.id
        return (await self.charge(charge_id)).refunded

    async def subscription_paid_by(self, payment_intent: str) -> str | None:
        """The subscription whose invoice a payment paid: payment → invoice_payment → invoice."""
        payments = await self._call(
            "invoice_payments.list",
            self.client.v1.invoice_payments.list_async(
                {"payment": {"type": "payment_intent", "payment_intent": payment_intent}, "limit": 1}
            ),
        )
        if not payments.data:
            return None
        invoice_id = payments.data[0].invoice
        invoice_id = invoice_id if isinstance(invoice_id, str) else invoice_id.id
        invoice = await self._call("invoices.retrieve", self.client.v1.invoices.retrieve_async(invoice_id))
        return subscription_of_invoice(invoice.to_dict())

    # Webhooks ---------------------------------------------------------------------------

    def verify_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, if `Stripe-Signature` proves Stripe sent these very bytes recently."""
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"),
                signature or "",
                self.webhook_secret,
                stripe.Webhook.DEFAULT_TOLERANCE,
            )
            event: Any = json.loads(payload)
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhook(
                f"The Stripe-Signature header does not verify: {exc.user_message or exc}"
            ) from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidWebhook("The webhook body is not a JSON event.") from exc
        if (
            not isinstance(event, dict)
            or not str(event.get("id", "")).startswith("evt_")
            or "type" not in event
        ):
            raise InvalidWebhook("The webhook body is not a Stripe event.")
        return event


def subscription_of_invoice(invoice: dict[str, Any]) -> str | None:
    """Current API: invoice.parent.subscription_details.subscription (older ones: invoice.subscription)."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    found = details.get("subscription") or invoice.get("subscription")
    if isinstance(found, dict):
        found = found.get("id")
    return str(found) if found else None


def _missing(exc: PaymentProviderError) -> bool:
    """Stripe said it has no object by that id."""
    cause = exc.__cause__
    return isinstance(cause, stripe.InvalidRequestError) and cause.code == "resource_missing"


def _offer_key(offer_id: str, what: str, replacing: str | None) -> str:
    """One creation per offer, and one more for each coupon that had to be replaced."""
    return f"offer-{offer_id}-{what}" + (f"-replacing-{replacing}" if replacing else "")
