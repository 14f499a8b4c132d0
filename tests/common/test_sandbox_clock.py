"""Following the Stripe sandbox's clock: a real sandbox over HTTP, moved forward, and the offset
each follower reads from it; the settings that refuse it where it does not belong."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError

from gateway.settings import Settings as GatewaySettings
from membership.settings import Settings as MembershipSettings
from stripe_sandbox.app import create_app
from stripe_sandbox.settings import Settings as SandboxSettings
from tests.servers import bound_socket, serve
from tollgate_common import clock
from tollgate_common.months import this_month
from tollgate_common.sandbox_clock import SandboxClock, following

DAY = 86400
SANDBOX = "http://127.0.0.1:8002"


@pytest.fixture
def sandbox() -> Iterator[str]:
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(SandboxSettings(public_url=url, log_level="WARNING", log_format="console"))
    with serve(app, sock=sock):
        yield url


def advance(sandbox: str, days: float) -> None:
    httpx.post(f"{sandbox}/_sandbox/clock/advance", json={"days": days}, timeout=10).raise_for_status()


async def test_a_follower_reads_the_sandbox_offset_at_start_and_after_each_move(sandbox: str) -> None:
    advance(sandbox, 3)
    follower = SandboxClock(sandbox, every=0.05)
    await follower.start()
    try:
        assert clock.offset() == pytest.approx(3 * DAY, abs=2)  # read before anything is served
        assert (clock.utcnow() - datetime.now(UTC)).total_seconds() == pytest.approx(3 * DAY, abs=2)
        assert clock.now() - time.time() == pytest.approx(3 * DAY, abs=2)
        advance(sandbox, 40)
        assert await follower.sync()
        assert clock.offset() == pytest.approx(43 * DAY, abs=2)
    finally:
        await follower.stop()
    assert clock.offset() == 0.0  # the wall clock again


async def test_a_month_moved_on_the_sandbox_moves_the_unlock_month(sandbox: str) -> None:
    before = this_month()
    advance(sandbox, 32)
    async with following(sandbox, every=60):
        assert this_month() != before
    assert this_month() == before


async def test_an_unreachable_sandbox_keeps_the_last_offset(
    sandbox: str, capsys: pytest.CaptureFixture[str]
) -> None:
    advance(sandbox, 2)
    async with following(sandbox, every=60):
        gone = SandboxClock("http://127.0.0.1:9", every=60)  # the discard port: nothing listens
        assert not await gone.sync()
        assert not await gone.sync()
        assert clock.offset() == pytest.approx(2 * DAY, abs=2)
        await gone._http.aclose()
    assert clock.offset() == 0.0


async def test_the_last_follower_to_stop_brings_the_wall_clock_back(sandbox: str) -> None:
    advance(sandbox, 5)
    membership, gateway = SandboxClock(sandbox, every=60), SandboxClock(sandbox, every=60)
    await membership.start()
    await gateway.start()
    await membership.stop()
    assert clock.offset() == pytest.approx(5 * DAY, abs=2)  # the gateway in this process still follows
    await gateway.stop()
    assert clock.offset() == 0.0


async def test_without_a_url_the_wall_clock_is_kept() -> None:
    async with following(""):
        assert clock.offset() == 0.0


def test_production_refuses_a_sandbox_clock() -> None:
    with pytest.raises(ValidationError, match="not production"):
        GatewaySettings(environment="production", sandbox_clock_url=SANDBOX, story_origin="samples")
    assert GatewaySettings(sandbox_clock_url=SANDBOX).sandbox_clock_url


def test_membership_with_real_stripe_refuses_a_sandbox_clock() -> None:
    with pytest.raises(ValidationError, match="Stripe is real"):
        MembershipSettings(sandbox_clock_url=SANDBOX, stripe_secret_key="sk_test_" + "x" * 24)
    assert MembershipSettings(sandbox_clock_url=SANDBOX).sandbox_clock_url
