"""The sandbox clock: real time plus an offset that only grows, and everything that falls due on it.

`advance` moves the clock forward and processes, in time order, each moment something happens
(a trial ends, a period renews, a failed payment is retried, a past_due subscription is given
up, a scheduled cancellation takes effect, a checkout session expires), setting the clock to
that moment first so that the objects and events carry the right timestamps. A background tick
does the same for things that fall due in real time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from stripe_sandbox import checkout, lifecycle
from stripe_sandbox.errors import invalid
from stripe_sandbox.state import JSON, Sandbox

log = structlog.get_logger("stripe_sandbox.clock")

MAX_ADVANCE_SECONDS = 10 * 366 * 86400
TICK_SECONDS = 1.0
MAX_STEPS = 200_000  # ten years of daily renewals for fifty subscriptions

Due = tuple[int, int, int, str, JSON, str]  # (when, priority, creation order, kind, object, what)


def earliest(sb: Sandbox, until: int) -> Due | None:
    """The first thing due at or before `until`; ties go to the priority, then the older object."""
    best: Due | None = None
    for order, session in enumerate(sb.table("checkout_sessions").values()):
        when = checkout.next_due(session)
        if when is not None and when <= until:
            candidate: Due = (when, 9, order, "session", session, "expire")
            best = candidate if best is None or candidate[:3] < best[:3] else best
    for order, subscription in enumerate(sb.table("subscriptions").values()):
        due = lifecycle.next_due(sb, subscription)
        if due is not None and due[0] <= until:
            candidate = (due[0], due[1], order, "subscription", subscription, due[2])
            best = candidate if best is None or candidate[:3] < best[:3] else best
    return best


def process_due(sb: Sandbox, until: int) -> int:
    """Run everything due up to `until` in time order; returns how many things happened."""
    done = 0
    while (due := earliest(sb, until)) is not None:
        if done >= MAX_STEPS:
            # Something that never stops being due is a sandbox bug; better a log line than a hang.
            log.error("too many things due at once; stopping here", at=due[0], id=due[4]["id"], what=due[5])
            break
        when, _, _, kind, obj, what = due
        sb.move_clock_to(when)
        log.info("due", kind=kind, id=obj["id"], what=what, at=when)
        if kind == "session":
            checkout.expire(sb, obj)
        else:
            lifecycle.run_due(sb, obj, what)
        done += 1
    return done


def advance(sb: Sandbox, seconds: float) -> JSON:
    if seconds < 0:
        raise invalid("The sandbox clock only moves forward.", param="seconds")
    if seconds > MAX_ADVANCE_SECONDS:
        raise invalid("Advance the clock by at most ten years at a time.", param="seconds")
    target = sb.now() + int(seconds)
    processed = process_due(sb, target)
    sb.move_clock_to(target)
    return {**describe(sb), "processed": processed}


def describe(sb: Sandbox) -> JSON:
    now = sb.now()
    return {
        "now": now,
        "iso": datetime.fromtimestamp(now, UTC).isoformat(),
        "offset_seconds": round(sb.data["clock_offset"]),
    }


async def tick_forever(sb: Sandbox) -> None:
    """Process what falls due in real time (a checkout session expiring, say), once a second."""
    while True:
        await asyncio.sleep(TICK_SECONDS)
        try:
            async with sb.lock:
                due = earliest(sb, sb.now()) is not None
                if not due and sb.dirty:
                    sb.save()  # delivery attempts recorded since the last save
            if due:
                async with sb.action():
                    process_due(sb, sb.now())
        except Exception:  # the tick must survive one bad object
            log.exception("clock tick failed")
