"""Webhook intake and processing, in events per second, on SQLite and PostgreSQL.

Membership runs as its own server process (`membership run`, one uvicorn worker). Intake load
comes from wrk (Debian's `wrk`) with 32 connections, cycling through distinct events signed with
a runtime secret just before the run: verify + store + acknowledge, in-process workers off. Then
processing: inbox workers claiming, handling and marking every stored event (the handler is a
real one that needs no Stripe call, so this measures our inbox, not the network). Events are
signed by the Stripe sandbox's own signer, as the sandbox signs what it delivers.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select

from bench.ports import free_port
from bench.readme import write_section
from membership.db import alchemy_config, migrate
from membership.lib.stripe_client import StripeApi
from membership.settings import Settings
from membership.stripe_events.models import StripeEvent
from membership.stripe_events.worker import InboxWorker
from stripe_sandbox import API_VERSION
from stripe_sandbox.state import new_id
from stripe_sandbox.webhooks import signature_header
from tollgate_common.logging import configure_logging

EVENTS = int(os.environ.get("BENCH_EVENTS", "12000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
CONCURRENCY = 32
POSTGRES = os.environ.get("TOLLGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HARMLESS = {"object": "checkout.session", "id": "cs_bench", "mode": "payment", "subscription": None}


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A new event as Stripe (and the sandbox) sends it: its own id, created now."""
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def signature(secret: str, payload: bytes) -> str:
    return signature_header(secret, payload, int(time.time()))


def wrk_intake(url: str, secret: str, count: int, seconds: int) -> float:
    """Acknowledged events per second under wrk; every request carries a new, signed event."""
    lines = ["local reqs = {}"]
    for i in range(count):
        payload = json.dumps(event("checkout.session.completed", HARMLESS))
        signed = signature(secret, payload.encode())
        headers = f'{{["Content-Type"]="application/json", ["Stripe-Signature"]="{signed}"}}'
        lines.append(
            f'reqs[{i + 1}] = wrk.format("POST", "/api/stripe/webhook", {headers}, [==[{payload}]==])'
        )
    lines += [
        "local i = 0",
        "request = function() i = i + 1; if i > #reqs then i = 1 end; return reqs[i] end",
        'done = function(summary, latency, requests) io.write(string.format("RESULT %d %d %d\\n", '
        "summary.requests, summary.duration, summary.errors.status)) end",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    requests, micros, bad = (int(x) for x in out.split("RESULT")[1].split())
    if bad:
        raise RuntimeError(f"{bad} webhook(s) were refused:\n{out}")
    if requests > count:
        raise RuntimeError(
            f"wrk sent {requests} requests but only {count} distinct events exist; raise BENCH_EVENTS"
        )
    return requests / (micros / 1_000_000)


async def post_all(url: str, secret: str, bodies: list[bytes]) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def sender() -> None:
            while not queue.empty():
                payload = queue.get_nowait()
                headers = {"content-type": "application/json", "stripe-signature": signature(secret, payload)}
                answer = await client.post("/api/stripe/webhook", content=payload, headers=headers)
                assert answer.status_code == 200, answer.text

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started


async def process_all(settings: Settings, workers: int) -> float:
    alchemy = alchemy_config(settings)
    worker = InboxWorker(alchemy, settings, StripeApi(settings))
    started = time.perf_counter()
    try:
        while sum(await asyncio.gather(*(worker.run_once() for _ in range(workers)))):
            pass
    finally:
        await alchemy.get_engine().dispose()
    return time.perf_counter() - started


def run_one(backend: str, database_url: str, data_dir: Path) -> dict[str, Any]:
    secret = "whsec_" + secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERSHIP_")}
    port = free_port()
    env |= {
        "MEMBERSHIP_DATABASE_URL": database_url,
        "MEMBERSHIP_DATA_DIR": str(data_dir),
        "MEMBERSHIP_STRIPE_WEBHOOK_SECRET": secret,
        "MEMBERSHIP_STRIPE_WORKERS": "0",
        "MEMBERSHIP_PORT": str(port),
        "MEMBERSHIP_LOG_LEVEL": "WARNING",
    }
    settings = Settings(database_url=database_url, data_dir=data_dir, stripe_webhook_secret=secret)
    migrate.upgrade(settings)
    server = subprocess.Popen([str(Path(sys.executable).parent / "membership"), "run"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("membership did not start")
            time.sleep(0.2)
        warm = [json.dumps(event("checkout.session.completed", HARMLESS)).encode() for _ in range(200)]
        asyncio.run(post_all(url, secret, warm))  # warm-up (these are processed too)
        intake = wrk_intake(url, secret, EVENTS, SECONDS)
    finally:
        server.terminate()
        server.wait(timeout=20)
    stored = asyncio.run(count_stored(settings))
    processing = asyncio.run(process_all(settings, workers=4))
    return {"backend": backend, "intake_per_s": intake, "processing_per_s": stored / processing}


async def count_stored(settings: Settings) -> int:
    alchemy = alchemy_config(settings)
    try:
        async with alchemy.get_session() as session:
            return int(await session.scalar(select(func.count()).select_from(StripeEvent)) or 0)
    finally:
        await alchemy.get_engine().dispose()


def with_postgres() -> str | None:
    name = f"tollgate_bench_{uuid.uuid4().hex[:8]}"

    async def admin(query: str) -> None:
        conn = await asyncpg.connect(POSTGRES, timeout=5)
        try:
            await conn.execute(query)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: {exc}")
        return None
    return name


def main() -> None:
    configure_logging("WARNING", "console")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        results.append(run_one("SQLite", sqlite_url, Path(tmp)))
        if name := with_postgres():
            base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            try:
                results.append(run_one("PostgreSQL", f"{base}/{name}", Path(tmp)))
            finally:

                async def drop() -> None:
                    conn = await asyncpg.connect(POSTGRES)
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    await conn.close()

                asyncio.run(drop())
    rows = "\n".join(
        f"| {r['backend']} | {r['intake_per_s']:,.0f} | {r['processing_per_s']:,.0f} |" for r in results
    )
    body = (
        f"Webhook intake and processing (`make bench`: wrk, {CONCURRENCY} connections, {SECONDS} s, "
        f"every request a new signed event; one uvicorn worker; {os.cpu_count()} cores; Python "
        f"{platform.python_version()}):\n\n"
        "| database | acknowledged events/s (verify, store, 200) | processed events/s (4 workers) |\n"
        "|---|---|---|\n" + rows
    )
    print(body)
    write_section("webhooks", body)


if __name__ == "__main__":
    main()
