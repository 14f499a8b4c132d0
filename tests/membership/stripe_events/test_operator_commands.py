"""The operator's commands, run as the real `membership` CLI against the billing stack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import create_async_engine

from membership.grants.models import Grant
from membership.subscriptions.models import Subscription
from membership.tokens.models import SigningKey
from tests.membership.conftest import Stack
from tests.redis import heard_on

MEMBERSHIP = str(Path(sys.executable).parent / "membership")


def run(stack: Stack, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERSHIP_")} | {
        "MEMBERSHIP_DATABASE_URL": stack.database_url,
        "MEMBERSHIP_DATA_DIR": str(stack.settings.data_dir),
        "MEMBERSHIP_STRIPE_SANDBOX_URL": stack.sandbox,
        "MEMBERSHIP_LOG_LEVEL": "WARNING",
        **env_extra,
    }
    return subprocess.run(
        [MEMBERSHIP, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_tiers_create_reconcile_and_worker(stack: Stack, shared_redis: tuple[str, str]) -> None:
    made = await asyncio.to_thread(
        run,
        stack,
        "tiers",
        "create",
        "CLI Members",
        "--key",
        "member",
        "--monthly",
        "700",
        "--trial-days",
        "3",
    )
    assert made.returncode == 0, made.stderr
    assert "granting member: $7/month" in made.stdout
    platform = (await reader_client(stack).get("/api/platform/tiers")).json()
    tier = next(t for t in platform if t["name"] == "CLI Members")
    assert tier["trial_days"] == 3 and tier["stripe_product_id"].startswith("prod_")

    reader = await stack.reader()
    await stack.subscribe(reader, tier["prices"][0]["id"])
    assert (await reader.get("/api/me/entitlements")).json()["keys"] == ["member"]
    reader_id = (await reader.get("/api/me")).json()["id"]
    engine = create_async_engine(stack.database_url)
    async with engine.begin() as conn:  # webhooks lost: the local state is gone
        await conn.execute(delete(Grant).where(Grant.reader_id == reader_id))
        await conn.execute(delete(Subscription).where(Subscription.reader_id == reader_id))
    assert (await reader.get("/api/me/entitlements")).json()["keys"] == []

    # The repair is a job of its own: its commits reach the gateways by push, as a request's do.
    redis_url, prefix = shared_redis
    async with heard_on(redis_url, prefix) as heard:
        repaired = await asyncio.to_thread(
            run, stack, "stripe", "reconcile", MEMBERSHIP_REDIS_URL=redis_url, MEMBERSHIP_REDIS_PREFIX=prefix
        )
        assert repaired.returncode == 0, repaired.stderr
        assert "Reconciled" in repaired.stdout and "added" in repaired.stdout
        assert (await reader.get("/api/me/entitlements")).json()["keys"] == ["member"]
        pushed = await asyncio.wait_for(heard.get(), timeout=5)
    assert reader_id in {c.reader_id for c in pushed.changes}

    worked = await asyncio.to_thread(run, stack, "stripe", "worker", "--once")
    assert worked.returncode == 0, worked.stderr
    assert worked.stdout.startswith("Processed ")
    await engine.dispose()


async def test_keys_rotate_and_list(stack: Stack) -> None:
    engine = create_async_engine(stack.database_url)
    async with engine.connect() as conn:
        before = {
            k for (k,) in await conn.execute(select(SigningKey.kid).where(SigningKey.retired_at.is_(None)))
        }
    rotated = await asyncio.to_thread(run, stack, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.split()[3]
    listed = await asyncio.to_thread(run, stack, "keys", "list")
    assert f"{new_kid}  ES256" in listed.stdout and "signing" in listed.stdout
    for old in before:
        assert old in listed.stdout and "retired, published until" in listed.stdout
    async with engine.connect() as conn:
        active = {
            k for (k,) in await conn.execute(select(SigningKey.kid).where(SigningKey.retired_at.is_(None)))
        }
    await engine.dispose()
    assert active == {new_kid}


def reader_client(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.membership, timeout=30)
