"""Replays are quiet: an event that changes nothing changes no version and writes no feed entry.

After an outage Stripe sends its events again, and an operator may requeue the processed ones
and run `membership stripe reconcile`. None of that may bump a reader's entitlement version or
add to the revocation feed when their grants stay what they were: every gateway would drop the
reader's cached tokens for nothing. Readers here trial, pay, renew, cancel, change plans and
dispute through the sandbox (whose clock runs ahead of ours, as Stripe's test clocks do); then
every event the sandbox sent is sent again, requeued and reconciled. A real change afterwards
still bumps its reader once, with one feed entry, and no one else.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from membership.grants.models import EntitlementChange, Grant
from membership.readers.models import Reader
from membership.stripe_events.models import StripeEvent
from membership.subscriptions.reconcile import reconcile_all
from tests.membership.conftest import DECLINED_CARD, Stack, keys, subscriptions
from tests.membership.stripe_events.test_replay import cli

Ledger = dict[str, Any]


async def reader_id(reader: httpx.AsyncClient) -> str:
    found: str = (await reader.get("/api/me")).json()["id"]
    return found


async def ledger(stack: Stack) -> Ledger:
    """Every reader's version, the feed, and every grant row's token-relevant fields."""
    engine = create_async_engine(stack.database_url)
    async with engine.connect() as conn:
        versions = {str(r.id): r.entitlement_version for r in await conn.execute(select(Reader))}
        feed = [
            (str(r.reader_id), r.version)
            for r in await conn.execute(select(EntitlementChange).order_by(EntitlementChange.seq))
        ]
        grants = sorted(
            (str(g.reader_id), g.key, g.source, g.source_id, g.starts_at, g.ends_at, g.revoked_at)
            for g in await conn.execute(select(Grant))
        )
    await engine.dispose()
    return {"versions": versions, "feed": feed, "grants": grants}


def price(tier: dict[str, Any]) -> str:
    return str(tier["prices"][0]["id"])


async def sent_event_ids(stack: Stack) -> list[str]:
    listed = await stack.control("get", "/_sandbox/events")
    return [e["id"] for e in listed["events"]]


async def replay_everything(stack: Stack, tmp_path: Path) -> list[str]:
    """Stripe's redelivery of every event, the operator's requeue of them all, then reconcile."""
    event_ids = await sent_event_ids(stack)
    for event_id in event_ids:
        await stack.control("post", f"/_sandbox/events/{event_id}/resend")
    await stack.settle()
    engine = create_async_engine(stack.database_url)
    async with engine.connect() as conn:
        stored = list((await conn.execute(select(StripeEvent.id))).scalars())
    await engine.dispose()
    assert stored and set(stored) <= set(event_ids)  # the kinds membership handles, stored once each
    requeued = await asyncio.to_thread(cli, stack.database_url, tmp_path, "stripe", "replay", *stored)
    assert requeued.returncode == 0, requeued.stderr
    assert f"Queued {len(stored)} event(s) for replay." in requeued.stdout
    await stack.settle(within=120)
    assert await stack.events("failed") == []
    assert await stack.events("pending") == []
    report = await reconcile_all(stack.settings, show_progress=False)
    return report.changes


def bumped(before: Ledger, after: Ledger) -> dict[str, int]:
    """How far each reader's version rose."""
    return {
        r: v - before["versions"].get(r, 0)
        for r, v in after["versions"].items()
        if v != before["versions"].get(r)
    }


async def test_replaying_every_event_and_reconciling_changes_no_version(stack: Stack, tmp_path: Path) -> None:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    basic = await stack.tier(owner, slug)
    premium = await stack.tier(
        owner, slug, name="Premium", entitlement_keys=[f"pub:{slug}", f"pub:{slug}:premium"]
    )
    trial = await stack.tier(owner, slug, name="Try it", trial_days=7, entitlement_keys=[f"pub:{slug}:try"])
    sdk = stack.sdk()

    steady = await stack.reader()
    steady_paid = await stack.subscribe(steady, price(basic))
    converts = await stack.reader()
    await stack.subscribe(converts, price(trial))
    leaver = await stack.reader()
    await stack.subscribe(leaver, price(basic))
    [leaving] = await subscriptions(leaver)
    assert (await leaver.post(f"/api/me/subscriptions/{leaving['id']}/cancel")).status_code == 200
    switcher = await stack.reader()
    switched_from = await stack.subscribe(switcher, price(basic))
    await stack.subscribe(switcher, price(premium))
    await sdk.v1.subscriptions.cancel_async(switched_from["subscription"])  # basic -> premium
    disputed = await stack.reader()
    disputed_paid = await stack.subscribe(disputed, price(premium))
    await stack.control("post", f"/_sandbox/charges/{disputed_paid['charge']}/dispute")
    declined = await stack.reader()
    await stack.subscribe(declined, price(basic), card=DECLINED_CARD)
    await stack.settle()

    ids = {name: await reader_id(r) for name, r in (("steady", steady), ("converts", converts))}
    ids |= {name: await reader_id(r) for name, r in (("leaver", leaver), ("switcher", switcher))}
    start = await ledger(stack)
    await stack.advance(8)  # the trial turns paid: one change to the reader's tokens, not two
    converted = await ledger(stack)
    assert bumped(start, converted) == {ids["converts"]: 1}
    await stack.advance(31)  # renewals and the leaver's period end: one bump each
    assert bumped(converted, await ledger(stack)) == {
        ids["steady"]: 1,
        ids["converts"]: 1,
        ids["leaver"]: 1,
        ids["switcher"]: 1,
    }
    # Subscribed once the sandbox's clock is weeks ahead of ours: a trial that starts in our future.
    trialing = await stack.reader()
    await stack.subscribe(trialing, price(trial))
    late = await stack.reader()
    await stack.subscribe(late, price(basic))
    await stack.settle()

    assert await keys(steady) == [f"pub:{slug}"]
    assert await keys(converts) == [f"pub:{slug}:try"]
    assert await keys(leaver) == []
    assert await keys(switcher) == [f"pub:{slug}", f"pub:{slug}:premium"]
    assert await keys(disputed) == []
    assert await keys(declined) == []
    assert await keys(trialing) == [f"pub:{slug}:try"]
    assert await keys(late) == [f"pub:{slug}"]
    assert [s["status"] for s in await subscriptions(trialing)] == ["trialing"]
    assert await stack.events("failed") == []

    before = await ledger(stack)
    assert len(before["feed"]) > 0 and sum(before["versions"].values()) == len(before["feed"])

    repaired = await replay_everything(stack, tmp_path)
    after = await ledger(stack)
    added = len(after["feed"]) - len(before["feed"])
    assert bumped(before, after) == {}, f"versions rose, {added} feed entries added"
    assert after["feed"] == before["feed"]
    assert after["grants"] == before["grants"]
    assert repaired == []  # reconcile found everything already right

    # A real change: the steady reader cancels (access now ends at the period's end, no leeway).
    steady_id = await reader_id(steady)
    [sub] = await subscriptions(steady)
    assert (await steady.post(f"/api/me/subscriptions/{sub['id']}/cancel")).status_code == 200
    await stack.settle()  # its customer.subscription.updated arrives and changes nothing more
    changed = await ledger(stack)
    assert changed["versions"] == before["versions"] | {steady_id: before["versions"][steady_id] + 1}
    assert changed["feed"] == before["feed"] + [(steady_id, before["versions"][steady_id] + 1)]
    assert await keys(steady) == [f"pub:{slug}"]  # still inside the paid period
    assert steady_paid["subscription"] in {g[3] for g in changed["grants"] if g[0] == steady_id}

    # A second real change of another kind: the late trial is cancelled at once (its key goes).
    trialing_id = await reader_id(trialing)
    [trial_sub] = await subscriptions(trialing)
    await sdk.v1.subscriptions.cancel_async(
        next(g[3] for g in changed["grants"] if g[0] == trialing_id and g[2] == "trial")
    )
    await stack.settle()
    assert await keys(trialing) == []
    ended = await ledger(stack)
    assert ended["versions"] == changed["versions"] | {trialing_id: changed["versions"][trialing_id] + 1}
    assert ended["feed"] == changed["feed"] + [(trialing_id, changed["versions"][trialing_id] + 1)]
    assert trial_sub["status"] == "trialing"

    # And replaying all of that again is as quiet as before.
    assert await replay_everything(stack, tmp_path) == []
    final = await ledger(stack)
    assert (final["versions"], final["feed"], final["grants"]) == (
        ended["versions"],
        ended["feed"],
        ended["grants"],
    )
    assert Counter(r for r, _ in final["feed"])[steady_id] == final["versions"][steady_id]
