"""`MembershipClient.offer(code)` against the real membership and the Stripe sandbox, over HTTP.

An offer is made through membership's API as a publisher would (a Stripe coupon and promotion code
in the sandbox); the client finds it by its code in any case, without credentials, and decodes it
into a `Promotion` whose prices say what the reader pays. A code that names nothing (unknown, a
retention offer, one that could add path segments) is None; an archived offer is answered, not open;
membership not answering is `MembershipDown`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import empty_tables
from tests.membership.conftest import Stack
from tests.servers import serve_billing
from tollgate_client import MembershipClient, MembershipDown, MembershipUnavailable, Promotion

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve_billing(database_url, Path(tmp_path_factory.mktemp("offer-lookup")), workers=1) as served:
        yield Stack(served.membership, served.sandbox, served.secret, database_url, served.settings)
    asyncio.run(empty_tables(database_url))


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[MembershipClient]:
    # No key: the lookup is public.
    async with MembershipClient(stack.membership, "tgk_not_a_key") as client:
        yield client


async def publisher(stack: Stack) -> tuple[Any, str, dict[str, Any]]:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(
        owner,
        slug,
        prices=[
            {"interval": "month", "currency": "usd", "unit_amount": 500},
            {"interval": "year", "currency": "usd", "unit_amount": 5000},
        ],
    )
    return owner, slug, tier


async def make_offer(owner: Any, slug: str, tier: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {
        "tier_id": tier["id"],
        "name": "Spring sale",
        "code": f"SPRING-{uuid.uuid4().hex[:8].upper()}",
        "kind": "percent_off",
        "percent_off": 50,
        "duration": "repeating",
        "duration_in_months": 3,
        "audience": "campaign",
    } | fields
    made = await owner.post(f"/api/publications/{slug}/offers", json=body)
    assert made.status_code == 201, made.text
    offer: dict[str, Any] = made.json()
    return offer


async def test_an_offer_is_found_by_its_code_in_any_case_and_prices_its_tier(
    stack: Stack, client: MembershipClient
) -> None:
    owner, _, tier = await publisher(stack)
    made = await make_offer(owner, _, tier, description="Three months at half price.")

    found = await client.offer(made["code"].lower())

    assert isinstance(found, Promotion)
    assert str(found.id) == made["id"] and found.code == made["code"]
    assert (found.name, found.description) == ("Spring sale", "Three months at half price.")
    assert str(found.tier_id) == tier["id"] and found.tier_name == "Members"
    assert (found.kind, found.audience, found.percent_off) == ("percent_off", "campaign", 50)
    assert (found.duration, found.duration_in_months, found.amount_off) == ("repeating", 3, None)
    assert found.open and found.archived_at is None and found.ends_at is None
    assert [(str(p.price_id), p.interval, p.unit_amount, p.words) for p in found.prices] == [
        (tier["prices"][0]["id"], "month", 500, "$2.50 a month for 3 months, then $5 a month"),
        (tier["prices"][1]["id"], "year", 5000, "$25 for the first year, then $50 a year"),
    ]
    assert await client.offer(f"  {made['code']}  ") == found
    await owner.aclose()


async def test_a_free_trial_offer_says_so(stack: Stack, client: MembershipClient) -> None:
    owner, slug, tier = await publisher(stack)
    made = await make_offer(
        owner,
        slug,
        tier,
        code=f"TRY-{uuid.uuid4().hex[:6]}",
        kind="free_trial",
        trial_days=14,
        percent_off=None,
    )
    found = await client.offer(made["code"])
    assert found is not None and found.kind == "free_trial" and found.trial_days == 14
    assert found.percent_off is None and found.duration == "once"
    assert [p.words for p in found.prices] == [
        "free for 14 days, then $5 a month",
        "free for 14 days, then $50 a year",
    ]
    await owner.aclose()


async def test_an_archived_offer_is_answered_but_not_open(stack: Stack, client: MembershipClient) -> None:
    owner, slug, tier = await publisher(stack)
    made = await make_offer(owner, slug, tier)
    archived = await owner.post(f"/api/publications/{slug}/offers/{made['id']}/archive")
    assert archived.status_code == 200, archived.text
    found = await client.offer(made["code"])
    assert found is not None and not found.open and found.archived_at is not None
    await owner.aclose()


@pytest.mark.parametrize("code", ["NOPE-NOPE", "", "   ", "../publications", "a/b", "x?y=1"])
async def test_a_code_that_names_no_offer_is_none(client: MembershipClient, code: str) -> None:
    assert await client.offer(code) is None


async def test_a_retention_offer_has_no_landing_answer(stack: Stack, client: MembershipClient) -> None:
    owner, slug, tier = await publisher(stack)
    made = await make_offer(owner, slug, tier, code=f"STAY-{uuid.uuid4().hex[:6]}", audience="retention")
    assert await client.offer(made["code"]) is None
    await owner.aclose()


async def test_membership_not_answering_is_down(dead_url: str) -> None:
    async with MembershipClient(dead_url, "tgk_any", timeout=2) as client:
        with pytest.raises(MembershipUnavailable) as caught:
            await client.offer("SPRING-50")
    assert isinstance(caught.value, MembershipDown) and caught.value.status == 0
