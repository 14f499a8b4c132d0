"""The HTML pages a browser sees: hosted checkout, the billing portal, and the clock on the home page.

Every page carries a banner saying this is the Stripe sandbox and that no real payment happens.
The checkout page has one button per test card; the portal page one button per action on each
subscription. The buttons are plain forms, so the pages work without JavaScript.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from stripe_sandbox import checkout, clock, discounts, portal
from stripe_sandbox.errors import StripeError
from stripe_sandbox.forms import parse_body
from stripe_sandbox.payments import TEST_CARDS, test_card
from stripe_sandbox.state import JSON, Sandbox
from stripe_sandbox.subscriptions import period
from tollgate_common.words import count, day, duration, from_timestamp, money, stamp

BANNER = "Stripe sandbox: this is not Stripe. No real payment happens and no card is ever charged."
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:0 1rem 3rem;color:#1a1a1a}
.sandbox-banner{background:#b00020;color:#fff;font-weight:700;padding:.75rem 1rem;margin:0 -1rem 1.5rem;
text-align:center}
.card{border:1px solid #ddd;border-radius:8px;padding:1rem;margin:1rem 0}
button{font-size:1rem;padding:.6rem 1rem;margin:.25rem 0;cursor:pointer;width:100%}
.error{color:#b00020;font-weight:700}.note{color:#555}
"""


def layout(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)} · Stripe sandbox</title><style>{_STYLE}</style></head><body>"
        f"<div class='sandbox-banner' role='alert'>{escape(BANNER)}</div>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )


def html(title: str, body: str, status: int = 200) -> Response[str]:
    return Response(layout(title, body), status_code=status, media_type="text/html; charset=utf-8")


# Checkout.


def _every(recurring: JSON) -> str:
    count = recurring.get("interval_count", 1)
    return str(recurring["interval"]) if count == 1 else f"{count} {recurring['interval']}s"


def price_words(amount: int, currency: str, recurring: JSON | None, coupon: JSON | None, off: int) -> str:
    """A price as the payer pays it: `$10 per month`, or with a coupon taking `off` off it,
    `$5 per month for the first 3 months, then $10 per month`."""
    full = money(amount, currency)
    if recurring is None:
        return full if not off else f"{money(amount - off, currency)} (instead of {full})"
    every = _every(recurring)
    regular = f"{full} per {escape(every)}"
    if coupon is None or not off:
        return regular
    discounted = money(amount - off, currency)
    if coupon["duration"] == "once":
        return f"{discounted} for the first {escape(every)}, then {regular}"
    if coupon["duration"] == "repeating":
        months = count(coupon["duration_in_months"], "month")
        return f"{discounted} per {escape(every)} for the first {months}, then {regular}"
    return f"{discounted} per {escape(every)} (instead of {full})"


def _checkout_body(sb: Sandbox, session: JSON, error: str | None = None) -> str:
    parts = []
    coupons = checkout.session_coupons(sb, session)
    coupon = coupons[0] if coupons else None
    for item in checkout.line_items(sb, session):
        price = item["price"]
        full = price.get("unit_amount", 0) * item["quantity"]
        # What the coupon takes off a full payment (a trial's first payment is nothing).
        off = discounts.preview(sb, coupons, [(price.get("product", ""), full)])[0] if coupon else 0
        name = escape(item["description"] or price.get("product", ""))
        words = price_words(full, price.get("currency", "usd"), price.get("recurring"), coupon, off)
        parts.append(
            f"<p><strong>{name}</strong> × {item['quantity']}: {words}</p>"  # noqa: RUF001 - the multiplication sign
        )
    for entry, found in zip(session["discounts"], coupons, strict=False):
        label = found["name"] or found["id"]
        promo = sb.get("promotion_codes", entry["promotion_code"]) if entry["promotion_code"] else None
        via = f" (code {escape(promo['code'])})" if promo else ""
        parts.append(f"<p class='discount'>Discount: {escape(label)}{via}</p>")
    data = sb.private(session["id"])["subscription_data"]
    if data.get("trial_period_days"):
        parts.append(f"<p>Free trial: {data['trial_period_days']} days, then billed as above.</p>")
    parts.append(f"<p>Due today: <strong>{money(session['amount_total'], session['currency'])}</strong></p>")
    if session["status"] != "open":
        word = "completed" if session["status"] == "complete" else "expired"
        parts.append(f"<p class='error'>This checkout session has {word}; it can no longer be paid.</p>")
        return "".join(parts)
    if error:
        parts.append(f"<p class='error' role='alert'>{escape(error)}</p>")
    email_field = ""
    if not session["customer"] and not session["customer_email"]:
        email_field = (
            "<label>Email <input type='email' name='email' value='reader@example.com' required></label>"
        )
    elif session["customer_email"]:
        parts.append(f"<p class='note'>Paying as {escape(session['customer_email'])}</p>")
    if session["allow_promotion_codes"]:
        parts.append(
            f"<form method='post' action='/checkout/{escape(session['id'])}/promotion_code'>"
            "<label>Promotion code <input name='code' autocomplete='off' required></label>"
            "<button type='submit'>Apply</button></form>"
        )
    for number, card in TEST_CARDS.items():
        spaced = " ".join(number[i : i + 4] for i in range(0, 16, 4))
        parts.append(
            f"<form class='card' method='post' action='/checkout/{escape(session['id'])}/pay'>{email_field}"
            f"<input type='hidden' name='card' value='{number}'>"
            f"<button type='submit'>Pay with {spaced}</button>"
            f"<span class='note'>This card {escape(card.label)}.</span></form>"
        )
    if session["cancel_url"]:
        parts.append(f"<p><a href='{escape(session['cancel_url'])}'>Cancel and go back</a></p>")
    return "".join(parts)


@get("/checkout/{session_id:str}", include_in_schema=False)
async def checkout_page(request: Request[Any, Any, Any], session_id: FromPath[str]) -> Response[str]:
    sb: Sandbox = request.app.state.sandbox
    async with sb.lock:
        session = sb.get("checkout_sessions", session_id)
        if session is None:
            return html("Checkout", "<p class='error'>There is no such checkout session.</p>", 404)
        return html("Checkout", _checkout_body(sb, session))


@post("/checkout/{session_id:str}/pay", include_in_schema=False, status_code=303)
async def checkout_pay(
    request: Request[Any, Any, Any], session_id: FromPath[str]
) -> Response[str] | Redirect:
    sb: Sandbox = request.app.state.sandbox
    form = parse_body(request.headers.get("content-type", ""), await request.body())
    async with sb.action():
        session = sb.get("checkout_sessions", session_id)
        if session is None:
            return html("Checkout", "<p class='error'>There is no such checkout session.</p>", 404)
        try:
            card = test_card(str(form.get("card", "")))
            checkout.pay(sb, session, card, email=form.get("email") or None)
        except StripeError as exc:
            return html("Checkout", _checkout_body(sb, session, error=exc.message), exc.status)
        return Redirect(checkout.success_redirect(session), status_code=303)


# The billing portal.


def _portal_body(sb: Sandbox, session: JSON, message: str | None) -> str:
    customer = sb.get("customers", session["customer"]) or {}
    parts = [f"<p>Customer: {escape(customer.get('email') or customer.get('id', ''))}</p>"]
    if message:
        parts.append(f"<p role='status'><strong>{escape(message)}</strong></p>")
    subscriptions = portal.subscriptions_of(sb, session["customer"])
    if not subscriptions:
        parts.append("<p>No subscriptions.</p>")
    for subscription in subscriptions:
        parts.append(_subscription_card(sb, session, subscription))
    if session["return_url"]:
        parts.append(f"<p><a href='{escape(session['return_url'])}'>Return to the site</a></p>")
    return "".join(parts)


def _subscription_card(sb: Sandbox, session: JSON, subscription: JSON) -> str:
    price = subscription["items"]["data"][0]["price"]
    product = sb.get("products", price["product"]) or {"name": price["product"]}
    end = period(subscription)[1]
    lines = [
        f"<div class='card' id='{escape(subscription['id'])}'>"
        f"<p><strong>{escape(product['name'])}</strong>"
        f" · {money(price['unit_amount'], price['currency'])}"
        f" per {escape(price['recurring']['interval'])}</p>",
        f"<p>Status: <strong>{escape(subscription['status'])}</strong></p>",
    ]
    if subscription["status"] == "canceled":
        lines.append("<p class='note'>Ended.</p></div>")
        return "".join(lines)
    if subscription["cancel_at"]:
        lines.append(f"<p>Ends on {_date(subscription['cancel_at'])}.</p>")
    else:
        lines.append(f"<p>Renews on {_date(end)}.</p>")
    base = f"/portal/{escape(session['id'])}/subscriptions/{escape(subscription['id'])}"
    buttons = (
        [("keep", "Don't cancel")]
        if subscription["cancel_at"]
        else [("cancel_at_period_end", "Cancel at period end")]
    )
    buttons.append(("cancel_now", "Cancel now"))
    for action, label in buttons:
        lines.append(
            f"<form method='post' action='{base}/{action}'><button type='submit'>{label}</button></form>"
        )
    lines.append("</div>")
    return "".join(lines)


def _date(moment: int) -> str:
    return day(from_timestamp(moment))


@get("/portal/{session_id:str}", include_in_schema=False)
async def portal_page(request: Request[Any, Any, Any], session_id: FromPath[str]) -> Response[str]:
    sb: Sandbox = request.app.state.sandbox
    async with sb.lock:
        session = sb.get("portal_sessions", session_id)
        if session is None:
            return html("Billing portal", "<p class='error'>There is no such portal session.</p>", 404)
        return html("Billing portal", _portal_body(sb, session, request.query_params.get("message")))


@post(
    "/portal/{session_id:str}/subscriptions/{subscription_id:str}/{action:str}",
    include_in_schema=False,
    status_code=303,
)
async def portal_action(
    request: Request[Any, Any, Any],
    session_id: FromPath[str],
    subscription_id: FromPath[str],
    action: FromPath[str],
) -> Response[str] | Redirect:
    sb: Sandbox = request.app.state.sandbox
    async with sb.action():
        session = sb.get("portal_sessions", session_id)
        if session is None:
            return html("Billing portal", "<p class='error'>There is no such portal session.</p>", 404)
        try:
            message = portal.act(sb, session, subscription_id, action)
        except StripeError as exc:
            return html("Billing portal", _portal_body(sb, session, exc.message), exc.status)
    return Redirect(f"/portal/{session_id}?message={quote(message)}", status_code=303)


@post("/checkout/{session_id:str}/promotion_code", include_in_schema=False, status_code=303)
async def checkout_promotion_code(
    request: Request[Any, Any, Any], session_id: FromPath[str]
) -> Response[str] | Redirect:
    """The payer typed a promotion code: it becomes the session's discount, or the page says why not."""
    sb: Sandbox = request.app.state.sandbox
    form = parse_body(request.headers.get("content-type", ""), await request.body())
    async with sb.action():
        session = sb.get("checkout_sessions", session_id)
        if session is None:
            return html("Checkout", "<p class='error'>There is no such checkout session.</p>", 404)
        try:
            checkout.apply_promotion_code(sb, session, str(form.get("code", "")))
        except StripeError as exc:
            return html("Checkout", _checkout_body(sb, session, error=exc.message), exc.status)
    return Redirect(f"/checkout/{session_id}", status_code=303)


# The clock, as a person moves it: a form on the home page (the same as POST /_sandbox/clock/advance).

MAX_DAYS = 3660


def clock_card(sb: Sandbox) -> str:
    ahead = sb.data["clock_offset"]
    moved = f", {escape(duration(ahead))} ahead of the real time" if ahead >= 1 else ""
    return (
        "<div class='card'><h2>The clock</h2>"
        f"<p role='status'>It is {escape(stamp(from_timestamp(sb.now()), seconds=False))} "
        f"on the sandbox clock{moved}.</p>"
        "<form method='post' action='/clock'>"
        f"<label>Days to move it forward <input name='days' type='number' min='1' max='{MAX_DAYS}' "
        "value='7' required></label><button type='submit'>Move the clock forward</button></form>"
        "<p class='note'>Renewals, trial ends and retries fall due on the way. The membership and "
        "gateway that <code>make run</code> starts follow this clock: gifts and comps end, tokens "
        "expire and the free-story month turns with it. It never moves back.</p></div>"
    )


@post("/clock", include_in_schema=False, status_code=303)
async def move_clock(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    sb: Sandbox = request.app.state.sandbox
    form = parse_body(request.headers.get("content-type", ""), await request.body())
    try:
        days = float(str(form.get("days", "")))
    except ValueError:
        days = 0.0
    if not 1 <= days <= MAX_DAYS:  # also refuses nan
        problem = f"<p class='error'>Give a number of days from 1 to {MAX_DAYS}.</p>"
        return html("The clock", problem + clock_card(sb), 400)
    async with sb.action():
        clock.advance(sb, days * 86400)
    return Redirect("/", status_code=303)


PAGE_HANDLERS = [checkout_page, checkout_pay, checkout_promotion_code, portal_page, portal_action, move_clock]
