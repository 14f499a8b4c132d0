"""The access policy, one row per status and circumstance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from membership.subscriptions.policy import SubscriptionState, access

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE, LEEWAY = 7 * DAY, 2 * DAY


def state(status: str, **kw: object) -> SubscriptionState:
    values: dict[str, object] = {
        "status": status,
        "cancel_at_period_end": False,
        "current_period_start": NOW - 10 * DAY,
        "current_period_end": NOW + 20 * DAY,
        "trial_start": None,
        "trial_end": None,
        "created_at": NOW - 40 * DAY,
        "revoked": False,
    }
    values.update(kw)
    return SubscriptionState(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sub", "trial_live", "paid_live", "paid_ends"),
    [
        (state("active"), False, True, NOW + 22 * DAY),  # period end plus the renewal leeway
        (state("active", cancel_at_period_end=True), False, True, NOW + 20 * DAY),  # exactly the period end
        (state("active", current_period_end=NOW - 3 * DAY), False, False, NOW - DAY),  # renewal never came
        (state("active", current_period_end=NOW - DAY), False, True, NOW + DAY),  # within the leeway
        (state("past_due", current_period_start=NOW - 2 * DAY), False, True, NOW + 5 * DAY),  # in grace
        (state("past_due", current_period_start=NOW - 8 * DAY), False, False, NOW - DAY),  # grace over
        (state("unpaid"), False, False, None),
        (state("canceled"), False, False, None),
        (state("incomplete"), False, False, None),
        (state("incomplete_expired"), False, False, None),
        (state("paused"), False, False, None),
        (state("active", revoked=True), False, False, None),  # disputed or refunded
    ],
)
def test_paid_access(
    sub: SubscriptionState, trial_live: bool, paid_live: bool, paid_ends: datetime | None
) -> None:
    result = access(sub, now=NOW, grace=GRACE, leeway=LEEWAY)
    assert result["trial"].live is trial_live
    assert result["subscription"].live is paid_live
    if paid_ends is not None:
        assert result["subscription"].ends_at == paid_ends


def test_trial_grants_until_its_end_then_the_subscription_takes_over() -> None:
    trial = state("trialing", trial_start=NOW - DAY, trial_end=NOW + 6 * DAY)
    during = access(trial, now=NOW, grace=GRACE, leeway=LEEWAY)
    assert during["trial"].live and not during["subscription"].live
    assert during["trial"].ends_at == NOW + 8 * DAY
    paid = access(state("active", trial_start=NOW - DAY, trial_end=NOW), now=NOW, grace=GRACE, leeway=LEEWAY)
    assert paid["subscription"].live and not paid["trial"].live
    assert paid["subscription"].starts_at == NOW  # paid access starts where the trial ended


def test_a_start_in_our_future_is_now() -> None:
    # A test clock ahead of ours: the trial ended "in the future", yet the paid access is live now.
    ahead = state("active", trial_start=NOW + DAY, trial_end=NOW + 8 * DAY, current_period_end=NOW + 38 * DAY)
    paid = access(ahead, now=NOW, grace=GRACE, leeway=LEEWAY)["subscription"]
    assert paid.live and paid.starts_at == NOW


def test_revoked_marks_both_sources_revoked() -> None:
    result = access(state("active", revoked=True), now=NOW, grace=GRACE, leeway=LEEWAY)
    assert all(a.revoke and not a.live for a in result.values())
