"""Subscriptions: their shape, how they start (from Checkout) and end, and the API to read and change them.

The current period lives on each item (`items.data[i].current_period_start/end`). Periods are
counted from the billing cycle anchor, so a subscription started on 31 January renews on
28 February and then 31 March, as Stripe's do. What the clock does to them is in `lifecycle.py`.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_sandbox import discounts
from stripe_sandbox.billing import collect, draft_invoice
from stripe_sandbox.catalog import plan_from_price
from stripe_sandbox.customers import merge_metadata
from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import exclusive, invalid, missing_parameter, no_such
from stripe_sandbox.events import emit, emit_update
from stripe_sandbox.forms import IGNORED, METADATA, Bool, Field, Int, ListOf, Nullable, Obj, Str
from stripe_sandbox.payments import card_of
from stripe_sandbox.periods import DAY, add_interval
from stripe_sandbox.state import JSON, Sandbox, new_id

ROUTES: list[Endpoint] = []
route = router(ROUTES)
# A coupon to redeem, with the promotion code that named it (if one did).
Redeeming = tuple[JSON, JSON | None]

STATUSES = (
    "active",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
    "all",
)
# How often a failed renewal is retried while past_due (Stripe's smart retries, simplified).
RETRY_EVERY = 2 * DAY
CANCELLATION_DETAILS = Obj(
    {
        "comment": Str(nullable=True),
        "feedback": Str(
            "customer_service",
            "low_quality",
            "missing_features",
            "other",
            "switched_service",
            "too_complex",
            "too_expensive",
            "unused",
            nullable=True,
        ),
    }
)


class TrialEnd(Field):
    """`trial_end`: a Unix timestamp, or `now`."""

    def coerce(self, value: Any, path: str) -> Any:
        return "now" if value == "now" else Int().coerce(value, path)


# Periods.


def cycle_end(sb: Sandbox, subscription: JSON, cycles: int) -> int:
    recurring = subscription["items"]["data"][0]["price"]["recurring"]
    anchor = subscription["billing_cycle_anchor"]
    return add_interval(anchor, recurring["interval"], recurring["interval_count"] * cycles)


def period(subscription: JSON) -> tuple[int, int]:
    item = subscription["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def set_period(subscription: JSON, start: int, end: int) -> None:
    for item in subscription["items"]["data"]:
        item["current_period_start"] = start
        item["current_period_end"] = end


# Starting one.


def start_subscription(
    sb: Sandbox,
    *,
    customer_id: str,
    lines: list[tuple[JSON, int]],
    metadata: JSON,
    description: str | None,
    trial_end: int | None,
    payment_method: str | None,
    redeeming: list[tuple[JSON, JSON | None]] | None = None,
) -> tuple[JSON, JSON]:
    """A new subscription and its first invoice, collected; emits the events in Stripe's order.

    `redeeming` are the coupons (with their promotion codes) that become its discounts.
    """
    now = sb.now()
    subscription_id = new_id("sub")
    currency = lines[0][0]["currency"]
    subscription: JSON = _new_subscription(
        sb, subscription_id, customer_id, currency, metadata, description, now
    )
    subscription["default_payment_method"] = payment_method
    subscription["items"]["data"] = [
        {
            "id": new_id("si", 14),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": now,
            "current_period_end": now,
            "current_period_start": now,
            "discounts": [],
            "metadata": {},
            "plan": plan_from_price(price),
            "price": copy.deepcopy(price),
            "quantity": quantity,
            "subscription": subscription_id,
            "tax_rates": [],
        }
        for price, quantity in lines
    ]
    subscription["items"]["total_count"] = len(lines)
    if trial_end:
        subscription.update(
            status="trialing", trial_start=now, trial_end=trial_end, billing_cycle_anchor=trial_end
        )
        set_period(subscription, now, trial_end)
        sb.private(subscription_id)["cycles"] = 0
    else:
        set_period(subscription, now, cycle_end(sb, subscription, 1))
        sb.private(subscription_id)["cycles"] = 1
    sb.add("subscriptions", subscription)
    subscription["discounts"] = [
        discounts.redeem(sb, coupon, promo, customer_id=customer_id, subscription_id=subscription_id)["id"]
        for coupon, promo in redeeming or []
    ]
    customer = sb.require("customers", customer_id)
    customer["currency"] = customer["currency"] or currency
    invoice = draft_invoice(
        sb,
        subscription,
        reason="subscription_create",
        lines_period=period(subscription),
        trial=bool(trial_end),
    )
    subscription["latest_invoice"] = invoice["id"]
    emit(sb, "customer.subscription.created", subscription)
    collect(sb, invoice, first_payment=True)
    return subscription, invoice


def _new_subscription(
    sb: Sandbox,
    subscription_id: str,
    customer_id: str,
    currency: str,
    metadata: JSON,
    description: str | None,
    now: int,
) -> JSON:
    return {
        "id": subscription_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": now,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": merge_metadata({}, metadata),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def give_up_at(sb: Sandbox, subscription: JSON) -> int:
    since: int = sb.private(subscription["id"])["past_due_since"]
    return since + int(sb.settings.past_due_days * DAY)


def retry_at(sb: Sandbox, subscription: JSON, *, starting: bool = False) -> int | None:
    since = sb.now() if starting and "past_due_since" not in sb.private(subscription["id"]) else None
    give_up = (
        (since + int(sb.settings.past_due_days * DAY)) if since is not None else give_up_at(sb, subscription)
    )
    candidate = sb.now() + RETRY_EVERY
    return candidate if candidate < give_up else None


def cancel(
    sb: Sandbox, subscription: JSON, *, at: int | None = None, reason: str = "cancellation_requested"
) -> None:
    """Canceled from now on (or from `at`, a cancellation that was scheduled); emits `.deleted`."""
    now = at or sb.now()
    subscription["status"] = "canceled"
    subscription["ended_at"] = now
    subscription["canceled_at"] = subscription["canceled_at"] or now
    subscription["cancellation_details"]["reason"] = subscription["cancellation_details"]["reason"] or reason
    if reason == "payment_failed":
        subscription["cancellation_details"]["reason"] = reason
    sb.private(subscription["id"]).pop("past_due_since", None)
    emit(sb, "customer.subscription.deleted", subscription)


def set_cancel_at(sb: Sandbox, subscription: JSON, cancel_at: int | None) -> None:
    """Schedule (or with None, take back) the end of the subscription; no event by itself."""
    details = subscription["cancellation_details"]
    if cancel_at is None:
        subscription.update(cancel_at=None, cancel_at_period_end=False, canceled_at=None)
        details["reason"] = None
        return
    subscription["cancel_at"] = cancel_at
    subscription["cancel_at_period_end"] = cancel_at == period(subscription)[1]
    subscription["canceled_at"] = sb.now()
    details["reason"] = "cancellation_requested"


def pause(sb: Sandbox, subscription: JSON) -> None:
    if subscription["status"] in ("canceled", "paused", "incomplete_expired"):
        raise invalid(f"A subscription with status {subscription['status']} cannot be paused.")
    before = copy.deepcopy(subscription)
    subscription["status"] = "paused"
    emit_update(sb, "customer.subscription.updated", before, subscription)
    emit(sb, "customer.subscription.paused", subscription)


# The API.


@route(
    "POST",
    "/v1/subscriptions",
    {
        "customer": Str(),
        "items": ListOf(Obj({"price": Str(), "quantity": Int(1, 10000), "metadata": IGNORED}), 20),
        "metadata": METADATA,
        "description": Str(nullable=True),
        "trial_period_days": Int(1, 730),
        "trial_end": Int(),
        "cancel_at_period_end": Bool(),
        "collection_method": Str("charge_automatically"),
        "payment_behavior": Str("allow_incomplete", "error_if_incomplete"),
        "off_session": IGNORED,
        "proration_behavior": IGNORED,
    },
    required=("customer", "items"),
)
def create_subscription(sb: Sandbox, params: JSON) -> JSON:
    """A subscription made straight through the API (no Checkout), charged to the customer's card.

    As a publisher's own integration (or another platform) would have made them: the customer
    needs a card first (`payment_method=pm_card_visa` when creating it).
    """
    customer = sb.require("customers", params["customer"], param="customer")
    if not params["items"]:
        raise missing_parameter("items")
    lines = [
        (sb.require("prices", item["price"], param=f"items[{i}][price]"), item.get("quantity", 1))
        for i, item in enumerate(params["items"])
    ]
    for i, (price, _) in enumerate(lines):
        if price["type"] != "recurring" or not price["active"]:
            raise invalid(
                f"The price {price['id']} is not an active recurring price.", param=f"items[{i}][price]"
            )
    if len({price["currency"] for price, _ in lines}) > 1:
        raise invalid("All of a subscription's prices must have the same currency.", param="items")
    if "trial_end" in params and "trial_period_days" in params:
        raise exclusive("trial_end", "trial_period_days")
    trial_end = params.get("trial_end")
    if "trial_period_days" in params:
        trial_end = sb.now() + params["trial_period_days"] * DAY
    if trial_end is not None and trial_end <= sb.now():
        raise invalid(
            "Invalid timestamp: must be an integer Unix timestamp in the future.", param="trial_end"
        )
    card = card_of(sb, customer["id"])
    if card is None:
        raise invalid(
            "This customer has no attached payment source or default payment method. "
            "Please consider adding a default payment method.",
            code="resource_missing",
        )
    subscription, _ = start_subscription(
        sb,
        customer_id=customer["id"],
        lines=lines,
        metadata=params.get("metadata", {}),
        description=params.get("description"),
        trial_end=trial_end,
        payment_method=card["payment_method"],
    )
    if params.get("cancel_at_period_end"):
        before = copy.deepcopy(subscription)
        set_cancel_at(sb, subscription, period(subscription)[1])
        emit_update(sb, "customer.subscription.updated", before, subscription)
    return subscription


@route("GET", "/v1/subscriptions/{id}")
def retrieve_subscription(sb: Sandbox, params: JSON, id: str) -> JSON:
    return sb.require("subscriptions", id)


@route(
    "GET",
    "/v1/subscriptions",
    {
        "customer": Str(),
        "price": Str(),
        "status": Str(*STATUSES),
        "collection_method": Str("charge_automatically", "send_invoice"),
        "current_period_end": IGNORED,
        "current_period_start": IGNORED,
        "test_clock": IGNORED,
        "automatic_tax": IGNORED,
    },
    listing=True,
)
def list_subscriptions(sb: Sandbox, params: JSON) -> Page:
    status = params.get("status")

    def keep(subscription: JSON) -> bool:
        if params.get("customer") not in (None, subscription["customer"]):
            return False
        if "price" in params and all(
            i["price"]["id"] != params["price"] for i in subscription["items"]["data"]
        ):
            return False
        if status == "all":
            return True
        if status == "ended":
            return bool(subscription["status"] in ("canceled", "incomplete_expired"))
        if status is None:  # Stripe leaves canceled subscriptions out unless asked for them
            return bool(subscription["status"] != "canceled")
        return bool(subscription["status"] == status)

    return Page([s for s in sb.newest_first("subscriptions") if keep(s)], "/v1/subscriptions")


@route(
    "POST",
    "/v1/subscriptions/{id}",
    {
        "cancel_at_period_end": Bool(),
        "cancel_at": Int(nullable=True),
        "metadata": METADATA,
        "description": Str(nullable=True),
        "pause_collection": Nullable(
            Obj(
                {"behavior": Str("keep_as_draft", "mark_uncollectible", "void"), "resumes_at": Int()},
                required=("behavior",),
            )
        ),
        "cancellation_details": CANCELLATION_DETAILS,
        # Nullable: `discounts=` (empty) removes them all; a list replaces them.
        "discounts": Nullable(ListOf(Obj({"coupon": Str(), "promotion_code": Str(), "discount": Str()}), 20)),
        "trial_end": TrialEnd(),
        "proration_behavior": Str("always_invoice", "create_prorations", "none"),
        "payment_behavior": IGNORED,
        "off_session": IGNORED,
    },
)
def update_subscription(sb: Sandbox, params: JSON, id: str) -> JSON:
    subscription = sb.require("subscriptions", id)
    if subscription["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
    if "cancel_at" in params and "cancel_at_period_end" in params:
        raise exclusive("cancel_at", "cancel_at_period_end")
    if params.get("cancel_at") is not None and params["cancel_at"] <= sb.now():
        raise invalid("cancel_at must be in the future.", param="cancel_at")
    # Every check comes before any change: a refused update changes nothing.
    replacing = _check_discounts(sb, subscription, params["discounts"]) if "discounts" in params else None
    if "trial_end" in params:
        _check_trial_end(sb, subscription, params["trial_end"], params.get("proration_behavior"))
    before = copy.deepcopy(subscription)
    if replacing is not None:
        subscription["discounts"] = [
            kept
            if isinstance(kept, str)
            else discounts.redeem(
                sb, kept[0], kept[1], customer_id=subscription["customer"], subscription_id=id
            )["id"]
            for kept in replacing
        ]
    if "trial_end" in params:
        _set_trial_end(sb, subscription, params["trial_end"])
    if "cancel_at_period_end" in params:
        set_cancel_at(sb, subscription, period(subscription)[1] if params["cancel_at_period_end"] else None)
    if "cancel_at" in params:
        set_cancel_at(sb, subscription, params["cancel_at"])
    for key in ("description", "pause_collection"):
        if key in params:
            subscription[key] = params[key]
    if subscription["pause_collection"] is not None:
        subscription["pause_collection"].setdefault("resumes_at", None)
    if "metadata" in params:
        subscription["metadata"] = merge_metadata(subscription["metadata"], params["metadata"])
    subscription["cancellation_details"].update(params.get("cancellation_details", {}))
    emit_update(sb, "customer.subscription.updated", before, subscription)
    return subscription


MAX_TRIAL = 730 * DAY  # Stripe: at most two years


def _check_discounts(sb: Sandbox, subscription: JSON, entries: list[JSON] | None) -> list[str | Redeeming]:
    """What the subscription's discounts become: kept ids, or coupons to redeem (checked here)."""
    if not entries:
        return []
    lines = [
        (item["price"]["product"], item["price"]["unit_amount"] * item["quantity"])
        for item in subscription["items"]["data"]
    ]
    result: list[str | Redeeming] = []
    for index, entry in enumerate(entries):
        param = f"discounts[{index}]"
        if "discount" in entry:
            if entry.keys() & {"coupon", "promotion_code"}:
                raise exclusive(f"{param}[discount]", f"{param}[coupon]", f"{param}[promotion_code]")
            if entry["discount"] not in subscription["discounts"]:
                raise no_such("discounts", entry["discount"], param=f"{param}[discount]")
            result.append(entry["discount"])
            continue
        result.append(
            discounts.check_entry(
                sb,
                entry,
                param,
                customer_id=subscription["customer"],
                currency=subscription["currency"],
                lines=lines,
            )
        )
    coupons = [discounts.terms_of(sb, r)["coupon"] if isinstance(r, str) else r[0]["id"] for r in result]
    if len(set(coupons)) != len(coupons):
        raise invalid("The same coupon cannot be applied more than once.", param="discounts")
    return result


def _check_trial_end(sb: Sandbox, subscription: JSON, trial_end: int | str, proration: str | None) -> None:
    status = subscription["status"]
    if status not in ("active", "trialing"):
        raise invalid(
            f"trial_end can only be set on an active or trialing subscription; this one is {status}.",
            param="trial_end",
        )
    if trial_end == "now":
        return
    assert isinstance(trial_end, int)
    now = sb.now()
    if trial_end <= now:
        raise invalid(
            "Invalid timestamp: must be an integer Unix timestamp in the future.", param="trial_end"
        )
    if trial_end > subscription["billing_cycle_anchor"] + MAX_TRIAL and trial_end > now + MAX_TRIAL:
        raise invalid("trial_end can be at most two years from the billing cycle anchor.", param="trial_end")
    if status == "active" and proration != "none":
        # Stripe would credit the unused part of the paid period; the sandbox makes no prorations.
        raise invalid(
            "The Stripe sandbox starts a trial on an active subscription only with "
            "proration_behavior=none (it does not make prorations).",
            param="proration_behavior",
        )


def _set_trial_end(sb: Sandbox, subscription: JSON, trial_end: int | str) -> None:
    """A (new) trial until `trial_end`, nothing billed until then; `now` ends a trial and bills at once."""
    now = sb.now()
    private = sb.private(subscription["id"])
    if trial_end == "now":
        if subscription["status"] != "trialing":
            return  # no trial to end
        subscription.update(trial_end=now, billing_cycle_anchor=now)
        private["cycles"] = 1
        set_period(subscription, now, cycle_end(sb, subscription, 1))
        invoice = draft_invoice(
            sb, subscription, reason="subscription_update", lines_period=period(subscription)
        )
        subscription["latest_invoice"] = invoice["id"]
        paid = collect(sb, invoice, retry_at=retry_at(sb, subscription, starting=True))
        subscription["status"] = "active" if paid else "past_due"
        if not paid:
            private.setdefault("past_due_since", now)
        return
    assert isinstance(trial_end, int)
    start = period(subscription)[0] if subscription["status"] == "trialing" else now
    subscription.update(
        status="trialing",
        trial_start=subscription["trial_start"] if subscription["status"] == "trialing" else now,
        trial_end=trial_end,
        billing_cycle_anchor=trial_end,
    )
    set_period(subscription, start, trial_end)
    if subscription["cancel_at_period_end"]:
        subscription["cancel_at"] = trial_end
    # The renewal at trial_end starts the first paid period, counted from the new anchor.
    private["cycles"] = 0
    private.pop("trial_will_end_sent", None)


@route(
    "DELETE",
    "/v1/subscriptions/{id}",
    {"cancellation_details": CANCELLATION_DETAILS, "invoice_now": Bool(), "prorate": Bool()},
)
def cancel_subscription(sb: Sandbox, params: JSON, id: str) -> JSON:
    subscription = sb.require("subscriptions", id)
    if subscription["status"] == "canceled":
        raise invalid(f"The subscription {id} is already canceled.", code="resource_missing", param="id")
    subscription["cancellation_details"].update(params.get("cancellation_details", {}))
    subscription["canceled_at"] = None  # an immediate cancel is requested now, whatever was scheduled
    subscription["cancellation_details"]["reason"] = None
    cancel(sb, subscription)
    return subscription


@route(
    "POST",
    "/v1/subscriptions/{id}/resume",
    {
        "billing_cycle_anchor": Str("now", "unchanged"),
        "proration_behavior": IGNORED,
        "proration_date": IGNORED,
    },
)
def resume_subscription(sb: Sandbox, params: JSON, id: str) -> JSON:
    subscription = sb.require("subscriptions", id)
    if subscription["status"] != "paused":
        raise invalid(f"Only a paused subscription can be resumed; this one is {subscription['status']}.")
    before = copy.deepcopy(subscription)
    if params.get("billing_cycle_anchor", "now") == "now":
        now = sb.now()
        subscription["billing_cycle_anchor"] = now
        sb.private(id)["cycles"] = 1
        set_period(subscription, now, cycle_end(sb, subscription, 1))
        invoice = draft_invoice(
            sb, subscription, reason="subscription_update", lines_period=period(subscription)
        )
        subscription["latest_invoice"] = invoice["id"]
        paid = collect(sb, invoice, retry_at=retry_at(sb, subscription, starting=True))
        subscription["status"] = "active" if paid else "past_due"
        if not paid:
            sb.private(id).setdefault("past_due_since", now)
    else:
        subscription["status"] = "active"
    emit_update(sb, "customer.subscription.updated", before, subscription)
    emit(sb, "customer.subscription.resumed", subscription)
    return subscription


@route("GET", "/v1/subscription_items", {"subscription": Str()}, listing=True)
def list_subscription_items(sb: Sandbox, params: JSON) -> Page:
    if "subscription" not in params:
        raise missing_parameter("subscription")
    subscription = sb.require("subscriptions", params["subscription"], param="subscription")
    return Page(
        list(subscription["items"]["data"]), f"/v1/subscription_items?subscription={subscription['id']}"
    )
