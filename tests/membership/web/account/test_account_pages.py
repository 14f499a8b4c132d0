"""The reader's "My membership" page (`GET /account`) and its forms: cancel and resume, billing,
signing out one device or every device; pages with sentences for every failure.

Subscriptions are bought through the Stripe sandbox over real HTTP (the billing tests' stack);
the rest runs in the test client. Both databases.
"""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from membership.plans.models import Tier
from membership.publications.models import Publication
from membership.sessions.models import ReaderSession
from membership.subscriptions.models import Subscription
from membership.unlocks.services import UnlockService
from membership.web.account.words import device, entitlement_name, subscription_state
from tests.membership.conftest import Stack
from tests.membership.helpers import with_cookie
from tests.membership.publications.test_publications import as_reader, make_publication
from tests.membership.tokens.test_tokens import db, give, reader_id, version_of
from tollgate_common.words import day

SITE = "http://testserver.local"  # the test client's public URL
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def text_of(page: Any) -> str:
    """The page's words, tags dropped and spaces collapsed, as a reader (or a screen reader) gets them."""
    assert page.headers["content-type"].startswith("text/html"), page.headers["content-type"]
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", page.text, flags=re.DOTALL)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def assert_page(page: Any, status: int, *sentences: str) -> str:
    """An HTML page (never JSON) with the status and the sentences."""
    assert page.status_code == status, page.text
    words = text_of(page)
    for sentence in sentences:
        assert sentence in words, f"{sentence!r} not in {words!r}"
    return words


async def signed_in(client: AsyncTestClient[Litestar], email: str, user_agent: str = FIREFOX) -> str:
    client.headers["user-agent"] = user_agent
    return await as_reader(client, email)


async def post(client: Any, path: str, origin: str | None = SITE, **kwargs: Any) -> Any:
    headers = {"origin": origin} if origin else {}
    headers |= kwargs.pop("headers", {})
    return await client.post(path, headers=headers, follow_redirects=False, **kwargs)


# --- Signed in or not ---------------------------------------------------------------------


async def test_a_reader_not_signed_in_is_sent_to_sign_in_and_back(client: AsyncTestClient[Litestar]) -> None:
    for cookie in ({}, {"cookie": "tollgate_session=tgsession_forged"}):
        answer = await client.get("/account", headers=cookie, follow_redirects=False)
        assert answer.status_code == 303
        target = urlsplit(answer.headers["location"])
        assert target.path == "/auth/sign-in" and parse_qs(target.query) == {"next": ["/account"]}
    page = await client.get("/auth/sign-in?next=/account")
    assert 'name="next" value="/account"' in page.text
    # Every form does the same instead of acting.
    for path in (
        f"/account/subscriptions/{uuid.uuid4()}/cancel",
        f"/account/subscriptions/{uuid.uuid4()}/resume",
        "/account/portal",
        f"/account/sessions/{uuid.uuid4()}/sign-out",
        "/account/sign-out-everywhere",
    ):
        answer = await post(client, path)
        assert answer.status_code == 303 and answer.headers["location"] == "/auth/sign-in?next=%2Faccount"


async def test_the_page_shows_who_is_signed_in_and_their_devices(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await signed_in(client, "phone@example.com", IPHONE)
    await signed_in(client, "phone@example.com", FIREFOX)
    page = await client.get("/account")
    words = assert_page(
        page,
        200,
        "My membership",
        "Signed in as phone (phone@example.com)",
        "You have no subscriptions.",
        "You have not used any free stories this month.",
        "You have no billing account yet",
        "Firefox on Linux (this device)",
        "Safari on iPhone",
        "Sign out everywhere",
    )
    assert words.count("(this device)") == 1 + 1  # the heading and the button's hidden words
    assert page.headers["cache-control"] == "no-store"
    assert '<meta name="viewport"' in page.text and 'lang="en"' in page.text
    # Headings in order (h1, then h2s, then h3s inside them), every form button has words.
    levels = [int(h) for h in re.findall(r"<h([1-6])", page.text)]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in itertools.pairwise(levels))
    assert 'aria-current="page"' in page.text
    named = await client.patch("/api/me", json={"display_name": "Pat Reader"})
    assert named.status_code == 200
    assert_page(await client.get("/account"), 200, "Signed in as Pat Reader (phone@example.com)")


async def test_staff_find_their_publications_dashboards_and_readers_do_not(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "the-gazette", "owner@example.com")
    await signed_in(client, "owner@example.com")
    added = await client.post("/api/publications/the-gazette/staff", json={"email": "ed@example.com"})
    assert added.status_code == 201, added.text
    page = await client.get("/account")
    assert_page(page, 200, "Your publications", "The Gazette (owner)")
    assert 'href="/account/publications/the-gazette"' in page.text
    await signed_in(client, "ed@example.com")
    assert_page(await client.get("/account"), 200, "Your publications", "The Gazette (editor)")
    await signed_in(client, "reader@example.com")
    page = await client.get("/account")
    assert "Your publications" not in text_of(page) and "/account/publications/" not in page.text


async def test_a_mistyped_account_address_gets_a_page_and_the_api_keeps_its_json(
    client: AsyncTestClient[Litestar],
) -> None:
    await signed_in(client, "typo@example.com")
    for method, path in (
        ("GET", "/account/nothing-here"),
        ("GET", "/account/subscriptions"),
        ("POST", "/account/subscriptions/not-an-id/cancel"),
        ("POST", f"/account/sessions/{uuid.uuid4()}/sign-out/again"),
    ):
        answer = await client.request(method, path, headers={"origin": SITE})
        assert_page(answer, 404, "There is no page at this address. Your membership is at /account.")
    api = await client.get("/api/nothing-here")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"


async def test_a_notice_is_one_of_ours_never_the_links_own_words(client: AsyncTestClient[Litestar]) -> None:
    await signed_in(client, "reader@example.com")
    page = await client.get("/account", params={"notice": "cancelled"})
    assert_page(page, 200, "You keep access until then")
    forged = await client.get("/account", params={"notice": "<b>Your card was declined</b>"})
    assert forged.status_code == 200
    assert "declined" not in forged.text and 'class="notice"' not in forged.text


# --- Sessions -----------------------------------------------------------------------------


async def test_signing_out_another_device_and_then_this_one(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    other = await signed_in(client, "two@example.com", IPHONE)
    this = await signed_in(client, "two@example.com", FIREFOX)
    async with db(database_url) as session:
        sessions = {
            s.user_agent: s.id
            for s in await session.scalars(select(ReaderSession).where(ReaderSession.revoked_at.is_(None)))
        }
    ended = await post(client, f"/account/sessions/{sessions[IPHONE]}/sign-out")
    assert ended.status_code == 303 and ended.headers["location"] == "/account?notice=session-ended"
    page = await client.get(ended.headers["location"])
    assert_page(page, 200, "That device is signed out.", "Firefox on Linux (this device)")
    assert "iPhone" not in text_of(page)
    client.cookies.clear()
    gone = await client.get("/account", headers=with_cookie(other), follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/auth/sign-in")
    # A second click on a button already used changes nothing and says the same.
    again = await post(client, f"/account/sessions/{sessions[IPHONE]}/sign-out", headers=with_cookie(this))
    assert again.status_code == 303 and again.headers["location"] == "/account?notice=session-ended"

    out = await post(client, f"/account/sessions/{sessions[FIREFOX]}/sign-out", headers=with_cookie(this))
    assert out.status_code == 303 and out.headers["location"] == "/account/signed-out"
    cleared = out.headers.get_list("set-cookie")
    assert any(c.startswith("tollgate_session=") and "Max-Age=0" in c for c in cleared), cleared
    assert any(c.startswith("tollgate_access=") and "Max-Age=0" in c for c in cleared), cleared
    assert_page(await client.get("/account/signed-out"), 200, "You are signed out on this device.")
    shut = await client.get("/account", headers=with_cookie(this), follow_redirects=False)
    assert shut.status_code == 303


async def test_signing_out_everywhere_ends_every_session_and_stales_tokens(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    first = await signed_in(client, "every@example.com", IPHONE)
    second = await signed_in(client, "every@example.com", FIREFOX)
    rid = await reader_id(database_url, "every@example.com")
    before = await version_of(database_url, rid)
    out = await post(client, "/account/sign-out-everywhere")
    assert out.status_code == 303 and out.headers["location"] == "/account/signed-out?everywhere=true"
    assert len([c for c in out.headers.get_list("set-cookie") if "Max-Age=0" in c]) == 2
    assert await version_of(database_url, rid) == before + 1  # tokens already out are stale
    client.cookies.clear()
    for token in (first, second):
        answer = await client.get("/account", headers=with_cookie(token), follow_redirects=False)
        assert answer.status_code == 303
    assert_page(await client.get("/account/signed-out?everywhere=true"), 200, "signed out on every device")


async def test_a_form_from_another_site_is_refused_with_a_page(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    token = await signed_in(client, "csrf@example.com")
    for origin in ("https://evil.example", "null", "http://testserver.local:8080"):
        for path in ("/account/sign-out-everywhere", "/account/portal"):
            answer = await post(client, path, origin=origin)
            assert_page(answer, 403, "This form may only be sent from a page of this site.")
            assert "Back to my membership" in answer.text
    # Still signed in: nothing happened.
    assert (
        await client.get("/account", headers=with_cookie(token), follow_redirects=False)
    ).status_code == 200
    # Without an Origin (an older browser) the form is accepted; SameSite cookies guard that case.
    assert (await post(client, "/account/sign-out-everywhere", origin=None)).status_code == 303


# --- Entitlements and free stories ----------------------------------------------------------


async def test_what_the_reader_is_entitled_to_in_words_and_free_stories_left(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "the-gazette", "owner@example.com")
    await make_publication(database_url, "field-notes", "owner@example.com")
    await signed_in(client, "reader@example.com")
    rid = await reader_id(database_url, "reader@example.com")
    until = datetime.now(UTC) + timedelta(days=30)
    await give(database_url, rid, {"pub:the-gazette"}, source="comp", source_id="c1", ends_at=until)
    await give(database_url, rid, {"member", "pub:unknown-press"}, source="gift", source_id="g1")
    async with db(database_url) as session:
        notes = await session.scalar(select(Publication).where(Publication.slug == "field-notes"))
        assert notes is not None
        for story in ("a", "b"):
            assert (await UnlockService(session).unlock(rid, notes, story)).unlocked
    page = await client.get("/account")
    assert_page(
        page,
        200,
        "Every member-only story in The Gazette, through a complimentary membership from the publication, "
        f"until {day(until)}.",
        "Every member-only story on every publication, through a gift.",
        "Every member-only story in unknown-press, through a gift.",
        "Field Notes: 1 of 3 left (2 read).",
    )
    assert "The Gazette: " not in text_of(page)  # no free stories used there: not listed


# --- Subscriptions, through the Stripe sandbox ---------------------------------------------


async def subscribed(stack: Stack) -> tuple[httpx.AsyncClient, dict[str, Any], str]:
    """A reader with an active monthly subscription to a new publication's tier."""
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug, name="Supporter")
    reader = await stack.reader()
    paid = await stack.subscribe(reader, tier["prices"][0]["id"])
    assert paid["subscription"], paid
    subs = (await reader.get("/api/me/subscriptions")).json()
    assert [s["status"] for s in subs] == ["active"], subs
    return reader, subs[0], slug


async def test_a_subscriber_sees_the_tier_and_cancels_at_period_end_and_resumes(stack: Stack) -> None:
    reader, sub, slug = await subscribed(stack)
    renews = day(datetime.fromisoformat(sub["current_period_end"]))
    here = {"origin": stack.membership}
    page = await reader.get("/account")
    assert_page(
        page,
        200,
        "Supporter",
        f"{slug.title()} · $5 a month",
        f"Active Renews on {renews}.",
        f"Every member-only story in {slug.title()}, through your subscription.",
        "Cancel at period end for Supporter",
    )
    assert "Resume" not in text_of(page) and "no billing account" not in text_of(page)

    # First the "Before you go" page (why, optional); nothing is cancelled until it is confirmed.
    asked = await reader.post(f"/account/subscriptions/{sub['id']}/cancel", headers=here)
    assert_page(asked, 200, "Before you go", "Why are you cancelling?", "Cancel at period end")
    assert (await reader.get("/api/me/subscriptions")).json()[0]["cancel_at_period_end"] is False
    cancelled = await reader.post(
        f"/account/subscriptions/{sub['id']}/cancel", data={"confirm": "yes", "reason": ""}, headers=here
    )
    assert cancelled.status_code == 303 and cancelled.headers["location"] == "/account?notice=cancelled"
    page = await reader.get(cancelled.headers["location"])
    words = assert_page(
        page,
        200,
        "you can resume it before that date.",
        f"Cancelled Ends on {renews}.",
        "Resume Supporter",
        f"Every member-only story in {slug.title()}, through your subscription, until {renews}.",
    )
    assert "Cancel at period end" not in words
    assert f"pub:{slug}" in (await reader.get("/api/me/entitlements")).json()["keys"]  # access stays

    resumed = await reader.post(f"/account/subscriptions/{sub['id']}/resume", headers=here)
    assert resumed.status_code == 303 and resumed.headers["location"] == "/account?notice=resumed"
    assert_page(
        await reader.get(resumed.headers["location"]),
        200,
        "it renews as before",
        f"Active Renews on {renews}.",
    )
    assert (await reader.get("/api/me/subscriptions")).json()[0]["cancel_at_period_end"] is False

    # From another site: refused with a page, and the subscription is untouched.
    forged = await reader.post(
        f"/account/subscriptions/{sub['id']}/cancel", headers={"origin": "https://x.example"}
    )
    assert_page(forged, 403, "only be sent from a page of this site")
    assert (await reader.get("/api/me/subscriptions")).json()[0]["cancel_at_period_end"] is False
    await reader.aclose()


async def test_a_subscription_in_yen_shows_its_price_in_yen(stack: Stack) -> None:
    """500 JPY is ¥500 (a zero-decimal currency), not "5 JPY" (issue 12, defect 7)."""
    owner = await stack.reader()
    slug = await stack.publication(owner)
    yen = [{"interval": "month", "currency": "jpy", "unit_amount": 500}]
    tier = await stack.tier(owner, slug, name="Yen", prices=yen)
    reader = await stack.reader()
    assert (await stack.subscribe(reader, tier["prices"][0]["id"]))["subscription"]
    assert_page(await reader.get("/account"), 200, f"{slug.title()} · ¥500 a month")


async def test_manage_billing_opens_the_portal_and_others_subscriptions_are_not_found(stack: Stack) -> None:
    reader, sub, _ = await subscribed(stack)
    here = {"origin": stack.membership}
    opened = await reader.post("/account/portal", headers=here)
    assert opened.status_code == 303
    portal = opened.headers["location"]
    assert portal.startswith(f"{stack.sandbox}/portal/"), portal
    async with httpx.AsyncClient() as browser:
        page = await browser.get(portal)
    assert page.status_code == 200 and "Billing portal" in page.text
    assert f"{stack.membership}/account" in page.text  # "Return to the site" comes back here

    stranger = await stack.reader()
    for action in ("cancel", "resume"):
        answer = await stranger.post(f"/account/subscriptions/{sub['id']}/{action}", headers=here)
        assert_page(answer, 404, "No such subscription.")
    no_billing = await stranger.post("/account/portal", headers=here)
    assert no_billing.status_code == 303 and no_billing.headers["location"] == "/account?notice=no-billing"
    assert_page(await stranger.get("/account"), 200, "You have no billing account yet")
    await reader.aclose()
    await stranger.aclose()


async def test_an_ended_subscription_says_so_and_cannot_be_cancelled(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    """A mirror row is enough here: the page reads our own state; the form refuses before Stripe."""
    await make_publication(database_url, "daily", "owner@example.com")
    await signed_in(client, "ended@example.com")
    rid = await reader_id(database_url, "ended@example.com")
    ended = datetime(2026, 1, 31, 12, tzinfo=UTC)
    async with db(database_url) as session:
        publication = await session.scalar(select(Publication).where(Publication.slug == "daily"))
        assert publication is not None
        tier = Tier(publication_id=publication.id, name="Daily Readers", entitlement_keys=["pub:daily"])
        session.add(tier)
        await session.flush()
        sub = Subscription(
            reader_id=rid,
            tier_id=tier.id,
            stripe_subscription_id="sub_" + uuid.uuid4().hex,
            stripe_customer_id="cus_" + uuid.uuid4().hex,
            status="canceled",
            ended_at=ended,
            synced_at=ended,
        )
        session.add(sub)
        await session.flush()
        sub_id = sub.id
    page = await client.get("/account")
    words = assert_page(page, 200, "Daily Readers", "Daily", "Ended Ended on 31 January 2026.")
    assert "Cancel at period end" not in words and "Resume" not in words
    refused = await post(client, f"/account/subscriptions/{sub_id}/cancel")
    assert_page(refused, 409, "This subscription has ended; there is nothing to cancel or resume.")


# --- The words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (FIREFOX, "Firefox on Linux"),
        (IPHONE, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36 Edg/126.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36",
            "Chrome on macOS",
        ),
        ("python-httpx/0.28.1", "A Python program"),
        ("", "An unknown device"),
        ("Some   odd\tclient", "Some odd client"),
    ],
)
def test_devices_in_words(user_agent: str, expected: str) -> None:
    assert device(user_agent) == expected


def test_states_and_keys_in_words() -> None:
    end = datetime(2027, 5, 3, 9, tzinfo=UTC)
    base: dict[str, Any] = {
        "cancel_at_period_end": False,
        "current_period_end": end,
        "trial_end": end,
        "ended_at": None,
        "canceled_at": None,
        "revoked_at": None,
    }
    assert subscription_state(status="active", **base) == ("Active", "Renews on 3 May 2027.")
    assert subscription_state(status="active", **base | {"cancel_at_period_end": True}) == (
        "Cancelled",
        "Ends on 3 May 2027. You keep access until then.",
    )
    assert subscription_state(status="trialing", **base)[1].startswith("Your free trial ends on 3 May 2027.")
    assert subscription_state(status="past_due", **base)[0] == "Payment failed"
    assert subscription_state(status="active", **base | {"revoked_at": end})[1].endswith(
        "refunded or disputed."
    )
    for status in ("unpaid", "canceled", "incomplete", "incomplete_expired", "paused", "something_new"):
        label, _ = subscription_state(status=status, **base)
        assert label and "_" not in label
    names = {"the-gazette": "The Tollgate Gazette"}
    assert entitlement_name("pub:the-gazette", names) == "Every member-only story in The Tollgate Gazette"
    assert entitlement_name("pub:the-gazette:premium", names) == "The Tollgate Gazette: premium"
    assert entitlement_name("beta-features", names) == "beta-features"
