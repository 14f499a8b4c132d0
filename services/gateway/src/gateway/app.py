"""The gateway's Litestar application: `create_app()` wires settings, logging, errors and routes.

Routes: the home page, `/health/live` and `/health/ready` (ready means membership answers),
the OpenAPI document under `/schema`, and the forward of the reader-facing membership routes.
"""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from gateway import __version__
from gateway.forward import forward_handler
from gateway.home import home
from gateway.settings import Settings
from gateway.upstream import membership_client, membership_is_live
from tollgate_common.health import health_router
from tollgate_common.logging import RequestContextMiddleware, configure_logging
from tollgate_common.problems import exception_handlers


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    # httpx logs each call with its full URL, sign-in tokens in the query included; the access line suffices.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return Litestar(
        route_handlers=[
            home,
            health_router({"membership": membership_is_live}),
            forward_handler(settings),
        ],
        middleware=[RequestContextMiddleware],
        exception_handlers=exception_handlers,
        lifespan=[membership_client],
        state=State({"settings": settings}),
        openapi_config=OpenAPIConfig(
            title="Tollgate gateway",
            version=__version__,
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        # Litestar's default logging config would replace configure_logging's JSON handler with its own.
        logging_config=None,
        debug=False,
    )
