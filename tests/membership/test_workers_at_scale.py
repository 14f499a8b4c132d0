"""Many workers share the Stripe inbox and the webhook outbox; killing some loses nothing and does
nothing twice. PostgreSQL (the multi-process deployment; SQLite is skipped, with the reason).

Three real `membership stripe worker` processes (the CLI entry point, short leases by their
MEMBERSHIP_* settings) and a membership replica with its own in-process workers work off one
database: an inbox of 135 signed Stripe events that the sandbox really sent for 30 readers'
subscriptions (held until Stripe's last word, then flushed shuffled), and an outbox of some 270
messages to a receiver of its own process (tests/membership/webhook_tally.py). A worker is
SIGKILLed while it handles events, later another while it sends messages, each replaced; their
leases lapse and the others finish their work.

Then: every event is processed, its effects applied once (one subscription row per reader, one
grant row per source and key, entitlement version 1 with one feed entry, one of each
announcement); every message is delivered, its signature verified with the `standardwebhooks`
library; and a `webhook-id` arrives twice only where a killed worker sent it before it died, or
after an attempt logged as failed (at least once): never twice from live workers. The tables do
not keep the claimer, so the receiver names the sender: the process owning the TCP connection
(Linux /proc).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from membership.app import create_app
from membership.grants.models import EntitlementChange, Grant
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.stripe_events.models import EventStatus, StripeEvent
from membership.subscriptions.models import Subscription
from membership.webhooks.events import EventType
from membership.webhooks.models import MessageState, WebhookAttempt, WebhookMessage
from membership.webhooks.services import Outbox, WebhookService
from membership.webhooks.worker import BATCH as WEBHOOK_BATCH
from tests.conftest import empty_tables, make_settings
from tests.membership.conftest import LINK, Stack
from tests.servers import serve, serve_billing

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="tells senders apart by /proc")

BIN = Path(sys.executable).parent
READERS = 30  # each: a checkout (three events), cancel at the period's end (one more)
CANCELLING = 15  # of them still cancelling at the end; the others resumed (one more event)
EXTRA_MESSAGES = 150  # written straight into the outbox beside what the events announce
INBOX_BATCH = 20  # Inbox.claim_due's default limit
POLL = 0.1
# Leases lapse in seconds; a send's timeout stays well inside its lease, as it must.
FAST = {
    "stripe_lease_seconds": 6.0,
    "webhook_poll_seconds": POLL,
    "webhook_lease_seconds": 6.0,
    "webhook_timeout_seconds": 4.0,
    "webhook_retry_seconds": (0.3, 0.3, 0.3, 0.3),
}


# The receiver: a process of its own that notes each delivery and which process sent it ----------


@dataclass
class Deliveries:
    """What tests/membership/webhook_tally.py wrote: each delivery and its sender's pid."""

    out: Path
    secret: str = ""

    def read(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        lines = self.out.read_text().split("\n")[:-1]  # the last may be half written
        return [json.loads(line) for line in lines]

    def ids(self) -> set[str]:
        return {d["headers"]["webhook-id"] for d in self.read()}

    def verified(self) -> tuple[list[tuple[str, int | None]], list[str], list[int | None]]:
        """(webhook-id, sending pid) of each whole delivery whose signature verifies; the others'
        reasons; the senders of deliveries cut short (the sender died before its body was out).

        Each is verified as of its arrival (the 5-minute tolerance counts from there): a slow run
        reads the first deliveries more than five minutes after they came."""
        good, refused, cut = [], [], []
        for delivery in self.read():
            if delivery["cut"]:
                cut.append(delivery["pid"])
                continue
            arrived = datetime.fromtimestamp(delivery["received"], tz=UTC)
            try:
                with time_machine.travel(arrived, tick=False):
                    Webhook(self.secret).verify(base64.b64decode(delivery["body"]), delivery["headers"])
            except WebhookVerificationError as exc:
                refused.append(f"{delivery['headers'].get('webhook-id')}: {exc}")
            else:
                good.append((delivery["headers"]["webhook-id"], delivery["pid"]))
        return good, refused, cut


@contextmanager
def tally(out: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("webhook_tally.py")), str(out)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


# The workers: real processes of the CLI -----------------------------------------------------------


def worker_env(settings: Any) -> dict[str, str]:
    """The CLI's settings, from a fresh environment: the same database, data folder (the key that
    seals endpoint secrets) and sandbox as membership, and the short intervals."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERSHIP_", "GATEWAY_", "STRIPE_"))}
    fast = {f"MEMBERSHIP_{name.upper()}": str(value) for name, value in FAST.items()}
    fast["MEMBERSHIP_WEBHOOK_RETRY_SECONDS"] = json.dumps(FAST["webhook_retry_seconds"])
    return (
        env
        | fast
        | {
            "MEMBERSHIP_ENVIRONMENT": "test",
            "MEMBERSHIP_DATABASE_URL": settings.database_url,
            "MEMBERSHIP_DATA_DIR": str(settings.data_dir),
            "MEMBERSHIP_PUBLIC_URL": settings.public_url,
            "MEMBERSHIP_STRIPE_SANDBOX_URL": settings.stripe_sandbox_url,
            "MEMBERSHIP_STRIPE_POLL_SECONDS": str(POLL),
            "MEMBERSHIP_STRIPE_RETRY_BASE_SECONDS": "0.2",
            "MEMBERSHIP_LOG_LEVEL": "INFO",
            "MEMBERSHIP_LOG_FORMAT": "console",
        }
    )


@dataclass
class Workers:
    """`membership stripe worker` processes, each logging (at INFO) to a file of its own."""

    env: dict[str, str]
    cwd: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    def start(self) -> subprocess.Popen[bytes]:
        log = self.cwd / f"worker-{len(self.logs)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(BIN / "membership"), "stripe", "worker"],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.running.append(proc)
        self.logs[proc.pid] = log
        return proc

    def busy(self, doing: str) -> subprocess.Popen[bytes] | None:
        """A running worker whose log shows it at work (`doing`: a phrase it logs)."""
        return next((p for p in self.running if doing in self.logs[p.pid].read_text()), None)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.running.remove(proc)
        self.killed.append(proc.pid)

    def stop_all(self) -> None:
        for proc in self.running:
            proc.send_signal(signal.SIGKILL)
        for proc in self.running:
            proc.wait(timeout=10)
        self.running.clear()


# Filling the inbox and the outbox -----------------------------------------------------------------


async def subscribe(stack: Stack, price_id: str) -> str:
    """A new reader signs in and pays at the sandbox; the sandbox's events land in the inbox (no
    worker takes them yet). Answers the Stripe subscription's id."""
    email = f"reader-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=stack.membership, timeout=30) as client:
        assert (await client.post("/api/auth/sign-in", json={"email": email})).status_code == 202
        mail = (await client.get("/dev/outbox/messages", params={"to": email, "limit": 1})).json()
        token = LINK.search(mail[0]["body"])
        assert token
        done = await client.post("/api/auth/sign-in/complete", json={"token": token.group(1)})
        assert done.status_code == 200, done.text
        started = await client.post(
            "/api/billing/checkout", json={"price_id": price_id, "return_to": "/stories/s"}
        )
        assert started.status_code == 200, started.text
        paid = await stack.control(
            "post",
            f"/_sandbox/checkout/{started.json()['session_id']}/pay",
            json={"card": "4242424242424242"},
        )
    subscription: str = paid["session"]["subscription"]
    return subscription


class Db:
    """One engine for the test's own looks at the database."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_async_engine(database_url, poolclass=NullPool)

    async def scalars(self, query: Any) -> list[Any]:
        async with async_sessionmaker(self.engine, class_=AsyncSession)() as session:
            return list((await session.execute(query)).scalars())

    async def count(self, query: Any) -> int:
        [found] = await self.scalars(query)
        return int(found)


async def wait_for(what: str, within: float, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.2)


def counting(status: str) -> Any:
    return select(func.count()).select_from(StripeEvent).where(StripeEvent.status == status)


# The test -----------------------------------------------------------------------------------------


async def test_three_cli_workers_and_a_replica_share_the_inbox_and_outbox_through_kills(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip(
            "several worker processes are a PostgreSQL deployment: SQLite, the one-machine "
            "development database (make run: one membership with its in-process workers), takes "
            "every transaction of every process in turn under its one write lock (BEGIN IMMEDIATE)"
        )
    await empty_tables(database_url)
    db = Db(database_url)
    deliveries = Deliveries(tmp_path / "deliveries.jsonl")
    group = Workers({}, tmp_path)
    try:
        with (
            tally(deliveries.out) as receiver,
            serve_billing(database_url, tmp_path, workers=0, webhook_workers=0, **FAST) as served,
        ):
            stack = Stack(served.membership, served.sandbox, served.secret, database_url, served.settings)
            # The sandbox holds its events until every change below is made: Stripe has said its
            # last word before any worker sees an event.
            await stack.control("post", "/_sandbox/delivery", json={"mode": "hold"})
            # Three CLI workers (they take seconds to start, so they start first) and a replica
            # with its own workers, sharing the database.
            group.env = worker_env(served.settings)
            for _ in range(3):
                group.start()
            replica = make_settings(
                database_url,
                tmp_path,
                stripe_sandbox_url=served.sandbox,
                stripe_workers=1,
                stripe_poll_seconds=POLL,
                stripe_retry_base_seconds=0.2,
                webhook_workers=1,
                **FAST,
            )
            with serve(create_app(replica)):
                owner = await stack.reader()
                slug = await stack.publication(owner)
                tier = await stack.tier(owner, slug)
                price = tier["prices"][0]["id"]
                sessions = async_sessionmaker(db.engine, class_=AsyncSession, expire_on_commit=False)
                async with sessions() as session:
                    publication = await session.scalar(select(Publication).where(Publication.slug == slug))
                    assert publication is not None
                    _, deliveries.secret = await WebhookService(session, served.settings).add(
                        publication.id, f"{receiver}/hook", []
                    )
                    await session.commit()

                # The inbox: every reader's checkout; each then cancels at the period's end, and
                # half of them change their minds again.
                gate = asyncio.Semaphore(6)

                async def one() -> str:
                    async with gate:
                        return await subscribe(stack, price)

                subs = await asyncio.gather(*(one() for _ in range(READERS)))
                sdk = stack.sdk()
                for sub_id in subs:
                    await sdk.v1.subscriptions.update_async(sub_id, {"cancel_at_period_end": True})
                for sub_id in subs[CANCELLING:]:
                    await sdk.v1.subscriptions.update_async(sub_id, {"cancel_at_period_end": False})
                assert not await db.count(select(func.count()).select_from(StripeEvent))

                # The outbox: a pile of messages at once, beside the ones the events will announce.
                async with sessions() as session:
                    outbox = Outbox(session)
                    for n in range(EXTRA_MESSAGES):
                        data = {"reader_id": str(uuid.uuid4()), "key": f"pub:{slug}", "version": n}
                        emitted = await outbox.emit(
                            EventType.ENTITLEMENT_GRANTED, data, publication_ids=[publication.id]
                        )
                        assert emitted == 1
                    await session.commit()
                # The events, in no particular order, as fast as membership stores them.
                await stack.control("post", "/_sandbox/delivery/flush", json={"order": "shuffled", "seed": 7})

                # Midway a worker that is handling events dies, holding whatever it had claimed;
                # a new one starts.
                async def handling() -> bool:
                    return group.busy("stripe event processed") is not None

                await wait_for("a CLI worker handling events", 40, handling)
                victim = group.busy("stripe event processed")
                assert victim is not None
                group.kill(victim)
                group.start()

                # Later another, one that is sending messages.
                async def sending() -> bool:
                    return len(deliveries.ids()) >= EXTRA_MESSAGES // 3 and bool(
                        group.busy("webhook attempt")
                    )

                await wait_for("a CLI worker sending messages", 40, sending)
                victim = group.busy("webhook attempt")
                assert victim is not None
                group.kill(victim)
                group.start()

                await stack.control("post", "/_sandbox/delivery/wait")
                events = await db.count(select(func.count()).select_from(StripeEvent))
                assert events == READERS * 4 + (READERS - CANCELLING)

                async def processed() -> bool:
                    return await db.count(counting("processed")) == events

                await wait_for("every event processed", 60, processed)
                # Every message delivered, the debounced member.state_changed ones included.
                expected = EXTRA_MESSAGES + 4 * READERS
                undelivered = (
                    select(func.count())
                    .select_from(WebhookMessage)
                    .where(WebhookMessage.state != MessageState.DELIVERED)
                )

                async def all_delivered() -> bool:
                    total = await db.count(select(func.count()).select_from(WebhookMessage))
                    return total >= expected and not await db.count(undelivered)

                await wait_for("every message delivered", 60, all_delivered)
                group.stop_all()
        await check_inbox(db, events, kills=len(group.killed))
        await check_outbox(db, deliveries, group.killed)
    finally:
        group.stop_all()
        await db.engine.dispose()
        await empty_tables(database_url)


async def check_inbox(db: Db, events: int, kills: int) -> None:
    rows = await db.scalars(select(StripeEvent))
    assert len(rows) == events
    assert {row.status for row in rows} == {EventStatus.PROCESSED}
    assert all(row.last_error is None for row in rows), [row.last_error for row in rows if row.last_error]
    attempts = Counter(row.attempts for row in rows)
    # Taken once, or again after a killed worker's lease lapsed (it held at most a batch each).
    assert set(attempts) <= set(range(1, kills + 2)), attempts
    assert sum(n for a, n in attempts.items() if a > 1) <= kills * INBOX_BATCH, attempts

    subs = await db.scalars(select(Subscription))
    assert len(subs) == READERS and len({s.stripe_subscription_id for s in subs}) == READERS
    assert len({s.reader_id for s in subs}) == READERS
    assert {s.status for s in subs} == {"active"}
    assert sum(s.cancel_at_period_end for s in subs) == CANCELLING
    grants = await db.scalars(select(Grant))
    per_source = Counter((g.reader_id, g.source, g.source_id, g.key) for g in grants)
    assert set(per_source.values()) == {1}, "a grant row was written twice"
    assert {r for r, *_ in per_source} == {s.reader_id for s in subs}
    # Stripe said its last word before any worker started, so each reader changed once: version 1,
    # one entry on the revocation feed, however many events and workers touched the subscription.
    versions = await db.scalars(
        select(Reader.entitlement_version).where(Reader.id.in_([s.reader_id for s in subs]))
    )
    assert versions == [1] * READERS
    changes = await db.scalars(select(EntitlementChange.reader_id))
    assert Counter(changes) == dict.fromkeys([s.reader_id for s in subs], 1)


async def check_outbox(db: Db, deliveries: Deliveries, killed: list[int]) -> None:
    messages = await db.scalars(select(WebhookMessage))
    assert {m.state for m in messages} == {MessageState.DELIVERED}
    # What the events announced, once each per reader: no event's effects were applied twice.
    announced = Counter((m.event_type, m.reader_id) for m in messages if m.reader_id is not None)
    per_type = defaultdict(list)
    for (event_type, _), n in announced.items():
        per_type[event_type].append(n)
    for event_type in (
        "member.created",
        "entitlement.granted",
        "subscription.updated",
        "member.state_changed",
    ):
        assert per_type[event_type] == [1] * READERS, (event_type, Counter(per_type[event_type]))

    got, refused, cut = deliveries.verified()
    assert refused == []  # every whole delivery's signature verified, fresh when it arrived
    assert all(pid is None or pid in killed for pid in cut), (cut, killed)  # only the killed died mid-send
    assert {message_id for message_id, _ in got} == {m.message_id for m in messages}  # all arrived
    by_id: dict[str, list[int | None]] = defaultdict(list)
    for message_id, pid in got:
        by_id[message_id].append(pid)
    unknown = sum(pid is None for _, pid in got)
    assert unknown <= len(killed) * WEBHOOK_BATCH, f"{unknown} deliveries from no process found"
    # A live worker sends a message again only after an attempt it logged as failed (a timeout
    # when the machine is busy): the same `webhook-id`, as Standard Webhooks asks.
    failures = Counter(
        await db.scalars(
            select(WebhookAttempt.message_id).where(
                or_(WebhookAttempt.status.is_(None), ~WebhookAttempt.status.between(200, 299))
            )
        )
    )
    row_of = {m.message_id: m.id for m in messages}
    twice = {}
    for message_id, pids in by_id.items():
        from_live = [p for p in pids if p is not None and p not in killed]
        # At least once: a second copy after a killed worker sent it and died before recording;
        # otherwise never from live workers (no two hold one lease, none sends on a lapsed one).
        assert len(from_live) <= 1 + failures[row_of[message_id]], (message_id, pids)
        if len(pids) > 1 + failures[row_of[message_id]]:
            twice[message_id] = pids
    assert len(twice) <= len(killed) * WEBHOOK_BATCH, twice
