"""Rate limits that hold across every membership replica: sign-in emails, token issue, unlocks.

Counted by the `limits` library in moving windows: in Redis when `MEMBERSHIP_REDIS_URL` is set
(one atomic Lua script per hit, so two replicas can never both let the limit's last request
through), in this process's memory otherwise (`make run`: one process). A Redis that does not
answer lets the request through and logs it: readers keep reading; abuse is held back again as
soon as Redis is back.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from tollgate_common.problems import TooManyRequests
from tollgate_common.words import in_time

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Rule:
    """At most `amount` hits per `seconds` for one key."""

    name: str
    amount: int
    seconds: int

    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.amount, self.seconds, namespace=self.name)


class RateLimits:
    def __init__(self, redis_url: str = "", prefix: str = "tollgate") -> None:
        self.shared = bool(redis_url)
        storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = RedisStorage(
                uri, implementation="redispy", key_prefix=f"{prefix}:limits", wrap_exceptions=True
            )
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, rule: Rule, key: str, message: str) -> None:
        """Counts one hit, or refuses with 429 and `Retry-After` when the window is full."""
        item = rule.item()
        try:
            if await self._limiter.hit(item, key):
                return
            stats = await self._limiter.get_window_stats(item, key)
        except StorageError as exc:
            log.warning("rate limit not counted: Redis did not answer", rule=rule.name, error=str(exc))
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(f"{message}; try again {in_time(retry_after)}.", retry_after=retry_after)
