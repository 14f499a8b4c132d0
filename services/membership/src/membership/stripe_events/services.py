"""The inbox: store each event once, claim due ones with a lease, record success or failure.

A claim is one conditional UPDATE (`attempts + 1`, a lease until some time) that only one worker
can win, on SQLite and PostgreSQL alike; a worker that dies mid-event simply lets its lease run
out, and the event is taken again. A worker handles an event only while the lease it claimed is
still its own (`hold`, in the handling transaction, which keeps the row locked until it commits):
a batch can outlast its lease, and then another worker may have taken the event meanwhile.
Handlers converge on Stripe's state, so a retry after a crash is harmless anyway.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.settings import Settings
from membership.stripe_events.models import EventStatus, StripeEvent
from tollgate_common.problems import NotFound


class Inbox:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.db = session
        self.settings = settings

    async def store(self, event: dict[str, Any], payload: bytes) -> bool:
        """True if this event is new; a repeated delivery changes nothing."""
        now = utcnow()
        values = {
            "id": event["id"],
            "type": event["type"],
            "payload": payload.decode("utf-8"),
            "created": int(event.get("created") or 0),
            "status": EventStatus.PENDING,
            "attempts": 0,
            "received_at": now,
            "next_attempt_at": now,
        }
        dialect = self.db.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        result = await self.db.execute(
            insert(StripeEvent).values(**values).on_conflict_do_nothing(index_elements=["id"])
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_due(self, limit: int = 20, *, until: datetime | None = None) -> list[str]:
        """Events due now, each leased until `until` (default: now plus the lease)."""
        now = utcnow()
        until = until or now + timedelta(seconds=self.settings.stripe_lease_seconds)
        due = or_(StripeEvent.leased_until.is_(None), StripeEvent.leased_until < now)
        candidates = await self.db.scalars(
            select(StripeEvent.id)
            .where(StripeEvent.status == EventStatus.PENDING, StripeEvent.next_attempt_at <= now, due)
            .order_by(StripeEvent.created, StripeEvent.received_at)
            .limit(limit)
        )
        claimed = []
        for event_id in list(candidates):
            won = await self.db.execute(
                update(StripeEvent)
                .where(StripeEvent.id == event_id, StripeEvent.status == EventStatus.PENDING, due)
                .values(leased_until=until, attempts=StripeEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(event_id)
        return claimed

    async def hold(self, event_id: str, leased_until: datetime) -> bool:
        """Whether the lease a claim gave (`leased_until`) is still this worker's; if so it is
        renewed, and the row stays locked until this transaction ends. False: it lapsed and another
        worker took the event, or finished it."""
        renewed = await self.db.execute(
            update(StripeEvent)
            .where(
                StripeEvent.id == event_id,
                StripeEvent.status == EventStatus.PENDING,
                StripeEvent.leased_until == leased_until,
            )
            .values(leased_until=utcnow() + timedelta(seconds=self.settings.stripe_lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return renewed.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    async def done(self, event_id: str) -> None:
        event = await self.db.get(StripeEvent, event_id)
        if event is not None:
            event.status, event.processed_at, event.leased_until, event.last_error = (
                EventStatus.PROCESSED,
                utcnow(),
                None,
                None,
            )

    async def failed(
        self, event_id: str, error: str, leased_until: datetime | None = None
    ) -> StripeEvent | None:
        """Records a failed attempt, unless the event is no longer this worker's (`leased_until`:
        the lease it claimed): another worker may have taken it and even processed it since."""
        event = await self.db.get(StripeEvent, event_id, with_for_update=True)
        if event is None or event.status is not EventStatus.PENDING:
            return None
        if leased_until is not None and event.leased_until != leased_until:
            return None
        event.last_error = error[:4000]
        event.leased_until = None
        if event.attempts >= self.settings.stripe_max_attempts:
            event.status = EventStatus.FAILED
        else:
            delay = min(self.settings.stripe_retry_base_seconds * 2 ** (event.attempts - 1), 3600.0)
            event.next_attempt_at = utcnow() + timedelta(seconds=delay)
        return event

    async def listing(self, *, status: EventStatus | None = None, limit: int = 50) -> list[StripeEvent]:
        query = select(StripeEvent).order_by(StripeEvent.received_at.desc()).limit(limit)
        if status:
            query = query.where(StripeEvent.status == status)
        return list(await self.db.scalars(query))

    async def replay(self, event_id: str) -> StripeEvent:
        """Queue an event (failed, or even processed) to be handled again now."""
        event = await self.db.get(StripeEvent, event_id)
        if event is None:
            raise NotFound(f"No stored event {event_id}.")
        event.status, event.attempts, event.next_attempt_at, event.leased_until = (
            EventStatus.PENDING,
            0,
            utcnow(),
            None,
        )
        return event

    @staticmethod
    def payload(event: StripeEvent) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(event.payload)
        return decoded
