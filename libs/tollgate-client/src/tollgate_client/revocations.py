"""Following membership's revocation feed, so tokens carrying old entitlements stop working early.

When a grant is revoked, membership raises the reader's entitlement version and appends an
entry to the feed. `RevocationFeed` polls it and remembers the latest version per reader; a
`TokenVerifier` given the feed refuses a token whose `ver` is below that, and the holder
refreshes. When membership is down the feed keeps what it knows and retries with backoff.

With `push_url` (the Redis membership publishes on, `MEMBERSHIP_REDIS_URL`), each change also
arrives the moment it commits, on pub/sub: its version is applied at once, and the feed is read
whenever a push may have missed one (a gap in `seq`, a reconnect). While subscribed the feed is
polled only every `pushed_poll_interval` as a safety net; while the push channel is down, every
`poll_interval` again. Pub/sub keeps nothing for a gateway that was away, and needs nothing
kept: the feed is the record, the push only makes it arrive sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tollgate_client.client import MembershipClient, MembershipError

__all__ = ["RevocationFeed"]

log = logging.getLogger("tollgate_client.revocations")


class _Pushed(msgspec.Struct, frozen=True):
    seq: int
    reader_id: str
    version: int


class _PushedChanges(msgspec.Struct, frozen=True):
    changes: list[_Pushed]


class RevocationFeed:
    """The latest entitlement version membership reported per reader.

    `start()` positions the feed (at its newest entry when `start_from_latest`, else at the
    beginning), polls once, then polls every `poll_interval` seconds in a background task until
    `aclose()`. `poll_once()` does one round by hand and raises `MembershipError` on failure.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        poll_interval: float = 2.0,
        http: httpx.AsyncClient | None = None,
        start_from_latest: bool = True,
        page_size: int = 1000,
        max_backoff: float = 30.0,
        timeout: float = 5.0,
        push_url: str | None = None,
        push_channel: str = "tollgate:entitlements",
        pushed_poll_interval: float = 30.0,
        push_retry: float = 1.0,
    ) -> None:
        self._client = MembershipClient(base_url, api_key, http=http, timeout=timeout)
        self._poll_interval = poll_interval
        self._start_from_latest = start_from_latest
        self._page_size = page_size
        self._max_backoff = max_backoff
        self._versions: dict[str, int] = {}
        self._after: int | None = None
        self._last_success: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._push_url = push_url
        self._push_channel = push_channel
        self._pushed_poll_interval = pushed_poll_interval
        self._push_retry = push_retry
        self._push_task: asyncio.Task[None] | None = None
        self._subscribed = False
        self._wake = asyncio.Event()
        self.pushes_applied = 0

    async def __aenter__(self) -> RevocationFeed:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    @property
    def position(self) -> int | None:
        """The sequence number read up to; None until the feed has been positioned."""
        return self._after

    @property
    def last_success(self) -> float | None:
        """`time.monotonic()` of the last poll that reached the end of the feed; None before one."""
        return self._last_success

    @property
    def subscribed(self) -> bool:
        """Whether pushed changes are arriving now (False without `push_url`, or while it is down)."""
        return self._subscribed

    def min_version(self, reader_id: str) -> int:
        """The lowest entitlement version a token for this reader may carry (0 if nothing is known)."""
        return self._versions.get(reader_id, 0)

    def is_stale(self, reader_id: str, ver: int) -> bool:
        return ver < self._versions.get(reader_id, 0)

    async def poll_once(self) -> int:
        """Reads the feed to its end; returns how many entries were applied."""
        async with self._lock:
            if self._after is None:
                self._after = await self._client.latest_change() if self._start_from_latest else 0
            applied = 0
            while True:
                page = await self._client.changes(self._after, self._page_size)
                after = self._after
                for change in page.changes:
                    # A reader's version only rises; an entry replayed out of order must not lower it.
                    if change.version > self._versions.get(change.reader_id, 0):
                        self._versions[change.reader_id] = change.version
                    after = max(after, change.seq)
                    applied += 1
                if page.next_after is not None:
                    after = max(after, page.next_after)
                progressed = after > self._after
                self._after = after
                # A page that claims more but moves nowhere would loop forever; wait for the next round.
                if not page.has_more or not progressed:
                    break
            self._last_success = time.monotonic()
            return applied

    async def start(self) -> None:
        """Polls once (a failure is logged, not raised) and starts the background task."""
        if self._task is not None:
            return
        with contextlib.suppress(MembershipError):
            await self._poll_logged()
        self._task = asyncio.create_task(self._run(), name="tollgate-revocation-feed")
        if self._push_url:
            self._push_task = asyncio.create_task(
                self._listen(self._push_url), name="tollgate-revocation-push"
            )

    async def aclose(self) -> None:
        """Stops the background tasks and closes the HTTP client if this feed made it."""
        for task in (self._task, self._push_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._push_task = None
        self._subscribed = False
        await self._client.aclose()

    async def _run(self) -> None:
        failures = 0
        while True:
            if failures:
                # Back off while membership is down, but never poll less often than usual.
                delay = max(self._poll_interval, min(self._max_backoff, self._poll_interval * 2**failures))
            else:
                delay = self._poll_interval
            if self._subscribed and not failures:
                delay = self._pushed_poll_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._poll_logged()
            except MembershipError:
                failures += 1
            except Exception:
                # The task must outlive any surprise, or revocations would silently stop arriving.
                log.exception("revocation feed: unexpected error while polling")
                failures += 1
            else:
                failures = 0

    async def _poll_logged(self) -> None:
        try:
            await self.poll_once()
        except MembershipError as exc:
            log.warning(
                "revocation feed: poll failed (%s); keeping %d known versions", exc, len(self._versions)
            )
            raise

    # ---- pushed changes ---------------------------------------------------------------------

    async def apply_pushed(self, changes: list[tuple[int, str, int]]) -> None:
        """Applies pushed (seq, reader_id, version) entries; reads the feed if one may be missing."""
        async with self._lock:
            gap = self._after is None
            for seq, reader_id, version in sorted(changes):
                if version > self._versions.get(reader_id, 0):
                    self._versions[reader_id] = version
                self.pushes_applied += 1
                if self._after is not None and seq == self._after + 1:
                    self._after = seq  # the next entry: the feed would say nothing more
                elif self._after is not None and seq > self._after:
                    gap = True
        if gap:
            self._wake.set()

    async def _listen(self, url: str) -> None:
        decoder = msgspec.json.Decoder(_PushedChanges)
        while True:
            redis = Redis.from_url(url, socket_connect_timeout=2, health_check_interval=5)
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._push_channel)
                    self._subscribed = True
                    self._wake.set()  # catch up on whatever committed while we were not listening
                    log.info("revocation feed: pushed changes arriving on %s", self._push_channel)
                    async for message in pubsub.listen():
                        try:
                            pushed = decoder.decode(message["data"])
                        except (msgspec.DecodeError, KeyError, TypeError):
                            log.warning("revocation feed: ignored a pushed message that is not ours")
                            continue
                        await self.apply_pushed([(c.seq, c.reader_id, c.version) for c in pushed.changes])
            except (RedisError, OSError) as exc:
                if self._subscribed:
                    log.warning(
                        "revocation feed: push channel lost (%s); polling every %.1fs",
                        exc,
                        self._poll_interval,
                    )
            except Exception:
                log.exception("revocation feed: unexpected error on the push channel")
            finally:
                if self._subscribed:
                    self._subscribed = False
                    self._wake.set()  # the poll was waiting for a long interval: poll now, and often
                await redis.aclose()
            await asyncio.sleep(self._push_retry)
