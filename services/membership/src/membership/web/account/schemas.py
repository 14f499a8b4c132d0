"""What the account pages show: plain values, already in words, for the templates."""

from __future__ import annotations

from uuid import UUID

import msgspec


class SubscriptionView(msgspec.Struct, frozen=True):
    id: UUID
    tier_name: str
    where: str  # the publication's name, or the platform's membership
    price: str  # "$5 a month", or "" when the price is unknown
    status: str
    detail: str
    can_cancel: bool
    can_resume: bool
    live: bool


class EntitlementView(msgspec.Struct, frozen=True):
    key: str
    name: str
    source: str
    until: str  # a date, or "" when it has no end


class FreeStoriesView(msgspec.Struct, frozen=True):
    publication: str
    used: int
    allowance: int
    remaining: int


class PublishingView(msgspec.Struct, frozen=True):
    """A publication whose staff the reader is on: its dashboard is at /account/publications/{slug}."""

    slug: str
    name: str
    role: str  # "owner" or "editor"


class SessionView(msgspec.Struct, frozen=True):
    id: UUID
    device: str
    client_address: str
    signed_in: str
    last_used: str
    current: bool


class ReceivedGiftView(msgspec.Struct, frozen=True):
    """A gift the reader redeemed, and how it stands: "until 7 January 2027", "ended on ..."."""

    tier_name: str
    where: str
    length: str  # "1 month"
    giver: str
    state: str
    ended: bool


class AccountView(msgspec.Struct, frozen=True):
    name: str
    email: str
    subscriptions: list[SubscriptionView]
    entitlements: list[EntitlementView]
    free_stories: list[FreeStoriesView]
    sessions: list[SessionView]
    has_billing: bool
    publishing: list[PublishingView]
    gifts_received: list[ReceivedGiftView]
