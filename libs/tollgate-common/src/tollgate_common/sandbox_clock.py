"""Following the Stripe sandbox's clock in development: `SandboxClock` reads the sandbox's offset
from `{url}/_sandbox/clock` before the service takes requests and then every few seconds, and
sets `tollgate_common.clock`'s offset to it. Without a URL (always in production) nothing follows
and the clock is the wall clock. The offset is per process; stopping the last follower puts it back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import structlog

from tollgate_common import clock

log = structlog.get_logger("tollgate.clock")

_followers = 0  # started and not stopped: tests run a membership and a gateway in one process


class SandboxClock:
    """Keeps this process's offset equal to the Stripe sandbox's, read from `{url}/_sandbox/clock`."""

    def __init__(self, url: str, *, every: float = 1.0, timeout: float = 5.0) -> None:
        self.url = f"{url.rstrip('/')}/_sandbox/clock"
        self.every = every
        self._http = httpx.AsyncClient(timeout=timeout)
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def sync(self) -> bool:
        """Reads the sandbox's offset once; on failure the last one stays (logged once per outage)."""
        try:
            answer = await self._http.get(self.url)
            answer.raise_for_status()
            seconds = float(answer.json()["offset_seconds"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            if not self._failing:
                log.warning("sandbox clock unreadable; keeping the last offset", url=self.url, error=str(exc))
            self._failing = True
            return False
        if self._failing:
            log.info("sandbox clock readable again", url=self.url)
        self._failing = False
        if seconds != clock.offset():
            log.info("following the sandbox clock", offset_seconds=seconds, now=clock.utcnow().isoformat())
            clock.set_offset(seconds)
        return True

    async def start(self) -> None:
        """Reads the offset before the service answers anyone, then keeps it current."""
        global _followers
        _followers += 1
        await self.sync()
        self._task = asyncio.create_task(self._run(), name="tollgate-sandbox-clock")

    async def stop(self) -> None:
        """Stops following; the wall clock comes back once no other follower runs in this process."""
        global _followers
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._http.aclose()
        _followers -= 1
        if _followers == 0:
            clock.set_offset(0.0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.sync()


@contextlib.asynccontextmanager
async def following(url: str, *, every: float = 1.0) -> AsyncIterator[None]:
    """Within the block, this process's time follows the sandbox at `url`; an empty URL: the wall clock."""
    if not url:
        yield
        return
    follower = SandboxClock(url, every=every)
    await follower.start()
    try:
        yield
    finally:
        await follower.stop()
