"""Who gets access from a subscription, as a pure function of its state and the time.

- `trialing`: the trial grants until the trial ends.
- `active`: the subscription grants until the period ends, plus a leeway for a late renewal
  webhook; with cancel-at-period-end, exactly until the period ends.
- `past_due`: keeps access for the grace period, counted from the renewal that failed.
- `unpaid`, `canceled`, `incomplete_expired`, `paused`: no access; `incomplete`: never any.
- revoked (a dispute, or a full refund): no access, at once, for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from membership.grants.states import GrantSource
from membership.subscriptions.states import SubscriptionStatus


@dataclass(frozen=True)
class SubscriptionState:
    status: SubscriptionStatus
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_start: datetime | None
    trial_end: datetime | None
    created_at: datetime
    revoked: bool


@dataclass(frozen=True)
class Access:
    live: bool
    starts_at: datetime
    ends_at: datetime | None = None
    revoke: bool = False


def access(
    state: SubscriptionState, *, now: datetime, grace: timedelta, leeway: timedelta
) -> dict[GrantSource, Access]:
    """What each source (`trial`, `subscription`) of this subscription grants now."""
    # Never a start in our future: Stripe's test clocks (and the sandbox's) run ahead of ours.
    trial_start = min(state.trial_start or state.created_at, now)
    paid_start = min(state.trial_end or state.created_at, now)
    none = {
        GrantSource.TRIAL: Access(False, trial_start),
        GrantSource.SUBSCRIPTION: Access(False, paid_start),
    }
    if state.revoked:
        return {name: Access(False, a.starts_at, revoke=True) for name, a in none.items()}
    if state.status == SubscriptionStatus.TRIALING and state.trial_end:
        ends = state.trial_end if state.cancel_at_period_end else state.trial_end + leeway
        return none | {GrantSource.TRIAL: Access(ends > now, trial_start, ends)}
    if state.status == SubscriptionStatus.ACTIVE and state.current_period_end:
        ends = state.current_period_end if state.cancel_at_period_end else state.current_period_end + leeway
        return none | {GrantSource.SUBSCRIPTION: Access(ends > now, paid_start, ends)}
    if state.status == SubscriptionStatus.PAST_DUE and state.current_period_start:
        ends = state.current_period_start + grace
        return none | {GrantSource.SUBSCRIPTION: Access(ends > now, paid_start, ends)}
    return none
