"""Coupons, promotion codes and the discounts they become: the API, and what a discount takes off.

A coupon says how much comes off (`percent_off`, or `amount_off` in one currency) and for how
long (`once`, `repeating` for `duration_in_months`, `forever`); a promotion code is a
customer-facing code for a coupon with limits of its own. Redeeming either on a subscription
(from Checkout or a subscription update) makes a Discount (`di_...`) that the subscription
names by id; every invoice drafted while the discount lasts takes it off. A repeating discount
ends `duration_in_months` calendar months after it starts, counted like billing periods, so
one that starts on 31 January ends on 30 April and the invoice of 30 April is at full price.

A coupon is `valid` until its `redeem_by` passes or it has been redeemed `max_redemptions`
times; a promotion code is `active` while its own flag is on, its coupon is valid and it has
neither expired nor run out. Redeeming counts once per discount made (once per subscription).
"""

from __future__ import annotations

import copy
import re
import secrets
import string
from decimal import ROUND_HALF_UP, Decimal

from stripe_sandbox.customers import merge_metadata
from stripe_sandbox.endpoints import Endpoint, Page, router
from stripe_sandbox.errors import StripeError, exclusive, invalid, missing_parameter, no_such
from stripe_sandbox.events import emit, emit_update
from stripe_sandbox.forms import IGNORED, METADATA, Bool, Int, ListOf, Number, Obj, Str
from stripe_sandbox.periods import DAY, add_interval
from stripe_sandbox.state import JSON, Sandbox, new_id
from tollgate_common.words import money

ROUTES: list[Endpoint] = []
route = router(ROUTES)

DURATIONS = ("forever", "once", "repeating")
# Stripe: redeem_by "cannot be set to more than 5 years in the future".
MAX_REDEEM_AHEAD = 5 * 365 * DAY
_CODE = re.compile(r"^[A-Za-z0-9-]+$")
_GENERATED = string.ascii_uppercase + string.digits
# One entry of a `discounts` array: a coupon or a promotion code (a subscription may also reuse a discount).
DISCOUNT_ENTRY = Obj({"coupon": Str(), "promotion_code": Str()})


def _generated(length: int = 8) -> str:
    return "".join(secrets.choice(_GENERATED) for _ in range(length))


# Validity: computed from the clock and the counts, refreshed before anything reads or redeems.


def coupon_problem(coupon: JSON, now: int) -> str | None:
    """Why the coupon can no longer be redeemed, or None."""
    if coupon["redeem_by"] is not None and now >= coupon["redeem_by"]:
        return f"Coupon expired: {coupon['id']}"
    if coupon["max_redemptions"] is not None and coupon["times_redeemed"] >= coupon["max_redemptions"]:
        return f"Coupon expired: {coupon['id']} has been redeemed the maximum number of times."
    return None


def _promotion_problem(sb: Sandbox, promo: JSON, now: int) -> str | None:
    code = promo["code"]
    coupon = sb.get("coupons", promo["promotion"]["coupon"])
    if coupon is None:
        return f"The promotion code `{code}` is for a coupon that has been deleted."
    if (problem := coupon_problem(coupon, now)) is not None:
        return problem
    if promo["expires_at"] is not None and now >= promo["expires_at"]:
        return f"The promotion code `{code}` has expired."
    if promo["max_redemptions"] is not None and promo["times_redeemed"] >= promo["max_redemptions"]:
        return f"The promotion code `{code}` has been redeemed the maximum number of times."
    return None


def refresh(sb: Sandbox) -> None:
    """Bring every coupon's `valid` and promotion code's `active` up to the sandbox clock."""
    now = sb.now()
    for coupon in sb.table("coupons").values():
        coupon["valid"] = coupon_problem(coupon, now) is None
    for promo in sb.table("promotion_codes").values():
        switched_on = bool(sb.private(promo["id"]).get("active", True))
        promo["active"] = switched_on and _promotion_problem(sb, promo, now) is None


# Coupons.


@route(
    "POST",
    "/v1/coupons",
    {
        "id": Str(max_length=200),
        "percent_off": Number(),
        "amount_off": Int(1),
        "currency": Str(),
        "duration": Str(*DURATIONS),
        "duration_in_months": Int(1, 36),
        "max_redemptions": Int(1),
        "redeem_by": Int(),
        "name": Str(max_length=40),
        "metadata": METADATA,
        "applies_to": Obj({"products": ListOf(Str())}),
        "currency_options": IGNORED,
    },
)
def create_coupon(sb: Sandbox, params: JSON) -> JSON:
    refresh(sb)
    now = sb.now()
    if "percent_off" in params and "amount_off" in params:
        raise exclusive("percent_off", "amount_off")
    if "percent_off" not in params and "amount_off" not in params:
        raise StripeError(
            "You must pass either amount_off or percent_off.", code="parameter_missing", param="percent_off"
        )
    percent_off = params.get("percent_off")
    if percent_off is not None and not 0 < percent_off <= 100:
        raise invalid(
            "Invalid percent_off: must be greater than 0 and less than or equal to 100.", param="percent_off"
        )
    currency = params.get("currency")
    if "amount_off" in params and currency is None:
        raise missing_parameter("currency")
    if currency is not None:
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise invalid(
                f"Invalid currency: {currency}. Stripe currencies are three-letter ISO codes.",
                param="currency",
            )
        currency = currency.lower()
    duration = params.get("duration", "once")
    if duration == "repeating" and "duration_in_months" not in params:
        raise missing_parameter("duration_in_months")
    if duration != "repeating" and "duration_in_months" in params:
        raise invalid(
            "Invalid duration_in_months: it can only be set when duration is `repeating`.",
            param="duration_in_months",
        )
    redeem_by = params.get("redeem_by")
    if redeem_by is not None and redeem_by <= now:
        raise invalid("Invalid redeem_by: must be in the future.", param="redeem_by")
    if redeem_by is not None and redeem_by > now + MAX_REDEEM_AHEAD:
        raise invalid("Invalid redeem_by: cannot be more than 5 years in the future.", param="redeem_by")
    products = params.get("applies_to", {}).get("products")
    for index, product_id in enumerate(products or []):
        if sb.get("products", product_id) is None:
            raise no_such("products", product_id, param=f"applies_to[products][{index}]")
    coupon_id = params.get("id") or _generated()
    if sb.get("coupons", coupon_id):
        raise StripeError("Coupon already exists.", code="resource_already_exists", param="id")
    coupon: JSON = {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": params.get("amount_off"),
        "created": now,
        "currency": currency,
        "duration": duration,
        "duration_in_months": params.get("duration_in_months"),
        "livemode": False,
        "max_redemptions": params.get("max_redemptions"),
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "name": params.get("name"),
        "percent_off": float(percent_off) if percent_off is not None else None,
        "redeem_by": redeem_by,
        "times_redeemed": 0,
        "valid": True,
    }
    sb.add("coupons", coupon)
    # `applies_to` is one of Stripe's includable fields: shown only with expand[]=applies_to.
    sb.private(coupon_id)["applies_to"] = {"products": list(products)} if products else None
    emit(sb, "coupon.created", coupon)
    return coupon


def applies_to(sb: Sandbox, coupon_id: str) -> JSON | None:
    return copy.deepcopy(sb.private(coupon_id).get("applies_to"))


@route("GET", "/v1/coupons/{id}")
def retrieve_coupon(sb: Sandbox, params: JSON, id: str) -> JSON:
    refresh(sb)
    return sb.require("coupons", id)


@route("GET", "/v1/coupons", listing=True)
def list_coupons(sb: Sandbox, params: JSON) -> Page:
    refresh(sb)
    return Page(sb.newest_first("coupons"), "/v1/coupons")


@route(
    "POST",
    "/v1/coupons/{id}",
    {"name": Str(nullable=True, max_length=40), "metadata": METADATA, "currency_options": IGNORED},
)
def update_coupon(sb: Sandbox, params: JSON, id: str) -> JSON:
    refresh(sb)
    coupon = sb.require("coupons", id)
    before = copy.deepcopy(coupon)
    if "name" in params:
        coupon["name"] = params["name"]
    if "metadata" in params:
        coupon["metadata"] = merge_metadata(coupon["metadata"], params["metadata"])
    emit_update(sb, "coupon.updated", before, coupon)
    return coupon


@route("DELETE", "/v1/coupons/{id}")
def delete_coupon(sb: Sandbox, params: JSON, id: str) -> JSON:
    """Gone for new redemptions; discounts already made from it keep applying (they hold its terms)."""
    refresh(sb)
    coupon = sb.require("coupons", id)
    del sb.table("coupons")[id]
    refresh(sb)
    emit(sb, "coupon.deleted", coupon)
    return {"id": id, "object": "coupon", "deleted": True}


# Promotion codes.


def _active_with_code(sb: Sandbox, code: str, other_than: str | None = None) -> JSON | None:
    for promo in sb.table("promotion_codes").values():
        if promo["active"] and promo["code"].lower() == code.lower() and promo["id"] != other_than:
            return promo
    return None


@route(
    "POST",
    "/v1/promotion_codes",
    {
        "promotion": Obj({"type": Str("coupon"), "coupon": Str()}, required=("type",)),
        "code": Str(max_length=500),
        "active": Bool(),
        "customer": Str(),
        "expires_at": Int(),
        "max_redemptions": Int(1),
        "metadata": METADATA,
        "restrictions": Obj(
            {
                "first_time_transaction": Bool(),
                "minimum_amount": Int(0),
                "minimum_amount_currency": Str(),
                "currency_options": IGNORED,
            }
        ),
        "customer_account": IGNORED,
    },
    required=("promotion",),
)
def create_promotion_code(sb: Sandbox, params: JSON) -> JSON:
    refresh(sb)
    now = sb.now()
    promotion = params["promotion"]
    if "coupon" not in promotion:
        raise missing_parameter("promotion[coupon]")
    coupon = sb.get("coupons", promotion["coupon"])
    if coupon is None:
        raise no_such("coupons", promotion["coupon"], param="promotion[coupon]")
    if (problem := coupon_problem(coupon, now)) is not None:
        raise invalid(problem, code="coupon_expired", param="promotion[coupon]")
    if "customer" in params and sb.get("customers", params["customer"]) is None:
        raise no_such("customers", params["customer"], param="customer")
    expires_at = params.get("expires_at")
    if expires_at is not None and expires_at <= now:
        raise invalid("Invalid expires_at: must be in the future.", param="expires_at")
    if expires_at is not None and coupon["redeem_by"] is not None and expires_at > coupon["redeem_by"]:
        raise invalid(
            "The promotion code's expires_at cannot be after the coupon's redeem_by.", param="expires_at"
        )
    limit = params.get("max_redemptions")
    if limit is not None and coupon["max_redemptions"] is not None and limit > coupon["max_redemptions"]:
        raise invalid(
            "The promotion code's max_redemptions cannot be greater than the coupon's max_redemptions.",
            param="max_redemptions",
        )
    restrictions = params.get("restrictions", {})
    minimum_currency = restrictions.get("minimum_amount_currency")
    if "minimum_amount" in restrictions and minimum_currency is None:
        raise missing_parameter("restrictions[minimum_amount_currency]")
    code = params.get("code")
    if code is None:
        code = _generated()
        while _active_with_code(sb, code):
            code = _generated()
    elif not _CODE.match(code):
        raise invalid(
            "Invalid code: a promotion code may contain only letters (a-z, A-Z), digits (0-9) "
            "and dashes (-).",
            param="code",
        )
    active = params.get("active", True)
    if active and (holder := _active_with_code(sb, code)):
        raise invalid(f"An active promotion code with `code: {holder['code']}` already exists.", param="code")
    promo: JSON = {
        "id": new_id("promo"),
        "object": "promotion_code",
        "active": active,
        "code": code,
        "created": now,
        "customer": params.get("customer"),
        "customer_account": None,
        "expires_at": expires_at,
        "livemode": False,
        "max_redemptions": limit,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "promotion": {"coupon": coupon["id"], "type": "coupon"},
        "restrictions": {
            "first_time_transaction": restrictions.get("first_time_transaction", False),
            "minimum_amount": restrictions.get("minimum_amount"),
            "minimum_amount_currency": minimum_currency.lower() if minimum_currency else None,
        },
        "times_redeemed": 0,
    }
    sb.add("promotion_codes", promo)
    sb.private(promo["id"])["active"] = active
    refresh(sb)
    emit(sb, "promotion_code.created", promo)
    return promo


@route("GET", "/v1/promotion_codes/{id}")
def retrieve_promotion_code(sb: Sandbox, params: JSON, id: str) -> JSON:
    refresh(sb)
    return sb.require("promotion_codes", id)


@route(
    "GET",
    "/v1/promotion_codes",
    {"active": Bool(), "code": Str(), "coupon": Str(), "customer": Str(), "customer_account": IGNORED},
    listing=True,
)
def list_promotion_codes(sb: Sandbox, params: JSON) -> Page:
    refresh(sb)

    def keep(promo: JSON) -> bool:
        if "active" in params and promo["active"] != params["active"]:
            return False
        if "code" in params and promo["code"].lower() != params["code"].lower():  # case-insensitive
            return False
        if params.get("coupon") not in (None, promo["promotion"]["coupon"]):
            return False
        return params.get("customer") in (None, promo["customer"])

    return Page([p for p in sb.newest_first("promotion_codes") if keep(p)], "/v1/promotion_codes")


@route(
    "POST",
    "/v1/promotion_codes/{id}",
    {"active": Bool(), "metadata": METADATA, "restrictions": Obj({"currency_options": IGNORED})},
)
def update_promotion_code(sb: Sandbox, params: JSON, id: str) -> JSON:
    refresh(sb)
    promo = sb.require("promotion_codes", id)
    before = copy.deepcopy(promo)
    if params.get("active") is True and not promo["active"]:
        problem = _promotion_problem(sb, promo, sb.now())
        holder = _active_with_code(sb, promo["code"], other_than=id)
        if holder is not None:
            problem = f"`{holder['code']}` is the code of another active promotion code ({holder['id']})."
        if problem is not None:
            raise invalid(
                "A promotion code can only be reactivated when the coupon is still valid and the "
                f"promotion code is otherwise redeemable. {problem}",
                param="active",
            )
    if "active" in params:
        sb.private(id)["active"] = params["active"]
    if "metadata" in params:
        promo["metadata"] = merge_metadata(promo["metadata"], params["metadata"])
    refresh(sb)
    emit_update(sb, "promotion_code.updated", before, promo)
    return promo


def find_code(sb: Sandbox, code: str) -> JSON | None:
    """The active promotion code a payer typed (case-insensitive), as the hosted page looks it up."""
    refresh(sb)
    return _active_with_code(sb, code.strip())


# Redeeming: checking a `discounts` entry, and making the Discount.


def _has_paid(sb: Sandbox, customer_id: str) -> bool:
    if any(c["customer"] == customer_id and c["status"] == "succeeded" for c in sb.table("charges").values()):
        return True
    return any(
        i["customer"] == customer_id and i["status"] == "paid" and i["amount_paid"] > 0
        for i in sb.table("invoices").values()
    )


def check_entry(
    sb: Sandbox,
    entry: JSON,
    param: str,
    *,
    customer_id: str | None,
    currency: str,
    lines: list[tuple[str, int]],
) -> tuple[JSON, JSON | None]:
    """The coupon (and promotion code) an entry names, if it can be redeemed on these lines now.

    `lines` are (product id, amount) pairs; `param` names the entry in errors (`discounts[0]`).
    """
    refresh(sb)
    now = sb.now()
    if "coupon" in entry and "promotion_code" in entry:
        raise exclusive(f"{param}[coupon]", f"{param}[promotion_code]")
    promo: JSON | None = None
    if "promotion_code" in entry:
        where = f"{param}[promotion_code]"
        promo = sb.get("promotion_codes", entry["promotion_code"])
        if promo is None:
            raise no_such("promotion_codes", entry["promotion_code"], param=where)
        if (problem := _promotion_problem(sb, promo, now)) is not None:
            raise invalid(problem, code="coupon_expired" if "Coupon" in problem else None, param=where)
        if not promo["active"]:
            raise invalid(f"The promotion code `{promo['code']}` is not active.", param=where)
        if promo["customer"] is not None and promo["customer"] != customer_id:
            raise invalid(
                f"The promotion code `{promo['code']}` cannot be redeemed by this customer.", param=where
            )
        restrictions = promo["restrictions"]
        if restrictions["first_time_transaction"] and customer_id and _has_paid(sb, customer_id):
            raise invalid(
                f"The promotion code `{promo['code']}` cannot be redeemed because the associated customer "
                "has prior transactions.",
                param=where,
            )
        minimum = restrictions["minimum_amount"]
        subtotal = sum(amount for _, amount in lines)
        if minimum is not None and (
            restrictions["minimum_amount_currency"] != currency or subtotal < minimum
        ):
            shown = money(minimum, restrictions["minimum_amount_currency"] or currency, exact=True)
            raise invalid(
                f"The promotion code `{promo['code']}` requires a minimum amount of {shown}.", param=where
            )
        coupon = sb.require("coupons", promo["promotion"]["coupon"])
    elif "coupon" in entry:
        where = f"{param}[coupon]"
        named = sb.get("coupons", entry["coupon"])
        if named is None:
            raise no_such("coupons", entry["coupon"], param=where)
        coupon = named
        if (problem := coupon_problem(coupon, now)) is not None:
            raise invalid(problem, code="coupon_expired", param=where)
    else:
        raise missing_parameter(f"{param}[coupon]")
    if coupon["amount_off"] is not None and coupon["currency"] != currency:
        raise invalid(
            f"The coupon `{coupon['id']}` takes off an amount in {coupon['currency'].upper()}, "
            f"which cannot apply to a charge in {currency.upper()}.",
            param=where,
        )
    products = (applies_to(sb, coupon["id"]) or {}).get("products")
    if products and not any(product in products for product, _ in lines):
        raise invalid(f"The coupon `{coupon['id']}` does not apply to any of the items.", param=where)
    return coupon, promo


def check_entries(
    sb: Sandbox,
    entries: list[JSON],
    param: str,
    *,
    customer_id: str | None,
    currency: str,
    lines: list[tuple[str, int]],
) -> list[tuple[JSON, JSON | None]]:
    found = [
        check_entry(sb, entry, f"{param}[{index}]", customer_id=customer_id, currency=currency, lines=lines)
        for index, entry in enumerate(entries)
    ]
    coupons = [coupon["id"] for coupon, _ in found]
    if len(set(coupons)) != len(coupons):
        raise invalid("The same coupon cannot be applied more than once.", param=param)
    return found


def terms(sb: Sandbox, coupon: JSON) -> JSON:
    """What a discount needs of its coupon, kept with it so that deleting the coupon changes nothing."""
    return {
        "coupon": coupon["id"],
        "percent_off": coupon["percent_off"],
        "amount_off": coupon["amount_off"],
        "currency": coupon["currency"],
        "duration": coupon["duration"],
        "duration_in_months": coupon["duration_in_months"],
        "products": (applies_to(sb, coupon["id"]) or {}).get("products"),
    }


def redeem(
    sb: Sandbox,
    coupon: JSON,
    promo: JSON | None,
    *,
    customer_id: str | None,
    subscription_id: str | None = None,
    checkout_session: str | None = None,
) -> JSON:
    """A new Discount from the coupon (or promotion code), counted as one redemption of each."""
    now = sb.now()
    end = (
        add_interval(now, "month", coupon["duration_in_months"])
        if coupon["duration"] == "repeating"
        else None
    )
    discount: JSON = {
        "id": new_id("di"),
        "object": "discount",
        "checkout_session": checkout_session,
        "customer": customer_id,
        "customer_account": None,
        "end": end,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": promo["id"] if promo else None,
        "source": {"coupon": coupon["id"], "type": "coupon"},
        "start": now,
        "subscription": subscription_id,
        "subscription_item": None,
    }
    sb.add("discounts", discount)
    sb.private(discount["id"]).update(terms=terms(sb, coupon), used=False)
    coupon["times_redeemed"] += 1
    if promo is not None:
        promo["times_redeemed"] += 1
    refresh(sb)
    return discount


# What discounts take off.


def in_effect(sb: Sandbox, discount_ids: list[str], at: int) -> list[JSON]:
    """The discounts that apply to an invoice for a period starting at `at`, in order."""
    found: list[JSON] = []
    for discount_id in discount_ids:
        discount = sb.get("discounts", discount_id)
        if discount is None:
            continue
        private = sb.private(discount_id)
        if private["terms"]["duration"] == "once" and private.get("used"):
            continue
        if discount["end"] is not None and at >= discount["end"]:
            continue
        found.append(discount)
    return found


def split(all_terms: list[JSON], lines: list[tuple[str, int]]) -> list[list[int]]:
    """Per discount (in order, each on what the ones before left), what it takes off each line."""
    remaining = [amount for _, amount in lines]
    result = []
    for each in all_terms:
        eligible = [
            i for i, (product, _) in enumerate(lines) if not each["products"] or product in each["products"]
        ]
        base = sum(remaining[i] for i in eligible)
        if each["percent_off"] is not None:
            exact = Decimal(base) * Decimal(str(each["percent_off"])) / 100
            off = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        else:
            off = min(each["amount_off"], base)
        shares = [0] * len(lines)
        left = off
        for position, index in enumerate(eligible):
            # In proportion to each line's amount; the last eligible line takes what rounding left.
            share = left if position == len(eligible) - 1 else (off * remaining[index] // base if base else 0)
            shares[index] = share
            left -= share
        remaining = [amount - share for amount, share in zip(remaining, shares, strict=True)]
        result.append(shares)
    return result


def preview(sb: Sandbox, coupons: list[JSON], lines: list[tuple[str, int]]) -> list[int]:
    """What coupons not yet redeemed would take off each line (for a Checkout Session's totals)."""
    shares = split([terms(sb, coupon) for coupon in coupons], lines)
    return [sum(column) for column in zip(*shares, strict=True)] if shares else [0] * len(lines)


def terms_of(sb: Sandbox, discount_id: str) -> JSON:
    return sb.private(discount_id)["terms"]  # type: ignore[no-any-return]


def mark_used(sb: Sandbox, discount_id: str) -> None:
    sb.private(discount_id)["used"] = True


def prune(sb: Sandbox, subscription: JSON, at: int) -> None:
    """Drop the discounts that end before a period starting at `at` (a used `once`, an ended `repeating`)."""
    subscription["discounts"] = [d["id"] for d in in_effect(sb, subscription["discounts"], at)]
