"""The gateway's Litestar application: `create_app()` wires settings, logging, errors and routes.

Routes: the story index and stories (`/`, `/stories/{id}`), friend links, `/metrics`,
`/health/live` and `/health/ready` (ready once membership's signing keys have been fetched), the
OpenAPI document under `/schema`, and the forward of the reader-facing membership routes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import structlog
from litestar import Litestar
from litestar.datastructures import State

from gateway import __version__
from gateway.admission import Gatekeeper
from gateway.forward import forward_handler
from gateway.free_reads import FreeReads
from gateway.metrics import Metrics, metrics_endpoint
from gateway.request_layer import RequestLayer
from gateway.settings import Settings
from gateway.stories.catalogue import Catalogue
from gateway.stories.controllers import index, make_friend_link, read_story
from gateway.stories.http_origin import HttpOrigin
from gateway.stories.images import story_image
from gateway.stories.origin import DEFAULT_SAMPLES, FileOrigin, Origin
from gateway.upstream import client_of, membership_client, settings_of
from tollgate_client import MembershipClient, RevocationFeed, TokenVerifier
from tollgate_common import clock
from tollgate_common.health import health_router
from tollgate_common.logging import access_lines, configure_logging
from tollgate_common.openapi import api_docs
from tollgate_common.problems import Problems
from tollgate_common.sandbox_clock import following

log = structlog.get_logger("gateway")


@asynccontextmanager
async def gatekeeping(app: Litestar) -> AsyncIterator[None]:
    """Lifespan: the story origin, the token verifier with the revocation feed, and the gatekeeper."""
    settings = settings_of(app)
    metrics: Metrics = app.state.metrics
    membership_http = client_of(app)
    api_key = settings.membership_api_key.get_secret_value()
    async with httpx.AsyncClient(follow_redirects=False) as origin_http:
        origin: Origin
        if settings.story_origin.startswith(("http://", "https://")):
            origin = HttpOrigin(
                settings.story_origin,
                http=origin_http,
                timeout=settings.origin_timeout_seconds,
                image_hosts=settings.image_hosts,
            )
        else:
            folder = DEFAULT_SAMPLES if settings.serves_samples else Path(settings.story_origin)
            origin = FileOrigin(folder, image_hosts=settings.image_hosts)
            if settings.serves_samples and settings.is_production:
                log.warning("serving the built-in sample stories in production", story_origin="samples")
        feed = None
        if api_key:
            feed = RevocationFeed(
                settings.membership_url,
                api_key,
                http=membership_http,
                poll_interval=settings.revocation_poll_seconds,
                push_url=settings.redis_url or None,
                push_channel=f"{settings.redis_prefix}:entitlements",
                pushed_poll_interval=settings.revocation_pushed_poll_seconds,
            )
            metrics.revocation_push.set_function(lambda: float(feed is not None and feed.subscribed))
        else:
            log.warning("no GATEWAY_MEMBERSHIP_API_KEY: no revocation feed, no free unlocks, no friend links")
        verifier = TokenVerifier(
            f"{settings.membership_url}/.well-known/jwks.json",
            issuer=settings.issuer,
            audience=settings.token_audience,
            http=membership_http,
            revocations=feed,
            refresh_interval=settings.jwks_refresh_seconds,
            leeway=settings.token_leeway_seconds,
            clock=clock.now,
            on_refresh=lambda ok: metrics.jwks_refreshes.labels("ok" if ok else "failed").inc(),
        )
        # On the pooled client, with its timeout; the API key rides on the calls that need it.
        membership = MembershipClient(
            settings.membership_url,
            api_key,
            http=membership_http,
            timeout=settings.upstream_timeout_seconds,
            session_cookie=settings.session_cookie,
        )
        free_reads = FreeReads(
            settings.anonymous_cookie_secret.get_secret_value(), settings.anonymous_unlocks_per_month
        )
        app.state.origin = origin
        app.state.verifier = verifier
        app.state.gatekeeper = Gatekeeper(settings, verifier, membership, free_reads, metrics)
        app.state.catalogue = Catalogue(membership, settings.offers_cache_seconds)
        async with following(settings.sandbox_clock_url, every=settings.sandbox_clock_seconds):
            if feed is not None:
                await feed.start()
            await verifier.start()
            try:
                yield
            finally:
                await verifier.aclose()
                if feed is not None:
                    await feed.aclose()


async def keys_fetched(app: Litestar) -> None:
    """Readiness: membership's signing keys have been fetched at least once (then they are kept)."""
    verifier = app.state.verifier
    assert isinstance(verifier, TokenVerifier)
    if not verifier.ready:
        raise RuntimeError("membership's signing keys (JWKS) have not been fetched yet")


def flush_access_lines() -> None:
    """Shutdown: the access lines still queued are written before the app stops."""
    access_lines.flush()


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    # httpx logs each call with its full URL, sign-in tokens in the query included; the access line suffices.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The gateway's own API explorer, assets included, stays at its /schema (membership's is not forwarded).
    api_docs_config, api_docs_assets = api_docs("Tollgate gateway", __version__)
    return Litestar(
        route_handlers=[
            index,
            read_story,
            story_image,
            make_friend_link,
            metrics_endpoint,
            health_router({"keys": keys_fetched}),
            api_docs_assets,
            forward_handler(settings),
        ],
        # One layer: the request id, spoofed headers dropped before anything reads them, the access line.
        middleware=[RequestLayer],
        plugins=[Problems()],
        lifespan=[membership_client, gatekeeping],
        # The access lines are written by a thread: every one queued is out before the app stops.
        on_shutdown=[flush_access_lines],
        state=State({"settings": settings, "metrics": Metrics()}),
        openapi_config=api_docs_config,
        # Litestar's default logging config would replace configure_logging's JSON handler with its own.
        logging_config=None,
        debug=False,
    )
