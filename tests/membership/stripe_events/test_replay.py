"""An event that gave up is visible to the operator and can be put back in the queue, from the CLI.

The real `membership` console script runs against the test's database, as an operator would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from membership.lib.clock import utcnow
from membership.stripe_events.models import StripeEvent
from tests.conftest import ClientFactory
from tests.membership.stripe_events.signing import body, event, new_secret
from tests.membership.stripe_events.test_webhook_intake import HARMLESS, post, worker_for

MEMBERSHIP = str(Path(sys.executable).parent / "membership")


def cli(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERSHIP_")}
    env |= {
        "MEMBERSHIP_DATABASE_URL": database_url,
        "MEMBERSHIP_DATA_DIR": str(data_dir),
        "MEMBERSHIP_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [MEMBERSHIP, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def rows(database_url: str) -> dict[str, Any]:
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        found = {r.id: r for r in (await conn.execute(select(StripeEvent))).all()}
    await engine.dispose()
    return found


async def test_failed_event_is_listed_and_replayed_from_the_cli(
    client_with: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    # Stripe is unreachable, so the subscription cannot be fetched: one attempt, then it gives up.
    broken = event("customer.subscription.updated", {"object": "subscription", "id": "sub_missing"})
    fine = event("checkout.session.completed", HARMLESS)
    async with client_with(
        stripe_webhook_secret=secret,
        stripe_workers=0,
        stripe_max_attempts=1,
        stripe_network_retries=0,
        stripe_sandbox_url="http://127.0.0.1:9",
    ) as client:
        for evt in (broken, fine):
            answer = await post(client, secret, body(evt))
            assert answer.status_code == 200 and answer.json()["stored"] is True, answer.text
        async with worker_for(client.app) as worker:
            assert await worker.run_once() == 2
            assert await worker.run_once() == 0  # given up: not retried

        stored = await rows(database_url)
        assert (stored[broken["id"]].status, stored[broken["id"]].attempts) == ("failed", 1)
        assert "unavailable" in stored[broken["id"]].last_error.lower()
        assert (stored[fine["id"]].status, stored[fine["id"]].attempts) == ("processed", 1)

        listed = await asyncio.to_thread(
            cli, database_url, tmp_path, "stripe", "events", "--status", "failed"
        )
        assert listed.returncode == 0, listed.stderr
        [line] = listed.stdout.strip().splitlines()
        assert line.startswith(broken["id"])
        assert "customer.subscription.updated" in line and "failed" in line and "attempts=1" in line
        assert "unavailable" in line.lower()  # the operator sees why

        replayed = await asyncio.to_thread(cli, database_url, tmp_path, "stripe", "replay", "--failed")
        assert replayed.returncode == 0, replayed.stderr
        assert "Queued 1 event(s) for replay." in replayed.stdout

        stored = await rows(database_url)
        again = stored[broken["id"]]
        assert (again.status, again.attempts, again.leased_until) == ("pending", 0, None)
        assert again.next_attempt_at <= utcnow()
        # The processed event was not touched.
        assert (stored[fine["id"]].status, stored[fine["id"]].attempts) == ("processed", 1)

        # Due at once: the next worker pass takes it (and, Stripe still away, it fails again).
        async with worker_for(client.app) as worker:
            assert await worker.run_once() == 1
        stored = await rows(database_url)
        assert (stored[broken["id"]].status, stored[broken["id"]].attempts) == ("failed", 1)
