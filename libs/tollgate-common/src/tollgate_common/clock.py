"""The time every Tollgate service reads: the wall clock plus an offset that is zero except in
development, where `tollgate_common.sandbox_clock` sets it to the Stripe sandbox's (moved with
`POST /_sandbox/clock/advance`), so a month passed there passes for gifts, comps, tokens and the
free-story month too. Pure: no I/O here, so pure decisions may read the time through it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

_offset = 0.0


def now() -> float:
    """Seconds since the epoch, as `time.time()`, plus the followed sandbox's offset."""
    return time.time() + _offset


def utcnow() -> datetime:
    return datetime.fromtimestamp(now(), UTC)


def offset() -> float:
    """How far ahead of the wall clock this process's time runs (0 unless following a sandbox)."""
    return _offset


def set_offset(seconds: float) -> None:
    global _offset
    _offset = seconds
