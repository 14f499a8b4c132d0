"""Outgoing webhooks: publishers' endpoints (add, change, rotate the secret, disable), and the
outbox that the domains write to in the transaction of the change they announce.

`Outbox.emit` adds one message per endpoint that wants the event, so a change and its webhooks
commit together or not at all, and the worker (`webhooks/worker.py`) sends them after commit.
`member.state_changed` is debounced: while one is still waiting for a reader and endpoint, no
second one is added; its data is read when it is sent, so the last state wins.

Which publications an event concerns: a `pub:<slug>` key's publication; a platform key (every
publication's stories) concerns every publication. Publications are looked up through a bare
table reference, not the publications package, which sits above grants (the feed's writer).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import column, func, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.lib.encryption import fernet
from membership.settings import Settings
from membership.webhooks.events import EventType, envelope
from membership.webhooks.models import MessageState, WebhookAttempt, WebhookEndpoint, WebhookMessage
from membership.webhooks.sender import UnsafeUrl, check_url
from tollgate_common.problems import BadRequest, Conflict, NotFound

ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS = 20
_publication = table("publication", column("id"), column("slug"))


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def check_event_types(names: Iterable[str]) -> list[str]:
    known = {t.value for t in EventType}
    chosen = sorted(set(names))
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise BadRequest(f"Unknown event type: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    return chosen


class WebhookService:
    """Endpoints, for the API and the dashboard; secrets are encrypted at rest."""

    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.db = session
        self.settings = settings
        self.fernet = fernet(settings, b"tollgate webhook secrets")

    async def add(
        self, publication_id: UUID, url: str, event_types: Iterable[str], description: str = ""
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its signing secret, which is shown this once."""
        try:
            checked = check_url(url)
        except UnsafeUrl as exc:
            raise BadRequest(str(exc)) from exc
        if len(await self.endpoints(publication_id)) >= MAX_ENDPOINTS:
            raise BadRequest(f"A publication has at most {MAX_ENDPOINTS} webhook endpoints.")
        secret = new_secret()
        endpoint = WebhookEndpoint(
            publication_id=publication_id,
            url=checked,
            description=description.strip()[:200],
            event_types=check_event_types(event_types),
            secret=self._seal(secret),
        )
        self.db.add(endpoint)
        await self.db.flush()
        return endpoint, secret

    async def endpoints(self, publication_id: UUID) -> list[WebhookEndpoint]:
        query = (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.publication_id == publication_id)
            .order_by(WebhookEndpoint.created_at)
        )
        return list(await self.db.scalars(query))

    async def endpoint(self, publication_id: UUID, endpoint_id: UUID) -> WebhookEndpoint:
        found = await self.db.get(WebhookEndpoint, endpoint_id)
        if found is None or found.publication_id != publication_id:
            raise NotFound("No such webhook endpoint.")
        return found

    async def change(
        self,
        endpoint: WebhookEndpoint,
        *,
        url: str | None = None,
        event_types: Iterable[str] | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpoint:
        # Everything is checked before anything changes, so a half-good change changes nothing.
        checked_types = check_event_types(event_types) if event_types is not None else None
        if url is not None:
            try:
                checked_url = check_url(url)
            except UnsafeUrl as exc:
                raise BadRequest(str(exc)) from exc
            endpoint.url = checked_url
        if checked_types is not None:
            endpoint.event_types = checked_types
        if enabled is True and endpoint.disabled_at is not None:
            endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
        elif enabled is False and endpoint.disabled_at is None:
            endpoint.disabled_at, endpoint.disabled_reason = utcnow(), "Disabled by the publisher."
        return endpoint

    async def rotate(self, endpoint: WebhookEndpoint) -> str:
        """A new secret, shown once; the old one keeps signing beside it for 24 hours."""
        secret = new_secret()
        endpoint.previous_secret, endpoint.secret = endpoint.secret, self._seal(secret)
        endpoint.previous_until = utcnow() + ROTATION_OVERLAP
        return secret

    async def remove(self, endpoint: WebhookEndpoint) -> None:
        await self.db.delete(endpoint)

    def signing_secrets(self, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
        found = [self.fernet.decrypt(endpoint.secret.encode()).decode()]
        if endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > now:
            found.append(self.fernet.decrypt(endpoint.previous_secret.encode()).decode())
        return found

    def _seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode()

    async def log(
        self, endpoint: WebhookEndpoint, limit: int = 100
    ) -> list[tuple[WebhookAttempt, WebhookMessage]]:
        """The endpoint's latest attempts, newest first, each with its message."""
        rows = await self.db.execute(
            select(WebhookAttempt, WebhookMessage)
            .join(WebhookMessage, WebhookMessage.id == WebhookAttempt.message_id)
            .where(WebhookAttempt.endpoint_id == endpoint.id)
            .order_by(WebhookAttempt.created_at.desc())
            .limit(limit)
        )
        return [(attempt, message) for attempt, message in rows.tuples()]

    async def messages(self, endpoint: WebhookEndpoint, limit: int = 100) -> list[WebhookMessage]:
        query = (
            select(WebhookMessage)
            .where(WebhookMessage.endpoint_id == endpoint.id)
            .order_by(WebhookMessage.created_at.desc())
            .limit(limit)
        )
        return list(await self.db.scalars(query))

    async def replay(self, endpoint: WebhookEndpoint, message_id: UUID) -> WebhookMessage:
        """Sends a message again now, with the same webhook-id, whatever became of it."""
        message = await self.db.get(WebhookMessage, message_id)
        if message is None or message.endpoint_id != endpoint.id:
            raise NotFound("No such message for this endpoint.")
        if endpoint.disabled_at is not None:
            raise Conflict("The endpoint is disabled, so a replay would fail at once: enable it first.")
        message.state, message.attempts, message.leased_until = MessageState.PENDING, 0, None
        message.next_attempt_at = utcnow()
        return message


class Outbox:
    """Writes webhook messages in the caller's transaction."""

    def __init__(self, session: AsyncSession, *, debounce_seconds: float = 2.0) -> None:
        self.db = session
        self.debounce = timedelta(seconds=debounce_seconds)
        self._any: bool | None = None

    async def active(self) -> bool:
        """Whether any endpoint takes events at all: most changes happen where none does, so one
        cheap query spares the rest (asked once per Outbox)."""
        if self._any is None:
            found = await self.db.scalar(
                select(WebhookEndpoint.id).where(WebhookEndpoint.disabled_at.is_(None)).limit(1)
            )
            self._any = found is not None
        return self._any

    async def emit(
        self,
        event_type: EventType,
        data: dict[str, Any],
        *,
        publication_ids: Iterable[UUID | None] = (),
        slugs: Iterable[str | None] = (),
        reader_id: UUID | None = None,
    ) -> int:
        """One message per endpoint wanting it; a None among the publications means every one."""
        endpoints = await self._endpoints(event_type, set(publication_ids), set(slugs))
        now = utcnow()
        for endpoint in endpoints:
            self.db.add(
                WebhookMessage(
                    endpoint_id=endpoint.id,
                    message_id=new_message_id(),
                    event_type=event_type.value,
                    payload=envelope(event_type, data, now),
                    reader_id=reader_id,
                    next_attempt_at=now,
                )
            )
        return len(endpoints)

    async def state_changed(self, reader_id: UUID, *, slugs: Iterable[str | None]) -> int:
        """A debounced member.state_changed: none added where one is still waiting to go."""
        endpoints = await self._endpoints(EventType.MEMBER_STATE_CHANGED, set(), set(slugs))
        if not endpoints:
            return 0
        # Only one no worker has claimed yet: a claimed one may have read the state already. The
        # row lock orders this against a claim in progress (PostgreSQL re-checks the lease after it).
        waiting = set(
            await self.db.scalars(
                select(WebhookMessage.endpoint_id)
                .where(
                    WebhookMessage.reader_id == reader_id,
                    WebhookMessage.event_type == EventType.MEMBER_STATE_CHANGED.value,
                    WebhookMessage.state == MessageState.PENDING,
                    WebhookMessage.attempts == 0,
                    WebhookMessage.leased_until.is_(None),
                    WebhookMessage.endpoint_id.in_([e.id for e in endpoints]),
                )
                .with_for_update()
            )
        )
        added = 0
        for endpoint in endpoints:
            if endpoint.id in waiting:
                continue
            self.db.add(
                WebhookMessage(
                    endpoint_id=endpoint.id,
                    message_id=new_message_id(),
                    event_type=EventType.MEMBER_STATE_CHANGED.value,
                    reader_id=reader_id,
                    next_attempt_at=utcnow() + self.debounce,
                )
            )
            added += 1
        return added

    async def _endpoints(
        self, event_type: EventType, publication_ids: set[UUID | None], slugs: set[str | None]
    ) -> list[WebhookEndpoint]:
        everyone = None in publication_ids or None in slugs
        if not everyone and not publication_ids and not slugs:
            return []
        if not await self.active():
            return []
        query = select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None))
        if not everyone:
            named = [s for s in slugs if s is not None]
            by_slug = select(_publication.c.id).where(_publication.c.slug.in_(named))
            query = query.where(
                or_(
                    WebhookEndpoint.publication_id.in_([p for p in publication_ids if p is not None]),
                    WebhookEndpoint.publication_id.in_(by_slug),
                )
            )
        found = await self.db.scalars(query)
        return [e for e in found if not e.event_types or event_type.value in e.event_types]


async def outbox_depths(session: AsyncSession) -> list[tuple[str, int, float]]:
    """Per endpoint with messages waiting: how many, and the oldest one's age in seconds (metrics)."""
    rows = await session.execute(
        select(WebhookMessage.endpoint_id, func.count(), func.min(WebhookMessage.created_at))
        .where(WebhookMessage.state == MessageState.PENDING)
        .group_by(WebhookMessage.endpoint_id)
    )
    now = utcnow()
    return [(str(e), int(n), max(0.0, (now - oldest).total_seconds())) for e, n, oldest in rows.tuples()]
