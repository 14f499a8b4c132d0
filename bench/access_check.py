"""The access-check API's latency on PostgreSQL at 10,000 readers, then at 1,000,000 readers and
3,000,000 grants: the cost must not grow with the data (target: p50 within 1.5x).

Readers and grants are bulk-loaded with COPY into a fresh database; membership runs as its own
server process; wrk posts `POST /api/access/check` for random readers (8 connections) and reports
the latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.ports import free_port
from bench.postgres import POSTGRES, admin
from bench.readme import write_section
from membership.apikeys.services import ApiKeyService
from membership.db import alchemy_config, migrate
from membership.settings import Settings
from tollgate_common.logging import configure_logging

SIZES = [(10_000, 30_000), (1_000_000, 3_000_000)]
KEYS = ["member", *(f"pub:p{i}" for i in range(50))]


async def load(dsn: str, start: int, readers: int, sample: list[uuid.UUID]) -> None:
    """Readers start..readers, three grants each: a mix of live, ended and open-ended ones."""
    conn = await asyncpg.connect(dsn)
    now = datetime.now(UTC)
    rng = random.Random(start)
    try:
        batch = 100_000
        for lo in range(start, readers, batch):
            ids = [uuid.uuid4() for _ in range(lo, min(readers, lo + batch))]
            sample.extend(rng.sample(ids, min(len(ids), 200)))
            await conn.copy_records_to_table(
                "reader",
                records=[(i, f"r{lo + n}@example.com", "", 0, now, now) for n, i in enumerate(ids)],
                columns=["id", "email", "display_name", "entitlement_version", "created_at", "updated_at"],
            )
            grants = []
            for i in ids:
                for k in rng.sample(KEYS, 3):
                    ends = rng.choice([None, now + timedelta(days=20), now - timedelta(days=3)])
                    grants.append(
                        (
                            uuid.uuid4(),
                            i,
                            k,
                            "subscription",
                            f"sub_{i.hex[:12]}",
                            now - timedelta(days=40),
                            ends,
                            None,
                            "",
                            now,
                            now,
                        )
                    )
            await conn.copy_records_to_table(
                "reader_grant",
                records=grants,
                columns=[
                    "id",
                    "reader_id",
                    "key",
                    "source",
                    "source_id",
                    "starts_at",
                    "ends_at",
                    "revoked_at",
                    "note",
                    "created_at",
                    "updated_at",
                ],
            )
        await conn.execute("ANALYZE reader; ANALYZE reader_grant")
    finally:
        await conn.close()


async def platform_key(settings: Settings) -> str:
    alchemy = alchemy_config(settings)
    try:
        async with alchemy.get_session() as session:
            _, secret = await ApiKeyService(session).create(
                "bench", ["entitlements:read"], publication_id=None, created_by_id=None
            )
            await session.commit()
            return secret
    finally:
        await alchemy.get_engine().dispose()


def measure(url: str, key: str, sample: list[uuid.UUID], seconds: int = 10) -> dict[str, float]:
    rng = random.Random(7)
    lines = ["local bodies = {}"]
    for n in range(2000):
        body = json.dumps({"reader_id": str(rng.choice(sample)), "keys": ["member", "pub:p3"]})
        lines.append(f"bodies[{n + 1}] = [==[{body}]==]")
    lines += [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f'wrk.headers["Authorization"] = "Bearer {key}"',
        "local i = 0",
        "request = function() i = i % #bodies + 1; return wrk.format(nil, nil, nil, bodies[i]) end",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines))
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", script.name, f"{url}/api/access/check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(out)

    def ms(label: str) -> float:
        value = out.split(f" {label}")[1].split()[0]
        return (
            float(value[:-2])
            if value.endswith("ms")
            else float(value[:-2]) / 1000
            if value.endswith("us")
            else float(value[:-1]) * 1000
        )

    return {"p50": ms("50%"), "p99": ms("99%"), "rps": float(out.split("Requests/sec:")[1].split()[0])}


def serve_membership(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERSHIP_")} | {
        "MEMBERSHIP_DATABASE_URL": settings.resolved_database_url,
        "MEMBERSHIP_DATA_DIR": str(settings.data_dir),
        "MEMBERSHIP_PORT": str(port),
        "MEMBERSHIP_LOG_LEVEL": "WARNING",
        "MEMBERSHIP_STRIPE_WORKERS": "0",
    }
    server = subprocess.Popen([str(Path(sys.executable).parent / "membership"), "run"], env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("membership did not start")
        time.sleep(0.2)


def main() -> None:
    configure_logging("WARNING", "console")
    name = f"tollgate_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                database_url=dsn.replace("postgresql://", "postgresql+asyncpg://"), data_dir=Path(tmp)
            )
            migrate.upgrade(settings)
            key = asyncio.run(platform_key(settings))
            sample: list[uuid.UUID] = []
            loaded = 0
            for readers, grants in SIZES:
                started = time.monotonic()
                asyncio.run(load(dsn, loaded, readers, sample))
                loaded = readers
                print(
                    f"loaded {readers:,} readers and {grants:,} grants in {time.monotonic() - started:.0f}s"
                )
                port = free_port()
                server = serve_membership(settings, port)
                try:
                    measure(f"http://127.0.0.1:{port}", key, sample, seconds=3)  # warm-up
                    result = measure(f"http://127.0.0.1:{port}", key, sample)
                finally:
                    server.terminate()
                    server.wait(timeout=20)
                results.append((readers, grants, result))
                print(readers, result)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    small, big = results[0][2], results[-1][2]
    ratio = big["p50"] / small["p50"]
    body = (
        "Access check (`python -m bench.access_check`: `POST /api/access/check` under wrk, 8 connections, "
        "one uvicorn worker, PostgreSQL 15, random readers from the whole set):\n\n"
        "| readers | grants | p50 | p99 | requests/s |\n|---|---|---|---|---|\n"
        + "\n".join(
            f"| {r:,} | {g:,} | {m['p50']:.2f} ms | {m['p99']:.2f} ms | {m['rps']:,.0f} |"
            for r, g, m in results
        )
        + f"\n\np50 at a million readers is {ratio:.2f}x the p50 at ten thousand (target: within 1.5x)."
    )
    print(body)
    write_section("access-check", body)


if __name__ == "__main__":
    main()
