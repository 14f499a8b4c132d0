"""Serving an ASGI app over real HTTP from a test: uvicorn in a thread, on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from litestar.types import ASGIApp

if TYPE_CHECKING:
    from membership.settings import Settings as MembershipSettings


@contextmanager
def serve(app: ASGIApp, *, sock: socket.socket | None = None) -> Iterator[str]:
    """Yields the base URL while the app runs (lifespan included); stops it afterwards."""
    if sock is None:
        sock = bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=3)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def bound_socket() -> socket.socket:
    """A socket already bound to a free port, so its address is known before the server starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass(frozen=True)
class Billing:
    """Membership and the Stripe sandbox, served; the sandbox signs webhooks with `secret`."""

    membership: str
    sandbox: str
    secret: str
    settings: MembershipSettings


@contextmanager
def serve_billing(
    database_url: str, data_dir: Path, *, public_url: str | None = None, workers: int = 2, **overrides: object
) -> Iterator[Billing]:
    """Membership on the test database talking to a sandbox through stripe-python, webhooks signed
    with a secret made now; `public_url` is membership's own address unless a gateway fronts it;
    `overrides` are more membership settings."""
    from membership.app import create_app as create_membership
    from stripe_sandbox.app import create_app as create_sandbox
    from stripe_sandbox.settings import Settings as SandboxSettings
    from tests.conftest import make_settings
    from tests.membership.stripe_events.signing import new_secret

    secret = new_secret()
    membership_sock, sandbox_sock = bound_socket(), bound_socket()
    membership_url = f"http://127.0.0.1:{membership_sock.getsockname()[1]}"
    sandbox_url = f"http://127.0.0.1:{sandbox_sock.getsockname()[1]}"
    settings = make_settings(
        database_url,
        data_dir,
        public_url=public_url or membership_url,
        stripe_webhook_secret=secret,
        stripe_sandbox_url=sandbox_url,
        stripe_retry_base_seconds=0.05,
        stripe_poll_seconds=0.05,
        stripe_workers=workers,
        # Every test signs in new readers from 127.0.0.1; the limit itself is tested on its own app.
        signin_rate_per_address=100_000,
        **overrides,
    )
    sandbox = create_sandbox(
        SandboxSettings(
            public_url=sandbox_url,
            webhook_url=f"{membership_url}/api/stripe/webhook",
            webhook_secret=secret,
            log_level="WARNING",
            log_format="console",
        )
    )
    with serve(sandbox, sock=sandbox_sock), serve(create_membership(settings), sock=membership_sock):
        yield Billing(membership_url, sandbox_url, secret, settings)
