"""A subscription's states, as Stripe names them, and where a checkout stands; free of I/O, so the
pure policy and every page use the same names."""

from __future__ import annotations

from enum import StrEnum


class SubscriptionStatus(StrEnum):
    """Stripe's `subscription.status`, spelled as Stripe spells it (the values are stored)."""

    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"


# A subscription in one of these may still give access (the policy says until when).
LIVE_STATUSES = frozenset(
    {SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}
)
# Never paid at all: left out of members and revenue.
NEVER_PAID = frozenset({SubscriptionStatus.INCOMPLETE, SubscriptionStatus.INCOMPLETE_EXPIRED})
# Over for good: Stripe never moves a subscription out of these.
FINAL_STATUSES = frozenset({SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED})


class CheckoutState(StrEnum):
    """Where a reader's checkout stands when they come back from Stripe."""

    ACTIVE = "active"  # paid (or trial started): its grants are live now
    PENDING = "pending"  # not paid yet, or Stripe not yet settled: ask again shortly
    EXPIRED = "expired"  # abandoned: nothing was bought
    ENDED = "ended"  # it was bought, and what it bought has ended since (an old success URL)
