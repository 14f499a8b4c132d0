"""`create_app()`: membership as a Litestar application."""

from __future__ import annotations

import asyncio
from pathlib import Path

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler
from sqlalchemy import text

from membership.apikeys.controllers import PublicationApiKeys, ServiceKeyApi
from membership.cli import MembershipCLI
from membership.db import VERSION_TABLE, alchemy_config, migrate
from membership.deps import dependencies
from membership.mail.controllers import DevOutbox
from membership.publications.controllers import PublicationApi
from membership.sessions.controllers import AccountApi, SessionApi
from membership.settings import Settings
from membership.signin.controllers import SignInApi, SignInPages
from tollgate_common.health import health_router
from tollgate_common.logging import RequestContextMiddleware, configure_logging
from tollgate_common.problems import exception_handlers

TEMPLATES = Path(__file__).parent / "templates"


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    alchemy = alchemy_config(settings)
    head = migrate.head_revision()

    async def database_ready(app: Litestar) -> None:
        async with alchemy.get_session() as session:
            current = await session.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608
        if current != head:
            raise RuntimeError(f"schema at {current}, code expects {head}: run `membership database upgrade`")

    async def migrate_on_start() -> None:
        if settings.migrate_on_start:
            await asyncio.to_thread(migrate.upgrade, settings)

    handlers: list[ControllerRouterHandler] = [
        health_router({"database": database_ready}),
        SignInApi,
        SignInPages,
        SessionApi,
        AccountApi,
        PublicationApi,
        PublicationApiKeys,
        ServiceKeyApi,
    ]
    if settings.dev_pages:
        handlers.append(DevOutbox)

    return Litestar(
        route_handlers=handlers,
        plugins=[SQLAlchemyPlugin(config=alchemy), MembershipCLI()],
        dependencies=dependencies,
        middleware=[RequestContextMiddleware],
        exception_handlers=exception_handlers,
        on_startup=[migrate_on_start],
        state=State({"settings": settings, "alchemy": alchemy}),
        request_max_body_size=settings.max_body_bytes,
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(
            title="Tollgate membership",
            version="0.1.0",
            description="Readers, publications, sign-in, sessions and service API keys.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(), RedocRenderPlugin()],
        ),
        # Litestar's default logging config would replace configure_logging's JSON handler with its own.
        logging_config=None,
        debug=False,
    )
