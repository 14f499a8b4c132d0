"""Offer links: `/stories/<slug>?offer=CODE` prices the paywall through a publisher's offer.

The gateway in front of the real membership and the Stripe sandbox, over real HTTP, on SQLite and
PostgreSQL. Tiers and offers are made through membership's API as a publisher would; the code is
remembered in the reader's `tollgate_offer` cookie; the paywall's form, posted through the gateway
to membership's `/account/checkout`, lands on a Stripe Checkout Session charging the discount.
"""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, Response, route
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.stories.catalogue import Catalogue
from membership.apikeys.services import ApiKeyService
from tests.conftest import empty_tables
from tests.gateway.stack import (
    GATEWAY_SCOPES,
    GATEWAY_URL,
    SECRET,
    Gateway,
    gateway_settings,
    running_gateway,
)
from tests.gateway.stack import write_story as write_story_file
from tests.gateway.stories.test_http_origin import Clock
from tests.membership.conftest import Stack
from tests.servers import serve, serve_billing
from tollgate_client import MembershipClient

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

STORY = "almanac-deep"
MONTHLY = "$2.50 a month for 3 months, then $5 a month"
YEARLY = "$25 for the first year, then $50 a year"
FORM = re.compile(r'<form method="post" action="/account/checkout">(.*?)</form>', re.DOTALL)
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


@dataclass
class Shop:
    """The billing stack, the gateway's API key, the stories, and a publication on offer."""

    stack: Stack
    api_key: str
    stories: Path
    owner: httpx.AsyncClient
    slug: str
    members: dict[str, Any]  # the tier the offers are on: $5 a month, $50 a year
    patrons: dict[str, Any]  # another tier opening the same story: $10 a month
    offer: dict[str, Any]  # 50% off for 3 months on `members`, for anyone with the code

    async def make_offer(self, **fields: Any) -> dict[str, Any]:
        return await make_offer(self.owner, self.slug, self.members, **fields)


async def make_offer(
    owner: httpx.AsyncClient, slug: str, tier: dict[str, Any], **fields: Any
) -> dict[str, Any]:
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


async def platform_key(database_url: str) -> str:
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        _, secret = await ApiKeyService(session).create(
            "gateway", GATEWAY_SCOPES, publication_id=None, created_by_id=None
        )
        await session.commit()
    await engine.dispose()
    return secret


@pytest.fixture(scope="module")
def billing(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    """Membership (its public URL the gateway's) and the sandbox, and a platform key for the gateway."""
    data_dir = Path(tmp_path_factory.mktemp("offer-links"))
    with serve_billing(database_url, data_dir, public_url=GATEWAY_URL, workers=1) as served:
        stack = Stack(served.membership, served.sandbox, served.secret, database_url, served.settings)
        yield stack, asyncio.run(platform_key(database_url))
    asyncio.run(empty_tables(database_url))


@pytest.fixture(scope="module")
async def shop(billing: tuple[Stack, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shop]:
    stack, api_key = billing
    owner = await stack.reader()
    slug = await stack.publication(owner)
    members = await stack.tier(
        owner,
        slug,
        prices=[
            {"interval": "month", "currency": "usd", "unit_amount": 500},
            {"interval": "year", "currency": "usd", "unit_amount": 5000},
        ],
    )
    patrons = await stack.tier(
        owner, slug, name="Patrons", prices=[{"interval": "month", "currency": "usd", "unit_amount": 1000}]
    )
    offer = await make_offer(owner, slug, members)
    stories = Path(tmp_path_factory.mktemp("stories"))
    write_story_file(stories, STORY, slug, f"[pub:{slug}]")
    write_story_file(stories, "almanac-open", slug, "public")
    yield Shop(stack, api_key, stories, owner, slug, members, patrons, offer)
    await owner.aclose()


@pytest.fixture
async def gateway(shop: Shop) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(shop.stack.membership, shop.api_key, shop.stories)) as client:
        yield client


def forms(page: str) -> list[dict[str, str]]:
    """Each Subscribe form's hidden fields, and its button's words as `button`."""
    found = []
    for match in FORM.finditer(page):
        fields = {name: html.unescape(value) for name, value in HIDDEN.findall(match.group(1))}
        button = re.search(r"<button[^>]*>(.*?)</button>", match.group(1), re.DOTALL)
        assert button, match.group(1)
        found.append(fields | {"button": html.unescape(button.group(1))})
    return found


def offer_cookies(response: httpx.Response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith("tollgate_offer=")]


def plain(page: str, shop: Shop) -> None:
    """The paywall as it is without an offer: every price plain, no form carrying a code."""
    shown = forms(page)
    assert [f["button"] for f in shown] == [
        "Subscribe: $5 a month",
        "Subscribe: $50 a year",
        "Subscribe: $10 a month",
    ], shown
    assert all("offer" not in f for f in shown)
    assert "Spring sale" not in page


async def test_an_offer_link_prices_its_tier_and_the_cookie_keeps_it(shop: Shop, gateway: Gateway) -> None:
    code = shop.offer["code"]
    page = await gateway.get(f"/stories/{STORY}?offer={code.lower()}")

    assert page.status_code == 200 and SECRET not in page.text
    assert page.headers["tollgate-access"] == 'teaser; reason="sign_in"'
    shown = forms(page.text)
    assert [(f["button"], f.get("offer")) for f in shown] == [
        (f"Subscribe with Spring sale: {MONTHLY}", code),
        (f"Subscribe with Spring sale: {YEARLY}", code),
        ("Subscribe: $10 a month", None),  # another tier: as it was
    ]
    assert [f["price_id"] for f in shown] == [
        *(p["id"] for p in shop.members["prices"]),
        shop.patrons["prices"][0]["id"],
    ]
    assert all(f["return_to"] == f"/stories/{STORY}" for f in shown)
    # The code is remembered, upper-cased as membership writes it, for 30 days.
    assert offer_cookies(page) == [f"tollgate_offer={code}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"]
    # This reader's page: no shared cache keeps it, and no script came with the offer.
    assert page.headers["cache-control"].startswith("private")
    assert "Cookie" in page.headers["vary"]
    assert "script-src" not in page.headers["content-security-policy"]
    assert re.findall(r"<script[^>]*>", page.text) == ['<script type="application/ld+json">']

    # Later, without the query: the cookie brings the offer back, and is not set again.
    later = await gateway.get(f"/stories/{STORY}")
    assert [f.get("offer") for f in forms(later.text)] == [code, code, None]
    assert f"Subscribe with Spring sale: {MONTHLY}" in later.text
    assert offer_cookies(later) == []
    assert later.headers["cache-control"].startswith("private") and "Cookie" in later.headers["vary"]

    # JSON readers get it too: the words, and the code in the form to post.
    answer = await gateway.get(f"/stories/{STORY}", headers={"accept": "application/json"})
    assert answer.status_code == 402
    members, patrons = answer.json()["offers"]
    assert members["offer"] == {"code": code, "name": "Spring sale", "description": ""}
    assert [p["offer_words"] for p in members["prices"]] == [MONTHLY, YEARLY]
    assert [p["checkout"]["form"]["offer"] for p in members["prices"]] == [code, code]
    assert "offer" not in patrons and "offer" not in patrons["prices"][0]["checkout"]["form"]

    # Another browser, without the cookie, sees the plain prices.
    async with running_gateway(gateway_settings(shop.stack.membership, shop.api_key, shop.stories)) as other:
        plain((await other.get(f"/stories/{STORY}")).text, shop)


async def test_a_public_story_reached_through_an_offer_link_remembers_it_privately(
    shop: Shop, gateway: Gateway
) -> None:
    code = shop.offer["code"]
    page = await gateway.get(f"/stories/almanac-open?offer={code}")
    assert page.status_code == 200 and SECRET in page.text
    assert offer_cookies(page) == [f"tollgate_offer={code}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"]
    # It sets this reader's cookie: not for shared caches.
    assert page.headers["cache-control"] == "private, max-age=60"
    assert page.headers["vary"] == "Accept, Authorization, Cookie"
    # The member-only story read next shows the offer.
    shut = await gateway.get(f"/stories/{STORY}")
    assert [f.get("offer") for f in forms(shut.text)] == [code, code, None]
    # Without the query, the public page is as public as ever.
    again = await gateway.get("/stories/almanac-open")
    assert again.headers["cache-control"] == "public, max-age=60" and offer_cookies(again) == []


async def test_over_https_the_cookie_is_secure(shop: Shop) -> None:
    settings = gateway_settings(
        shop.stack.membership, shop.api_key, shop.stories, public_url="https://paper.test"
    )
    async with running_gateway(settings) as client:
        page = await client.get(f"/stories/{STORY}?offer={shop.offer['code']}")
    assert offer_cookies(page) == [
        f"tollgate_offer={shop.offer['code']}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax; Secure"
    ]


@pytest.mark.parametrize(
    "query", ["ab", "x" * 41, "no%20spaces", "SPRING_50", "%3Cscript%3E", "a%0Ab", "", "SPRING-1;%20Path=/x"]
)
async def test_a_bad_code_in_the_query_is_ignored(shop: Shop, gateway: Gateway, query: str) -> None:
    page = await gateway.get(f"/stories/{STORY}?offer={query}")
    assert page.status_code == 200
    assert offer_cookies(page) == []
    plain(page.text, shop)
    assert "<script>" not in page.text


async def test_a_bad_code_in_the_query_leaves_the_remembered_one(shop: Shop, gateway: Gateway) -> None:
    code = shop.offer["code"]
    await gateway.get(f"/stories/{STORY}?offer={code}")
    page = await gateway.get(f"/stories/{STORY}?offer=not%20a%20code")
    assert offer_cookies(page) == []
    assert [f.get("offer") for f in forms(page.text)] == [code, code, None]


async def test_a_forged_cookie_is_ignored(shop: Shop, gateway: Gateway) -> None:
    page = await gateway.get(f"/stories/{STORY}", headers={"cookie": 'tollgate_offer="a b<c>"'})
    assert page.status_code == 200
    plain(page.text, shop)


async def test_an_unknown_archived_or_retention_offer_shows_the_plain_price(
    shop: Shop, gateway: Gateway
) -> None:
    archived = await shop.make_offer(name="Winter sale", code=f"WINTER-{uuid.uuid4().hex[:6].upper()}")
    done = await shop.owner.post(f"/api/publications/{shop.slug}/offers/{archived['id']}/archive")
    assert done.status_code == 200 and done.json()["open"] is False
    retention = await shop.make_offer(
        name="Please stay", code=f"STAY-{uuid.uuid4().hex[:6].upper()}", audience="retention"
    )
    for code in ("NOPE-NOPE-NOPE", archived["code"], retention["code"]):
        page = await gateway.get(f"/stories/{STORY}?offer={code}")
        assert page.status_code == 200, code
        # Well formed: remembered (membership may know it later), but it changes nothing now.
        assert offer_cookies(page) == [
            f"tollgate_offer={code}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
        ]
        plain(page.text, shop)
        assert "Winter sale" not in page.text and "Please stay" not in page.text


async def test_an_offer_for_a_tier_not_on_this_paywall_changes_nothing(shop: Shop, gateway: Gateway) -> None:
    stack = shop.stack
    other_owner = await stack.reader()
    other_slug = await stack.publication(other_owner)
    other_tier = await stack.tier(other_owner, other_slug)
    elsewhere = await make_offer(other_owner, other_slug, other_tier, name="Elsewhere sale")
    await other_owner.aclose()
    page = await gateway.get(f"/stories/{STORY}?offer={elsewhere['code']}")
    assert page.status_code == 200
    plain(page.text, shop)
    assert "Elsewhere sale" not in page.text


async def test_a_free_trial_offer_reads_as_one_and_the_tiers_own_trial_line_goes(
    shop: Shop, gateway: Gateway
) -> None:
    trial = await shop.make_offer(
        name="Try it",
        code=f"TRY-{uuid.uuid4().hex[:6].upper()}",
        kind="free_trial",
        trial_days=14,
        percent_off=None,
        description="Two weeks on us.",
    )
    page = await gateway.get(f"/stories/{STORY}?offer={trial['code']}")
    assert [f["button"] for f in forms(page.text)][:2] == [
        "Subscribe with Try it: free for 14 days, then $5 a month",
        "Subscribe with Try it: free for 14 days, then $50 a year",
    ]
    assert '<p class="offer">Try it: Two weeks on us.</p>' in page.text


async def test_the_paywalls_form_with_the_offer_checks_out_at_the_discount(
    shop: Shop, gateway: Gateway
) -> None:
    stack = shop.stack
    reader = await stack.reader()
    gateway.cookies.set("tollgate_session", reader.cookies["tollgate_session"], domain="gateway.test")
    # A prefetch never spends a free story: the signed-in reader sees the paywall and the offer.
    page = await gateway.get(
        f"/stories/{STORY}?offer={shop.offer['code']}", headers={"sec-purpose": "prefetch"}
    )
    assert SECRET not in page.text
    monthly = forms(page.text)[0]
    assert monthly["button"] == f"Subscribe with Spring sale: {MONTHLY}"
    fields = {name: value for name, value in monthly.items() if name != "button"}
    assert fields["offer"] == shop.offer["code"]

    # The browser posts the form to the gateway, which forwards it to membership.
    started = await gateway.post(
        "/account/checkout", data=fields, headers={"origin": GATEWAY_URL}, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    assert location.startswith(f"{stack.sandbox}/checkout/cs_"), location
    session = await stack.sdk().v1.checkout.sessions.retrieve_async(location.rsplit("/", 1)[1])
    assert session.amount_total == 250  # half of $5: the offer's first months
    assert session.success_url is not None and session.success_url.startswith(
        f"{GATEWAY_URL}/stories/{STORY}"
    )

    # The same form without the code costs the full price.
    full = await gateway.post(
        "/account/checkout",
        data={k: v for k, v in fields.items() if k != "offer"},
        headers={"origin": GATEWAY_URL},
        follow_redirects=False,
    )
    assert full.status_code == 303, full.text
    undiscounted = await stack.sdk().v1.checkout.sessions.retrieve_async(
        full.headers["location"].rsplit("/", 1)[1]
    )
    assert undiscounted.amount_total == 500
    await reader.aclose()


def offers_down(membership_url: str) -> Litestar:
    """Membership, except that `GET /api/offers/{code}` fails: every other call is passed on."""

    @route("/{path:path}", http_method=["GET", "POST", "HEAD"], include_in_schema=False)
    async def relay(request: Request[Any, Any, Any]) -> Response[bytes]:
        if request.url.path.startswith("/api/offers/"):
            return Response(b'{"status": 503, "title": "Service Unavailable"}', status_code=503)
        async with httpx.AsyncClient(base_url=membership_url, timeout=30) as http:
            headers = {
                k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
            }
            answer = await http.request(
                request.method,
                request.url.path,
                params=request.url.query,
                headers=headers,
                content=await request.body(),
            )
        kept = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "cache-control")}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    return Litestar([relay], openapi_config=None)


async def test_membership_failing_the_offer_shows_the_plain_price_not_an_error(shop: Shop) -> None:
    with serve(offers_down(shop.stack.membership)) as url:
        async with running_gateway(gateway_settings(url, shop.api_key, shop.stories)) as client:
            page = await client.get(f"/stories/{STORY}?offer={shop.offer['code']}")
            assert page.status_code == 200
            assert page.headers["tollgate-access"] == 'teaser; reason="sign_in"'
            plain(page.text, shop)
            answer = await client.get(f"/stories/{STORY}", headers={"accept": "application/json"})
            assert answer.status_code == 402
            assert all("offer" not in tier for tier in answer.json()["offers"])


async def test_offer_lookups_are_kept_for_the_offers_cache_time(shop: Shop, closed_port_url: str) -> None:
    clock = Clock()
    made = await shop.make_offer(name="Summer sale", code=f"SUMMER-{uuid.uuid4().hex[:6].upper()}")
    async with MembershipClient(shop.stack.membership, "") as client:
        catalogue = Catalogue(client, 60, clock=clock)
        found = await catalogue.promotion(made["code"].lower())
        assert found is not None and found.open and found.name == "Summer sale"
        assert await catalogue.promotion("NOPE-NOPE-NOPE") is None
        archived = await shop.owner.post(f"/api/publications/{shop.slug}/offers/{made['id']}/archive")
        assert archived.status_code == 200
        clock.advance(59)
        assert await catalogue.promotion(made["code"]) == found  # kept, as the tiers are
        clock.advance(2)
        again = await catalogue.promotion(made["code"])
        assert again is not None and not again.open
    async with MembershipClient(closed_port_url, "", timeout=2) as down:
        assert await Catalogue(down, 60, clock=clock).promotion(made["code"]) is None


async def test_an_offer_for_new_or_lapsed_readers_shows_only_to_readers_who_may_take_it(
    shop: Shop, gateway: Gateway
) -> None:
    stack = shop.stack
    new_only = await shop.make_offer(name="Welcome", audience="new")
    lapsed_only = await shop.make_offer(name="Come back", audience="lapsed")
    newcomer = await stack.reader()
    returning = await stack.reader()
    paid = await stack.subscribe(returning, shop.members["prices"][0]["id"])
    await stack.sdk().v1.subscriptions.cancel_async(paid["subscription"])  # and it has ended
    await stack.settle()

    async def paywall(reader: httpx.AsyncClient, code: str) -> str:
        gateway.cookies.clear()
        gateway.cookies.set("tollgate_session", reader.cookies["tollgate_session"], domain="gateway.test")
        page = await gateway.get(f"/stories/{STORY}?offer={code}", headers={"sec-purpose": "prefetch"})
        assert page.status_code == 200 and 'aria-labelledby="paywall-title"' in page.text
        return page.text

    assert forms(await paywall(newcomer, new_only["code"]))[0]["button"].startswith("Subscribe with Welcome")
    plain(await paywall(returning, new_only["code"]), shop)  # not new: checkout would refuse it
    assert forms(await paywall(returning, lapsed_only["code"]))[0]["button"].startswith(
        "Subscribe with Come back"
    )
    plain(await paywall(newcomer, lapsed_only["code"]), shop)  # never a member: nothing lapsed

    # Membership answers the same question for any service with the gateway's key.
    async with MembershipClient(stack.membership, shop.api_key) as client:
        newcomer_id = (await newcomer.get("/api/me")).json()["id"]
        refused = await client.offer_eligibility(lapsed_only["code"], newcomer_id)
        assert (
            not refused.eligible and refused.reason == "This offer is for readers whose membership has ended."
        )
        assert (await client.offer_eligibility(new_only["code"], newcomer_id)).eligible
    await newcomer.aclose()
    await returning.aclose()
