"""Processing the inbox: claim due events, handle each in its own transaction, retry failures.

Runs as tasks inside membership (`MEMBERSHIP_STRIPE_WORKERS`) and as `membership stripe worker`
for separate processes; any number of them may run against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import structlog
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

from membership.gifts.services import GiftService
from membership.lib.clock import utcnow
from membership.lib.stripe_client import StripeApi
from membership.mail.services import Mailer
from membership.settings import Settings
from membership.stripe_events.handlers import handle
from membership.stripe_events.models import EventStatus, StripeEvent
from membership.stripe_events.services import Inbox
from membership.subscriptions.services import SubscriptionService

log = structlog.get_logger(__name__)


class InboxWorker:
    def __init__(self, alchemy: SQLAlchemyAsyncConfig, settings: Settings, stripe: StripeApi) -> None:
        self.alchemy = alchemy
        self.settings = settings
        self.stripe = stripe
        self.wake = asyncio.Event()

    async def run_once(self) -> int:
        """Handles every event due now; answers how many it took."""
        until = utcnow() + timedelta(seconds=self.settings.stripe_lease_seconds)
        async with self.alchemy.get_session() as session:
            claimed = await Inbox(session, self.settings).claim_due(until=until)
            await session.commit()
        for event_id in claimed:
            await self.process(event_id, until)
        return len(claimed)

    async def process(self, event_id: str, leased_until: datetime) -> None:
        """Handles one claimed event, if the lease is still ours (the batch may have outlasted it)."""
        async with self.alchemy.get_session() as session:
            if not await Inbox(session, self.settings).hold(event_id, leased_until):
                log.info("stripe event taken by another worker", event_id=event_id)
                return
            event = await session.get(StripeEvent, event_id)
            if event is None:
                return
            kind, attempt = event.type, event.attempts
            try:
                subscriptions = SubscriptionService(session, self.settings, self.stripe)
                gifts = GiftService(
                    session, self.settings, self.stripe, subscriptions, Mailer(session, self.settings)
                )
                outcome = await handle(Inbox.payload(event), subscriptions, gifts)
                await Inbox(session, self.settings).done(event_id)
                await session.commit()
            except Exception as exc:  # any failure is recorded and retried, never lost
                await session.rollback()
                error = f"{type(exc).__name__}: {exc}"
                async with self.alchemy.get_session() as again:
                    failed = await Inbox(again, self.settings).failed(event_id, error, leased_until)
                    await again.commit()
                log.warning(
                    "stripe event failed",
                    event_id=event_id,
                    type=kind,
                    attempt=attempt,
                    error=error,
                    gave_up=bool(failed and failed.status == EventStatus.FAILED),
                )
                return
        log.info("stripe event processed", event_id=event_id, type=kind, attempt=attempt, outcome=outcome)

    async def run_forever(self) -> None:
        while True:
            try:
                taken = await self.run_once()
            except Exception:  # the database may be briefly away; keep the worker alive
                log.exception("stripe inbox worker error")
                taken = 0
            if not taken:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.settings.stripe_poll_seconds)
