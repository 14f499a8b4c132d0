"""Forwarding to membership over real HTTP: what reaches the stand-in, and what comes back."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.settings import Settings

Client = AsyncTestClient[Litestar]


def _seen_headers(response: Any) -> dict[str, list[str]]:
    """The headers the stand-in received, by lower-case name."""
    seen: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


def _is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_get_passes_path_and_query(gateway: Client) -> None:
    response = await gateway.get("/api/echo?b=2&a=1&a=3&q=caf%C3%A9")
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "GET"
    assert seen["path"] == "/api/echo"
    assert seen["query"] == "b=2&a=1&a=3&q=caf%C3%A9"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_json_body_passes(gateway: Client, method: str) -> None:
    payload = {"reader": "Ada Lovelace", "tier": "member", "months": 12}
    response = await gateway.request(method, "/api/echo", json=payload)
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == method
    assert json.loads(seen["body"]) == payload
    assert _seen_headers(response)["content-type"] == ["application/json"]


async def test_options_goes_to_membership_not_to_litestar(gateway: Client) -> None:
    response = await gateway.options("/api/echo")
    assert response.status_code == 200
    assert response.json()["method"] == "OPTIONS"


async def test_head_keeps_membership_content_length(gateway: Client) -> None:
    response = await gateway.head("/auth/page")
    assert response.status_code == 200
    assert response.headers["content-length"] == "10"
    assert response.content == b""


async def test_every_set_cookie_is_kept(gateway: Client) -> None:
    response = await gateway.get("/auth/cookies")
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    session = next(c for c in cookies if c.startswith("tollgate_session=s3cret"))
    assert "HttpOnly" in session
    assert any(c.startswith("theme=dark") for c in cookies)


async def test_one_readers_cookie_never_rides_on_anothers_request(gateway: Client) -> None:
    await gateway.get("/auth/cookies")
    gateway.cookies.clear()  # the next request comes from another browser
    response = await gateway.get("/api/echo")
    assert "cookie" not in _seen_headers(response)


async def test_client_cookie_reaches_membership(gateway: Client) -> None:
    response = await gateway.get("/api/echo", headers={"cookie": "tollgate_session=abc"})
    assert _seen_headers(response)["cookie"] == ["tollgate_session=abc"]


async def test_hop_by_hop_request_headers_are_stripped(gateway: Client, upstream: Any) -> None:
    response = await gateway.get(
        "/api/echo",
        headers={
            "connection": "keep-alive, x-client-hop",
            "x-client-hop": "1",
            "keep-alive": "300",
            "te": "trailers",
            "upgrade": "websocket",
            "proxy-authorization": "Basic Zm9vOmJhcg==",
            "x-custom": "kept",
        },
    )
    seen = _seen_headers(response)
    for name in ("x-client-hop", "keep-alive", "te", "upgrade", "proxy-authorization"):
        assert name not in seen, name
    assert "x-client-hop" not in " ".join(seen.get("connection", []))
    assert seen["x-custom"] == ["kept"]
    # Host names membership itself; the reader's host travels as X-Forwarded-Host.
    assert seen["host"] == [upstream.url.removeprefix("http://")]


async def test_no_header_is_added_that_the_client_did_not_send(gateway: Client) -> None:
    del gateway.headers["accept-encoding"]
    del gateway.headers["user-agent"]
    response = await gateway.get("/api/echo")
    seen = _seen_headers(response)
    assert "accept-encoding" not in seen
    assert "user-agent" not in seen


async def test_hop_by_hop_response_headers_are_stripped(gateway: Client) -> None:
    response = await gateway.get("/api/hop")
    assert response.status_code == 200
    assert response.text == "hop"
    for name in ("keep-alive", "proxy-authenticate", "connection", "x-upstream-hop", "server", "date"):
        assert name not in response.headers, name
    assert response.headers["x-kept"] == "yes"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-length"] == "3"


async def test_forwarded_headers_and_request_id_reach_membership(
    make_gateway: Any, settings: Settings
) -> None:
    async with make_gateway(settings, base_url="https://reader.example") as client:
        response = await client.get(
            "/api/echo",
            headers={
                "x-forwarded-for": "203.0.113.7",
                "x-forwarded-proto": "gopher",
                "x-forwarded-host": "evil.example",
                "x-request-id": "trace-42",
            },
        )
    seen = _seen_headers(response)
    # The test client's address is "testclient": appended to what the client already claimed.
    assert seen["x-forwarded-for"] == ["203.0.113.7, testclient"]
    assert seen["x-forwarded-proto"] == ["https"]
    assert seen["x-forwarded-host"] == ["reader.example"]
    assert seen["x-request-id"] == ["trace-42"]
    # Membership answered with the id too; the reader still gets it once.
    assert response.headers.get_list("x-request-id") == ["trace-42"]


async def test_assigned_request_id_reaches_membership(gateway: Client) -> None:
    response = await gateway.get("/api/echo", headers={"x-request-id": "bad id!"})
    assigned = response.headers["x-request-id"]
    assert assigned != "bad id!"
    assert _seen_headers(response)["x-request-id"] == [assigned]


async def test_redirect_passes_through_unfollowed(gateway: Client, upstream: Any) -> None:
    before = len(upstream.received)
    response = await gateway.get("/auth/redirect", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/account/welcome"
    assert upstream.received[before:] == ["/auth/redirect"]


async def test_compressed_body_passes_as_membership_encoded_it(gateway: Client, upstream: Any) -> None:
    response = await gateway.get("/api/gzip", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(upstream.gzipped_text)
    assert response.content == upstream.gzipped_text


async def test_membership_down_is_a_502_problem(make_gateway: Any, closed_port_url: str) -> None:
    async with make_gateway(Settings(membership_url=closed_port_url)) as client:
        response = await client.post("/auth/sign-in", json={"email": "ada@example.com"})
    body = _is_problem(response, 502)
    assert body["detail"] == "membership is unavailable"
    assert body["instance"] == "/auth/sign-in"


async def test_membership_too_slow_is_a_504_problem(make_gateway: Any, upstream: Any) -> None:
    settings = Settings(membership_url=upstream.url, upstream_timeout_seconds=0.2)
    async with make_gateway(settings) as client:
        response = await client.get("/api/slow")
    body = _is_problem(response, 504)
    assert "in time" in body["detail"]


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
async def test_body_over_the_limit_is_a_413_problem(
    make_gateway: Any, upstream: Any, announced: bool
) -> None:
    settings = Settings(membership_url=upstream.url, max_body_bytes=1024)
    body = b"x" * 1025
    before = len(upstream.received)
    async with make_gateway(settings) as client:
        if announced:
            response = await client.post("/api/echo", content=body)
            _is_problem(response, 413)
        else:
            # No Content-Length: the limit must hold on the bytes as they arrive, in pieces.
            chunks = [body[i : i + 256] for i in range(0, len(body), 256)]
            status, headers, _ = await _raw_request(client.app, b"/api/echo", method="POST", chunks=chunks)
            assert status == 413
            assert headers[b"content-type"].startswith(b"application/problem+json")
    # The gateway fetches the signing keys when it starts; nothing else reached membership.
    assert [path for path in upstream.received[before:] if path != "/.well-known/jwks.json"] == []


async def test_body_at_the_limit_passes(make_gateway: Any, upstream: Any) -> None:
    settings = Settings(membership_url=upstream.url, max_body_bytes=1024)
    async with make_gateway(settings) as client:
        response = await client.post("/api/echo", content=b"y" * 1024)
    assert response.status_code == 200
    assert response.json()["body"] == "y" * 1024


async def _raw_request(
    app: Any, raw_path: bytes, *, method: str = "GET", chunks: list[bytes] | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request straight into the ASGI app, for what an HTTP client will not send."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode()),
        "raw_path": raw_path,
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"tollgate.test")],
        "client": ("127.0.0.1", 40000),
        "server": ("tollgate.test", 80),
    }
    pieces = list(chunks or [b""])
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pieces:
            return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start, *rest = messages
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in rest)


@pytest.mark.parametrize("raw_path", [b"/auth/../internal/secret", b"/auth/%2e%2e/internal/secret"])
async def test_dot_segments_cannot_leave_the_forwarded_prefixes(
    gateway: Client, upstream: Any, raw_path: bytes
) -> None:
    # HTTP clients resolve dot segments before sending; a raw request keeps them, as curl --path-as-is does.
    before = len(upstream.received)
    status, _, body = await _raw_request(gateway.app, raw_path)
    assert status == 404
    assert b"the secret" not in body
    assert upstream.received[before:] == []


@pytest.mark.parametrize("path", ["/account", "/account/"])
async def test_a_prefix_itself_is_forwarded(gateway: Client, upstream: Any, path: str) -> None:
    # Membership's Litestar serves "/account" and "/account/" alike; the stand-in has no such page.
    before = len(upstream.received)
    response = await gateway.get(path)
    assert response.status_code == 404
    assert upstream.received[before:] == [path]


@pytest.mark.parametrize("path", ["/apiary", "/accounts", "/internal/secret"])
async def test_paths_outside_the_prefixes_are_not_forwarded(
    gateway: Client, upstream: Any, path: str
) -> None:
    before = len(upstream.received)
    response = await gateway.get(path)
    _is_problem(response, 404)
    assert upstream.received[before:] == []
