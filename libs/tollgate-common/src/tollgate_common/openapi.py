"""The API explorer under `/schema`, served whole by the service itself, so it works without internet.

Litestar's Swagger page loads its script, style and icon from a CDN by default; here they come from
the swagger-ui-py package (Swagger UI 5, which renders OpenAPI 3.1), through one static route that
answers only for the few files the page uses. Redoc is left out: no package we depend on ships its
bundle, so its page would be blank offline; Swagger and `/schema/openapi.json` remain.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePath
from typing import Any

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.file_system import BaseLocalFileSystem
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import PathItem, Reference
from litestar.static_files import create_static_files_router
from litestar.types import PathType
from litestar.types.file_types import FileInfo

SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/assets"
# A folder inside the installed package (swagger-ui-py ships unzipped), found without importing it.
SWAGGER_STATIC = Path(str(files("swagger_ui") / "static"))
# What Litestar's Swagger page links to; the package's other files (the editor, maps) stay unserved.
SWAGGER_FILES = frozenset(
    {"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png"}
)


class _OnlyTheseFiles(BaseLocalFileSystem):
    """The package's static folder, narrowed to the named files: any other name is not found."""

    def __init__(self, folder: Path, names: frozenset[str]) -> None:
        self.allowed = {PurePath(folder, name) for name in names}

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        if PurePath(path) not in self.allowed:  # a pure comparison: '..' never equals a listed file
            raise FileNotFoundError(path)
        return await super().info(path, **kwargs)


def swagger_assets() -> Router:
    """`/schema/assets/<file>`: the explorer's script, style and icon, cached for a day."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[SWAGGER_STATIC],
        file_system=_OnlyTheseFiles(SWAGGER_STATIC, SWAGGER_FILES),
        name="swagger-assets",
        # The files change only with the package; a day spares reloads without pinning a stale copy long.
        cache_control=CacheControlHeader(max_age=86400, public=True),
        include_in_schema=False,
    )


def api_docs(
    title: str,
    version: str,
    description: str | None = None,
    *,
    webhooks: dict[str, PathItem | Reference] | None = None,
) -> tuple[OpenAPIConfig, Router]:
    """The OpenAPI config (Swagger at `/schema` and `/schema/swagger`) and the route for its assets;
    `webhooks` documents what the service sends (OpenAPI 3.1's webhooks)."""
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
    config = OpenAPIConfig(
        title=title,
        version=version,
        description=description,
        path=SCHEMA_PATH,
        render_plugins=[swagger],
        webhooks=webhooks,
    )
    return config, swagger_assets()
