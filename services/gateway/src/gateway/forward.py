"""Forwarding of the reader-facing membership routes, so that readers see a single origin.

Any method on a path under one of `Settings.forwarded_prefixes` goes to membership unchanged:
same method, path, query and body, the client's headers minus the hop-by-hop ones, plus
`X-Forwarded-For/-Proto/-Host` and the request id. Membership's answer comes back as it is
(status, body bytes still encoded, every `Set-Cookie`), redirects included: the browser follows
them, not the gateway. Membership down is a 502 problem, too slow a 504.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

import httpx
import structlog
from litestar import HttpMethod, Request, route
from litestar.handlers import HTTPRouteHandler
from litestar.response.base import ASGIResponse

from gateway.settings import Settings
from gateway.upstream import client_of, settings_of
from tollgate_common.problems import NotFound, TollgateError

log = structlog.get_logger("gateway.forward")

FORWARDED_METHODS = [
    HttpMethod.GET,
    HttpMethod.HEAD,
    HttpMethod.POST,
    HttpMethod.PUT,
    HttpMethod.PATCH,
    HttpMethod.DELETE,
    HttpMethod.OPTIONS,
]

# RFC 9110 7.6.1: these describe one connection, not the message, so a proxy never passes them on.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
# Replaced with the gateway's own values, never passed through from the client.
_REQUEST_REPLACED = frozenset(
    {
        "host",
        "content-length",
        "expect",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-request-id",
    }
)
# The gateway's own server and middleware add these; membership's copies would make duplicates.
_RESPONSE_REPLACED = frozenset({"content-length", "date", "server", "x-request-id"})


class MembershipUnavailable(TollgateError):
    status_code = 502


class MembershipTimeout(TollgateError):
    status_code = 504


def forward_handler(settings: Settings) -> HTTPRouteHandler:
    """The route handler that forwards every path under the configured prefixes, and each prefix itself."""
    # Litestar routes "/account" and "/account/" alike, so membership's "/account" page is the prefix itself.
    bare = [prefix.rstrip("/") for prefix in settings.forwarded_prefixes]
    paths = bare + [f"{prefix}/{{path:path}}" for prefix in bare]
    return route(
        paths,
        http_method=FORWARDED_METHODS,
        include_in_schema=False,
        request_max_body_size=settings.max_body_bytes,
        name="forward-to-membership",
    )(forward)


async def forward(request: Request[Any, Any, Any]) -> ASGIResponse:
    settings = settings_of(request.app)
    url = _upstream_url(settings, request)
    # Bounded by request_max_body_size: too large a body is a 413 before membership sees a byte.
    body = await request.body()
    upstream_request = httpx.Request(
        request.method,
        url,
        headers=_upstream_headers(request),
        content=body,
        # A bare httpx.Request carries none of the client's defaults, timeout included.
        extensions={"timeout": client_of(request.app).timeout.as_dict()},
    )
    try:
        upstream = await client_of(request.app).send(upstream_request, stream=True)
        try:
            # Raw bytes: the body stays as membership encoded it, matching its Content-Encoding.
            content = b"".join([chunk async for chunk in upstream.aiter_raw()])
        finally:
            await upstream.aclose()
    except httpx.TimeoutException as exc:
        log.warning("membership timed out", method=request.method, path=url.path, error=type(exc).__name__)
        raise MembershipTimeout("membership did not answer in time") from exc
    except httpx.TransportError as exc:
        log.warning("membership unreachable", method=request.method, path=url.path, error=repr(exc))
        raise MembershipUnavailable("membership is unavailable") from exc
    return _downstream_response(request, upstream, content)


def _upstream_url(settings: Settings, request: Request[Any, Any, Any]) -> httpx.URL:
    scope = request.scope
    raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode()
    # Some servers (and Litestar's test client) leave the query on raw_path; it travels separately.
    path = raw_path.partition(b"?")[0].decode("latin-1")
    prefix = next((p for p in settings.forwarded_prefixes if path.startswith(p) or path == p[:-1]), None)
    # httpx resolves ".." before sending; "/auth/../admin" must not reach a route that is not forwarded.
    if prefix is None or any(segment in {".", ".."} for segment in unquote(path).split("/")):
        raise NotFound("There is nothing at this address.")
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        return httpx.URL(settings.membership_url + path + (f"?{query}" if query else ""))
    except httpx.InvalidURL as exc:
        raise NotFound("There is nothing at this address.") from exc


def _connection_options(headers: Iterable[tuple[str, str]]) -> set[str]:
    """The extra hop-by-hop header names that a `Connection` header lists."""
    return {
        token.strip().lower()
        for name, value in headers
        if name == "connection"
        for token in value.split(",")
        if token.strip()
    }


def _is_hop_by_hop(name: str, connection_options: set[str]) -> bool:
    return name in HOP_BY_HOP or name.startswith("proxy-") or name in connection_options


def _upstream_headers(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    scope = request.scope
    incoming = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
    options = _connection_options(incoming)
    headers = [
        (name, value)
        for name, value in incoming
        if not _is_hop_by_hop(name, options) and name not in _REQUEST_REPLACED
    ]
    chain = [value for name, value in incoming if name == "x-forwarded-for"]
    if client := scope.get("client"):
        chain.append(client[0])
    if chain:
        headers.append(("x-forwarded-for", ", ".join(chain)))
    headers.append(("x-forwarded-proto", scope["scheme"]))
    if host := next((value for name, value in incoming if name == "host"), None):
        headers.append(("x-forwarded-host", host))
    if request_id := scope.get("state", {}).get("request_id"):
        headers.append(("x-request-id", request_id))
    return headers


def _downstream_response(
    request: Request[Any, Any, Any], upstream: httpx.Response, content: bytes
) -> ASGIResponse:
    received = [(name.lower(), value) for name, value in upstream.headers.multi_items()]
    options = _connection_options(received)
    is_head = request.method == "HEAD"
    headers = [
        (name, value)
        for name, value in received
        if not _is_hop_by_hop(name, options)
        # A HEAD answer has no body to measure, so membership's Content-Length is the true one.
        and (name not in _RESPONSE_REPLACED or (is_head and name == "content-length"))
    ]
    response = ASGIResponse(
        body=b"" if is_head else content,
        headers=headers,
        status_code=upstream.status_code,
        is_head_response=is_head,
    )
    if "content-type" not in upstream.headers and "content-type" in response.headers:
        # ASGIResponse labels a body without a type as JSON; membership said nothing of the sort.
        del response.headers["content-type"]
    return response
