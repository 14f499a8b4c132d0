"""`create_app()`: membership as a Litestar application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler
from sqlalchemy import text

from membership.apikeys.controllers import PublicationApiKeys, ServiceKeyApi
from membership.cli import MembershipCLI
from membership.comps.controllers import CompApi
from membership.db import VERSION_TABLE, alchemy_config, migrate
from membership.deps import dependencies
from membership.entitlements.controllers import EntitlementApi
from membership.entitlements.push import pushing, revocation_push
from membership.friendlinks.controllers import (
    FriendLinkServiceApi,
    MyFriendLinkApi,
    PublicationFriendLinkApi,
)
from membership.gifts.controllers import GiftApi, PublicationGiftApi
from membership.gifts.worker import GiftMailer
from membership.lib.metrics import Backlog, Metrics, RequestMetrics, metrics_endpoint
from membership.lib.ratelimit import RateLimits
from membership.lib.stripe_client import StripeApi
from membership.mail.controllers import DevOutbox
from membership.members.controllers import MemberApi
from membership.offers.controllers import OfferApi, PublicationOfferApi
from membership.plans.controllers import PlatformTierApi, TierApi
from membership.publications.controllers import PublicationApi
from membership.retention.controllers import PublicationCancellationApi, RetentionApi
from membership.sessions.controllers import AccountApi, SessionApi
from membership.settings import Settings
from membership.signin.controllers import SignInApi
from membership.stats.controllers import StatsApi
from membership.stripe_events.controllers import StripeWebhook
from membership.stripe_events.models import EventStatus, StripeEvent
from membership.stripe_events.worker import InboxWorker
from membership.subscriptions.controllers import BillingApi, MySubscriptionsApi, TrialApi
from membership.tokens.controllers import JwksApi, TokenApi
from membership.tokens.keyring import KeyRing
from membership.unlocks.controllers import UnlockApi
from membership.web.account.controllers import AccountPages, unrouted
from membership.web.checkout import AccountCheckout
from membership.web.dashboard.cancellations import CancellationPages
from membership.web.dashboard.comps import CompPages
from membership.web.dashboard.exports import ExportPages
from membership.web.dashboard.friend_links import FriendLinkPages
from membership.web.dashboard.gifts import GiftPages
from membership.web.dashboard.imports import ImportPages
from membership.web.dashboard.members import MemberPages
from membership.web.dashboard.offers import OfferPages
from membership.web.dashboard.overview import OverviewPages
from membership.web.dashboard.staff import StaffPages
from membership.web.dashboard.tiers import TierPages
from membership.web.dashboard.webhooks import WebhookPages
from membership.web.gifts import GiftAccountPages
from membership.web.offers import OfferAccountPages
from membership.web.outbox import OutboxPage
from membership.web.signin import SignInPages
from membership.webhooks.controllers import PublicationWebhookApi
from membership.webhooks.openapi import webhook_docs
from membership.webhooks.services import outbox_depths
from membership.webhooks.worker import WebhookWorker
from tollgate_common.health import health_router
from tollgate_common.logging import RequestContextMiddleware, configure_logging
from tollgate_common.openapi import api_docs
from tollgate_common.problems import Problems
from tollgate_common.sandbox_clock import following
from tollgate_common.words import TEMPLATE_FUNCTIONS

TEMPLATES = Path(__file__).parent / "web" / "templates"
log = structlog.get_logger(__name__)


def _words_in_templates(templates: JinjaTemplateEngine) -> None:
    """Every page writes money and dates with tollgate_common.words: `{{ day(m.created_at) }}`."""
    templates.engine.globals.update(TEMPLATE_FUNCTIONS)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    push = revocation_push(settings.redis_url, settings.redis_prefix)
    alchemy = alchemy_config(settings, info=push.session_info() if push else None)
    head = migrate.head_revision()
    stripe_api = StripeApi(settings)
    worker = InboxWorker(alchemy, settings, stripe_api)
    gift_mailer = GiftMailer(alchemy, settings, stripe_api)
    keyring = KeyRing(alchemy, settings)
    ratelimits = RateLimits(settings.redis_url, settings.redis_prefix)
    metrics = Metrics(
        Backlog(StripeEvent.status, StripeEvent.received_at, waiting=EventStatus.PENDING),
        outbox=outbox_depths,
    )
    tasks: list[asyncio.Task[None]] = []

    async def database_ready(app: Litestar) -> None:
        async with alchemy.get_session() as session:
            current = await session.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608
        if current != head:
            raise RuntimeError(f"schema at {current}, code expects {head}: run `membership database upgrade`")

    async def migrate_on_start() -> None:
        if settings.migrate_on_start:
            await asyncio.to_thread(migrate.upgrade, settings)

    async def load_keys() -> None:
        # The first start makes a signing key; later ones load them. Not fatal: an unmigrated
        # database has no key table yet, and the background refresh makes and loads them later.
        try:
            await keyring.refresh(ensure=True)
        except Exception as exc:  # the service still starts; readiness reports the schema
            log.warning("signing keys not loaded at start", error=str(exc))
        tasks.append(asyncio.create_task(keyring.run_forever()))

    async def start_workers() -> None:
        if stripe_api.sandboxed:
            log.warning(
                "STRIPE SANDBOX: no Stripe key is configured, so payments go to the local sandbox "
                "and no real money moves",
                sandbox=settings.stripe_sandbox_url,
            )
        tasks.extend(asyncio.create_task(worker.run_forever()) for _ in range(settings.stripe_workers))
        if settings.stripe_workers:  # a process that works the inbox also sends gift mail
            tasks.append(asyncio.create_task(gift_mailer.run_forever()))
        for _ in range(settings.webhook_workers):  # each with its own HTTP client, closed when it stops
            tasks.append(asyncio.create_task(WebhookWorker(alchemy, settings, metrics).run_forever()))

    @contextlib.asynccontextmanager
    async def sandbox_time(app: Litestar) -> AsyncIterator[None]:
        # Before keys and workers start: both read the time (key ages, gift mail falling due).
        async with following(settings.sandbox_clock_url, every=settings.sandbox_clock_seconds):
            yield

    @contextlib.asynccontextmanager
    async def publishing(app: Litestar) -> AsyncIterator[None]:
        async with pushing(push):
            yield

    async def stop_workers() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # The API explorer's assets are served from here, so /schema works without internet.
    api_docs_config, api_docs_assets = api_docs(
        "Tollgate membership",
        "0.1.0",
        "Readers, sign-in, sessions, publications, API keys, tiers, Stripe billing, grants, "
        "free unlocks, friend links, gifts, offers, and the webhooks membership sends.",
        webhooks=webhook_docs(),
    )
    handlers: list[ControllerRouterHandler] = [
        health_router({"database": database_ready}),
        metrics_endpoint,
        api_docs_assets,
        SignInApi,
        SignInPages,
        SessionApi,
        AccountApi,
        PublicationApi,
        PublicationApiKeys,
        ServiceKeyApi,
        PlatformTierApi,
        TierApi,
        BillingApi,
        AccountCheckout,
        GiftAccountPages,
        OfferAccountPages,
        AccountPages,
        MySubscriptionsApi,
        TrialApi,
        StripeWebhook,
        TokenApi,
        JwksApi,
        EntitlementApi,
        CompApi,
        MemberApi,
        UnlockApi,
        FriendLinkServiceApi,
        PublicationFriendLinkApi,
        GiftApi,
        PublicationGiftApi,
        OfferApi,
        PublicationOfferApi,
        RetentionApi,
        PublicationCancellationApi,
        MyFriendLinkApi,
        StatsApi,
        PublicationWebhookApi,
        OverviewPages,
        TierPages,
        MemberPages,
        CompPages,
        FriendLinkPages,
        GiftPages,
        OfferPages,
        CancellationPages,
        StaffPages,
        WebhookPages,
        ExportPages,
        ImportPages,
    ]
    if settings.dev_pages:
        handlers.extend([DevOutbox, OutboxPage])

    app = Litestar(
        route_handlers=handlers,
        plugins=[SQLAlchemyPlugin(config=alchemy), MembershipCLI(), Problems()],
        dependencies=dependencies,
        middleware=[RequestContextMiddleware],
        # Unrouted addresses under /account are pages people typed: they get a page, not JSON.
        exception_handlers={NotFoundException: unrouted},
        lifespan=[sandbox_time, publishing],
        on_startup=[migrate_on_start, load_keys, start_workers],
        on_shutdown=[stop_workers],
        state=State(
            {
                "settings": settings,
                "alchemy": alchemy,
                "stripe_api": stripe_api,
                "stripe_worker": worker,
                "gift_mailer": gift_mailer,
                "keyring": keyring,
                "metrics": metrics,
                "ratelimits": ratelimits,
            }
        ),
        request_max_body_size=settings.max_body_bytes,
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_words_in_templates
        ),
        openapi_config=api_docs_config,
        # Litestar's default logging config would replace configure_logging's JSON handler with its own.
        logging_config=None,
        debug=False,
    )
    # Around the router, not as route middleware: Litestar runs that only once a route matched.
    app.asgi_handler = RequestMetrics(app.asgi_handler, metrics)
    return app
