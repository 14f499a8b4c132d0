"""The gateway's one ASGI layer around every request: request id, own headers, access line.

It does what `tollgate_common.logging.RequestContextMiddleware` and `own_headers.StripOwnHeaders`
did as two layers, in one pass over the request's headers and at a fraction of the cost (issue 18,
bench/README.md "Where a gateway request's time goes"):

- a sane `X-Request-ID` from the client is kept, anything else replaced by a fresh id: a random
  per-process prefix and a counter (32 hex digits, unique across replicas without `os.urandom`
  per request); it is in `scope["state"]["request_id"]` (the forward passes it on), in
  `tollgate_common.logging.REQUEST_ID` for every log line of the request, and on the answer;
- request headers that look like the gateway's own (`own_headers.is_own`) are dropped before
  anything reads them;
- one access line per request, the same fields as ever (a route adds its own through
  `scope["state"]["access_log_extra"]`), queued to `tollgate_common.logging.access_lines`, whose
  thread renders and writes it.
"""

from __future__ import annotations

import os
from itertools import count
from time import perf_counter, time_ns

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.own_headers import OWN_PREFIXES
from tollgate_common.logging import REQUEST_ID, access_lines, is_safe_request_id

REQUEST_ID_HEADER = b"x-request-id"
# One C call per header tells both apart: x-request-id starts with none of the own prefixes.
_OWN_OR_ID = (*OWN_PREFIXES, REQUEST_ID_HEADER)


class _RequestIds:
    """`new()`: 16 random hex digits for this process, then a 16-digit counter."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = count()

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


request_ids = _RequestIds()


class RequestLayer:
    """ASGI middleware: request id in and out, the gateway's own headers stripped, one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]  # Litestar types lifespan scopes out
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        request_id: str | None = None
        id_seen = own = False
        for name, value in headers:
            if name.startswith(_OWN_OR_ID):
                if name != REQUEST_ID_HEADER:
                    own = True
                elif not id_seen:  # the first one decides, as ever
                    id_seen = True
                    candidate = value.decode("latin-1")
                    if is_safe_request_id(candidate):
                        request_id = candidate
        if own:
            scope["headers"] = [(n, v) for n, v in headers if not n.startswith(OWN_PREFIXES)]
        if request_id is None:
            request_id = request_ids.new()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        id_field = (REQUEST_ID_HEADER, request_id.encode())
        status = 500
        started = perf_counter()
        context = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: a response may hand out a header list it keeps.
                message["headers"] = [*message.get("headers", ()), id_field]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = perf_counter() - started
            REQUEST_ID.reset(context)
            client = scope.get("client")
            access_lines.put(
                (
                    time_ns(),
                    scope.get("method"),
                    scope.get("path"),
                    status,
                    elapsed,
                    client[0] if client else None,
                    state.get("access_log_extra"),
                    request_id,
                )
            )
