"""The `gateway` command: Litestar's CLI pointed at the gateway, with `gateway run` serving it on
granian, and `gateway stories sync` bringing stories from Ghost, WordPress or a folder
(`stories/sources/command.py`).

Host and port default to the gateway's settings (`GATEWAY_HOST`, `GATEWAY_PORT`); the
`LITESTAR_*` variables and the command-line options still win.

`gateway run` is granian (its Rust HTTP/1.1 server, the ASGI interface, uvloop), chosen by
`bench.gateway` over uvicorn (README, "Performance"). What uvicorn did, it keeps doing:

- `X-Forwarded-For` and `X-Forwarded-Proto` are believed from `127.0.0.1` only, or from the
  addresses in `FORWARDED_ALLOW_IPS` (`*` for any): uvicorn's own middleware does it, as before;
- SIGTERM or SIGINT stops accepting, lets the requests in flight finish, runs the lifespan's
  shutdown (the revocation feed and the JWKS refresh are closed), logs "application shutdown
  complete" and exits 0;
- the server writes no access line of its own: the gateway's middleware writes one per request;
  granian's few lines of its own go through the gateway's log format (JSON in production).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, cast

import rich_click as click
import structlog
from litestar.cli.main import litestar_group
from pydantic import ValidationError

from gateway.settings import Settings
from gateway.stories.sources.command import stories
from tollgate_common.logging import configure_logging

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from litestar.types import ASGIApp, Receive, Send

log = structlog.get_logger("gateway")

# granian's loggers hand their lines to the root logger, which configure_logging formats.
_GRANIAN_LOGS: dict[str, Any] = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    }
}


class Served:
    """What granian calls: requests through uvicorn's proxy-header middleware, the lifespan logged."""

    def __init__(self, app: ASGIApp, trusted_hosts: str) -> None:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        self.app = app
        self.proxied = cast("ASGIApp", ProxyHeadersMiddleware(cast("Any", app), trusted_hosts))

    # Any: Litestar's Scope and Message types leave the lifespan's out.
    def __call__(self, scope: Any, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "lifespan":
            return self._lifespan(scope, receive, send)
        return self.proxied(scope, receive, send)

    async def _lifespan(self, scope: Any, receive: Receive, send: Send) -> None:
        async def sent(message: Any) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                log.info("Application shutdown complete", pid=os.getpid())  # uvicorn's words, as before
            await send(message)

        await self.app(scope, receive, sent)


def served_app() -> Served:
    """granian's factory, called in each worker process."""
    from gateway.app import create_app

    return Served(create_app(), os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))


@click.command(name="run")
@click.option(
    "-H",
    "--host",
    help="Serve on this address",
    default="127.0.0.1",
    show_default=True,
    envvar="LITESTAR_HOST",
)
@click.option(
    "-p",
    "--port",
    help="Serve on this port",
    type=int,
    default=8000,
    show_default=True,
    envvar="LITESTAR_PORT",
)
@click.option(
    "-W",
    "--wc",
    "--web-concurrency",
    "workers",
    help="The number of worker processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    envvar=["LITESTAR_WEB_CONCURRENCY", "WEB_CONCURRENCY"],
)
def run(host: str, port: int, workers: int) -> None:
    """Serve the gateway with granian (SIGTERM or SIGINT: finish what is in flight, then stop)."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    server = Server(
        "gateway.cli:served_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        factory=True,
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=_GRANIAN_LOGS,
        log_access=False,
    )
    server.serve()


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        # One sentence per problem, not a traceback: these are the operator's settings.
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"gateway: {where + ': ' if where else ''}{error['msg']}", file=sys.stderr)
        raise SystemExit(1) from None
    os.environ.setdefault("LITESTAR_APP", "gateway.app:create_app")
    os.environ.setdefault("LITESTAR_HOST", settings.host)
    os.environ.setdefault("LITESTAR_PORT", str(settings.port))
    litestar_group.add_command(stories)
    litestar_group.add_command(run)  # in place of Litestar's own `run` (uvicorn)
    litestar_group(prog_name="gateway")
