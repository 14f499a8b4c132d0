"""`POST /api/stripe/webhook`: verify the signature on the raw body, store once, answer 2xx."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.stripe_client import StripeApi
from membership.settings import Settings
from membership.stripe_events.handlers import HANDLED
from membership.stripe_events.schemas import Received
from membership.stripe_events.services import Inbox
from tollgate_common.problems import NotFound, TollgateError

# Stripe's event bodies stay well under this; the rest of the API keeps its smaller limit.
MAX_EVENT_BYTES = 1024 * 1024


class UnsupportedMediaType(TollgateError):
    status_code = 415


class StripeWebhook(Controller):
    path = "/api/stripe"
    tags = ["stripe"]

    @post(
        "/webhook",
        status_code=200,
        request_max_body_size=MAX_EVENT_BYTES,
        summary="Stripe's webhook endpoint",
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        stripe_api: NamedDependency[StripeApi],
        inbox: NamedDependency[Inbox],
        db_session: NamedDependency[AsyncSession],
    ) -> Received:
        if not settings.stripe_webhook_secret.get_secret_value():
            raise NotFound("Stripe webhooks are not enabled here (no signing secret is configured).")
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise UnsupportedMediaType("Stripe events are sent as application/json.")
        body = await request.body()
        event = stripe_api.verify_event(body, request.headers.get("stripe-signature"))
        stored = False
        if event["type"] in HANDLED:
            stored = await inbox.store(event, body)
            # Stored before the 2xx: commit now, then wake the in-process worker.
            await db_session.commit()
            if worker := getattr(request.app.state, "stripe_worker", None):
                worker.wake.set()
        return Received(received=True, stored=stored)
