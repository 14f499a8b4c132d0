"""Structured JSON logs, with a request id on every line a request causes.

`configure_logging` routes the standard library's loggers (uvicorn, SQLAlchemy, alembic)
through structlog so that one process writes one format. `RequestContextMiddleware` takes a
sane `X-Request-ID` from the client or makes one, binds it for every log line, returns it, and
writes one access line per request (uvicorn's own access log is switched off).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import Any, Literal

import msgspec
import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
access_log = structlog.get_logger("tollgate.access")


class _StderrLogger:
    """structlog's output: one rendered line per event on whatever `sys.stderr` is at the time.

    Our own events are rendered by structlog and written here directly; going through the standard
    library's logging as well cost a fifth of a gateway request (measured in bench/gateway.py).
    Looking `sys.stderr` up on each write keeps test runners' capturing working.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name

    def msg(self, message: str) -> None:
        sys.stderr.write(message + "\n")

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _logger_factory(*args: Any) -> _StderrLogger:
    return _StderrLogger(str(args[0]) if args else "")


_LEVELS = {"debug": 10, "info": 20, "msg": 20, "log": 20, "warning": 30, "warn": 30, "error": 40}
_LEVELS |= {"exception": 40, "critical": 50, "fatal": 50}


def _drop_below_level(logger: Any, method_name: str, event_dict: Any) -> Any:
    # The root logger's level is the one setting, for our events and the standard library's alike.
    if _LEVELS.get(method_name, 20) < logging.getLogger().level:
        raise structlog.DropEvent
    return event_dict


def _add_logger_name(logger: Any, method_name: str, event_dict: Any) -> Any:
    event_dict.setdefault("logger", getattr(logger, "name", ""))
    return event_dict


_json = msgspec.json.Encoder(enc_hook=repr)


def _dumps(obj: Any, **_: Any) -> str:
    return _json.encode(obj).decode()


_renderer: Any = structlog.processors.JSONRenderer(serializer=_dumps)


def _render(logger: Any, method_name: str, event_dict: Any) -> Any:
    # Loggers are cached on first use with their processors; the renderer is looked up per event,
    # so a later configure_logging (another format) still applies to them.
    return _renderer(logger, method_name, event_dict)


def configure_logging(level: str = "INFO", fmt: Literal["json", "console"] = "json") -> None:
    global _renderer  # the one process-wide choice of format
    _renderer = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            _drop_below_level,
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            _add_logger_name,
            timestamper,
            structlog.dev.set_exc_info,  # log.exception(...) carries the traceback
            structlog.processors.format_exc_info,
            _render,
        ],
        logger_factory=_logger_factory,
        wrapper_class=structlog.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # The standard library's loggers (uvicorn, SQLAlchemy, alembic, httpx) end in the same format.
    foreign: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=foreign,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _render,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "granian"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Our middleware writes the access line, with the request id; uvicorn's would be a second one.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request it sends at INFO: a forwarded request would be logged twice, and
    # the revocation and JWKS polls a line every few seconds. Their failures still reach the log.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


class RequestContextMiddleware:
    """ASGI middleware: request id in, request id out, one access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]  # Litestar types lifespan scopes out
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            access_log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                client=client[0] if client else None,
                **scope["state"].get("access_log_extra", {}),
            )
            structlog.contextvars.clear_contextvars()


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SAFE_ID.match(candidate) else None
    return None
