"""``GET /images/{name}``: the pictures that sit beside the stories in a stories folder.

A folder origin may keep images in its ``images/`` sub-folder (the samples do); a story then shows
one as ``<img src="/images/<name>">``, which the page's CSP allows as the gateway's own
(``img-src 'self'``), with no image host to name. Names are lower-case letters, digits, dots,
hyphens and underscores with an image ending, so a request can never reach outside that folder.
An origin over HTTP has no such folder: its stories' images live on the publisher's image hosts.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response.base import ASGIResponse

from gateway.stories.origin import FileOrigin

IMAGE_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
}
NAME = re.compile(r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*\.(svg|png|jpe?g|gif|webp|avif)")
MAX_NAME = 120
MAX_BYTES = 10 * 1024 * 1024
IMAGE_HEADERS = {
    "cache-control": "public, max-age=86400",
    "x-content-type-options": "nosniff",
    # An SVG opened on its own is a document: nothing in it may run or load.
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


def image_path(folder: Path, name: str) -> Path | None:
    """The image's file in the folder's ``images/``, or None for a name outside the rule."""
    if len(name) > MAX_NAME or not NAME.fullmatch(name):
        return None
    return folder / "images" / name


def _read(path: Path) -> bytes | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


@get("/images/{name:str}", include_in_schema=False, cache=False)
async def story_image(request: Request[Any, Any, Any], name: FromPath[str]) -> ASGIResponse:
    origin = request.app.state.origin
    path = image_path(origin.folder, name) if isinstance(origin, FileOrigin) else None
    body = await asyncio.to_thread(_read, path) if path is not None else None
    if path is None or body is None:
        missing = {**IMAGE_HEADERS, "cache-control": "no-cache"}
        return ASGIResponse(status_code=404, body=b"No such image.", media_type="text/plain", headers=missing)
    return ASGIResponse(body=body, media_type=IMAGE_TYPES[path.suffix], headers=IMAGE_HEADERS)
