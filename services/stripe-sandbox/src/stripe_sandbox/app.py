"""The sandbox's Litestar application: `create_app()` wires settings, logging, state, delivery and routes.

Routes: the Stripe API under `/v1`, the hosted checkout and portal pages, the sandbox controls
under `/_sandbox`, a home page, and `/health/live` and `/health/ready`. At start it loads the
state file (if any), starts webhook delivery and the clock's tick, and warns loudly that this is
not Stripe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from html import escape
from typing import Any

import structlog
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException

from stripe_sandbox import API_VERSION, __version__, clock
from stripe_sandbox.api import not_found_handler, stripe_api
from stripe_sandbox.controls import controls_router
from stripe_sandbox.errors import StripeError, stripe_error_handler
from stripe_sandbox.pages import PAGE_HANDLERS, clock_card, html
from stripe_sandbox.settings import Settings
from stripe_sandbox.state import Sandbox
from stripe_sandbox.webhooks import Delivery
from tollgate_common.health import health_router
from tollgate_common.logging import RequestContextMiddleware, configure_logging
from tollgate_common.problems import Problems

log = structlog.get_logger("stripe_sandbox")


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Response[str]:
    settings: Settings = request.app.state.settings
    webhooks = (
        f"Webhooks go to {escape(settings.webhook_url)}."
        if settings.webhook_secret
        else "No webhook secret is set, so no webhook is sent."
    )
    body = (
        f"<p>A local stand-in for the Stripe API (version {API_VERSION}) for development and tests.</p>"
        f"<p>Point stripe-python at <code>{escape(settings.public_url)}</code> "
        "with any <code>sk_test_</code> key. "
        f"{webhooks}</p><p>Controls: <code>/_sandbox/clock</code>, <code>/_sandbox/events</code>, "
        "<code>/_sandbox/delivery</code>.</p>"
        f"{clock_card(request.app.state.sandbox)}"
    )
    return html("Tollgate Stripe sandbox", body)


async def _delivery_is_running(app: Litestar) -> None:
    if not app.state.delivery.running():
        raise RuntimeError("webhook delivery has stopped")


@contextlib.asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    sb: Sandbox = app.state.sandbox
    settings: Settings = app.state.settings
    sb.load()
    log.warning(
        "THIS IS THE STRIPE SANDBOX, NOT STRIPE: no real payment happens and no card is charged. "
        "Use it for development and tests only.",
        public_url=settings.public_url,
        state_file=settings.state_file or None,
    )
    if not settings.webhook_secret:
        log.warning("STRIPE_SANDBOX_WEBHOOK_SECRET is empty: events are recorded but no webhook is sent")
    delivery: Delivery = app.state.delivery
    await delivery.start()
    ticker = asyncio.create_task(clock.tick_forever(sb), name="stripe-sandbox-clock")
    try:
        yield
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        await delivery.stop()
        async with sb.lock:
            sb.save()


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    if settings.is_production:
        # A pretend payment provider in production would sell memberships nobody paid for.
        raise RuntimeError(
            "The Stripe sandbox is for development and tests; it refuses to run in production."
        )
    configure_logging(settings.log_level, settings.log_format)
    # httpx would log every webhook POST a second time; the sandbox's own delivery line says more.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sb = Sandbox(settings)
    delivery = Delivery(sb)
    return Litestar(
        route_handlers=[
            home,
            stripe_api,
            *PAGE_HANDLERS,
            controls_router,
            health_router({"delivery": _delivery_is_running}),
        ],
        middleware=[RequestContextMiddleware],
        plugins=[Problems(leave=[HTTPException])],
        exception_handlers={
            StripeError: stripe_error_handler,
            HTTPException: not_found_handler,
        },
        lifespan=[_lifespan],
        state=State({"settings": settings, "sandbox": sb, "delivery": delivery, "version": __version__}),
        openapi_config=None,
        # Litestar's default logging config would replace configure_logging's JSON handler with its own.
        logging_config=None,
        debug=False,
    )
