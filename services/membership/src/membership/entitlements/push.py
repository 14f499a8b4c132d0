"""Pushing each entitlement change to every gateway the moment its transaction commits.

The revocation feed (`EntitlementChange` rows, `GET /api/entitlements/changes`) stays the record;
this is the doorbell. A session that added feed entries publishes them after its commit, on Redis
pub/sub (`<prefix>:entitlements`, one message per commit: `{"changes": [{"seq", "reader_id",
"version"}]}`); a gateway applies them at once and reads the feed whenever it may have missed one
(a gap in `seq`, a reconnect). Nothing is published for a rollback, nor for an entry whose
savepoint was rolled back: a gateway must never hear of a version that was not stored. Publishing
happens off the request, in `run_forever()`; a Redis that does not answer costs a log line, and
the gateways' poll catches up. Why pub/sub, not Streams or LISTEN/NOTIFY: ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import structlog
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from membership.db import alchemy_config
from membership.grants.models import EntitlementChange
from membership.settings import Settings

log = structlog.get_logger(__name__)

SESSION_KEY = "tollgate.revocation_push"  # in Session.info: the push that session reports to
_PENDING = "tollgate.revocation_pending"  # in Session.info: entries flushed in this transaction


def channel(prefix: str) -> str:
    return f"{prefix}:entitlements"


class PushedChange(msgspec.Struct, frozen=True):
    seq: int
    reader_id: str
    version: int


class PushedChanges(msgspec.Struct, frozen=True):
    changes: list[PushedChange]


class RevocationPush:
    """Publishes committed entitlement changes; `session_info()` goes in the sessionmaker's `info`."""

    def __init__(self, redis_url: str, prefix: str, *, queue_size: int = 10_000) -> None:
        self.channel = channel(prefix)
        self._redis: Redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._queue: asyncio.Queue[list[PushedChange]] = asyncio.Queue(queue_size)
        self.published = 0

    def session_info(self) -> dict[str, Any]:
        return {SESSION_KEY: self}

    def committed(self, changes: list[PushedChange]) -> None:
        try:
            self._queue.put_nowait(changes)
        except asyncio.QueueFull:  # the gateways' poll reads what was not pushed
            log.warning("revocation push queue full; the feed carries these changes", changes=len(changes))

    async def run_forever(self) -> None:
        encoder = msgspec.json.Encoder()
        while True:
            changes = await self._queue.get()
            batched = 0
            while not self._queue.empty() and len(changes) < 1000:  # one message for a burst
                changes = changes + self._queue.get_nowait()
                batched += 1
            try:
                await self._redis.publish(self.channel, encoder.encode(PushedChanges(changes)))
                self.published += len(changes)
            except (RedisError, OSError) as exc:
                log.warning("revocation push failed; the gateways' poll will catch up", error=str(exc))
            finally:
                for _ in range(1 + batched):
                    self._queue.task_done()

    async def drain(self) -> None:
        """Waits (two seconds at most) until everything queued is published: before a process exits."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._queue.join()

    async def aclose(self) -> None:
        await self._redis.aclose()


@event.listens_for(Session, "after_flush")
def _remember_flushed(session: Session, _flush: UOWTransaction) -> None:
    if SESSION_KEY not in session.info:
        return
    added = [obj for obj in session.new if isinstance(obj, EntitlementChange)]
    if added:
        session.info.setdefault(_PENDING, []).extend(added)


@event.listens_for(Session, "after_commit")
def _push_committed(session: Session) -> None:
    pending: list[EntitlementChange] = session.info.pop(_PENDING, [])
    push = session.info.get(SESSION_KEY)
    if not pending or not isinstance(push, RevocationPush):
        return
    # An entry added inside a savepoint that was rolled back is no longer persistent: not stored.
    stored = [c for c in pending if inspect(c).persistent]
    if stored:
        push.committed([PushedChange(c.seq, str(c.reader_id), c.version) for c in stored])


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    # A real rollback (the outermost transaction; a savepoint's is not one): nothing was stored.
    session.info.pop(_PENDING, None)


def revocation_push(redis_url: str, prefix: str) -> RevocationPush | None:
    """The push for these settings: None without a Redis (gateways then poll the feed alone)."""
    return RevocationPush(redis_url, prefix) if redis_url else None


@contextlib.asynccontextmanager
async def pushing(push: RevocationPush | None) -> AsyncIterator[None]:
    """Publishes in the background while the block runs, and what is queued before it ends."""
    if push is None:
        yield
        return
    task = asyncio.create_task(push.run_forever(), name="revocation-push")
    try:
        yield
    finally:
        await push.drain()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await push.aclose()


@contextlib.asynccontextmanager
async def job_database(settings: Settings) -> AsyncIterator[SQLAlchemyAsyncConfig]:
    """A job's database (a CLI command, the worker, reconcile): its commits push entitlement
    changes as a request's do, and its engine is closed when the job ends."""
    push = revocation_push(settings.redis_url, settings.redis_prefix)
    alchemy = alchemy_config(settings, info=push.session_info() if push else None)
    try:
        async with pushing(push):
            yield alchemy
    finally:
        await alchemy.get_engine().dispose()
