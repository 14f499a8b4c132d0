"""Story pages as a keyboard or screen-reader user meets them (issue 12, defect 6)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.gateway.stack import (
    Gateway,
    Membership,
    gateway_settings,
    running_gateway,
    unique_email,
    write_story,
)

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
async def gateway(membership: Membership, tmp_path: Path) -> AsyncIterator[Gateway]:
    folder = tmp_path / "stories"
    folder.mkdir()
    write_story(folder, "open-day", "the-gazette", "public")
    write_story(folder, "night-press", "the-gazette", "[pub:the-gazette]")
    async with running_gateway(gateway_settings(membership.url, membership.api_key, folder)) as client:
        yield client


async def test_a_story_page_starts_with_a_skip_link_to_its_content(gateway: Gateway) -> None:
    page = (await gateway.get("/stories/open-day", headers={"accept": "text/html"})).text
    link = re.search(r'<a class="skip-link" href="#([\w-]+)">Skip to the content</a>', page)
    assert link is not None
    # the link is the first thing in the body, and its target exists
    assert page.index(link.group(0)) < page.index('<header class="site">')
    assert f'id="{link.group(1)}"' in page


async def test_a_browser_asking_for_a_missing_story_gets_a_page(gateway: Gateway) -> None:
    answer = await gateway.get(
        "/stories/no-such-story", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>No story here</h1>" in answer.text
    assert '<a href="/">See all stories</a>' in answer.text
    assert '<header class="site">' in answer.text


async def test_a_json_client_asking_for_a_missing_story_gets_problem_details(gateway: Gateway) -> None:
    answer = await gateway.get("/stories/no-such-story", headers={"accept": "application/json"})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"] == "There is no story at this address."


def account_nav(page: str) -> str:
    found = re.search(r'<nav aria-label="Account">(.*?)</nav>', page, re.DOTALL)
    assert found is not None, page
    return found.group(1)


async def test_the_header_offers_sign_in_only_to_a_reader_who_is_not_signed_in(
    gateway: Gateway, membership: Membership
) -> None:
    for story in ("open-day", "night-press"):
        anonymous = await gateway.get(f"/stories/{story}")
        assert f'href="/auth/sign-in?next=/stories/{story}">Sign in</a>' in account_nav(anonymous.text)
    session, _ = await membership.session_of(unique_email())
    cookies = {"cookie": f"tollgate_session={session}"}
    for story in ("open-day", "night-press"):
        signed_in = await gateway.get(f"/stories/{story}", headers=cookies)
        nav = account_nav(signed_in.text)
        assert "Sign in" not in nav and '<a href="/account">My membership</a>' in nav
    # The public page that names the reader's account is kept out of shared caches.
    public = await gateway.get("/stories/open-day", headers=cookies)
    assert public.headers["cache-control"].startswith("private")
    assert "Cookie" in public.headers["vary"]
    anonymous = await gateway.get("/stories/open-day")
    assert anonymous.headers["cache-control"].startswith("public")
