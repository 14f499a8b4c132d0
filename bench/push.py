"""Pushed revocations (issue 16): how soon two gateways' revocation feeds apply an entitlement
change, by the push and, with the push channel down, by the fallback poll; and that none is lost.

Every part is a process of its own on loopback: membership (`membership run`, one uvicorn worker)
on a PostgreSQL database the bench creates and drops, publishing on a `redis-server` of the bench's
own; two feed processes (`python -m bench.push feed`), each a `tollgate_client.RevocationFeed` as a
gateway configures it (push on, the safety poll every `PUSHED_POLL` seconds, every `POLL` seconds
while the push channel is down, resubscribing every `PUSH_RETRY`), with no event loop shared with
membership or with each other; and this process, which makes the changes through membership's API
(a staff member gives a reader a comp, and later ends it: `POST .../comps`, `POST .../comps/{id}/end`),
one request and one commit each, at random intervals.

For every change the latency is the time from the moment its answer arrived here (membership
commits before it answers) to the moment each feed applied the reader's new version; counted from
the request being sent as well, so the commit itself lies between the two figures. The feed
processes time that themselves: a subclass whose `apply_pushed` and `poll_once` (the public
methods through which every version arrives) look, right after the library's own code, at
`min_version` (the public observable a `TokenVerifier` uses) of the bench's readers, and write
`time.monotonic()` (one clock for every process on the machine) and which path applied it.

Three phases: (1) Redis up; (2) the redis-server is killed (SIGKILL) and changes go on committing
(membership logs that its publish failed), so the feeds fall back to polling; (3) it is started
again on the same port and changes go on right away, through the moment the feeds resubscribe.
Then each feed's version for every reader is compared with the database's, and its position with
the feed's newest sequence number: a change missed by both the push and the poll would show there.

`TOLLGATE_BENCH_PUSH=200:100:20` (changes in each phase; a run with other numbers prints its
figures but leaves the README alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from bench.gateway import BIN, REPO, clean_env, cpu_seconds, machine_busy, revision
from bench.ports import free_port
from bench.postgres import POSTGRES, admin
from bench.readme import write_section
from membership.apikeys.services import ApiKeyService
from membership.db import alchemy_config, migrate
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from membership.sessions.services import SessionService
from membership.settings import Settings
from tollgate_client import RevocationFeed
from tollgate_common.logging import configure_logging

Process = asyncio.subprocess.Process
DEFAULT_COUNTS = "200:100:20"
POLL = 1.0  # the fallback poll while the push channel is down (GATEWAY_REVOCATION_POLL_SECONDS)
PUSHED_POLL = 30.0  # the safety poll while subscribed (the gateway's default)
PUSH_RETRY = 1.0  # how soon a feed tries to subscribe again (the library's default)
SPACING = {"up": (0.05, 0.15), "down": (0.2, 0.6), "back": (0.05, 0.15)}  # seconds between changes
SLUG = "push-bench"
OWNER = "owner@push.bench.example"
FEEDS = ("gateway 1", "gateway 2")
SETTLE = 30.0  # how long a phase waits, after its last change, for the feeds to apply everything


def counts() -> dict[str, int]:
    spec = os.environ.get("TOLLGATE_BENCH_PUSH", DEFAULT_COUNTS)
    up, down, back = (int(n) for n in spec.split(":"))
    for n in (up, down, back):
        if n <= 0 or n % 2:
            raise SystemExit("TOLLGATE_BENCH_PUSH: every phase's count must be even (a give, then an end)")
    return {"up": up, "down": down, "back": back}


# ---- a feed process: one gateway's RevocationFeed ---------------------------------------------


class TimedFeed(RevocationFeed):
    """A RevocationFeed that writes, as JSON lines on stdout, when each watched reader's version
    rose and by which path (`push` or `poll`); the library's code runs unchanged underneath."""

    def __init__(self, *args: Any, watched: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watched = watched
        self.seen: dict[str, int] = {}

    async def apply_pushed(self, changes: list[tuple[int, str, int]]) -> None:
        await super().apply_pushed(changes)
        self.note([reader for _, reader, _ in changes], "push")

    async def poll_once(self) -> int:
        applied = await super().poll_once()
        self.note(self.watched, "poll")
        return applied

    def note(self, readers: list[str], by: str) -> None:
        now = time.monotonic()
        for reader in readers:
            version = self.min_version(reader)
            for v in range(self.seen.get(reader, 0) + 1, version + 1):
                emit({"reader": reader, "version": v, "t": now, "by": by})
            self.seen[reader] = max(version, self.seen.get(reader, 0))


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def run_feed(config: dict[str, Any]) -> None:
    """Follows the feed until stdin closes; on `dump`, writes every watched reader's version."""
    feed = TimedFeed(
        config["membership"],
        config["key"],
        poll_interval=POLL,
        pushed_poll_interval=PUSHED_POLL,
        push_retry=PUSH_RETRY,
        push_url=config["redis"],
        push_channel=config["channel"],
        watched=config["readers"],
    )
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    async def watch_subscription() -> None:
        subscribed = False
        while True:
            if feed.subscribed != subscribed:
                subscribed = feed.subscribed
                emit({"subscribed": subscribed, "t": time.monotonic()})
            await asyncio.sleep(0.01)

    async with feed:
        watcher = asyncio.create_task(watch_subscription())
        while line := (await stdin.readline()).strip():
            if line == b"dump":
                versions = {r: feed.min_version(r) for r in config["readers"]}
                emit({"dump": versions, "position": feed.position, "pushes": feed.pushes_applied})
        watcher.cancel()


# ---- the bench's own redis-server, membership, and the feed processes --------------------------


async def spawn(
    argv: list[str], log: Path, *, env: dict[str, str] | None = None, pipes: bool = False
) -> Process:
    """A process of the bench's, its output to `log` (or, with `pipes`, talking on stdin and stdout)."""
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if pipes else out,
            stderr=out,
        )


async def ready(process: Process, probe: Callable[[], Awaitable[bool]], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not await probe():
        if process.returncode is not None or time.monotonic() > deadline:
            output = await asyncio.to_thread(log.read_text, errors="replace")
            raise RuntimeError(f"{what} did not start:\n{output[-3000:]}")
        await asyncio.sleep(0.02)


async def stop(process: Process, *, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL), then SIGKILL if it is still there 20 seconds later."""
    if process.returncode is not None:
        return
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        await process.wait()


class Redis:
    """A redis-server of the bench's own, on one port for its whole life, killed and started again."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("bench.push needs redis-server (Debian's redis-server package)")
        self.argv = [binary, "--port", str(port := free_port()), "--bind", "127.0.0.1", "--save", ""]
        self.argv += ["--appendonly", "no", "--dir", str(workdir)]
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log = workdir / "redis.log"
        self.process: Process | None = None

    async def answers(self) -> bool:
        client = AsyncRedis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            return bool(await client.ping())
        except RedisError:
            return False
        finally:
            await client.aclose()

    async def start(self) -> None:
        self.process = await spawn(self.argv, self.log)
        await ready(self.process, self.answers, "redis-server", self.log)

    async def kill(self) -> None:
        if self.process is not None:
            await stop(self.process, kill=True)
            self.process = None


async def start_membership(settings: Settings, port: int, redis_url: str, prefix: str, log: Path) -> Process:
    env = clean_env("MEMBERSHIP_", "LITESTAR_") | {
        "MEMBERSHIP_DATABASE_URL": settings.resolved_database_url,
        "MEMBERSHIP_DATA_DIR": str(settings.data_dir),
        "MEMBERSHIP_PORT": str(port),
        "MEMBERSHIP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MEMBERSHIP_REDIS_URL": redis_url,
        "MEMBERSHIP_REDIS_PREFIX": prefix,
        "MEMBERSHIP_LOG_LEVEL": "WARNING",
        "MEMBERSHIP_STRIPE_WORKERS": "0",
        "MEMBERSHIP_WEBHOOK_WORKERS": "0",
    }
    server = await spawn([str(BIN / "membership"), "run"], log, env=env)

    async def healthy() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            try:
                return (await http.get(f"http://127.0.0.1:{port}/health/ready")).status_code == 200
            except httpx.HTTPError:
                return False

    try:
        await ready(server, healthy, "membership", log)
    except BaseException:
        await stop(server, kill=True)
        raise
    return server


@dataclass
class Feed:
    """What the bench hears from one feed process."""

    name: str
    process: Process
    applied: dict[tuple[str, int], tuple[float, str]] = field(default_factory=dict)
    subscriptions: list[tuple[float, bool]] = field(default_factory=list)
    dumps: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    async def listen(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "reader" in message:
                self.applied.setdefault(
                    (message["reader"], message["version"]), (message["t"], message["by"])
                )
            elif "subscribed" in message:
                self.subscriptions.append((message["t"], message["subscribed"]))
            elif "dump" in message:
                await self.dumps.put(message)

    @property
    def subscribed(self) -> bool:
        return bool(self.subscriptions) and self.subscriptions[-1][1]

    def changed_since(self, t: float, to: bool) -> float | None:
        """When the subscription last became `to`, if after `t`."""
        for when, state in self.subscriptions:
            if when >= t and state == to:
                return when
        return None

    async def dump(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(b"dump\n")
        await self.process.stdin.drain()
        return await asyncio.wait_for(self.dumps.get(), 10)

    async def stop(self) -> None:
        """Closes its stdin (the feed then closes and exits), SIGTERM if it lingers."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 10)
        await stop(self.process)


async def start_feed(name: str, config: Path, log: Path) -> Feed:
    argv = [sys.executable, "-m", "bench.push", "feed", str(config)]
    return Feed(name, await spawn(argv, log, pipes=True))


async def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# ---- the changes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    phase: str
    reader: str
    version: int
    sent: float  # time.monotonic() before the request
    answered: float  # ... and when its answer (after membership's commit) was read


async def prepare(settings: Settings, readers: int) -> tuple[str, str, dict[str, str]]:
    """The publication and its owner's session (a cookie), the gateways' key, the readers to comp."""
    alchemy = alchemy_config(settings)
    try:
        async with alchemy.get_session() as session:
            people = ReaderService(session=session)
            owner, _ = await people.get_or_create(OWNER)
            await PublicationService(session).create(SLUG, "Push Bench", owner)
            issued = await SessionService(session, settings).start(
                owner, user_agent="bench.push", client_address="127.0.0.1"
            )
            _, key = await ApiKeyService(session).create(
                "gateway", ["entitlements:read"], publication_id=None, created_by_id=None
            )
            emails = [f"r{n}@push.bench.example" for n in range(readers)]
            ids = {str((await people.get_or_create(email))[0].id): email for email in emails}
            await session.commit()
            return issued.refresh_token, key, ids
    finally:
        await alchemy.get_engine().dispose()


async def make_changes(
    api: httpx.AsyncClient, phase: str, readers: dict[str, str], comps: dict[str, str], rng: random.Random
) -> list[Change]:
    """Gives each reader a comp (version 1), then ends each one (version 2), one request at a time."""
    made = []
    plan = [(r, 1) for r in readers] + [(r, 2) for r in readers]
    low, high = SPACING[phase]
    for reader, version in plan:
        sent = time.monotonic()
        if version == 1:
            answer = await api.post(f"/api/publications/{SLUG}/comps", json={"email": readers[reader]})
        else:
            answer = await api.post(f"/api/publications/{SLUG}/comps/{comps[reader]}/end")
        answered = time.monotonic()
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{answer.status_code} {answer.text[:500]}")
        body = answer.json()
        if body["reader_id"] != reader:
            raise RuntimeError(f"the comp went to {body['reader_id']}, not {reader}")
        comps[reader] = body["id"]
        made.append(Change(phase, reader, version, sent, answered))
        await asyncio.sleep(rng.uniform(low, high))
    return made


async def settle(feeds: list[Feed], changes: list[Change]) -> None:
    """Waits until every feed applied every change, or `SETTLE` seconds (a loss is reported later)."""
    wanted = [(c.reader, c.version) for c in changes]
    with contextlib.suppress(RuntimeError):
        await until(lambda: all(w in f.applied for f in feeds for w in wanted), SETTLE, "")


def all_subscribed(feeds: list[Feed], since: float, subscribed: bool) -> Callable[[], bool]:
    """Whether every feed's subscription has become `subscribed` since then."""
    return lambda: all(f.changed_since(since, subscribed) for f in feeds)


async def database_state(dsn: str, readers: list[str]) -> tuple[dict[str, int], int]:
    """The readers' versions, and the feed's newest sequence number, as the database has them."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text AS id, entitlement_version FROM reader WHERE id = ANY($1::uuid[])", readers
        )
        newest = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM entitlement_change")
        return {r["id"]: r["entitlement_version"] for r in rows}, int(newest)
    finally:
        await conn.close()


@dataclass
class Phase:
    name: str
    changes: list[Change]
    load: float  # the 1-minute load average when the phase ended
    busy: float  # the whole machine's busy cores during the phase
    ours: float  # ... of which this bench's processes (membership, the feeds, this one)


@dataclass
class Run:
    phases: list[Phase]
    feeds: list[Feed]
    killed: float
    restarted: float
    lost: dict[str, int]  # per feed: readers whose version differs from the database's
    behind: dict[str, int]  # per feed: how far its position is from the feed's newest entry
    pushes: dict[str, int]
    load_before: float


async def run(tmp: Path) -> Run:
    n = counts()
    total = sum(n.values()) // 2
    load_before = os.getloadavg()[0]
    name = f"tollgate_bench_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    dsn = f"{POSTGRES.rsplit('/', 1)[0]}/{name}"
    server: Process | None = None
    store = Redis(tmp)
    feeds: list[Feed] = []
    try:
        settings = Settings(
            database_url=dsn.replace("postgresql://", "postgresql+asyncpg://"), data_dir=tmp / "data"
        )
        await asyncio.to_thread(migrate.upgrade, settings)
        cookie, key, readers = await prepare(settings, total)
        await store.start()
        prefix = f"tollgate-bench-{uuid.uuid4().hex[:8]}"
        port = free_port()
        server = await start_membership(settings, port, store.url, prefix, tmp / "membership.log")
        base = f"http://127.0.0.1:{port}"
        config = tmp / "feed.json"
        config.write_text(
            json.dumps(
                {
                    "membership": base,
                    "key": key,
                    "redis": store.url,
                    "channel": f"{prefix}:entitlements",
                    "readers": list(readers),
                }
            )
        )
        for i, feed_name in enumerate(FEEDS, start=1):
            feeds.append(await start_feed(feed_name, config, tmp / f"feed-{i}.log"))
        listeners = [asyncio.create_task(f.listen()) for f in feeds]
        await until(lambda: all(f.subscribed for f in feeds), 30, "the feeds to subscribe")

        rng = random.Random(16)
        comps: dict[str, str] = {}
        ids = list(readers)
        cuts = [0, n["up"] // 2, (n["up"] + n["down"]) // 2, total]
        groups = {label: {r: readers[r] for r in ids[cuts[i] : cuts[i + 1]]} for i, label in enumerate(n)}
        killed = restarted = 0.0
        phases = []
        async with httpx.AsyncClient(
            base_url=base, cookies={settings.session_cookie: cookie}, timeout=30
        ) as api:
            for label, group in groups.items():
                if label == "down":
                    killed = time.monotonic()
                    await store.kill()
                elif label == "back":
                    await until(
                        all_subscribed(feeds, killed, False),
                        30,
                        "the feeds to see Redis gone",
                    )
                    await store.start()
                    restarted = time.monotonic()
                pids = (server.pid, *(f.process.pid for f in feeds))
                busy, ours, started = machine_busy()[0], cpu_seconds(pids) + own_cpu(), time.monotonic()
                changes = await make_changes(api, label, group, comps, rng)
                await settle(feeds, changes)
                if label == "back":
                    await until(
                        all_subscribed(feeds, restarted, True),
                        30,
                        "the feeds to resubscribe",
                    )
                took = time.monotonic() - started
                busy = (machine_busy()[0] - busy) / took
                ours = (cpu_seconds(pids) + own_cpu() - ours) / took
                phases.append(Phase(label, changes, os.getloadavg()[0], busy, ours))
                print(f"phase {label}: {len(changes)} changes, load {phases[-1].load:.2f}", flush=True)

        versions, newest = await database_state(dsn, list(readers))
        lost, behind, pushes = {}, {}, {}
        for f in feeds:
            dump = await f.dump()
            lost[f.name] = sum(1 for r in readers if dump["dump"].get(r) != versions[r])
            behind[f.name] = newest - (dump["position"] or 0)
            pushes[f.name] = dump["pushes"]
        for f in feeds:
            await f.stop()
        for task in listeners:
            await task
        return Run(phases, feeds, killed, restarted, lost, behind, pushes, load_before)
    finally:
        for f in feeds:
            await stop(f.process, kill=True)
        if server is not None:
            await stop(server)
        await store.kill()
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- the report --------------------------------------------------------------------------------


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if abs(seconds) >= 0.1 else f"{seconds * 1000:.1f} ms"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


LABELS = {
    "up": f"(1) Redis up: by push (safety poll every {PUSHED_POLL:.0f} s)",
    "down": f"(2) redis-server killed: by the fallback poll (every {POLL:.0f} s)",
    "back": f"(3) redis-server back, changes from that moment (resubscribe tried every {PUSH_RETRY:.0f} s)",
}


def delays(feed: Feed, changes: list[Change]) -> tuple[list[float], list[float], int, int]:
    """From each change's answer, and from its request, to the feed applying it; how many came by
    push, how many never came."""
    after_answer, after_request, by_push, missing = [], [], 0, 0
    for c in changes:
        at = feed.applied.get((c.reader, c.version))
        if at is None:
            missing += 1
            continue
        after_answer.append(at[0] - c.answered)
        after_request.append(at[0] - c.sent)
        by_push += at[1] == "push"
    return after_answer, after_request, by_push, missing


def report(result: Run, code: str) -> str:
    rows, early, phases = [], [], []
    for p in result.phases:
        number = LABELS[p.name].split()[0]
        for f in result.feeds:
            answer, request, by_push, missing = delays(f, p.changes)
            cells = (
                f"{ms(statistics.median(answer))} | {ms(percentile(answer, 0.99))} | {ms(max(answer))} | "
                f"{ms(statistics.median(request))} / {ms(max(request))}"
                if answer
                else "- | - | - | -"
            )
            rows.append(
                f"| {LABELS[p.name]} | {f.name} | {len(p.changes)} | {cells} | "
                f"{by_push} / {len(answer) - by_push} | {missing} |"
            )
            if before := sum(1 for d in answer if d < 0):
                early.append(f"{f.name} {before} of {len(answer)} in {number}")
        requests = [c.answered - c.sent for c in p.changes]
        phases.append(
            f"{number} the requests took {ms(statistics.median(requests))} (p50), {ms(max(requests))} "
            f"(max), the load average was {p.load:.2f} at its end, the machine busy {p.busy:.2f} "
            f"cores of {os.cpu_count()} ({p.ours:.2f} of them this bench's processes, PostgreSQL and "
            "Redis not counted)"
        )
    pushed = [d for f in result.feeds for d in delays(f, result.phases[0].changes)[1]]
    met = len(pushed) == len(result.feeds) * len(result.phases[0].changes) and max(pushed) < 1.0
    polled = [d for f in result.feeds for d in delays(f, result.phases[1].changes)[0]]
    gone = ", ".join(
        ms(t - result.killed) if t else "never"
        for t in (f.changed_since(result.killed, False) for f in result.feeds)
    )
    again = ", ".join(
        ms(t - result.restarted) if t else "never"
        for t in (f.changed_since(result.restarted, True) for f in result.feeds)
    )
    readers = sum(len(p.changes) for p in result.phases) // 2
    lost = ", ".join(f"{name} {n}" for name, n in result.lost.items())
    behind = ", ".join(f"{name} {n}" for name, n in result.behind.items())
    pushes = ", ".join(f"{name} {n}" for name, n in result.pushes.items())
    lines = [
        f"Pushed revocations (`python -m bench.push`, code at {code}): membership (`membership run`, "
        "one uvicorn worker, PostgreSQL 15) publishing on a redis-server of the bench's own; two "
        "gateways' `RevocationFeed`s, each in a process of its own; changes made through the API one "
        "at a time at random intervals, each its own commit (a comp given to a reader, later ended). "
        "Latency: from the change's answer arriving (membership commits, then answers) to each feed "
        "having applied the reader's new version, timed in the feed's process on the machine's one "
        "monotonic clock; the commit lies between the request being sent (the column 'from request') "
        f"and the answer. Load average {result.load_before:.2f} before the run; "
        f"{os.cpu_count()} cores shared with other work (tests running meanwhile), so the figures "
        f"are noisy ('missed': not applied {SETTLE:.0f} s after the phase's last change):",
        "",
        "| phase | feed | changes | p50 | p99 | max | from request: p50 / max | by push / poll | missed |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Target (issue 16), every gateway applies a pushed change within one second: "
        f"{'met' if met else 'not met'}, the slowest of {len(pushed)}, even counted from its request, "
        f"{ms(max(pushed)) if pushed else '-'}. With the push channel down every change came by the "
        f"poll, within its interval and one round trip (the slowest {ms(max(polled)) if polled else '-'} "
        f"after its answer). The feeds knew Redis was gone in {gone} (the connection closed; "
        f"looked at every 10 ms) and "
        f"subscribed again {again} after it was started again on its port; what committed in between "
        f"came by the poll. After the run, each feed's version for each of the {readers} readers "
        f"against the database's, mismatches: {lost}; each feed's position behind the feed's newest "
        f"entry: {behind}; pushed changes applied: {pushes}.",
        "",
        "During " + "; during ".join(phases) + ".",
    ]
    if early:
        lines[-1] += (
            " The push often outran the HTTP answer (those latencies are negative and kept in the "
            f"figures): {'; '.join(early)}."
        )
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["feed"]:
        configure_logging("WARNING", "console")
        asyncio.run(run_feed(json.loads(Path(sys.argv[2]).read_text())))
        return
    configure_logging("WARNING", "console")
    code = revision()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(Path(tmp)))
    body = report(result, code)
    print(body)
    if os.environ.get("TOLLGATE_BENCH_PUSH") is None:  # only a full run writes the README
        write_section("push", body)


if __name__ == "__main__":
    main()
