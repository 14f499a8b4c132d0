"""Fixtures for the gateway tests: a real stand-in for membership served by uvicorn, and gateway clients.

The stand-in runs in a background thread on a free 127.0.0.1 port, so the gateway forwards over
real HTTP exactly as it will to membership; it records every path it receives.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from litestar import Litestar, Request, Response, get, head, route
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.response import Redirect
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import empty_tables
from tests.gateway.stack import Membership, prepare_membership, running_membership
from tests.servers import bound_socket, serve

GZIPPED_TEXT = b"compressed hello " * 64
# The stand-in publishes one signing key, so a gateway in front of it becomes ready.
JWK: dict[str, str] = {
    **json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())),
    "kid": "standin",
    "alg": "ES256",
    "use": "sig",
}


@dataclass
class Upstream:
    url: str
    # Every path the stand-in was asked for, routed or not.
    received: list[str] = field(default_factory=list)
    # What /api/gzip sends, before compression.
    gzipped_text: bytes = GZIPPED_TEXT


def _standin_app(received: list[str]) -> ASGIApp:
    @get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @get("/.well-known/jwks.json")
    async def jwks() -> dict[str, list[dict[str, str]]]:
        return {"keys": [JWK]}

    @get("/sick/.well-known/jwks.json")
    async def no_keys() -> dict[str, list[dict[str, str]]]:
        # Answers, but with nothing a token could be checked against.
        return {"keys": []}

    @route("/api/echo", http_method=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], status_code=200)
    async def echo(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]]
        seen = {
            "method": request.method,
            "path": request.scope["path"],
            "query": request.scope["query_string"].decode(),
            "headers": headers,
            "body": (await request.body()).decode(),
        }
        # Membership's own middleware answers with the request id it was given.
        request_id = request.headers.get("x-request-id", "")
        return Response(seen, headers={"x-request-id": request_id})

    @get("/auth/page", media_type="text/plain")
    async def page() -> str:
        return "hello page"

    @head("/auth/page")
    async def page_head() -> Response[None]:
        return Response(None, headers={"content-length": "10", "content-type": "text/plain"})

    @get("/auth/cookies")
    async def cookies() -> Response[dict[str, bool]]:
        return Response(
            {"ok": True},
            cookies=[
                Cookie(key="tollgate_session", value="s3cret", httponly=True, path="/"),
                Cookie(key="theme", value="dark", path="/"),
            ],
        )

    @get("/api/hop")
    async def hop() -> Response[str]:
        return Response(
            "hop",
            media_type="text/plain",
            headers={
                "keep-alive": "timeout=5",
                "proxy-authenticate": "Basic",
                "connection": "x-upstream-hop",
                "x-upstream-hop": "1",
                "x-kept": "yes",
            },
        )

    @get("/auth/redirect")
    async def redirect() -> Redirect:
        return Redirect("/account/welcome", status_code=303)

    @get("/api/slow")
    async def slow() -> str:
        await asyncio.sleep(1.5)
        return "too late"

    @get("/api/gzip")
    async def gzipped() -> Response[bytes]:
        return Response(
            gzip.compress(GZIPPED_TEXT),
            media_type="text/plain",
            headers={"content-encoding": "gzip"},
        )

    @get("/internal/secret", media_type="text/plain")
    async def secret() -> str:
        return "the secret"

    standin = Litestar(
        route_handlers=[
            live,
            jwks,
            no_keys,
            echo,
            page,
            page_head,
            cookies,
            hop,
            redirect,
            slow,
            gzipped,
            secret,
        ]
    )

    # Outside Litestar: its own middleware never sees a path that no route matches.
    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            received.append(scope["path"])
        await standin(scope, receive, send)

    return recording


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The stand-in for membership, served over real HTTP for the whole session."""
    sock = bound_socket()
    state = Upstream(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    with serve(_standin_app(state.received), sock=sock):
        yield state


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens: membership is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def gateway_client(
    settings: Settings, base_url: str = "http://tollgate.test"
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A test client for a gateway built from these settings, its lifespan running."""
    async with AsyncTestClient(app=create_app(settings), base_url=base_url) as client:
        yield client


GatewayFactory = Callable[..., AbstractAsyncContextManager[AsyncTestClient[Litestar]]]


@pytest.fixture
def make_gateway() -> GatewayFactory:
    """`async with make_gateway(settings) as client`: for tests that need settings of their own."""
    return gateway_client


@pytest.fixture
def settings(upstream: Upstream) -> Settings:
    return Settings(membership_url=upstream.url, environment="test", upstream_timeout_seconds=5)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with gateway_client(settings) as client:
        yield client


@pytest.fixture(scope="module")
async def membership(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Membership]:
    """The real membership over HTTP for one test module, with the gateway's API key; emptied after."""
    api_key = await prepare_membership(database_url)
    async with running_membership(database_url, tmp_path_factory.mktemp("membership"), api_key) as running:
        yield running
    await empty_tables(database_url)
