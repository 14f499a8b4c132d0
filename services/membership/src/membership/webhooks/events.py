"""What outgoing webhooks say: the event types, the envelope every payload shares, and the retry
schedule. Pure: no I/O.

Every payload is `{"type", "timestamp", "version", "data"}` (Standard Webhooks' shape plus our
payload `version`, which rises when its layout changes). Ordering is not promised, so each `data`
carries the entity's own version: the reader's entitlement version, a subscription's Stripe
update time. A receiver keeps the newest it has seen.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

PAYLOAD_VERSION = 1

# An endpoint failing for this long with no success is disabled, and its publication told.
DISABLE_AFTER_DAYS = 5


class EventType(StrEnum):
    MEMBER_CREATED = "member.created"
    MEMBER_UPDATED = "member.updated"
    MEMBER_STATE_CHANGED = "member.state_changed"
    ENTITLEMENT_GRANTED = "entitlement.granted"
    ENTITLEMENT_REVOKED = "entitlement.revoked"
    SUBSCRIPTION_UPDATED = "subscription.updated"
    GIFT_REDEEMED = "gift.redeemed"
    OFFER_REDEEMED = "offer.redeemed"


def envelope(event_type: EventType | str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "type": str(event_type),
        "timestamp": iso(at),
        "version": PAYLOAD_VERSION,
        "data": data,
    }


def member_data(reader: Any, version: int) -> dict[str, Any]:
    """A reader as member.* events describe them (any object with id, email, display_name)."""
    return {
        "reader_id": str(reader.id),
        "email": reader.email,
        "display_name": reader.display_name,
        "version": version,
    }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def subscription_data(sub: Any) -> dict[str, Any]:
    """A subscription as subscription.updated describes it; `version` is when we last changed it
    (milliseconds; its row is locked while it changes, so later changes have higher versions)."""
    return {
        "subscription_id": str(sub.id),
        "stripe_subscription_id": sub.stripe_subscription_id,
        "reader_id": str(sub.reader_id),
        "tier_id": str(sub.tier_id),
        "status": str(sub.status),
        "current_period_end": iso(sub.current_period_end),
        "cancel_at_period_end": bool(sub.cancel_at_period_end),
        "version": int(sub.synced_at.timestamp() * 1000),
    }


def gift_data(gift: Any) -> dict[str, Any]:
    return {
        "gift_id": str(gift.id),
        "tier_id": str(gift.tier_id),
        "months": gift.months,
        "reader_id": str(gift.redeemed_by_id),
        "redeemed_as": str(gift.redeemed_as),
        "ends_at": iso(gift.ends_at),
        "version": 1,  # a gift is redeemed once
    }


def retry_delay(attempts: int, schedule: tuple[float, ...]) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones; None: no more attempts."""
    return schedule[attempts - 1] if 1 <= attempts <= len(schedule) else None


def publication_of(key: str) -> str | None:
    """The slug a `pub:<slug>[:...]` entitlement key belongs to; None for a platform key (every
    publication's member-only stories)."""
    if not key.startswith("pub:"):
        return None
    return key.removeprefix("pub:").partition(":")[0] or None
