"""The payloads outgoing webhooks carry, as typed structs: they document each event in the OpenAPI
document (its `webhooks` section, built in `webhooks/openapi.py`), and a test checks real
deliveries against them. Every payload is the envelope (type, timestamp, version) around `data`.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class MemberData(msgspec.Struct, kw_only=True):
    """member.created (a reader's first entitlement at the publication) and member.updated."""

    reader_id: str
    email: str
    display_name: str
    version: int  # the reader's entitlement version: keep the highest you have seen


class EntitlementGrantedData(msgspec.Struct, kw_only=True):
    """A key the reader's tokens now carry, or carry until a new end."""

    reader_id: str
    key: str  # pub:<slug> (one publication) or a platform key (every publication's stories)
    ends_at: datetime | None  # None: no end; access ends on its own at this time, with no event
    version: int


class EntitlementRevokedData(msgspec.Struct, kw_only=True):
    """A key the reader's tokens no longer carry (ended early, refunded, revoked)."""

    reader_id: str
    key: str
    version: int


class Entitlement(msgspec.Struct, kw_only=True):
    key: str
    ends_at: datetime | None


class MemberStateData(msgspec.Struct, kw_only=True):
    """The reader's whole current entitlement set at this publication, read when it is sent
    (debounced; the last one wins): a receiver that only needs the state can ignore the rest."""

    reader_id: str
    email: str | None
    version: int
    entitlements: list[Entitlement]


class SubscriptionData(msgspec.Struct, kw_only=True):
    """subscription.updated: status, period end and cancel-at-period-end as Stripe now says."""

    subscription_id: str
    stripe_subscription_id: str
    reader_id: str
    tier_id: str
    status: str  # trialing, active, past_due, canceled, unpaid, incomplete, incomplete_expired, paused
    current_period_end: datetime | None
    cancel_at_period_end: bool
    version: int  # milliseconds of our last change to it


class OfferRedeemedData(SubscriptionData, kw_only=True):
    """A subscription bought through an offer, or a retention offer taken at cancellation."""

    offer_id: str


class GiftRedeemedData(msgspec.Struct, kw_only=True):
    gift_id: str
    tier_id: str
    months: int
    reader_id: str
    redeemed_as: str  # grant, or trial_extension (added to a paid subscription)
    ends_at: datetime | None
    version: int


def envelope_of(name: str, data: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The whole payload type of one event: `{type, timestamp, version, data}`."""
    return msgspec.defstruct(
        name,
        [("type", str), ("timestamp", datetime), ("version", int), ("data", data)],
        kw_only=True,
    )


DATA: dict[str, type[msgspec.Struct]] = {
    "member.created": MemberData,
    "member.updated": MemberData,
    "member.state_changed": MemberStateData,
    "entitlement.granted": EntitlementGrantedData,
    "entitlement.revoked": EntitlementRevokedData,
    "subscription.updated": SubscriptionData,
    "gift.redeemed": GiftRedeemedData,
    "offer.redeemed": OfferRedeemedData,
}

PAYLOADS: dict[str, type[msgspec.Struct]] = {
    name: envelope_of("".join(part.title() for part in name.replace(".", "_").split("_")) + "Event", data)
    for name, data in DATA.items()
}
