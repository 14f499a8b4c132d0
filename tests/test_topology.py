"""The compose topology on this machine, without Docker, while its processes are killed (issue 16).

What `docker compose up --scale gateway=2 --scale membership=2` runs, as real processes: two
`membership run` and two `gateway run` (each its Dockerfile's CMD, with the environment
docker-compose.yml gives it, moved to loopback ports: tests/topology.py), Debian's nginx with
both shipped templates (the front, and the internal server the gateways reach membership
through), the machine's PostgreSQL (a database of the test's own, migrated by the replicas as they
start) and Redis (a key prefix of its own), and the Stripe sandbox, which sends its webhooks to
the front door as Stripe would. The gateway's API key comes from `membership api-keys
ensure-gateway`, as compose's init service runs it.

Readers reach nginx only. A reader signs in, subscribes through the sandbox's checkout and reads
member-only stories; a signed-in reader without a subscription, anonymous readers and new readers
signing in read the same stories; the subscriber's token is renewed by the gateway and asked for
at the API now and then; more new readers subscribe all along. Meanwhile one gateway and one
membership replica are SIGKILLed together, left dead a while and started again on the same ports;
then the other two. Checked: no answer is a 5xx; every subscriber gets every story in full (a new
one from their return from checkout); nobody else ever sees a sentence only the full text holds;
each restarted process serves readers again (nginx's access log names it); no process logged an
error. A request in flight on a killed process is sent on by nginx (deploy/README.md says why
POSTs too); the access and error logs of nginx in the test's folder show which.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from membership.mail.models import OutboxMessage
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from stripe_sandbox.app import create_app as create_sandbox
from stripe_sandbox.settings import Settings as SandboxSettings
from tests.conftest import fresh_database
from tests.gateway.stack import LINK, SECRET, write_story
from tests.membership.stripe_events.signing import new_secret
from tests.nginx import FRONT, MEMBERSHIP, Configs, Nginx, free_port, servers, start_nginx
from tests.redis import machine_redis, unique_prefix
from tests.servers import bound_socket, serve
from tests.topology import BIN, ROOT, Replica, command, compose_env

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

PUBLICATION = "the-gazette"
OWNER = "owner@gazette.example.com"
STORIES = ("night-press", "late-edition", "early-edition")
# How long a killed pair stays dead while reading goes on, before it is started again.
DEAD_SECONDS = 3.0
# nginx leaves a failed process alone this long, then tries it again.
FAIL_TIMEOUT = "2s"


@dataclass
class Topology:
    front: str  # nginx's public server: the readers' only address
    sandbox: str
    nginx: Nginx
    gateways: list[Replica]
    memberships: list[Replica]
    engine: AsyncEngine
    price_id: str = ""

    async def mail_to(self, email: str) -> str:
        """The newest sign-in mail to this address, from membership's outbox table."""
        query = (
            select(OutboxMessage.body)
            .where(OutboxMessage.recipient == email)
            .order_by(OutboxMessage.created_at.desc())
            .limit(1)
        )
        for _ in range(100):
            async with async_sessionmaker(self.engine, class_=AsyncSession)() as session:
                body = await session.scalar(query)
            if body is not None:
                return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"no mail to {email}")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL database of this test's own, left unmigrated: the replicas migrate it."""
    yield from fresh_database("postgresql", tmp_path)


def compose_command(service: str, path: str) -> list[str]:
    """A one-shot service's command in docker-compose.yml, its --write path moved to `path`."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    argv = [str(a) for a in compose["services"][service]["command"]]
    argv[argv.index("--write") + 1] = path
    return [str(BIN / argv[0]), *argv[1:]]


@dataclass(frozen=True)
class Shared:
    """What compose gives every replica of a service alike, as it is here: addresses and secrets."""

    root: Path
    database: str
    redis: str = field(default_factory=machine_redis)
    prefix: str = field(default_factory=unique_prefix)
    front_port: int = field(default_factory=free_port)
    internal_port: int = field(default_factory=free_port)
    sandbox: socket.socket = field(default_factory=bound_socket)
    webhook_secret: str = field(default_factory=new_secret)
    key_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    cookie_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.front_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox.getsockname()[1]}"

    @property
    def key_file(self) -> Path:
        return self.root / "keys" / "gateway-api-key"


def membership_env(shared: Shared, port: int) -> dict[str, str]:
    replaced = {
        "MEMBERSHIP_HOST": "127.0.0.1",
        "MEMBERSHIP_PORT": str(port),
        "MEMBERSHIP_DATABASE_URL": shared.database,
        "MEMBERSHIP_REDIS_URL": shared.redis,
        "MEMBERSHIP_PUBLIC_URL": shared.front,
        "MEMBERSHIP_TRUSTED_PROXIES": "127.0.0.1/32",  # nginx and the gateways, here
        "MEMBERSHIP_STRIPE_WEBHOOK_SECRET": shared.webhook_secret,
        "MEMBERSHIP_KEY_ENCRYPTION_SECRET": shared.key_secret,
    }
    # No Stripe key: the sandbox, which compose does not run, so its address is the test's.
    added = {"MEMBERSHIP_REDIS_PREFIX": shared.prefix, "MEMBERSHIP_STRIPE_SANDBOX_URL": shared.sandbox_url}
    return compose_env("membership", replaced, added)


def gateway_env(shared: Shared, port: int) -> dict[str, str]:
    replaced = {
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_MEMBERSHIP_URL": f"http://127.0.0.1:{shared.internal_port}",
        "GATEWAY_REDIS_URL": shared.redis,
        "GATEWAY_PUBLIC_URL": shared.front,
        "GATEWAY_MEMBERSHIP_API_KEY_FILE": str(shared.key_file),
        "GATEWAY_STORY_ORIGIN": str(shared.root / "stories"),
        "GATEWAY_ANONYMOUS_COOKIE_SECRET": shared.cookie_secret,
    }
    return compose_env("gateway", replaced, {"GATEWAY_REDIS_PREFIX": shared.prefix})


def nginx_configs(shared: Shared, root: Path, gateways: list[Replica], memberships: list[Replica]) -> Configs:
    """Both shipped templates in one nginx, as on a host of one's own; one access log."""
    (root / "cache").mkdir(parents=True)
    log = str(root / "access.log")
    front = {
        "TOLLGATE_LISTEN": f"127.0.0.1:{shared.front_port}",
        "TOLLGATE_GATEWAYS": servers([g.address for g in gateways], FAIL_TIMEOUT),
        "TOLLGATE_RESOLVER": "#",
        "TOLLGATE_CACHE_PATH": str(root / "cache"),
        "TOLLGATE_ACCESS_LOG": log,
    }
    internal = {
        "TOLLGATE_MEMBERSHIP_LISTEN": f"127.0.0.1:{shared.internal_port}",
        "TOLLGATE_MEMBERSHIPS": servers([m.address for m in memberships], FAIL_TIMEOUT),
        "TOLLGATE_MEMBERSHIP_RESOLVER": "#",
        "TOLLGATE_ACCESS_LOG": log,
    }
    return {FRONT: front, MEMBERSHIP: internal}


async def gateway_key(shared: Shared, cwd: Path) -> None:
    """What compose's gateway-key service does once membership is up."""
    env = compose_env(
        "gateway-key",
        {"MEMBERSHIP_DATABASE_URL": shared.database, "MEMBERSHIP_KEY_ENCRYPTION_SECRET": shared.key_secret},
        {},
    )
    argv = compose_command("gateway-key", str(shared.key_file))
    made = await asyncio.to_thread(subprocess.run, argv, env=env, cwd=cwd, capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr


@pytest.fixture
async def topology(database: str, tmp_path: Path) -> AsyncIterator[Topology]:
    shared = Shared(tmp_path, database)
    (tmp_path / "stories").mkdir()
    for story in STORIES:
        write_story(tmp_path / "stories", story, PUBLICATION, f"[pub:{PUBLICATION}]")
    logs, data = tmp_path / "logs", tmp_path / "membership"  # data: compose's shared membership-data volume
    logs.mkdir()
    data.mkdir()
    memberships = [
        Replica(
            f"membership-{n}", command("membership", port), membership_env(shared, port), port, logs, data
        )
        for n, port in enumerate((free_port(), free_port()), start=1)
    ]
    gateways = [
        Replica(f"gateway-{n}", command("gateway", port), gateway_env(shared, port), port, logs, logs)
        for n, port in enumerate((free_port(), free_port()), start=1)
    ]
    sandbox = SandboxSettings(
        public_url=shared.sandbox_url,
        webhook_url=f"{shared.front}/api/stripe/webhook",  # Stripe reaches membership through the front
        webhook_secret=shared.webhook_secret,
        log_level="WARNING",
        log_format="console",
    )
    engine = create_async_engine(database, poolclass=NullPool)
    with ExitStack() as stack:
        stack.enter_context(serve(create_sandbox(sandbox), sock=shared.sandbox))
        configs = nginx_configs(shared, tmp_path / "nginx", gateways, memberships)
        nginx = start_nginx(tmp_path / "nginx", configs, [shared.front_port, shared.internal_port])
        stack.callback(nginx.stop)
        for replica in [*memberships, *gateways]:
            stack.callback(replica.stop)
        # As compose starts them: both replicas at once on the empty database, the key, the gateways.
        for group in (memberships, gateways):
            for replica in group:
                replica.start()
            for replica in group:
                await asyncio.to_thread(replica.wait_ready)
            if group is memberships:
                await gateway_key(shared, data)
        topology = Topology(shared.front, shared.sandbox_url, nginx, gateways, memberships, engine)
        await publication(engine)
        topology.price_id = await tier(topology)
        try:
            yield topology
        finally:
            await engine.dispose()


async def publication(engine: AsyncEngine) -> None:
    """The Gazette, as `membership publications create` makes it; no free reads, so that only a
    subscription opens a member-only story."""
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        owner, _ = await ReaderService(session=session).get_or_create(OWNER)
        made = await PublicationService(session).create(PUBLICATION, "The Gazette", owner)
        made.free_unlocks_per_month = 0
        await session.commit()


async def tier(topology: Topology) -> str:
    """The owner makes the Gazette's tier through the front (membership makes it in the sandbox)."""
    async with httpx.AsyncClient(base_url=topology.front, timeout=30) as owner:
        await sign_in(topology, owner, OWNER)
        body = {"name": "Supporter", "prices": [{"interval": "month", "currency": "usd", "unit_amount": 500}]}
        made = await owner.post(f"/api/publications/{PUBLICATION}/tiers", json=body)
        assert made.status_code == 201, made.text
        price: str = made.json()["prices"][0]["id"]
        return price


async def sign_in(
    topology: Topology, client: httpx.AsyncClient, email: str, **headers: str
) -> list[httpx.Response]:
    """The sign-in of tests/e2e, through the front: the link's token from the outbox, spent at the API."""
    asked = await client.post("/api/auth/sign-in", json={"email": email}, headers=headers)
    if asked.status_code != 202:
        return [asked]
    token = LINK.search(await topology.mail_to(email))
    assert token, email
    done = await client.post("/api/auth/sign-in/complete", json={"token": token.group(1)}, headers=headers)
    return [asked, done]


# The readers -------------------------------------------------------------------------------------


@dataclass
class Journal:
    """Every answer readers got, by kind of reader, and whatever was wrong with any of them."""

    answers: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def note(self, who: str, answer: httpx.Response, *wanted: int) -> bool:
        self.answers[who] += 1
        ok = answer.status_code < 500 and (not wanted or answer.status_code in wanted)
        if not ok:
            request = answer.request
            self.problems.append(
                f"{who}: {request.method} {request.url.path} {answer.status_code} {answer.text[:300]}"
            )
        return ok

    def story(self, who: str, answer: httpx.Response, *, full: bool) -> None:
        if not self.note(who, answer, 200):
            return
        access = answer.headers.get("tollgate-access", "")
        if full and not (access.startswith("full") and SECRET in answer.text):
            self.problems.append(f"{who}: {answer.request.url.path} not in full: {access}")
        if not full and (SECRET in answer.text or not access.startswith("teaser")):
            self.problems.append(f"{who}: member-only text at {answer.request.url.path}: {access}")


async def subscribe(topology: Topology, journal: Journal, reader: httpx.AsyncClient, who: str) -> None:
    """Checkout through the front, paid at the sandbox, and back to the story, as a browser goes:
    the story must open in full."""
    started = await reader.post(
        "/account/checkout",
        data={"price_id": topology.price_id, "return_to": f"/stories/{STORIES[0]}"},
        headers={"origin": topology.front},
    )
    if not journal.note(who, started, 303):
        return
    checkout = re.search(r"(cs_[A-Za-z0-9_]+)", started.headers["location"])
    assert checkout and started.headers["location"].startswith(topology.sandbox)
    async with httpx.AsyncClient(base_url=topology.sandbox, timeout=30) as stripe:
        pay = f"/_sandbox/checkout/{checkout.group(1)}/pay"
        paid = await stripe.post(pay, json={"card": "4242424242424242"})
        assert paid.status_code == 200, paid.text
    back = await reader.get(paid.json()["redirect"])
    # Back from checkout the gateway confirms it with membership at once; had membership not
    # answered, the page would say the payment is being confirmed, and the reader would reload.
    for _ in range(20):
        if not journal.note(who, back, 200) or back.headers["tollgate-access"].startswith("full"):
            break
        await asyncio.sleep(0.5)
        back = await reader.get(back.request.url)
    journal.story(who, back, full=True)


Reads = Callable[[int], Awaitable[None]]


async def keep_reading(stop: asyncio.Event, reads: Reads, pause: float) -> None:
    for n in itertools.count():
        if stop.is_set():
            return
        await reads(n)
        await asyncio.sleep(pause)


def readers(
    topology: Topology, journal: Journal, subscriber: httpx.AsyncClient, other: httpx.AsyncClient
) -> list[Reads]:
    session = subscriber.cookies["tollgate_session"]

    async def paying(n: int) -> None:
        journal.story("subscriber", await subscriber.get(f"/stories/{STORIES[n % 3]}"), full=True)

    async def renewing(n: int) -> None:
        # The session alone: the gateway renews the token (membership through the internal
        # nginx); every other time the reader's page asks the API for one itself.
        async with httpx.AsyncClient(base_url=topology.front, timeout=30) as fresh:
            fresh.cookies.set("tollgate_session", session)
            if n % 2:
                journal.note("renewal", await fresh.post("/api/auth/token"), 200)
            else:
                journal.story("renewal", await fresh.get(f"/stories/{STORIES[n % 3]}"), full=True)

    async def not_paying(n: int) -> None:
        journal.story("signed-in", await other.get(f"/stories/{STORIES[n % 3]}"), full=False)

    async def anonymous(n: int) -> None:
        # Every other read misses nginx's cache and reaches a gateway.
        path = f"/stories/{STORIES[n % 3]}" + (f"?n={n}" if n % 2 else "")
        async with httpx.AsyncClient(base_url=topology.front, timeout=30) as nobody:
            journal.story("anonymous", await nobody.get(path), full=False)

    async def subscribing(n: int) -> None:
        # A new reader pays while processes die: access from the moment they are back.
        address = {"x-forwarded-for": f"203.0.113.{n % 250 + 1}"}
        async with httpx.AsyncClient(base_url=topology.front, timeout=30) as reader:
            email = f"buyer-{uuid.uuid4().hex[:10]}@example.com"
            for answer in await sign_in(topology, reader, email, **address):
                journal.note("sign-in", answer, 200, 202)
            await subscribe(topology, journal, reader, "buyer")

    async def newcomer(n: int) -> None:
        # Each from an address of its own, as different readers are (nginx and the gateway add theirs).
        address = {"x-forwarded-for": f"198.51.100.{n % 250 + 1}"}
        async with httpx.AsyncClient(base_url=topology.front, timeout=30) as reader:
            for answer in await sign_in(
                topology, reader, f"newcomer-{uuid.uuid4().hex[:10]}@example.com", **address
            ):
                journal.note("sign-in", answer, 200, 202)
            journal.story("newcomer", await reader.get(f"/stories/{STORIES[n % 3]}"), full=False)

    return [paying, renewing, not_paying, anonymous, newcomer, subscribing]


# Each read of a member-only story by a signed-in reader without the key renews the token first
# (gateway/admission.py), as do the renewals: within membership's limit, 60 a session a minute.
PAUSES = (0.05, 2.0, 1.2, 0.05, 0.5, 1.0)


# Killing and restarting -----------------------------------------------------------------------------


async def served_again(nginx: Nginx, replica: Replica, since: int, *, membership: bool) -> None:
    """Until nginx's access log, past its first `since` lines of that server, shows a request the
    replica answered (the last address of an entry: the earlier ones failed)."""
    deadline = time.monotonic() + 60
    while True:
        seen = (await asyncio.to_thread(nginx.upstreams, 0, membership=membership))[since:]
        if any(entry.rsplit(", ", 1)[-1] == replica.address for entry in seen):
            return
        assert time.monotonic() < deadline, f"{replica.name} served no request after its restart"
        await asyncio.sleep(0.5)


async def kill_and_restart(topology: Topology, journal: Journal, pair: int) -> None:
    gateway, membership = topology.gateways[pair], topology.memberships[pair]
    before = sum(journal.answers.values())
    gateway.kill()
    membership.kill()
    await asyncio.sleep(DEAD_SECONDS)
    assert sum(journal.answers.values()) > before, "nobody read while the pair was dead"
    marks = [len(topology.nginx.upstreams(0, membership=m)) for m in (False, True)]
    membership.start()
    gateway.start()
    await asyncio.gather(asyncio.to_thread(membership.wait_ready), asyncio.to_thread(gateway.wait_ready))
    await served_again(topology.nginx, gateway, marks[0], membership=False)
    await served_again(topology.nginx, membership, marks[1], membership=True)


# The test ---------------------------------------------------------------------------------------------


async def test_readers_notice_nothing_while_a_gateway_and_a_membership_replica_die_and_return(
    topology: Topology,
) -> None:
    journal = Journal()
    async with (
        httpx.AsyncClient(base_url=topology.front, timeout=30) as subscriber,
        httpx.AsyncClient(base_url=topology.front, timeout=30) as other,
    ):
        for client, email in ((subscriber, "subscriber@example.com"), (other, "other@example.com")):
            answers = await sign_in(topology, client, email)
            assert [a.status_code for a in answers] == [202, 200], answers[-1].text
        first = await subscriber.get(f"/stories/{STORIES[0]}")
        assert first.headers["tollgate-access"].startswith("teaser") and SECRET not in first.text
        await subscribe(topology, journal, subscriber, "subscriber")
        assert not journal.problems, journal.problems

        stop = asyncio.Event()
        reading = [
            asyncio.create_task(keep_reading(stop, reads, pause))
            for reads, pause in zip(readers(topology, journal, subscriber, other), PAUSES, strict=True)
        ]
        try:
            await asyncio.sleep(DEAD_SECONDS)  # every kind of reader under way
            for pair in (0, 1):
                await kill_and_restart(topology, journal, pair)
            await asyncio.sleep(DEAD_SECONDS)  # and on, with every process back
        finally:
            stop.set()
            await asyncio.gather(*reading)

    assert not journal.problems, (len(journal.problems), journal.problems[:5], journal.problems[-5:])
    assert set(journal.answers) == {
        "subscriber",
        "renewal",
        "signed-in",
        "anonymous",
        "sign-in",
        "newcomer",
        "buyer",
    }
    assert min(journal.answers.values()) >= 5, journal.answers
    assert [line for r in topology.memberships + topology.gateways for line in r.errors()] == []
    # Requests that tried a dead process, or reached one as it died, went on to another one.
    retried = [e for m in (False, True) for e in topology.nginx.upstreams(0, membership=m) if ", " in e]
    assert retried
    print(f"answers {dict(journal.answers)}; {len(retried)} requests went on to another process")
