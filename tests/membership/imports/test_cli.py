"""`membership import prices`, `map-price` and `members`, run as the real CLI against the billing stack."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from membership.subscriptions.models import Subscription
from tests.membership.conftest import Stack
from tests.membership.imports.conftest import OldAccount, db, email, publication_with_tier
from tests.membership.stripe_events.test_operator_commands import run


async def cli(stack: Stack, *args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(run, stack, "import", *args)
    return done.returncode, done.stdout, done.stderr


async def test_list_prices_map_one_then_import_members_dry_run_and_for_real(
    stack: Stack, tmp_path: Path
) -> None:
    slug, _ = await publication_with_tier(stack)
    old = await OldAccount.made(stack, amount=1200)
    member = email("cli")
    customer, sub_id = await old.subscriber(member)

    code, out, err = await cli(stack, "prices")
    assert code == 0, err
    [line] = [x for x in out.splitlines() if x.startswith(old.price)]
    assert line == f"{old.price}  Old Membership  $12/month  not mapped"
    assert "-> Members  (made by Tollgate)" in out

    code, out, err = await cli(stack, "map-price", old.price, "Gold", "--publication", slug)
    assert code == 1 and "has no tier “Gold” (its tiers: Members)" in err
    code, out, err = await cli(stack, "map-price", old.price, "members", "--publication", slug)
    assert code == 0, err
    assert out.strip() == f"{old.price} ($12/month) maps to Members."

    export = tmp_path / "ghost.csv"
    export.write_text(
        "id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,"
        "deleted_at,labels,tiers\n"
        f"1,{member},,,true,false,{customer},2023-01-01T00:00:00.000Z,,,Members\n"
        "2,broken,,,true,false,,,,,\n"
    )
    code, out, err = await cli(stack, "members", str(export), "--publication", slug, "--dry-run")
    assert code == 0, err
    assert out.splitlines() == [
        "2 rows (ghost): would create 1 reader, would match 0 readers (0 already imported), "
        "would skip 1 row.",
        f"  line 2: {member}: a new reader; link Stripe customer {customer}; "
        f"adopt {sub_id} (active) into Members",
        "  line 3: skipped broken: “broken” is not an email address",
        "A dry run: nothing was changed.",
    ]
    async with db(stack) as session:
        assert (
            await session.scalar(select(Subscription).where(Subscription.stripe_subscription_id == sub_id))
            is None
        )

    code, out, err = await cli(stack, "members", str(export), "--publication", slug)
    assert code == 0, err
    assert out.splitlines()[0].startswith("2 rows (ghost): created 1 reader, matched 0 readers")
    code, out, err = await cli(stack, "members", str(export), "--publication", slug, "--format", "ghost")
    assert code == 0, err
    assert out.splitlines() == [
        "2 rows (ghost): created 0 readers, matched 1 reader (1 already imported), skipped 1 row.",
        "  line 3: skipped broken: “broken” is not an email address",
    ]
    async with db(stack) as session:
        adopted = await session.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == sub_id)
        )
        assert adopted is not None and adopted.status == "active"


async def test_a_file_or_publication_it_cannot_use_is_one_clear_error(stack: Stack, tmp_path: Path) -> None:
    slug, _ = await publication_with_tier(stack)
    odd = tmp_path / "odd.csv"
    odd.write_text("name,colour\nAnn,red\n")
    code, out, err = await cli(stack, "members", str(odd), "--publication", slug)
    assert out == ""
    assert code == 1 and "The header has no `email` column (it has name, colour)." in err
    assert "Traceback" not in err
    code, _, err = await cli(stack, "members", str(odd), "--publication", "no-such-pub")
    assert code == 1 and "There is no publication `no-such-pub`." in err
    code, _, err = await cli(stack, "members", str(tmp_path / "missing.csv"), "--publication", slug)
    assert code == 2 and "does not exist" in err
