"""A subscriber whose renewal failed before the import: adopted past due, under the grace rule.

A module of its own: it moves the sandbox's clock a month on, which the module's stack shares.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from membership.grants.models import Grant
from membership.subscriptions.models import Subscription
from tests.membership.conftest import Stack
from tests.membership.imports.conftest import (
    OldAccount,
    db,
    email,
    map_price,
    publication_with_tier,
    run_import,
)


async def test_past_due_is_adopted_with_access_for_the_grace_period_from_the_failed_renewal(
    stack: Stack,
) -> None:
    slug, _ = await publication_with_tier(stack)
    old = await OldAccount.made(stack)
    await map_price(stack, slug, old.price, "Members")
    member = email("past-due")
    customer, sub_id = await old.subscriber(member, card="pm_card_chargeCustomerFail")
    await stack.advance(days=31)  # the renewal fails: past due, Stripe retrying
    remote = await old.sdk.v1.subscriptions.retrieve_async(sub_id)
    assert remote.status == "past_due"

    report = await run_import(stack, slug, f"email,stripe_customer_id\n{member},{customer}\n")
    assert report.rows[0].does[-1] == f"adopt {sub_id} (past_due) into Members"
    async with db(stack) as session:
        adopted = await session.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == sub_id)
        )
        assert adopted is not None and adopted.status == "past_due"
        [grant] = list(await session.scalars(select(Grant).where(Grant.reader_id == adopted.reader_id)))
    renewal = datetime.fromtimestamp(remote["items"].data[0].current_period_start, UTC)
    grace = timedelta(days=stack.settings.past_due_grace_days)
    assert grant.ends_at == renewal + grace and grant.revoked_at is None
