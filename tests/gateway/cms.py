"""A stand-in for the publisher's CMS: a raw ASGI app whose answers each test sets, served for real.

Each path answers the :class:`Reply` a test put in ``cms.replies`` (404 otherwise). Like a real
CMS it answers 304 to a conditional request whose ``If-None-Match`` or ``If-Modified-Since``
matches the reply's ``ETag`` or ``Last-Modified``. Every request is recorded with its headers and
the status it received, so a test can count what reached the origin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, cast

from litestar.types import ASGIApp

# Plain ASGI types: the stand-in speaks raw ASGI, lifespan included.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds before the status line is sent."""
    chunk: int = 0
    """0: the body in one piece with a Content-Length; otherwise chunked, this many bytes a piece."""
    trickle: float = 0.0
    """Seconds between two chunks."""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class Cms:
    url: str = ""
    replies: dict[str, Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def reset(self) -> None:
        self.replies.clear()
        self.seen.clear()

    @property
    def app(self) -> ASGIApp:
        """This stand-in, typed for :func:`tests.servers.serve`."""
        return cast("ASGIApp", self)

    def count(self, path: str) -> int:
        return sum(1 for seen in self.seen if seen.path == path)

    def last(self, path: str) -> Seen:
        return [seen for seen in self.seen if seen.path == path][-1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        seen = Seen(path=scope["path"], headers=headers)
        self.seen.append(seen)
        reply = self.replies.get(scope["path"], Reply(status=404))
        if reply.delay:
            await asyncio.sleep(reply.delay)
        status = reply.status
        etag = reply.headers.get("etag")
        modified = reply.headers.get("last-modified")
        if status == 200 and (
            (etag is not None and headers.get("if-none-match") == etag)
            or (modified is not None and headers.get("if-modified-since") == modified)
        ):
            status = 304
        seen.status = status
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        if status == 304:
            body = b""
        out = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        if not reply.chunk:
            out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        if not reply.chunk:
            await send({"type": "http.response.body", "body": body})
            return
        for start in range(0, len(body), reply.chunk):
            if start and reply.trickle:
                await asyncio.sleep(reply.trickle)
            await send(
                {"type": "http.response.body", "body": body[start : start + reply.chunk], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})
