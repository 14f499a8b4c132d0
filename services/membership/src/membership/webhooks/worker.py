"""Delivering the webhook outbox: claim due messages under a lease, sign each as Standard Webhooks
says, send it with the SSRF-safe sender, log the attempt, and retry on the schedule.

At least once: a message is marked delivered only after a 2xx, so a crash between sending and
recording sends it again (same `webhook-id`, for the receiver to drop); a live worker sends only
while the lease it claimed is still its own, renewed just before sending (a batch can outlast its
lease, and then another worker may have taken the message). Each message is read in
one short transaction, sent with no transaction open, and recorded in another, so a slow endpoint
holds no database lock. 410 Gone disables the endpoint; five days of failures with no success
disable it too, and the publication's owners are emailed. Runs inside membership
(`MEMBERSHIP_WEBHOOK_WORKERS`) and in `membership stripe worker`; any number may run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from membership.grants.services import GrantService
from membership.lib.clock import utcnow
from membership.lib.metrics import Metrics
from membership.mail.services import Mailer
from membership.publications.models import Publication, StaffMember, StaffRole
from membership.readers.models import Reader
from membership.settings import Settings
from membership.webhooks.events import DISABLE_AFTER_DAYS, EventType, envelope, publication_of, retry_delay
from membership.webhooks.models import MessageState, WebhookAttempt, WebhookEndpoint, WebhookMessage
from membership.webhooks.sender import Delivery, Sender
from membership.webhooks.services import WebhookService

log = structlog.get_logger(__name__)
BATCH = 50


@dataclass(frozen=True)
class Outgoing:
    message_id: UUID
    url: str
    body: bytes
    headers: dict[str, str]


class WebhookWorker:
    def __init__(
        self, alchemy: SQLAlchemyAsyncConfig, settings: Settings, metrics: Metrics | None = None
    ) -> None:
        self.alchemy = alchemy
        self.settings = settings
        self.metrics = metrics
        self.sender = Sender(
            allow_private=settings.webhooks_to_private_addresses,
            timeout=settings.webhook_timeout_seconds,
        )

    async def run_once(self) -> int:
        """Sends every message due now (at most a batch); answers how many it took."""
        until = utcnow() + timedelta(seconds=self.settings.webhook_lease_seconds)
        claimed = await self._claim(until)
        if claimed:
            await asyncio.gather(*(self._deliver(message_id, until) for message_id in claimed))
        return len(claimed)

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    taken = await self.run_once()
                except Exception:  # the database may be briefly away; keep the worker alive
                    log.exception("webhook worker error")
                    taken = 0
                if taken < BATCH:
                    await asyncio.sleep(self.settings.webhook_poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await self.sender.aclose()

    async def _claim(self, until: datetime | None = None) -> list[UUID]:
        """Due messages, each leased until `until` (default: now plus the lease)."""
        now = utcnow()
        lease = until or now + timedelta(seconds=self.settings.webhook_lease_seconds)
        async with self.alchemy.get_session() as session:
            due = list(
                await session.scalars(
                    select(WebhookMessage.id)
                    .where(
                        WebhookMessage.state == MessageState.PENDING,
                        WebhookMessage.next_attempt_at <= now,
                        or_(WebhookMessage.leased_until.is_(None), WebhookMessage.leased_until < now),
                    )
                    .order_by(WebhookMessage.next_attempt_at)
                    .limit(BATCH)
                )
            )
            claimed = []
            for message_id in due:
                # One UPDATE per message: of two workers racing for it, exactly one gets it.
                taken = await session.execute(
                    update(WebhookMessage)
                    .where(
                        WebhookMessage.id == message_id,
                        WebhookMessage.state == MessageState.PENDING,
                        or_(WebhookMessage.leased_until.is_(None), WebhookMessage.leased_until < now),
                    )
                    .values(leased_until=lease)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount:  # type: ignore[attr-defined]
                    claimed.append(message_id)
            await session.commit()
        return claimed

    async def _deliver(self, message_id: UUID, leased_until: datetime) -> None:
        try:
            outgoing = await self._prepare(message_id, leased_until)
            if outgoing is None:
                return
            delivery = await self.sender.send(outgoing.url, outgoing.body, outgoing.headers)
            await self._record(message_id, delivery)
        except Exception:  # one bad message must not stop the others; its lease lapses and it is retried
            log.exception("webhook delivery error", message=str(message_id))

    async def _prepare(self, message_id: UUID, leased_until: datetime) -> Outgoing | None:
        async with self.alchemy.get_session() as session:
            # Still ours? Then renewed, so the send (within its timeout) has a whole lease.
            held = await session.execute(
                update(WebhookMessage)
                .where(
                    WebhookMessage.id == message_id,
                    WebhookMessage.state == MessageState.PENDING,
                    WebhookMessage.leased_until == leased_until,
                )
                .values(leased_until=utcnow() + timedelta(seconds=self.settings.webhook_lease_seconds))
                .execution_options(synchronize_session=False)
            )
            if not held.rowcount:  # type: ignore[attr-defined]
                log.info("webhook message taken by another worker", message=str(message_id))
                return None
            message = await session.get(WebhookMessage, message_id)
            if message is None or message.state is not MessageState.PENDING:
                return None
            endpoint = await session.get(WebhookEndpoint, message.endpoint_id)
            if endpoint is None:
                return None
            if endpoint.disabled_at is not None:
                message.state, message.leased_until = MessageState.FAILED, None
                await session.commit()
                return None
            payload = message.payload
            if message.event_type == EventType.MEMBER_STATE_CHANGED.value and message.reader_id is not None:
                payload = await self._state(session, endpoint, message.reader_id)
            body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
            # The wall clock, not the sandbox's: receivers check the timestamp against their own.
            stamp = datetime.fromtimestamp(int(time.time()), UTC)
            secrets = WebhookService(session, self.settings).signing_secrets(endpoint, utcnow())
            signature = " ".join(Webhook(secret).sign(message.message_id, stamp, body) for secret in secrets)
            headers = {
                "content-type": "application/json",
                "user-agent": "Tollgate-Webhooks/1",
                "webhook-id": message.message_id,
                "webhook-timestamp": str(int(stamp.timestamp())),
                "webhook-signature": signature,
            }
            await session.commit()  # the renewed lease
            return Outgoing(message.id, endpoint.url, body, headers)

    async def _state(
        self, session: AsyncSession, endpoint: WebhookEndpoint, reader_id: UUID
    ) -> dict[str, Any]:
        """member.state_changed's data, read now: the reader's current entitlements at this
        publication (its own keys and platform ones; never another publication's)."""
        reader = await session.get(Reader, reader_id)
        slug = await session.scalar(select(Publication.slug).where(Publication.id == endpoint.publication_id))
        ends: dict[str, datetime | None] = {}
        for grant in await GrantService(session).live(reader_id):
            if publication_of(grant.key) not in (None, slug):
                continue
            current = ends.get(grant.key, grant.ends_at)
            ends[grant.key] = (
                None if current is None or grant.ends_at is None else max(current, grant.ends_at)
            )
        data = {
            "reader_id": str(reader_id),
            "email": reader.email if reader else None,
            "version": reader.entitlement_version if reader else 0,
            "entitlements": [
                {"key": key, "ends_at": end.isoformat().replace("+00:00", "Z") if end else None}
                for key, end in sorted(ends.items())
            ],
        }
        return envelope(EventType.MEMBER_STATE_CHANGED, data, utcnow())

    async def _record(self, message_id: UUID, delivery: Delivery) -> None:
        now = utcnow()
        async with self.alchemy.get_session() as session:
            message = await session.get(WebhookMessage, message_id)
            if message is None:
                return
            endpoint = await session.get(WebhookEndpoint, message.endpoint_id)
            if endpoint is None:
                return
            session.add(
                WebhookAttempt(
                    endpoint_id=endpoint.id,
                    message_id=message.id,
                    status=delivery.status,
                    latency_ms=delivery.latency_ms,
                    excerpt=delivery.excerpt[:1000],
                    error=(delivery.error or "")[:500],
                )
            )
            message.attempts += 1
            message.leased_until = None
            if delivery.ok:
                message.state, message.delivered_at = MessageState.DELIVERED, now
                endpoint.failing_since = None
                result = "delivered"
            elif delivery.status == 410:
                message.state = MessageState.FAILED
                endpoint.disabled_at, endpoint.disabled_reason = now, "The endpoint answered 410 Gone."
                result = "gone"
            else:
                delay = retry_delay(message.attempts, self.settings.webhook_retry_seconds)
                if delay is None:
                    message.state, result = MessageState.FAILED, "gave_up"
                else:
                    message.next_attempt_at, result = now + timedelta(seconds=delay), "retrying"
                endpoint.failing_since = endpoint.failing_since or now
                if now - endpoint.failing_since >= timedelta(days=DISABLE_AFTER_DAYS):
                    endpoint.disabled_at = now
                    endpoint.disabled_reason = f"It failed every delivery for {DISABLE_AFTER_DAYS} days."
                    await self._tell_owners(session, endpoint)
            await session.commit()
        if self.metrics is not None:
            self.metrics.delivery(result).inc()
        log.info(
            "webhook attempt",
            message=message_id.hex,
            endpoint=str(endpoint.id),
            status=delivery.status,
            result=result,
            error=delivery.error,
        )

    async def _tell_owners(self, session: AsyncSession, endpoint: WebhookEndpoint) -> None:
        owners = await session.scalars(
            select(Reader.email)
            .join(StaffMember, StaffMember.reader_id == Reader.id)
            .where(StaffMember.publication_id == endpoint.publication_id, StaffMember.role == StaffRole.OWNER)
        )
        name = await session.scalar(select(Publication.name).where(Publication.id == endpoint.publication_id))
        mailer = Mailer(session, self.settings)
        for email in owners:
            await mailer.send(
                email,
                f"A webhook endpoint of {name} was disabled",
                f"Tollgate stopped sending webhooks to {endpoint.url}: every delivery failed for "
                f"{DISABLE_AFTER_DAYS} days. Mend the endpoint, then enable it again on the "
                f"dashboard's Webhooks page, where its delivery log shows what it answered.",
            )
