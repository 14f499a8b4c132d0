"""Following membership's revocation feed, so tokens carrying old entitlements stop working early.

When a grant is revoked, membership raises the reader's entitlement version and appends an
entry to the feed. `RevocationFeed` polls it and remembers the latest version per reader; a
`TokenVerifier` given the feed refuses a token whose `ver` is below that, and the holder
refreshes. When membership is down the feed keeps what it knows and retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx

from tollgate_client.client import MembershipClient, MembershipError

__all__ = ["RevocationFeed"]

log = logging.getLogger("tollgate_client.revocations")


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

    async def aclose(self) -> None:
        """Stops the background task and closes the HTTP client if this feed made it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()

    async def _run(self) -> None:
        failures = 0
        while True:
            if failures:
                # Back off while membership is down, but never poll less often than usual.
                delay = max(self._poll_interval, min(self._max_backoff, self._poll_interval * 2**failures))
            else:
                delay = self._poll_interval
            await asyncio.sleep(delay)
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
