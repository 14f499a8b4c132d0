"""Done, as issue 17 says: a Ghost export whose paid members have subscriptions in the (sandbox)
Stripe account imports, and those members read their member-only story through the gateway
without subscribing again. Membership, the sandbox and the gateway over real HTTP; both databases.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.apikeys.services import ApiKeyService
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from tests.conftest import empty_tables
from tests.gateway.stack import (
    GATEWAY_SCOPES,
    GATEWAY_URL,
    LINK,
    SECRET,
    gateway_settings,
    running_gateway,
    write_story,
)
from tests.membership.conftest import Stack
from tests.membership.imports.conftest import OldAccount, email, map_price, run_import
from tests.servers import serve_billing

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

PUBLICATION = "the-almanac"
STORY = "almanac-members"


async def _prepare(database_url: str) -> tuple[str, str]:
    """The publication, its owner and a platform key for the gateway: (owner's email, key)."""
    owner_email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        owner, _ = await ReaderService(session=session).get_or_create(owner_email)
        await PublicationService(session).create(PUBLICATION, "The Almanac", owner)
        _, secret = await ApiKeyService(session).create(
            "gateway", GATEWAY_SCOPES, publication_id=None, created_by_id=None
        )
        await session.commit()
    await engine.dispose()
    return owner_email, secret


@dataclass
class Served:
    stack: Stack  # membership behind the gateway's address, and the sandbox
    gateway_key: str
    stories: Path
    owner_email: str


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    owner_email, api_key = asyncio.run(_prepare(database_url))
    stories = Path(tmp_path_factory.mktemp("stories"))
    write_story(stories, STORY, PUBLICATION, f"[pub:{PUBLICATION}]")
    data_dir = Path(tmp_path_factory.mktemp("import-e2e"))
    with serve_billing(database_url, data_dir, public_url=GATEWAY_URL, workers=1) as billing:
        stack = Stack(billing.membership, billing.sandbox, billing.secret, database_url, billing.settings)
        yield Served(stack, api_key, stories, owner_email)
    asyncio.run(empty_tables(database_url))


async def signed_in(stack: Stack, address: str) -> httpx.AsyncClient:
    """A membership client signed in as `address` (an imported reader's first sign-in, for one)."""
    client = httpx.AsyncClient(base_url=stack.membership, timeout=30)
    assert (await client.post("/api/auth/sign-in", json={"email": address})).status_code == 202
    mail = (await client.get("/dev/outbox/messages", params={"to": address, "limit": 1})).json()
    link = LINK.search(mail[0]["body"])
    assert link
    assert (await client.post("/api/auth/sign-in/complete", json={"token": link.group(1)})).status_code == 200
    return client


async def token_of(stack: Stack, address: str) -> str:
    client = await signed_in(stack, address)
    token: str = (await client.post("/api/auth/token")).json()["access_token"]
    await client.aclose()
    return token


async def test_a_ghost_export_with_paid_members_in_stripe_opens_their_stories_through_the_gateway(
    served: Served,
) -> None:
    stack = served.stack
    owner = await signed_in(stack, served.owner_email)
    await stack.tier(owner, PUBLICATION, name="Gold")
    await owner.aclose()
    old = await OldAccount.made(stack)
    await map_price(stack, PUBLICATION, old.price, "Gold")
    monthly, leaving, comped, free = email("monthly"), email("leaving"), email("comped"), email("free")
    monthly_customer, _ = await old.subscriber(monthly)
    leaving_customer, _ = await old.subscriber(leaving, cancel_at_period_end=True)
    await stack.settle()
    export = (
        "id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,"
        "deleted_at,labels,tiers\n"
        f"g1,{monthly},Mona,,true,false,{monthly_customer},2023-03-01T09:00:00.000Z,,,Gold\n"
        f"g2,{leaving},Leo,,true,false,{leaving_customer},2023-04-01T09:00:00.000Z,,,Gold\n"
        f"g3,{comped},Cora,,true,true,,2023-05-01T09:00:00.000Z,,,Gold\n"
        f"g4,{free},,,true,false,,2023-06-01T09:00:00.000Z,,,\n"
    )
    report = await run_import(stack, PUBLICATION, export)
    assert [r.outcome for r in report.rows] == ["create"] * 4

    settings = gateway_settings(stack.membership, served.gateway_key, served.stories)
    async with running_gateway(settings) as gateway:
        for member in (monthly, leaving, comped):
            token = await token_of(stack, member)
            page = await gateway.get(f"/stories/{STORY}", headers={"authorization": f"Bearer {token}"})
            assert page.status_code == 200 and SECRET in page.text, member
            assert page.headers["tollgate-access"] == 'full; reason="entitled"'
        token = await token_of(stack, free)
        free_read = await gateway.get(f"/stories/{STORY}", headers={"authorization": f"Bearer {token}"})
        # A free member reads on the monthly allowance, where the paid and the comped are entitled.
        assert free_read.headers["tollgate-access"] == 'full; reason="free_unlock"'
    # Nobody subscribed again: each paid member still has the one subscription and the one invoice.
    for customer in (monthly_customer, leaving_customer):
        assert len((await old.sdk.v1.subscriptions.list_async(params={"customer": customer})).data) == 1
        assert len((await old.sdk.v1.invoices.list_async(params={"customer": customer})).data) == 1
