"""Checkout, portal, subscriptions and entitlements in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.grants.schemas import GrantOut
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import CheckoutState, SubscriptionStatus

ReturnTo = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class CheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    price_id: UUID
    # The path of the story the reader came from; checkout returns there.
    return_to: ReturnTo = "/"
    # An offer's code (its landing link's): the discount or trial it gives applies.
    offer: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class CheckoutForm(msgspec.Struct):
    """The paywall's Subscribe button: a plain HTML form, no JavaScript."""

    price_id: UUID
    return_to: ReturnTo = "/"
    offer: Annotated[str, msgspec.Meta(max_length=40)] = ""


class PortalIn(msgspec.Struct, forbid_unknown_fields=True):
    return_to: ReturnTo = "/"


class RedirectOut(msgspec.Struct):
    url: str


class CheckoutOut(msgspec.Struct):
    url: str
    session_id: str


class CheckoutConfirmed(msgspec.Struct):
    """How the reader's checkout stands, and what they are entitled to now."""

    state: CheckoutState
    keys: list[str]


class TrialsOut(msgspec.Struct):
    """The tiers whose free trial this reader has already had: checkout will not offer it again."""

    reader_id: UUID
    tier_ids: list[UUID]


class SubscriptionOut(msgspec.Struct):
    id: UUID
    tier_id: UUID
    tier_name: str
    status: SubscriptionStatus
    cancel_at_period_end: bool
    current_period_end: datetime | None
    trial_end: datetime | None
    ended_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionOut:
        return cls(
            id=s.id,
            tier_id=s.tier_id,
            tier_name=s.tier.name,
            status=s.status,
            cancel_at_period_end=s.cancel_at_period_end,
            current_period_end=s.current_period_end,
            trial_end=s.trial_end,
            ended_at=s.ended_at,
            revoked_at=s.revoked_at,
        )


class EntitlementsOut(msgspec.Struct):
    keys: list[str]
    version: int
    grants: list[GrantOut]
