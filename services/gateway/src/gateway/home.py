"""The gateway's home page: a small server-rendered page that says what this origin is.

Stories and their paywall come later; for now it points a visitor at sign-in (served by
membership through the forward), the API documentation and the health probes.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import MediaType, Request, get

from gateway import __version__
from gateway.upstream import settings_of

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tollgate</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }}
footer {{ margin-top: 3rem; color: #666; font-size: 0.875rem; }}
</style>
</head>
<body>
<main>
<h1>Tollgate</h1>
<p>This is the Tollgate gateway, the public front door of this publication.
Member-only stories and their paywall will be served here.</p>
<ul>
<li><a href="/auth/sign-in">Sign in</a> with a link sent to your email</li>
<li><a href="/schema/swagger">API documentation</a></li>
<li><a href="/health/ready">Health</a> of the gateway and what it depends on</li>
</ul>
</main>
<footer>Tollgate gateway {version} &middot; {environment}</footer>
</body>
</html>
"""

# The page has no script and loads nothing from elsewhere; say so to the browser.
_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
}


@get("/", media_type=MediaType.HTML, include_in_schema=False, response_headers=_HEADERS)
async def home(request: Request[Any, Any, Any]) -> str:
    settings = settings_of(request.app)
    return _PAGE.format(version=escape(__version__), environment=escape(settings.environment))
