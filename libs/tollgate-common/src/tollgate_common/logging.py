"""Structured JSON logs, with a request id on every line a request causes.

`configure_logging` routes the standard library's loggers (uvicorn, SQLAlchemy, alembic)
through structlog so that one process writes one format. `RequestContextMiddleware` takes a
sane `X-Request-ID` from the client or makes one, binds it for every log line, returns it, and
writes one access line per request (uvicorn's own access log is switched off).

A service with a hot path (the gateway's `request_layer`) does the same work more cheaply: it
sets the request id in `REQUEST_ID` (one context variable, which every log line reads) and hands
the access line's fields to `access_lines`, whose thread renders them in the same format and
writes them, a batch per `write()`.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import re
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any, Literal

import msgspec
import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
access_log = structlog.get_logger("tollgate.access")
ACCESS_LOGGER = "tollgate.access"

REQUEST_ID: ContextVar[str | None] = ContextVar("tollgate_request_id", default=None)
"""The request id of the request being served, for every log line it causes (set by a request layer)."""


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


def _add_request_id(logger: Any, method_name: str, event_dict: Any) -> Any:
    # Where structlog's contextvars would put it (a request layer sets one variable, not theirs).
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
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
            _add_request_id,
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
        _add_request_id,
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


AccessRecord = tuple[int, Any, Any, int, float, str | None, dict[str, Any] | None, str]
"""An access line's fields as the request leaves them: time.time_ns() at the end, method, path,
status, seconds taken, the client's address, the route's extra fields, the request id."""


class AccessLines:
    """Access lines written off the request path: the request queues a tuple, a thread writes it.

    The line is the one `RequestContextMiddleware` writes through structlog, key for key and in
    the same order (the same renderer makes it: JSON or console), with its `timestamp` from the
    queued time. The thread takes whatever is queued when it wakes and writes it with one
    `write()` to the `sys.stderr` of the moment (test runners' capturing keeps working). `flush()`
    waits until everything queued so far is written: an app's shutdown calls it.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[AccessRecord | threading.Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._second = -1
        self._second_text = ""
        os.register_at_fork(after_in_child=self._forget_thread)

    def put(self, record: AccessRecord) -> None:
        """Queue one access line (dropped, as structlog would drop it, below the root logger's INFO)."""
        if logging.root.level > logging.INFO:
            return
        if self._thread is None:
            self._start()
        self._queue.put(record)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until the lines queued so far are written."""
        if self._thread is None or not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _forget_thread(self) -> None:
        # A forked child has the queue's contents but not the thread: it starts its own.
        self._queue = queue.SimpleQueue()
        self._thread = None
        self._start_lock = threading.Lock()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="tollgate-access-lines", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            batch = [get()]
            try:
                while len(batch) < 4096:
                    batch.append(get_nowait())
            except queue.Empty:
                pass
            lines: list[str] = []
            for item in batch:
                if isinstance(item, tuple):
                    try:
                        lines.append(self.render(item))
                    except Exception as exc:  # a line that cannot be rendered must not stop the others
                        lines.append(f"access line not rendered: {exc!r}\n")
                    continue
                self._write(lines)
                lines = []
                if item is None:
                    return
                item.set()
            self._write(lines)

    @staticmethod
    def _write(lines: list[str]) -> None:
        if lines:
            try:
                sys.stderr.write("".join(lines))
                sys.stderr.flush()
            except (OSError, ValueError):  # stderr closed (a test's capture ended): nowhere to write
                pass

    def render(self, record: AccessRecord) -> str:
        """The line as structlog's chain makes it (`RequestContextMiddleware`'s), with its newline."""
        ended_ns, method, path, status, seconds, client, extra, request_id = record
        event: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client": client,
        }
        if extra:
            event.update(extra)
        event["event"] = "request"
        event.setdefault("request_id", request_id)
        event["level"] = "info"
        event.setdefault("logger", ACCESS_LOGGER)
        event["timestamp"] = self._iso(ended_ns)
        line: str = _renderer(None, "info", event)
        return line + "\n"

    def _iso(self, ns: int) -> str:
        # datetime.now(timezone.utc).isoformat() with "Z", as structlog's TimeStamper writes it;
        # the date and time of day are worked out once a second (only this thread calls it).
        second, micro = divmod(ns // 1000, 1_000_000)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{micro:06d}Z" if micro else f"{self._second_text}Z"


access_lines = AccessLines()
"""The process's one writer of access lines (see `AccessLines`)."""
atexit.register(access_lines.flush, 1.0)


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


def is_safe_request_id(candidate: str) -> bool:
    """Whether a client's `X-Request-ID` may be kept (and logged): letters, digits, `._-`, 1 to 128."""
    return _SAFE_ID.match(candidate) is not None


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SAFE_ID.match(candidate) else None
    return None
