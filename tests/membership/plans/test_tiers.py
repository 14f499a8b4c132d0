"""Tiers and prices: created by staff, mirrored to Stripe Products and Prices, listed publicly.

Everything that reaches Stripe is checked in the sandbox through the real SDK; refused input is
checked to have created nothing, here (the listing) and at Stripe (the newest product).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.lib.stripe_client import StripeApi
from membership.plans.services import PlanService
from tests.membership.conftest import Stack
from tollgate_common.problems import BadRequest

MONTHLY_AND_YEARLY = [
    {"interval": "month", "currency": "usd", "unit_amount": 500},
    {"interval": "year", "currency": "usd", "unit_amount": 5000},
]


async def owner_and_publication(stack: Stack) -> tuple[httpx.AsyncClient, str]:
    owner = await stack.reader()
    return owner, await stack.publication(owner)


async def listing(stack: Stack, slug: str, *, include_archived: bool = False) -> list[dict[str, Any]]:
    """The public listing, as an anonymous visitor sees it."""
    params = {"include_archived": "true"} if include_archived else {}
    async with httpx.AsyncClient(base_url=stack.membership, timeout=30) as anonymous:
        answer = await anonymous.get(f"/api/publications/{slug}/tiers", params=params)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def newest_product(stack: Stack) -> str | None:
    products = await stack.sdk().v1.products.list_async({"limit": 1})
    return products.data[0].id if products.data else None


def is_problem(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    problem = answer.json()
    assert problem["status"] == status and problem["detail"], problem


def price_by_interval(tier: dict[str, Any], interval: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        p for p in tier["prices"] if p["interval"] == interval and not p["archived"]
    ]
    assert len(found) == 1, tier["prices"]
    return found[0]


async def test_create_mirrors_a_product_and_prices_to_stripe(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    tier = await stack.tier(
        owner, slug, name="  Supporters ", description="Every story.", prices=MONTHLY_AND_YEARLY
    )
    assert tier["name"] == "Supporters" and tier["description"] == "Every story."
    assert tier["entitlement_keys"] == [f"pub:{slug}"]  # the default: the publication's own key
    assert tier["trial_days"] == 0 and tier["archived_at"] is None
    assert tier["stripe_product_id"].startswith("prod_")

    sdk = stack.sdk()
    product = await sdk.v1.products.retrieve_async(tier["stripe_product_id"])
    assert product.active is True and product.name == "Supporters"
    assert product.metadata["tollgate_tier_id"] == tier["id"]
    assert product.metadata["tollgate_publication"] == slug

    assert len(tier["prices"]) == 2
    for interval, amount in (("month", 500), ("year", 5000)):
        ours = price_by_interval(tier, interval)
        assert ours["unit_amount"] == amount and ours["currency"] == "usd"
        assert ours["lookup_key"] == f"tollgate_{uuid.UUID(tier['id']).hex}_{interval}_usd"
        remote = await sdk.v1.prices.retrieve_async(ours["stripe_price_id"])
        assert remote.active is True
        assert remote.product == tier["stripe_product_id"]
        assert remote.unit_amount == amount and remote.currency == "usd"
        assert remote.recurring is not None and remote.recurring.interval == interval
        assert remote.lookup_key == ours["lookup_key"]
        assert remote.metadata["tollgate_price_id"] == ours["id"]
        assert remote.metadata["tollgate_tier_id"] == tier["id"]

    # Anyone may see what is on offer, without signing in.
    [listed] = await listing(stack, slug)
    assert listed["id"] == tier["id"]
    assert {p["id"] for p in listed["prices"]} == {p["id"] for p in tier["prices"]}


async def test_a_publication_grants_only_its_own_keys(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    other = await stack.publication(owner)  # the same owner's other publication
    before = await newest_product(stack)
    for keys in (
        ["member"],
        [f"pub:{other}"],
        [f"pub:{slug}", f"pub:{other}:premium"],
        [f"pub:{slug}-evil"],  # shares the prefix, is not under it
        [f"pub:{slug}x:premium"],
        [],
    ):
        refused = await owner.post(
            f"/api/publications/{slug}/tiers", json={"name": "Grabby", "entitlement_keys": keys}
        )
        is_problem(refused, 400)
    assert await listing(stack, slug, include_archived=True) == []
    assert await newest_product(stack) == before  # nothing reached Stripe either

    premium = await stack.tier(
        owner,
        slug,
        name="Premium",
        entitlement_keys=[f"pub:{slug}:premium", f"pub:{slug}", f"pub:{slug}:premium"],
    )
    assert premium["entitlement_keys"] == [f"pub:{slug}", f"pub:{slug}:premium"]  # sorted, once each
    twenty = [f"pub:{slug}:k{i:02d}" for i in range(20)]
    assert (await stack.tier(owner, slug, name="Many", entitlement_keys=twenty))["entitlement_keys"] == twenty


async def test_a_new_price_replaces_the_same_interval_and_currency(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    tier = await stack.tier(owner, slug, prices=MONTHLY_AND_YEARLY)
    old_monthly, yearly = price_by_interval(tier, "month"), price_by_interval(tier, "year")

    added = await owner.post(
        f"/api/publications/{slug}/tiers/{tier['id']}/prices",
        json={"interval": "month", "currency": "USD", "unit_amount": 700},
    )
    assert added.status_code == 201, added.text
    new_monthly = added.json()
    assert new_monthly["currency"] == "usd" and new_monthly["unit_amount"] == 700
    assert new_monthly["lookup_key"] == old_monthly["lookup_key"] and not new_monthly["archived"]

    [listed] = await listing(stack, slug)
    assert {p["id"] for p in listed["prices"]} == {new_monthly["id"], yearly["id"]}
    [with_archived] = await listing(stack, slug, include_archived=True)
    archived = {p["id"]: p["archived"] for p in with_archived["prices"]}
    assert archived == {old_monthly["id"]: True, new_monthly["id"]: False, yearly["id"]: False}

    sdk = stack.sdk()
    old_remote = await sdk.v1.prices.retrieve_async(old_monthly["stripe_price_id"])
    new_remote = await sdk.v1.prices.retrieve_async(new_monthly["stripe_price_id"])
    assert old_remote.active is False and old_remote.lookup_key is None
    assert new_remote.active is True and new_remote.lookup_key == new_monthly["lookup_key"]
    assert new_remote.unit_amount == 700
    holders = await sdk.v1.prices.list_async({"lookup_keys": [new_monthly["lookup_key"]]})
    assert [p.id for p in holders.data] == [new_monthly["stripe_price_id"]]
    assert (await sdk.v1.prices.retrieve_async(yearly["stripe_price_id"])).active is True

    # Another currency is another price: it replaces nothing.
    euros = await owner.post(
        f"/api/publications/{slug}/tiers/{tier['id']}/prices",
        json={"interval": "month", "currency": "eur", "unit_amount": 650},
    )
    assert euros.status_code == 201, euros.text
    [listed] = await listing(stack, slug)
    assert {p["id"] for p in listed["prices"]} == {new_monthly["id"], yearly["id"], euros.json()["id"]}
    assert (await sdk.v1.prices.retrieve_async(new_monthly["stripe_price_id"])).active is True


async def test_archiving_a_price_and_a_tier(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    tier = await stack.tier(owner, slug, prices=MONTHLY_AND_YEARLY)
    monthly, yearly = price_by_interval(tier, "month"), price_by_interval(tier, "year")
    sdk = stack.sdk()
    base = f"/api/publications/{slug}/tiers/{tier['id']}"

    archived = await owner.post(f"{base}/prices/{monthly['id']}/archive")
    assert archived.status_code == 200, archived.text
    assert archived.json()["archived"] is True
    assert (await sdk.v1.prices.retrieve_async(monthly["stripe_price_id"])).active is False
    [listed] = await listing(stack, slug)
    assert [p["id"] for p in listed["prices"]] == [yearly["id"]]

    # A price of another tier is not this tier's to archive.
    other = await stack.tier(owner, slug, name="Other")
    is_problem(await owner.post(f"{base}/prices/{price_by_interval(other, 'month')['id']}/archive"), 404)

    gone = await owner.post(f"{base}/archive")
    assert gone.status_code == 200, gone.text
    assert gone.json()["archived_at"] is not None
    assert {p["id"]: p["archived"] for p in gone.json()["prices"]} == {
        monthly["id"]: True,
        yearly["id"]: True,
    }
    product = await sdk.v1.products.retrieve_async(tier["stripe_product_id"])
    assert product.active is False
    assert (await sdk.v1.prices.retrieve_async(yearly["stripe_price_id"])).active is False

    assert [t["id"] for t in await listing(stack, slug)] == [other["id"]]
    with_archived = {t["id"]: t for t in await listing(stack, slug, include_archived=True)}
    assert set(with_archived) == {tier["id"], other["id"]}
    assert with_archived[tier["id"]]["archived_at"] is not None

    # An archived tier takes no new price.
    late = await owner.post(
        f"{base}/prices", json={"interval": "month", "currency": "usd", "unit_amount": 900}
    )
    is_problem(late, 409)


async def test_only_staff_create_and_change_tiers(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    tier = await stack.tier(owner, slug)
    stranger = await stack.reader()
    theirs = await stack.publication(stranger)  # staff elsewhere: no standing here
    body = {"name": "Sneaky", "prices": MONTHLY_AND_YEARLY}
    before = await newest_product(stack)
    base = f"/api/publications/{slug}/tiers"
    is_problem(await stranger.post(f"{base}/", json=body), 403)
    is_problem(
        await stranger.post(
            f"{base}/{tier['id']}/prices", json={"interval": "month", "currency": "usd", "unit_amount": 60}
        ),
        403,
    )
    is_problem(await stranger.post(f"{base}/{tier['id']}/archive"), 403)
    async with httpx.AsyncClient(base_url=stack.membership, timeout=30) as anonymous:
        is_problem(await anonymous.post(f"{base}/", json=body), 401)
        is_problem(await anonymous.post(f"{base}/{tier['id']}/archive"), 401)
    # Nor through their own publication's address: the tier is not theirs.
    own_base = f"/api/publications/{theirs}/tiers/{tier['id']}"
    price_id = tier["prices"][0]["id"]
    is_problem(await stranger.post(f"{own_base}/archive"), 404)
    is_problem(await stranger.post(f"{own_base}/prices/{price_id}/archive"), 404)
    is_problem(
        await stranger.post(
            f"{own_base}/prices", json={"interval": "month", "currency": "usd", "unit_amount": 60}
        ),
        404,
    )
    assert [t["id"] for t in await listing(stack, slug, include_archived=True)] == [tier["id"]]
    [listed] = await listing(stack, slug)
    assert listed["archived_at"] is None and len(listed["prices"]) == 1
    assert await newest_product(stack) == before


@pytest.mark.parametrize(
    "change",
    [
        {"colour": "red"},
        {"prices": [{"interval": "month", "currency": "usd", "unit_amount": 10}]},
        {"prices": [{"interval": "month", "currency": "dollars", "unit_amount": 500}]},
        {"prices": [{"interval": "week", "currency": "usd", "unit_amount": 500}]},
        {"prices": [{"interval": "month", "currency": "usd", "unit_amount": 500, "discount": 1}]},
        {"trial_days": -1},
        {"trial_days": 731},
        {"name": ""},
        {"name": "x" * 101},
        {"entitlement_keys": ["pub:SLUG:k{i}"] * 21},
        {"entitlement_keys": ["pub:SLUG:has space"]},
        {"entitlement_keys": ["pub:SLUG:Premium"]},
    ],
    ids=[
        "unknown-field",
        "amount-below-50",
        "currency-dollars",
        "interval-week",
        "unknown-price-field",
        "negative-trial",
        "trial-over-730",
        "empty-name",
        "long-name",
        "21-keys",
        "key-with-space",
        "key-uppercase",
    ],
)
async def test_bad_input_is_refused_and_creates_nothing(stack: Stack, change: dict[str, Any]) -> None:
    owner, slug = await owner_and_publication(stack)
    body: dict[str, Any] = {"name": "Members", "prices": MONTHLY_AND_YEARLY} | change
    if "entitlement_keys" in body:
        keys = [
            k.replace("SLUG", slug).replace("{i}", str(i)) for i, k in enumerate(body["entitlement_keys"])
        ]
        body["entitlement_keys"] = keys
    before = await newest_product(stack)
    is_problem(await owner.post(f"/api/publications/{slug}/tiers", json=body), 400)
    assert await listing(stack, slug, include_archived=True) == []
    assert await newest_product(stack) == before


async def test_a_blank_name_is_refused_as_bad_input(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    before = await newest_product(stack)
    answer = await owner.post(f"/api/publications/{slug}/tiers", json={"name": "   "})
    assert await listing(stack, slug, include_archived=True) == []
    assert await newest_product(stack) == before
    is_problem(answer, 400)


async def test_listing_an_unknown_publication_is_404(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.membership, timeout=30) as anonymous:
        is_problem(await anonymous.get(f"/api/publications/no-such-{uuid.uuid4().hex[:6]}/tiers"), 404)


async def test_platform_tiers_are_listed_apart(stack: Stack) -> None:
    owner, slug = await owner_and_publication(stack)
    publication_tier = await stack.tier(owner, slug)
    engine = create_async_engine(stack.database_url)
    try:
        async with async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)() as session:
            plans = PlanService(session, StripeApi(stack.settings))
            with pytest.raises(BadRequest, match="names the keys"):
                await plans.create_tier(None, name="Keyless", description="", keys=None, trial_days=0)
            tier = await plans.create_tier(
                None, name="Platform members", description="All of it.", keys=["member"], trial_days=7
            )
            await plans.add_price(tier, interval="year", currency="usd", unit_amount=5000)
            retired = await plans.create_tier(
                None, name="Retired", description="", keys=["member"], trial_days=0
            )
            await plans.archive_tier(retired)
            await session.commit()
            tier_id, product_id, retired_id = str(tier.id), tier.stripe_product_id, str(retired.id)
    finally:
        await engine.dispose()

    async with httpx.AsyncClient(base_url=stack.membership, timeout=30) as anonymous:
        answer = await anonymous.get("/api/platform/tiers")
    assert answer.status_code == 200, answer.text
    listed = {t["id"]: t for t in answer.json()}
    assert tier_id in listed and retired_id not in listed
    assert publication_tier["id"] not in listed
    assert all(t["publication_id"] is None for t in listed.values())
    mine = listed[tier_id]
    assert mine["entitlement_keys"] == ["member"] and mine["trial_days"] == 7
    assert [(p["interval"], p["unit_amount"]) for p in mine["prices"]] == [("year", 5000)]
    product = await stack.sdk().v1.products.retrieve_async(str(product_id))
    assert product.metadata["tollgate_publication"] == "platform"
    assert product.metadata["tollgate_tier_id"] == tier_id
    # And the platform's tiers are not any publication's.
    assert [t["id"] for t in await listing(stack, slug, include_archived=True)] == [publication_tier["id"]]
