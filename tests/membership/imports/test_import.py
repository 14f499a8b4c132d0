"""Importing members against the billing stack: a dry run against the import, twice changes nothing,
bad rows with their lines, all or nothing, and Stripe subscriptions adopted (made straight through
stripe-python, no Checkout), then kept right by their webhooks and by reconcile. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from membership.grants.models import Grant
from membership.grants.services import GrantService
from membership.imports.services import ImportFailed, Outcome, PriceImport
from membership.lib.stripe_client import StripeApi
from membership.readers.models import Reader
from membership.subscriptions.models import StripeCustomer, Subscription
from membership.subscriptions.reconcile import reconcile_all
from tests.membership.conftest import Stack
from tests.membership.imports.conftest import (
    OldAccount,
    db,
    email,
    map_price,
    publication_with_tier,
    run_import,
)
from tollgate_common.problems import BadRequest, NotFound

PLAIN = "email,name,tier,stripe_customer_id,comp_until,signed_up_at\n"


async def grants_of(stack: Stack, address: str) -> list[Grant]:
    async with db(stack) as session:
        reader = await session.scalar(select(Reader).where(Reader.email == address))
        if reader is None:
            return []
        return list(await session.scalars(select(Grant).where(Grant.reader_id == reader.id)))


async def live_keys(stack: Stack, address: str) -> set[str]:
    async with db(stack) as session:
        reader = await session.scalar(select(Reader).where(Reader.email == address))
        assert reader is not None
        return await GrantService(session).keys(reader.id)


async def subscription(stack: Stack, stripe_id: str) -> Subscription | None:
    async with db(stack) as session:
        found: Subscription | None = await session.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == stripe_id)
        )
        return found


async def tally(stack: Stack) -> dict[str, Any]:
    """What an import could change: readers, grants, subscriptions, customers, token versions."""
    async with db(stack) as session:
        return {
            "readers": await session.scalar(select(func.count()).select_from(Reader)),
            "grants": sorted(
                (str(g.reader_id), g.key, g.source, g.source_id, g.ends_at, g.revoked_at)
                for g in await session.scalars(select(Grant))
            ),
            "subscriptions": await session.scalar(select(func.count()).select_from(Subscription)),
            "customers": await session.scalar(select(func.count()).select_from(StripeCustomer)),
            "versions": sorted(
                (r.email, r.entitlement_version) for r in await session.scalars(select(Reader))
            ),
        }


def lines(report: Any, outcome: Outcome) -> list[int]:
    return [r.line for r in report.of(outcome)]


async def test_dry_run_then_import_then_again_changes_nothing(stack: Stack) -> None:
    slug, _ = await publication_with_tier(stack)
    old = await OldAccount.made(stack)
    await map_price(stack, slug, old.price, "members")
    paying = email("paying")
    customer, sub_id = await old.subscriber(paying)
    known = await stack.reader()  # a reader who signed in before the import
    known_email = (await known.get("/api/me")).json()["email"]
    comped = email("comp")
    text = (
        PLAIN
        + f"{paying},Pat Paying,,{customer},,2021-05-06\n"
        + f"{comped},Cam,Members,,2099-12-31,\n"
        + f"{known_email.upper()},,,,,\n"
        + f"{email()},,Platinum,,,\n"
        + "not-an-email,,,,,\n"
        + f"{email()},,,cus_nobodyhere,,\n"
        + f"{paying},Pat Again,,,,\n"
    )
    dry = await run_import(stack, slug, text, dry_run=True)
    assert (lines(dry, Outcome.CREATE), lines(dry, Outcome.MATCH)) == ([2, 3], [4])
    reasons = {r.line: r.reason for r in dry.of(Outcome.SKIP)}
    assert reasons[5].startswith("no tier named “Platinum” (tiers: Members)")
    assert reasons[6] == "“not-an-email” is not an email address"
    assert reasons[7] == "Stripe has no customer cus_nobodyhere"
    assert reasons[8] == "the same email as line 2"
    assert dry.summary() == (
        "7 rows (plain): would create 2 readers, would match 1 reader (1 already imported), "
        "would skip 4 rows."
    )
    [pat] = [r for r in dry.rows if r.line == 2]
    assert pat.does == [
        "a new reader named Pat Paying",
        f"link Stripe customer {customer}",
        f"adopt {sub_id} (active) into Members",
    ]
    assert await grants_of(stack, paying) == [] and await subscription(stack, sub_id) is None

    done = await run_import(stack, slug, text)
    assert [(r.line, r.outcome, r.does, r.reason) for r in done.rows] == [
        (r.line, r.outcome, r.does, r.reason) for r in dry.rows
    ]
    adopted = await subscription(stack, sub_id)
    assert adopted is not None and adopted.status == "active" and adopted.price is not None
    assert adopted.price.stripe_price_id == old.price and adopted.price.archived_at is not None
    [paid_grant] = await grants_of(stack, paying)
    assert (paid_grant.key, paid_grant.source, paid_grant.revoked_at) == (f"pub:{slug}", "subscription", None)
    [comp_grant] = await grants_of(stack, comped)
    assert comp_grant.source == "comp" and comp_grant.ends_at == datetime(2100, 1, 1, tzinfo=UTC)
    async with db(stack) as session:
        pat_reader = await session.scalar(select(Reader).where(Reader.email == paying))
        assert pat_reader is not None and pat_reader.display_name == "Pat Paying"
        assert pat_reader.created_at == datetime(2021, 5, 6, tzinfo=UTC)
    # No new subscription, no new charge: the one invoice is the one from before Tollgate.
    assert len((await old.sdk.v1.subscriptions.list_async(params={"customer": customer})).data) == 1
    assert len((await old.sdk.v1.invoices.list_async(params={"customer": customer})).data) == 1

    before = await tally(stack)
    again = await run_import(stack, slug, text)
    assert again.summary() == (
        "7 rows (plain): created 0 readers, matched 3 readers (3 already imported), skipped 4 rows."
    )
    assert await tally(stack) == before
    await known.aclose()


async def test_a_row_that_fails_when_written_leaves_nothing_of_the_run(stack: Stack) -> None:
    slug, _ = await publication_with_tier(stack)
    old = await OldAccount.made(stack)
    await map_price(stack, slug, old.price, "Members")
    fine, broken = email("fine"), email("broken")
    fine_customer, _ = await old.subscriber(fine)
    # Sold by another Tollgate once: its metadata names a tier this one never had.
    broken_customer, _ = await old.subscriber(
        broken, metadata={"tollgate_tier_id": "6d1f7a3e-0000-4000-8000-000000000000"}
    )
    text = PLAIN + f"{fine},,,{fine_customer},,\n{email()},,Members,,,\n{broken},,,{broken_customer},,\n"
    before = await tally(stack)
    with pytest.raises(ImportFailed, match=r"Nothing was imported: line 4 \(broken-"):
        await run_import(stack, slug, text)
    assert await tally(stack) == before


async def test_cancelled_but_not_lapsed_keeps_access_until_the_period_ends_then_webhooks_take_over(
    stack: Stack,
) -> None:
    slug, _ = await publication_with_tier(stack)
    old = await OldAccount.made(stack)
    await map_price(stack, slug, old.price, "Members")
    leaving, staying = email("leaving"), email("staying")
    leaving_customer, leaving_sub = await old.subscriber(leaving, cancel_at_period_end=True)
    staying_customer, staying_sub = await old.subscriber(staying)
    await stack.settle()  # their creation events came in before the import: not ours then
    assert await subscription(stack, leaving_sub) is None
    text = "id,email,name,complimentary_plan,stripe_customer_id,created_at,deleted_at,tiers\n" + (
        f"1,{leaving},,false,{leaving_customer},,,Gold\n2,{staying},,false,{staying_customer},,,Gold\n"
    )
    await run_import(stack, slug, text)
    remote = await old.sdk.v1.subscriptions.retrieve_async(leaving_sub)
    period_end = datetime.fromtimestamp(remote["items"].data[0].current_period_end, UTC)
    [grant] = await grants_of(stack, leaving)
    assert grant.ends_at == period_end and grant.revoked_at is None  # no leeway once cancelled
    [kept] = await grants_of(stack, staying)
    assert kept.ends_at is not None and kept.ends_at > period_end  # renewing: the leeway on top

    # From now on Stripe's signed webhooks move them: the one staying cancels at period end too...
    await old.sdk.v1.subscriptions.update_async(staying_sub, params={"cancel_at_period_end": True})
    await stack.settle()
    adopted = await subscription(stack, staying_sub)
    assert adopted is not None and adopted.cancel_at_period_end
    [kept] = await grants_of(stack, staying)
    assert kept.ends_at == adopted.current_period_end
    # ...and the one leaving is cancelled now: access ends with it.
    assert await live_keys(stack, leaving) == {f"pub:{slug}"}
    await old.sdk.v1.subscriptions.cancel_async(leaving_sub)
    await stack.settle()
    gone = await subscription(stack, leaving_sub)
    assert gone is not None and gone.status == "canceled"
    assert await live_keys(stack, leaving) == set()


async def test_reconcile_leaves_them_alone_before_and_keeps_them_right_after(stack: Stack) -> None:
    slug, _ = await publication_with_tier(stack)
    old = await OldAccount.made(stack)
    await map_price(stack, slug, old.price, "Members")
    member = email("reconciled")
    customer, sub_id = await old.subscriber(member)
    await stack.settle()  # its creation events handled now, not after the import (they would sync it)
    await reconcile_all(stack.settings, show_progress=False)
    assert await subscription(stack, sub_id) is None  # not a Tollgate reader's yet: not ours

    await run_import(stack, slug, PLAIN + f"{member},,,{customer},,\n")
    await stack.settle()
    await stack.control("post", "/_sandbox/delivery", json={"mode": "hold"})  # webhooks lost
    try:
        await old.sdk.v1.subscriptions.update_async(sub_id, params={"cancel_at_period_end": True})
        report = await reconcile_all(stack.settings, show_progress=False)
    finally:
        await stack.control("post", "/_sandbox/delivery", json={"mode": "normal"})
        await stack.control("post", "/_sandbox/delivery/flush")
    assert f"repaired {sub_id} (active)" in report.changes
    adopted = await subscription(stack, sub_id)
    assert adopted is not None and adopted.cancel_at_period_end
    [grant] = await grants_of(stack, member)
    assert grant.ends_at == adopted.current_period_end


async def test_unmapped_live_subscriptions_skip_the_row_and_ended_ones_do_not_matter(stack: Stack) -> None:
    slug, _ = await publication_with_tier(stack)
    old = await OldAccount.made(stack)
    unmapped, ended = email("unmapped"), email("ended")
    unmapped_customer, unmapped_sub = await old.subscriber(unmapped)
    ended_customer, ended_sub = await old.subscriber(ended)
    await old.sdk.v1.subscriptions.cancel_async(ended_sub)
    report = await run_import(
        stack, slug, PLAIN + f"{unmapped},,,{unmapped_customer},,\n{ended},,,{ended_customer},,\n"
    )
    [skipped] = report.of(Outcome.SKIP)
    assert skipped.line == 2 and skipped.reason == (
        f"Stripe subscription {unmapped_sub} (active) is on price {old.price}, which maps to no tier: "
        f"map it first (`membership import map-price {old.price} TIER`)"
    )
    [linked] = report.of(Outcome.CREATE)
    assert linked.does == ["a new reader", f"link Stripe customer {ended_customer}"]
    assert await grants_of(stack, ended) == [] and await grants_of(stack, unmapped) == []


async def test_mapping_prices_lists_them_and_refuses_what_a_tier_cannot_take(stack: Stack) -> None:
    slug, tier = await publication_with_tier(stack)
    old = await OldAccount.made(stack, amount=900)
    weekly = await old.sdk.v1.prices.create_async(
        params={"product": (await old.sdk.v1.prices.retrieve_async(old.price)).product, "currency": "usd",
                "unit_amount": 100, "recurring": {"interval": "week"}}  # type: ignore[typeddict-item]
    )  # fmt: skip
    async with db(stack) as session:
        prices = PriceImport(session, StripeApi(stack.settings))
        found = {f.remote.id: f for f in await prices.found()}
        assert found[old.price].tier is None and found[old.price].remote.product_name == "Old Membership"
        ours = found[tier["prices"][0]["stripe_price_id"]]
        assert ours.made_by_tollgate and ours.tier is not None and ours.tier.name == "Members"
    with pytest.raises(BadRequest, match="charged every 1 week"):
        await map_price(stack, slug, weekly.id, "Members")
    with pytest.raises(NotFound, match="Stripe has no price price_nope"):
        await map_price(stack, slug, "price_nope", "Members")
    with pytest.raises(NotFound, match="has no tier “Gold”"):
        await map_price(stack, slug, old.price, "Gold")
    await map_price(stack, slug, old.price, "Members")
    await map_price(stack, slug, old.price, "Members")  # again: nothing more
    async with db(stack) as session:
        rows = await PriceImport(session, StripeApi(stack.settings)).found()
        [mapped] = [f for f in rows if f.remote.id == old.price]
        assert mapped.tier is not None and mapped.tier.name == "Members"


async def test_substack_paid_members_are_found_by_email_and_comps_take_the_only_tier(stack: Stack) -> None:
    slug, _ = await publication_with_tier(stack)
    old = await OldAccount.made(stack)
    await map_price(stack, slug, old.price, "Members")
    paid, comped, lost = email("substack-paid"), email("substack-comp"), email("substack-lost")
    _, sub_id = await old.subscriber(paid)
    text = (
        "Email,Name,Subscription type,Created at,Expiry\n"
        f"{paid},Sub Stack,paid (monthly),2022-01-01,\n"
        f"{comped},,comp,2022-01-01,2099-01-31\n"
        f"{lost},,founding,2022-01-01,\n"
    )
    report = await run_import(stack, slug, text)
    assert [(r.line, r.outcome) for r in report.rows] == [
        (2, Outcome.CREATE),
        (3, Outcome.CREATE),
        (4, Outcome.SKIP),
    ]
    assert report.rows[2].reason.startswith("paid, but no Stripe customer has this email")
    assert await subscription(stack, sub_id) is not None
    [comp] = await grants_of(stack, comped)
    assert comp.source == "comp" and comp.ends_at == datetime(2099, 2, 1, tzinfo=UTC)
