"""Outgoing webhooks in the API: a publication's endpoints, their secrets (shown once, when made
or rotated), the delivery log and the messages a replay can send again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.webhooks.events import EventType
from membership.webhooks.models import MessageState, WebhookAttempt, WebhookEndpoint, WebhookMessage
from membership.webhooks.sender import MAX_URL_LENGTH

MAX_DESCRIPTION = 200  # the column's length
_KNOWN = ", ".join(t.value for t in EventType)

Url = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="An http(s) URL with a host and no user name or password.",
    ),
]
EventTypes = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]],
    msgspec.Meta(
        max_length=50, description=f"The event types it receives; none: every type. Known: {_KNOWN}."
    ),
]


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    event_types: EventTypes = []
    description: Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION)] = ""


class EndpointChange(msgspec.Struct, forbid_unknown_fields=True):
    """What to change; a field left out stays as it is. `enabled: true` also clears a failure streak."""

    url: Url | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = None


class EndpointOut(msgspec.Struct):
    id: UUID
    url: str
    description: str
    event_types: list[str]  # empty: every event type
    enabled: bool
    # Why it is disabled (by the publisher, a 410, or five days of failures); None while enabled.
    disabled_reason: str | None
    # Failing with no success since then; None while deliveries succeed.
    failing_since: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        enabled = endpoint.disabled_at is None
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            enabled=enabled,
            disabled_reason=None if enabled else endpoint.disabled_reason or "Disabled.",
            failing_since=endpoint.failing_since,
            created_at=endpoint.created_at,
        )


class EndpointCreated(msgspec.Struct):
    endpoint: EndpointOut
    # The signing secret (whsec_...): in this answer only, never again.
    secret: str


class SecretOut(msgspec.Struct):
    # The new signing secret: in this answer only, never again.
    secret: str
    # Until then deliveries are signed with the old secret too, so receivers can switch over.
    previous_valid_until: datetime | None


class AttemptOut(msgspec.Struct):
    id: UUID
    message_id: str  # the message's `webhook-id`, the same on every attempt
    event_type: str
    at: datetime
    status: int | None  # the HTTP status; None when there was no answer
    latency_ms: float
    excerpt: str  # the start of the answer
    error: str | None  # what went wrong, in a sentence; None when nothing did

    @classmethod
    def of(cls, attempt: WebhookAttempt, message: WebhookMessage) -> AttemptOut:
        return cls(
            id=attempt.id,
            message_id=message.message_id,
            event_type=message.event_type,
            at=attempt.created_at,
            status=attempt.status,
            latency_ms=attempt.latency_ms,
            excerpt=attempt.excerpt,
            error=attempt.error or None,
        )


class MessageOut(msgspec.Struct):
    id: UUID  # what a replay names
    message_id: str  # the `webhook-id`
    event_type: str
    state: MessageState
    attempts: int
    next_attempt_at: datetime | None  # None once delivered or failed
    delivered_at: datetime | None

    @classmethod
    def of(cls, message: WebhookMessage) -> MessageOut:
        pending = message.state == MessageState.PENDING
        return cls(
            id=message.id,
            message_id=message.message_id,
            event_type=message.event_type,
            state=MessageState(message.state),
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at if pending else None,
            delivered_at=message.delivered_at,
        )
