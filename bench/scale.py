"""Reads at scale on PostgreSQL: the dashboard's numbers, the member list and an access check at
10,000 grants (2,000 readers) and at 1,000,000 grants (200,000 readers), side by side.

Each size gets a fresh database, migrated and filled by `membership seed scale`'s own code (a
realistic publication: paying, past-due, trialing, cancelled and refunded subscriptions, comps,
gifts); membership runs as its own server process and wrk measures over HTTP:

- the overview's numbers: `GET /api/publications/scale/stats` (12 months; what the overview page
  draws), one connection, so the latency is the request's own; once worked out, an answer is
  served for `MEMBERSHIP_STATS_CACHE_SECONDS` (a minute), so these are mostly kept answers;
- the same numbers worked out afresh (what the request after the answer's age lapses pays), in
  the process, one after another for as long as a measurement lasts (at least 10 times);
- the member list: its first page and a page 90% of the way through (`?cursor=`), 50 members each;
- an access check: `POST /api/access/check` for random seeded readers.

Sizes from the environment for a quick run: `TOLLGATE_BENCH_SCALE=2000:10000,20000:100000`
(readers:grants, comma-separated; default `2000:10000,200000:1000000`); `TOLLGATE_BENCH_SECONDS`
(default 10) per measurement.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import select

from bench.access_check import serve_membership
from bench.ports import free_port
from bench.postgres import POSTGRES, admin
from bench.readme import write_section
from membership.apikeys.services import ApiKeyService
from membership.db import alchemy_config, migrate
from membership.publications.models import Publication
from membership.seed import seed_scale
from membership.settings import Settings
from membership.stats.services import StatsService
from tollgate_common.logging import configure_logging

SLUG = "scale"
DEFAULT_SIZES = "2000:10000,200000:1000000"


def sizes() -> list[tuple[int, int]]:
    spec = os.environ.get("TOLLGATE_BENCH_SCALE", DEFAULT_SIZES)
    return [(int(r), int(g)) for r, g in (part.split(":") for part in spec.split(","))]


async def prepare(settings: Settings, readers: int, grants: int) -> tuple[str, str]:
    """Seed the publication; a key reading its members, and a platform key for access checks."""
    alchemy = alchemy_config(settings)
    try:
        async with alchemy.get_session() as session:
            await seed_scale(session, readers=readers, grants=grants, slug=SLUG)
            await session.commit()
        async with alchemy.get_session() as session:
            publication = (await session.scalars(select(Publication).where(Publication.slug == SLUG))).one()
            keys = ApiKeyService(session)
            _, members = await keys.create(
                "bench", ["members:read"], publication_id=publication.id, created_by_id=None
            )
            _, access = await keys.create(
                "bench", ["entitlements:read"], publication_id=None, created_by_id=None
            )
            await session.commit()
            return members, access
    finally:
        await alchemy.get_engine().dispose()


async def sample_readers(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id FROM reader WHERE email LIKE '%.seed.example' ORDER BY random() LIMIT 2000"
        )
        return [str(r["id"]) for r in rows]
    finally:
        await conn.close()


async def vacuum(dsn: str) -> None:
    """What autovacuum does soon after a bulk load; measuring before it would measure the load."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def fresh_stats(settings: Settings, seconds: int) -> dict[str, float]:
    """The overview's 12 months worked out afresh, as a request does when no kept answer is young enough."""
    alchemy = alchemy_config(settings)
    took: list[float] = []
    try:
        async with alchemy.get_session() as session:
            publication = (await session.scalars(select(Publication).where(Publication.slug == SLUG))).one()
            stats = StatsService(session)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline or len(took) < 10:
                started = time.monotonic()
                await stats.series(publication, interval="month", periods=12)
                took.append((time.monotonic() - started) * 1000)
    finally:
        await alchemy.get_engine().dispose()
    took.sort()
    return {"p50": statistics.median(took), "p99": took[int(0.99 * (len(took) - 1))], "requests": len(took)}


def wrk(url: str, lua: list[str], *, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua))
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(out)

    def ms(label: str) -> float:
        value = out.split(f" {label}")[1].split()[0]
        if value.endswith("us"):
            return float(value[:-2]) / 1000
        if value.endswith("ms"):
            return float(value[:-2])
        if value.endswith("m"):
            return float(value[:-1]) * 60_000
        return float(value[:-1]) * 1000

    requests = int(out.split(" requests in ")[0].split()[-1])
    return {"p50": ms("50%"), "p99": ms("99%"), "requests": requests}


def get(key: str) -> list[str]:
    return [f'wrk.headers["Authorization"] = "Bearer {key}"']


def access_checks(key: str, readers: list[str]) -> list[str]:
    rng = random.Random(7)
    lua = ["local bodies = {}"]
    for n in range(2000):
        body = json.dumps({"reader_id": rng.choice(readers), "keys": [f"pub:{SLUG}"]})
        lua.append(f"bodies[{n + 1}] = [==[{body}]==]")
    return [
        *lua,
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f'wrk.headers["Authorization"] = "Bearer {key}"',
        "local i = 0",
        "request = function() i = i % #bodies + 1; return wrk.format(nil, nil, nil, bodies[i]) end",
    ]


ROWS = [
    ("overview numbers (`GET .../stats`, 12 months; an answer kept a minute)", "stats", 1),
    ("member list, first page (50)", "members", 4),
    ("member list, a page 90% through", "deep", 4),
    ("access check (`POST /api/access/check`)", "access", 4),
]


def measure(
    base: str, members_key: str, access_key: str, readers: list[str], seconds: int
) -> dict[str, dict[str, float]]:
    pub = f"{base}/api/publications/{SLUG}"
    deep = uuid.UUID(int=int(0.9 * 2**128))  # reader ids are random: 90% of them sort before it
    targets = {
        "stats": (f"{pub}/stats", get(members_key)),
        "members": (f"{pub}/members?limit=50", get(members_key)),
        "deep": (f"{pub}/members?limit=50&cursor={deep}", get(members_key)),
        "access": (f"{base}/api/access/check", access_checks(access_key, readers)),
    }
    found = {}
    for _, name, connections in ROWS:
        url, lua = targets[name]
        wrk(url, lua, seconds=2, connections=connections)  # warm-up
        # One stats request at a time takes long at a million grants: twice the time, more samples.
        found[name] = wrk(url, lua, seconds=seconds * (2 if name == "stats" else 1), connections=connections)
        print(name, found[name], flush=True)
    return found


TABLE = [
    ROWS[0][0],
    "overview numbers worked out afresh (in the process, no kept answer)",
    *(r[0] for r in ROWS[1:]),
]
KEYS = [ROWS[0][1], "fresh", *(r[1] for r in ROWS[1:])]


def main() -> None:
    configure_logging("WARNING", "console")
    seconds = int(os.environ.get("TOLLGATE_BENCH_SECONDS", "10"))
    base = POSTGRES.rsplit("/", 1)[0]
    results: list[tuple[int, int, float, dict[str, dict[str, float]]]] = []
    loads: list[float] = []
    for readers, grants in sizes():
        name = f"tollgate_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        dsn = f"{base}/{name}"
        try:
            with tempfile.TemporaryDirectory() as tmp:
                settings = Settings(
                    database_url=dsn.replace("postgresql://", "postgresql+asyncpg://"), data_dir=Path(tmp)
                )
                migrate.upgrade(settings)
                started = time.monotonic()
                members_key, access_key = asyncio.run(prepare(settings, readers, grants))
                took = time.monotonic() - started
                print(f"seeded {readers:,} readers and {grants:,} grants in {took:.0f}s", flush=True)
                asyncio.run(vacuum(dsn))
                sample = asyncio.run(sample_readers(dsn))
                loads.append(os.getloadavg()[0])
                port = free_port()
                server = serve_membership(settings, port)
                try:
                    found = measure(f"http://127.0.0.1:{port}", members_key, access_key, sample, seconds)
                finally:
                    server.terminate()
                    server.wait(timeout=20)
                found["fresh"] = asyncio.run(fresh_stats(settings, seconds * 2))
                print("fresh", found["fresh"], flush=True)
                results.append((readers, grants, took, found))
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    head = " | ".join(f"{g:,} grants / {r:,} readers" for r, g, _, _ in results)
    lines = [
        "Reads at scale (`python -m bench.scale`: a publication seeded by `membership seed scale`, "
        "PostgreSQL 15, one uvicorn worker, wrk over HTTP; the stats on one connection, the rest on 4; "
        "the numbers worked out afresh timed in the process, one after another):",
        "",
        f"| p50 / p99 | {head} |",
        "|---|" + "---|" * len(results),
    ]
    for label, name in zip(TABLE, KEYS, strict=True):
        cells = " | ".join(f"{f[name]['p50']:.1f} ms / {f[name]['p99']:.1f} ms" for _, _, _, f in results)
        lines.append(f"| {label} | {cells} |")
    seeded = ", ".join(f"{g:,} grants in {t:.0f} s" for _, g, t, _ in results)
    load = ", ".join(f"{x:.1f}" for x in loads)
    lines += [
        "",
        f"Seeding (COPY, the same code as the command): {seeded}. Load average before each size's "
        f"measurements: {load} ({os.cpu_count()} cores; other work shares the machine).",
    ]
    body = "\n".join(lines)
    print(body)
    if os.environ.get("TOLLGATE_BENCH_SCALE") is None:  # only a full run writes the README
        write_section("scale", body)


if __name__ == "__main__":
    main()
