"""The dashboard's Import page: map a Stripe price, upload a file, read the dry run, confirm it;
bad files and cross-site posts refused, a failing row rolls the whole run back. Both databases."""

from __future__ import annotations

import base64
import html
import re

import httpx
from sqlalchemy import func, select

from membership.readers.models import Reader
from membership.subscriptions.models import Subscription
from tests.membership.conftest import Stack
from tests.membership.imports.conftest import OldAccount, db, email
from tests.membership.web.account.test_account_pages import assert_page
from tests.membership.web.dashboard.test_dashboard_pages import assert_accessible

PLAIN = "email,name,tier,stripe_customer_id,comp_until,signed_up_at\n"


async def owner_and_publication(stack: Stack) -> tuple[httpx.AsyncClient, str]:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    await stack.tier(owner, slug)
    return owner, slug


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


async def check(owner: httpx.AsyncClient, slug: str, text: str, **fields: str) -> httpx.Response:
    return await owner.post(
        f"/account/publications/{slug}/imports/check",
        files={"file": ("members.csv", text.encode(), "text/csv")},
        data=fields,
    )


async def readers_named(stack: Stack, *emails: str) -> int:
    async with db(stack) as session:
        found: int = await session.scalar(
            select(func.count()).select_from(Reader).where(Reader.email.in_(emails))
        )
        return found


async def test_map_a_price_upload_check_then_confirm(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    old = await OldAccount.made(stack)
    base = f"/account/publications/{slug}/imports"
    page = await owner.get(base)
    assert_page(page, 200, "Check a file", "Stripe prices", "Not mapped")
    assert_accessible(page.text)
    assert f'href="{base}" aria-current="page">Import' in page.text

    mapped = await owner.post(f"{base}/prices", data={"price": old.price, "tier": "Members"})
    assert mapped.status_code == 303 and mapped.headers["location"] == base
    page = await owner.get(base)
    assert_page(page, 200, f"Subscribers on {old.price} now belong to Members.")
    assert re.search(
        rf"<code>{old.price}</code></td><td>Old Membership</td><td>\$6 every month</td>\s*<td>Members",
        page.text,
    )

    tiers = await owner.get(f"/account/publications/{slug}/tiers")
    assert_page(tiers, 200, f"Adopted from Stripe ({old.price})", "kept for its subscribers, not offered")

    paying, comped = email("page-paying"), email("page-comp")
    customer, sub_id = await old.subscriber(paying)
    text = PLAIN + f"{paying},Pay <b>Me</b>,,{customer},,\n{comped},,Members,,,\nnope,,,,,\n"
    checked = await check(owner, slug, text)
    assert_page(
        checked,
        200,
        "What the import would do",
        "3 rows (plain): would create 2 readers, would match 0 readers (0 already imported), "
        "would skip 1 row.",
        f"a new reader named Pay <b>Me</b>; link Stripe customer {customer}; "
        f"adopt {sub_id} (active) into Members",
        "“nope” is not an email address",
    )
    assert "<b>Me</b>" not in checked.text  # escaped, as every cell
    assert_accessible(checked.text)
    assert await readers_named(stack, paying, comped) == 0  # a dry run

    confirmed = {name: hidden(checked, name) for name in ("file", "format", "tier")}
    assert base64.b64decode(confirmed["file"]) == text.encode()  # the very file, carried back
    form = {name: (None, value) for name, value in confirmed.items()}
    imported = await owner.post(f"{base}/run", files=form)
    assert_page(imported, 200, "Imported", "3 rows (plain): created 2 readers, matched 0 readers")
    assert "Import these members" not in imported.text
    assert await readers_named(stack, paying, comped) == 2
    async with db(stack) as session:
        assert await session.scalar(select(Subscription).where(Subscription.stripe_subscription_id == sub_id))
    again = await owner.post(f"{base}/run", data={"file": base64.b64encode(text.encode()).decode()})
    assert_page(again, 200, "created 0 readers, matched 2 readers (2 already imported), skipped 1 row.")
    await owner.aclose()


async def test_bad_files_cross_site_posts_strangers_and_a_failing_row_change_nothing(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    base = f"/account/publications/{slug}/imports"
    no_file = await owner.post(f"{base}/check", data={"format": "auto"}, files={"x": ("", b"", "text/csv")})
    assert_page(no_file, 400, "Choose the CSV file to import.")
    odd = await check(owner, slug, "name\nAnn\n")
    assert_page(odd, 400, "The header has no `email` column (it has name).")
    wrong = await check(owner, slug, PLAIN, format="excel")
    assert_page(wrong, 400, "Choose the file's format from the list.")
    stranger = await stack.reader()
    refused = await check(stranger, slug, PLAIN)
    assert_page(refused, 403, "Only readers on the staff")
    cross = await owner.post(f"{base}/run", data={"file": ""}, headers={"origin": "https://evil.example"})
    assert_page(cross, 403, "This form may only be sent from a page of this site.")
    forged = await owner.post(f"{base}/run", data={"file": "not base64!"})
    assert_page(forged, 400, "That confirmation is not one of this page's; check the file again.")

    old = await OldAccount.made(stack)
    await owner.post(f"{base}/prices", data={"price": old.price, "tier": "Members"})
    fine, broken = email("page-fine"), email("page-broken")
    fine_customer, _ = await old.subscriber(fine)
    broken_customer, _ = await old.subscriber(
        broken, metadata={"tollgate_tier_id": "6d1f7a3e-0000-4000-8000-000000000000"}
    )
    text = PLAIN + f"{fine},,,{fine_customer},,\n{broken},,,{broken_customer},,\n"
    failed = await owner.post(f"{base}/run", data={"file": base64.b64encode(text.encode()).decode()})
    assert_page(failed, 409, "Nothing was imported: line 3")
    assert await readers_named(stack, fine, broken) == 0
    await owner.aclose()
    await stranger.aclose()
