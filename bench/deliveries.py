"""Outgoing webhook deliveries per second to a local receiver, on SQLite and PostgreSQL.

The outbox is filled with `BENCH_DELIVERIES` messages for one endpoint (as the domains write them),
then workers in this process claim, sign (Standard Webhooks, HMAC-SHA256), send over HTTP to a
receiver on 127.0.0.1 (uvicorn in its own process, answering 200 at once) and record each attempt,
until the outbox is empty. The figure is our outbox's and signer's cost plus one local HTTP round
trip each, not any real receiver's.
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.ports import free_port
from bench.postgres import POSTGRES, admin
from bench.readme import write_section
from membership.db import alchemy_config, migrate
from membership.lib.clock import utcnow
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.settings import Settings
from membership.webhooks.events import EventType, envelope
from membership.webhooks.models import MessageState, WebhookMessage
from membership.webhooks.services import WebhookService, new_message_id
from membership.webhooks.worker import WebhookWorker
from tollgate_common.logging import configure_logging

DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "3000"))
WORKERS = 4
RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def start_receiver(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    (folder / "receiver.py").write_text(RECEIVER)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "receiver:app", "--port", str(port), "--log-level", "warning"],
        cwd=folder,
    )
    url = f"http://127.0.0.1:{port}/hook"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(url, content=b"{}")
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the receiver did not start")


async def fill(settings: Settings, url: str) -> None:
    alchemy = alchemy_config(settings)
    async with alchemy.get_session() as session:
        owner_id = uuid.uuid4()
        session.add(Reader(id=owner_id, email=f"bench-{owner_id.hex[:8]}@example.com", display_name="bench"))
        publication = Publication(slug=f"bench-{owner_id.hex[:6]}", name="Bench")
        session.add(publication)
        await session.flush()
        endpoint, _ = await WebhookService(session, settings).add(publication.id, url, [])
        now = utcnow()
        for n in range(DELIVERIES):
            data = {"reader_id": str(owner_id), "key": f"pub:bench:{n}", "ends_at": None, "version": n}
            session.add(
                WebhookMessage(
                    endpoint_id=endpoint.id,
                    message_id=new_message_id(),
                    event_type=EventType.ENTITLEMENT_GRANTED.value,
                    payload=envelope(EventType.ENTITLEMENT_GRANTED, data, now),
                    next_attempt_at=now,
                )
            )
        await session.commit()
    await alchemy.get_engine().dispose()


async def deliver_all(settings: Settings) -> float:
    alchemy = alchemy_config(settings)
    workers = [WebhookWorker(alchemy, settings) for _ in range(WORKERS)]

    async def drain(worker: WebhookWorker) -> None:
        while await worker.run_once():
            pass

    started = time.perf_counter()
    await asyncio.gather(*(drain(w) for w in workers))
    elapsed = time.perf_counter() - started
    async with alchemy.get_session() as session:
        delivered = await session.scalar(
            select(func.count())
            .select_from(WebhookMessage)
            .where(WebhookMessage.state == MessageState.DELIVERED)
        )
    for worker in workers:
        await worker.sender.aclose()
    await alchemy.get_engine().dispose()
    assert delivered == DELIVERIES, f"{delivered} of {DELIVERIES} delivered"
    return DELIVERIES / elapsed


def run(database_url: str, folder: Path, url: str) -> float:
    settings = Settings(database_url=database_url, data_dir=folder, webhook_private_addresses=True)
    migrate.upgrade(settings)
    asyncio.run(fill(settings, url))
    return asyncio.run(deliver_all(settings))


def main() -> None:
    configure_logging("WARNING", "console")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        receiver, url = start_receiver(folder)
        try:
            sqlite = run(f"sqlite+aiosqlite:///{folder / 'bench.db'}", folder, url)
            name = f"tollgate_bench_{uuid.uuid4().hex[:8]}"
            asyncio.run(admin(f'CREATE DATABASE "{name}"'))
            try:
                base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
                postgres = run(f"{base}/{name}", folder, url)
            finally:
                asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            receiver.terminate()
            receiver.wait()
    body = (
        f"Outgoing webhooks (`python -m bench.deliveries`: {DELIVERIES} messages in the outbox, "
        f"{WORKERS} workers claiming, signing, POSTing to a local uvicorn receiver and logging each "
        f"attempt; 2 cores; Python {platform.python_version()}):\n\n"
        "| database | deliveries/s |\n|---|---|\n"
        f"| SQLite | {sqlite:.0f} |\n| PostgreSQL | {postgres:.0f} |"
    )
    print(body)
    write_section("deliveries", body)


if __name__ == "__main__":
    main()
