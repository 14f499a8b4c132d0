"""What every page and form checks before it acts: the same-origin guard against cross-site posts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from membership.settings import Settings
from tollgate_common.problems import Forbidden

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """`scheme://host[:port]` as a browser sends it in `Origin` (lower case, no default port)."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # an unparseable port matches nothing
        return "invalid"
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS.get(scheme)) else f"{scheme}://{host}:{port}"


def same_origin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A form posted from another site is refused (CSRF); SameSite=Lax cookies are the other half.
    Browsers send `Origin` on every cross-site POST; without one, the request is not from a page."""
    sent = connection.headers.get("origin")
    if sent is None:
        return
    settings: Settings = connection.app.state.settings
    if sent.strip().lower() == "null" or origin_of(sent) != origin_of(settings.public_url):
        raise Forbidden("This form may only be sent from a page of this site.")
