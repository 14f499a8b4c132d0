"""The paywall end to end: the gateway in front of the real membership, on both databases.

Each test reads stories it wrote itself (every member-only one hides SECRET past its teaser) as an
anonymous reader, a signed-in reader, a member holding a token, and a friend-link holder, and
checks what comes back: the full text, or the teaser and paywall, and why.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.gateway.stack import (
    OWNER,
    SECRET,
    Gateway,
    Membership,
    foreign_token,
    gateway_settings,
    running_gateway,
    unique_email,
    write_story,
)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
def stories(tmp_path: Path) -> Path:
    folder = tmp_path / "stories"
    folder.mkdir()
    write_story(folder, "open-day", "the-gazette", "public")
    write_story(folder, "night-press", "the-gazette", "[pub:the-gazette]")
    write_story(folder, "river", "field-notes", "[member, pub:field-notes]")
    for n in range(1, 5):
        write_story(folder, f"extra-{n}", "the-gazette", "[pub:the-gazette]")
    return folder


@pytest.fixture
async def gateway(membership: Membership, stories: Path) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(membership.url, membership.api_key, stories)) as client:
        yield client


def access_of(response: object) -> str:
    return response.headers["tollgate-access"]  # type: ignore[attr-defined, no-any-return]


async def test_a_public_story_is_whole_for_everyone_and_publicly_cacheable(gateway: Gateway) -> None:
    response = await gateway.get("/stories/open-day")
    assert response.status_code == 200
    assert SECRET in response.text
    assert access_of(response) == 'full; reason="public"'
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["vary"] == "Accept, Authorization, Cookie"
    assert '"isAccessibleForFree": true' in response.text


async def test_an_anonymous_reader_gets_the_teaser_a_paywall_and_the_offers(
    gateway: Gateway, membership: Membership
) -> None:
    response = await gateway.get("/stories/night-press")
    assert response.status_code == 200
    page = response.text
    assert "The opening of night-press, for everyone." in page
    assert SECRET not in page and "Past the teaser" not in page
    assert access_of(response) == 'teaser; reason="sign_in"'
    # The same page for everyone without a token or our cookies: a shared cache may keep it briefly.
    assert response.headers["cache-control"] == "public, max-age=0, s-maxage=60"
    assert response.headers["vary"] == "Accept, Authorization, Cookie"
    # schema.org: not free, and the paywalled part named by a selector that exists on the page.
    assert '"isAccessibleForFree": false' in page
    assert '"cssSelector": ".member-only"' in page
    assert 'class="member-only paywall"' in page
    assert 'href="/auth/sign-in?next=/stories/night-press"' in page


async def test_only_the_anonymous_sign_in_teaser_is_for_shared_caches(
    gateway: Gateway, membership: Membership
) -> None:
    # A cookie of someone else's (analytics, say) changes nothing: still the public teaser.
    other = await gateway.get("/stories/night-press", headers={"cookie": "_ga=GA1.2.3"})
    assert other.headers["cache-control"] == "public, max-age=0, s-maxage=60"
    session, _ = await membership.session_of(unique_email())
    token = await membership.token_of(unique_email())
    readers = [
        {"cookie": f"_ga=1; tollgate_session={session}"},
        {"cookie": "tollgate_access=not-a-token"},
        {"cookie": "tollgate_free_reads=1.2026-03.x"},
        {"cookie": "tollgate_offer=SPRING"},
        {"authorization": f"Bearer {token}"},
        {"authorization": "Bearer not-a-token"},
    ]
    for headers in readers:
        answer = await gateway.get("/stories/night-press", headers=headers)
        assert answer.status_code == 200, headers
        assert answer.headers["cache-control"].startswith("private"), (headers, answer.headers)
        assert answer.headers["vary"] == "Accept, Authorization, Cookie", headers


async def test_a_member_with_a_token_reads_it_all_by_header_or_cookie(
    gateway: Gateway, membership: Membership
) -> None:
    email = unique_email("member")
    await membership.comp(email, "the-gazette")
    token = await membership.token_of(email)
    by_header = await gateway.get("/stories/night-press", headers={"authorization": f"Bearer {token}"})
    assert by_header.status_code == 200 and SECRET in by_header.text
    assert access_of(by_header) == 'full; reason="entitled"'
    assert by_header.headers["cache-control"] == "private, no-cache"
    by_cookie = await gateway.get("/stories/night-press", headers={"cookie": f"tollgate_access={token}"})
    assert SECRET in by_cookie.text
    # Keys of one publication open nothing of another: that read costs one of the reader's free unlocks.
    other = await gateway.get("/stories/river", headers={"authorization": f"Bearer {token}"})
    assert access_of(other) == 'full; reason="free_unlock"'


async def test_a_session_alone_is_swapped_for_a_token_without_the_reader_noticing(
    gateway: Gateway, membership: Membership
) -> None:
    email = unique_email("member")
    await membership.comp(email, "the-gazette")
    session, _ = await membership.session_of(email)
    response = await gateway.get("/stories/night-press", headers={"cookie": f"tollgate_session={session}"})
    assert response.status_code == 200 and SECRET in response.text
    assert access_of(response) == 'full; reason="entitled"'
    # The fresh token reaches the browser, so the next read is checked offline.
    token = response.cookies.get("tollgate_access")
    assert token
    again = await gateway.get("/stories/night-press", headers={"authorization": f"Bearer {token}"})
    assert SECRET in again.text


async def test_a_refused_token_without_a_session_gets_the_teaser_and_is_told_why(gateway: Gateway) -> None:
    token = foreign_token("4c0c3b7e-5a43-4c3e-9d1c-1f2a3b4c5d6e", ["pub:the-gazette"])
    response = await gateway.get("/stories/night-press", headers={"authorization": f"Bearer {token}"})
    assert SECRET not in response.text
    assert access_of(response) == 'teaser; reason="token_refused"'
    assert "sign in again" in response.text.lower()


async def test_free_unlocks_are_counted_rereading_is_free_and_then_the_paywall(
    gateway: Gateway, membership: Membership
) -> None:
    session, _ = await membership.session_of(unique_email())
    cookies = {"cookie": f"tollgate_session={session}"}
    lefts = []
    for story in ("night-press", "extra-1", "extra-2"):
        response = await gateway.get(f"/stories/{story}", headers=cookies)
        assert SECRET in response.text
        assert access_of(response) == 'full; reason="free_unlock"'
        lefts.append(response.headers["tollgate-unlocks-left"])
    assert lefts == ["2", "1", "0"]
    assert "You have 0 free stories left this month." in response.text
    again = await gateway.get("/stories/night-press", headers=cookies)
    assert SECRET in again.text and access_of(again) == 'full; reason="unlocked_before"'
    shut = await gateway.get("/stories/extra-3", headers=cookies)
    assert SECRET not in shut.text
    assert access_of(shut) == 'teaser; reason="subscribe"'
    assert shut.headers["tollgate-unlocks-left"] == "0"
    assert "You have read your free stories this month" in shut.text


async def test_fifty_concurrent_reads_with_one_unlock_left_open_exactly_one_story(
    membership: Membership, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(50):
        write_story(folder, f"many-{n}", "field-notes", "[pub:field-notes]")
    write_story(folder, "first", "field-notes", "[pub:field-notes]")
    write_story(folder, "second", "field-notes", "[pub:field-notes]")
    session, _ = await membership.session_of(unique_email())
    cookies = {"cookie": f"tollgate_session={session}"}
    async with running_gateway(gateway_settings(membership.url, membership.api_key, folder)) as gateway:
        for story in ("first", "second"):
            assert SECRET in (await gateway.get(f"/stories/{story}", headers=cookies)).text
        answers = await asyncio.gather(
            *(gateway.get(f"/stories/many-{n}", headers=cookies) for n in range(50))
        )
    opened = [a for a in answers if SECRET in a.text]
    assert len(opened) == 1
    assert {access_of(a) for a in answers if a not in opened} == {'teaser; reason="subscribe"'}
    assert all(a.status_code == 200 for a in answers)


async def test_json_readers_get_the_story_or_a_402_with_teaser_and_offers(
    gateway: Gateway, membership: Membership
) -> None:
    shut = await gateway.get("/stories/night-press", headers={"accept": "application/json"})
    assert shut.status_code == 402
    assert shut.headers["content-type"].startswith("application/problem+json")
    body = shut.json()
    assert body["status"] == 402 and body["reason"] == "sign_in"
    assert body["story"]["teaser_html"].startswith("<p>The opening of night-press")
    assert body["story"]["body_html"] is None
    assert body["sign_in"] == "/auth/sign-in?next=/stories/night-press"
    assert SECRET not in shut.text
    email = unique_email("member")
    await membership.comp(email, "the-gazette")
    token = await membership.token_of(email)
    whole = await gateway.get(
        "/stories/night-press", headers={"accept": "application/json", "authorization": f"Bearer {token}"}
    )
    assert whole.status_code == 200
    assert SECRET in whole.json()["body_html"] and whole.json()["access"] == "full"


async def test_staff_make_friend_links_that_open_one_story_for_anyone_until_revoked(
    gateway: Gateway, membership: Membership
) -> None:
    owner = await membership.sign_in("owner@gazette.example.com")
    token = (await owner.post("/api/auth/token")).json()["access_token"]
    made = await gateway.post(
        "/stories/night-press/friend-links",
        headers={"authorization": f"Bearer {token}", "accept": "application/json"},
    )
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    code = re.search(r"friend=([^&]+)", url)
    assert code and url.startswith("http://gateway.test/stories/night-press?friend=")
    anyone = await gateway.get(f"/stories/night-press?friend={code.group(1)}")
    assert SECRET in anyone.text
    assert access_of(anyone) == 'full; reason="friend_link"'
    assert anyone.headers["cache-control"] == "private, no-store"
    assert anyone.headers["referrer-policy"] == "no-referrer"
    # The same code opens no other story.
    elsewhere = await gateway.get(f"/stories/extra-4?friend={code.group(1)}")
    assert SECRET not in elsewhere.text
    made_up = await gateway.get("/stories/night-press?friend=fl_madeup")
    assert SECRET not in made_up.text
    links = (await owner.get("/api/publications/the-gazette/friend-links")).json()
    link_id = next(link["id"] for link in links if link["story_id"] == "night-press")
    assert (await owner.delete(f"/api/publications/the-gazette/friend-links/{link_id}")).status_code in (
        200,
        204,
    )
    revoked = await gateway.get(f"/stories/night-press?friend={code.group(1)}")
    assert SECRET not in revoked.text
    await owner.aclose()


async def test_a_reader_who_is_neither_author_nor_staff_cannot_make_a_friend_link(
    gateway: Gateway, membership: Membership
) -> None:
    token = await membership.token_of(unique_email())
    refused = await gateway.post(
        "/stories/night-press/friend-links",
        headers={"authorization": f"Bearer {token}", "accept": "application/json"},
    )
    assert refused.status_code == 403
    anonymous = await gateway.post(
        "/stories/night-press/friend-links", headers={"accept": "application/json"}
    )
    assert anonymous.status_code == 401


def _token_refreshes(metrics: str) -> float:
    found = re.search(r"^gateway_token_refreshes_total (\S+)$", metrics, re.MULTILINE)
    assert found is not None, metrics
    return float(found.group(1))


async def test_the_author_named_by_the_origin_makes_friend_links_for_their_own_story_only(
    membership: Membership, tmp_path: Path
) -> None:
    email = unique_email("author")
    session, author_id = await membership.session_of(email)
    folder = tmp_path / "authored"
    folder.mkdir()
    write_story(folder, "mine", "the-gazette", "[pub:the-gazette]", author_id=author_id)
    write_story(folder, "theirs", "the-gazette", "[pub:the-gazette]")
    async with running_gateway(gateway_settings(membership.url, membership.api_key, folder)) as gateway:
        cookies = {"cookie": f"tollgate_session={session}"}
        page = await gateway.get("/stories/mine", headers=cookies)
        # The author reads their own story (a free unlock here) and is offered the button.
        assert 'action="/stories/mine/friend-links"' in page.text
        renewals = _token_refreshes((await gateway.get("/metrics")).text)
        made = await gateway.post("/stories/mine/friend-links", headers=cookies)
        assert made.status_code == 201
        assert "http://gateway.test/stories/mine?friend=fl_" in made.text
        # The author was known by renewing the session: counted, and the new token goes to the browser.
        assert _token_refreshes((await gateway.get("/metrics")).text) == renewals + 1
        assert "tollgate_access=" in made.headers.get("set-cookie", "")
        theirs = await gateway.post(
            "/stories/theirs/friend-links", headers={**cookies, "accept": "application/json"}
        )
        assert theirs.status_code == 403
        forged = await gateway.post(
            "/stories/mine/friend-links", headers={**cookies, "origin": "https://evil.example"}
        )
        assert forged.status_code == 403


async def test_head_and_prefetch_never_spend_a_free_unlock(gateway: Gateway, membership: Membership) -> None:
    session, _ = await membership.session_of(unique_email())
    cookies = {"cookie": f"tollgate_session={session}"}
    for headers in ({}, {"sec-purpose": "prefetch"}, {"purpose": "prefetch"}):
        method = "HEAD" if not headers else "GET"
        look = await gateway.request(method, "/stories/night-press", headers={**cookies, **headers})
        assert look.headers["tollgate-access"] == 'teaser; reason="unlock_available"'
        assert look.headers["tollgate-unlocks-left"] == "3"
        assert look.headers["cache-control"] == "no-store"
        assert SECRET not in look.text
    read = await gateway.get("/stories/night-press", headers=cookies)
    assert read.headers["tollgate-access"] == 'full; reason="free_unlock"'
    assert read.headers["tollgate-unlocks-left"] == "2"


async def test_a_revoked_grant_shuts_the_story_for_a_token_issued_before_it(
    membership: Membership, stories: Path
) -> None:
    # The token stays unexpired; only the revocation feed can tell the gateway it is stale.
    email = unique_email("member")
    comp = await membership.comp(email, "the-gazette")
    token = await membership.token_of(email)
    bearer = {"authorization": f"Bearer {token}"}
    settings = gateway_settings(membership.url, membership.api_key, stories, revocation_poll_seconds=0.1)
    async with running_gateway(settings) as gateway:
        assert (
            access_of(await gateway.get("/stories/night-press", headers=bearer)) == 'full; reason="entitled"'
        )
        owner = await membership.sign_in(OWNER)
        ended = await owner.post(f"/api/publications/the-gazette/comps/{comp['id']}/end")
        await owner.aclose()
        assert ended.status_code == 200
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            response = await gateway.get("/stories/night-press", headers=bearer)
            if (
                access_of(response) != 'full; reason="entitled"'
                or asyncio.get_running_loop().time() > deadline
            ):
                break
            await asyncio.sleep(0.1)
    assert access_of(response) == 'teaser; reason="token_refused"'
    assert SECRET not in response.text


async def test_staff_read_their_publications_stories_without_spending_unlocks(
    gateway: Gateway, membership: Membership
) -> None:
    session, _ = await membership.session_of("owner@gazette.example.com")
    cookies = {"cookie": f"tollgate_session={session}"}
    # More stories than the monthly allowance: none of them costs an unlock.
    for story in ("night-press", "extra-1", "extra-2", "extra-3", "extra-4"):
        page = await gateway.get(f"/stories/{story}", headers=cookies)
        assert access_of(page) == 'full; reason="staff"', story
        assert SECRET in page.text
        assert "tollgate-unlocks-left" not in page.headers
        # The friend-link button stays, however many stories they read.
        assert f'action="/stories/{story}/friend-links"' in page.text
    # A reader who is not on the staff is metered on the same story.
    reader, _ = await membership.session_of(unique_email())
    other = await gateway.get("/stories/night-press", headers={"cookie": f"tollgate_session={reader}"})
    assert access_of(other) == 'full; reason="free_unlock"'
    assert other.headers["tollgate-unlocks-left"] == "2"


async def test_the_author_reads_their_own_story_without_spending_an_unlock(
    membership: Membership, tmp_path: Path
) -> None:
    session, author_id = await membership.session_of(unique_email("writer"))
    folder = tmp_path / "authored"
    folder.mkdir()
    write_story(folder, "mine", "the-gazette", "[pub:the-gazette]", author_id=author_id)
    write_story(folder, "theirs", "the-gazette", "[pub:the-gazette]")
    async with running_gateway(gateway_settings(membership.url, membership.api_key, folder)) as gateway:
        cookies = {"cookie": f"tollgate_session={session}"}
        for _ in range(2):
            mine = await gateway.get("/stories/mine", headers=cookies)
            assert access_of(mine) == 'full; reason="author"'
            assert 'action="/stories/mine/friend-links"' in mine.text
        theirs = await gateway.get("/stories/theirs", headers=cookies)
        # The first free unlock of the month: reading their own story twice spent none.
        assert access_of(theirs) == 'full; reason="free_unlock"'
        assert theirs.headers["tollgate-unlocks-left"] == "2"
