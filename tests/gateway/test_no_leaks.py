"""No member-only text past the teaser leaves the gateway in any unentitled answer.

One member-only story hides SECRET past its teaser. Every request below is made by a reader who
may not read it (anonymous, or holding tokens that are refused or open other things), through
every channel and trick we know of: HTML, JSON, HEAD, byte ranges, conditional requests, odd
Accept headers, headers that pretend to be the gateway's own, trailing slashes, case variants and
other spellings of the path. None may carry SECRET; the full read at the end shows the check
would have seen it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings
from tests.gateway.conftest import Upstream
from tests.gateway.stack import (
    SECRET,
    Gateway,
    Membership,
    foreign_token,
    gateway_settings,
    running_gateway,
    unique_email,
    write_story,
)

STORY = "/stories/night-press"
TEASER = "The opening of night-press, for everyone."


def _unsigned(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'at+jwt', 'kid': 'x'})}.{part(claims)}."


NONE_TOKEN = _unsigned(
    {
        "iss": "http://gateway.test",
        "aud": "tollgate",
        "sub": "x",
        "exp": 4_000_000_000,
        "ent": ["pub:the-gazette"],
    }
)

# (method, path, headers): each one an unentitled attempt at the story.
ATTEMPTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", STORY, {}),
    ("GET", STORY, {"accept": "application/json"}),
    ("GET", STORY, {"accept": "application/problem+json"}),
    ("HEAD", STORY, {}),
    ("HEAD", STORY, {"accept": "application/json"}),
    ("GET", STORY, {"range": "bytes=0-"}),
    ("GET", STORY, {"range": "bytes=-400"}),
    ("GET", STORY, {"range": "bytes=500-900, 1000-"}),
    ("GET", STORY, {"range": "bytes=0-", "accept": "application/json"}),
    ("GET", STORY, {"if-none-match": "*"}),
    ("GET", STORY, {"if-modified-since": "Thu, 01 Jan 1970 00:00:00 GMT"}),
    ("GET", STORY, {"if-range": 'W/"x"', "range": "bytes=0-"}),
    ("GET", STORY, {"accept": "*/*"}),
    ("GET", STORY, {"accept": "text/plain"}),
    ("GET", STORY, {"accept": "application/xml"}),
    ("GET", STORY, {"accept": "image/png"}),
    ("GET", STORY, {"accept": ""}),
    ("GET", STORY, {"accept": ";;;,,q=,"}),
    ("GET", STORY, {"accept": "application/json;q=0, text/html;q=0"}),
    ("GET", STORY, {"accept": "application/*"}),
    ("GET", STORY, {"accept": "text/html;q=0.1, application/json;q=0.9"}),
    ("GET", STORY, {"tollgate-access": 'full; reason="entitled"'}),
    ("GET", STORY, {"x-tollgate-entitlements": "pub:the-gazette"}),
    ("GET", STORY, {"x-member": "true", "x-entitlement": "pub:the-gazette", "x-reader-id": "someone"}),
    ("GET", STORY, {"x-decision": "full", "x-access-decision": "full"}),
    ("GET", STORY, {"authorization": "Basic dXNlcjpwYXNz"}),
    ("GET", STORY, {"authorization": "Bearer "}),
    ("GET", STORY, {"authorization": "Bearer not-a-token"}),
    ("GET", STORY, {"authorization": f"Bearer {NONE_TOKEN}"}),
    ("GET", STORY, {"cookie": f"tollgate_access={NONE_TOKEN}"}),
    ("GET", STORY, {"cookie": "tollgate_access=garbage; tollgate_session=garbage"}),
    ("GET", STORY, {"cookie": "tollgate_free_reads=v1.2026-01.night-press.forged"}),
    ("GET", f"{STORY}/", {}),
    ("GET", f"{STORY}//", {}),
    ("GET", f"{STORY}/?full=1", {}),
    ("GET", "/stories/Night-Press", {}),
    ("GET", "/stories/NIGHT-PRESS/", {}),
    ("GET", "/Stories/night-press", {}),
    ("GET", "/STORIES/NIGHT-PRESS", {}),
    ("GET", "/stories//night-press", {}),
    ("GET", "/stories/./night-press", {}),
    ("GET", "/stories/%6eight-press", {}),
    ("GET", "/stories/night-press%2F", {}),
    ("GET", "/stories/night-press.md", {}),
    ("GET", "/stories/night-press.json", {}),
    ("GET", "/stories/night-press;full", {}),
    ("GET", f"{STORY}?friend=", {}),
    ("GET", f"{STORY}?friend=fl_made-up-code", {}),
    ("GET", f"{STORY}?access=full&full=true&preview=0", {}),
    ("POST", STORY, {}),
    ("PUT", STORY, {}),
    ("OPTIONS", STORY, {}),
    ("GET", "/api/../stories/night-press", {}),
]


@pytest.fixture
def stories(tmp_path: Path) -> Path:
    folder = tmp_path / "stories"
    folder.mkdir()
    write_story(folder, "night-press", "the-gazette", "[pub:the-gazette]")
    return folder


@pytest.fixture
async def gateway(membership: Membership, stories: Path) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(membership.url, membership.api_key, stories)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "headers"), ATTEMPTS, ids=[f"{m} {p} {h}" for m, p, h in ATTEMPTS]
)
async def test_no_unentitled_answer_carries_member_only_text(
    gateway: Gateway, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await gateway.request(method, path, headers=headers)
    assert SECRET.encode() not in response.content
    assert response.status_code != 206, "byte ranges are never served"
    assert response.status_code < 500, response.text
    if response.status_code == 200 and method == "GET":
        # It was answered with the teaser, and said so.
        assert TEASER in response.text
        assert response.headers["tollgate-access"].startswith("teaser")


async def test_head_announces_the_teaser_length_not_the_story_length(gateway: Gateway) -> None:
    got = await gateway.get(STORY)
    head = await gateway.head(STORY)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(got.content)
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-type"] == got.headers["content-type"] == "text/html; charset=utf-8"


async def test_the_full_page_etag_does_not_turn_into_a_304_for_an_unentitled_reader(
    gateway: Gateway, membership: Membership
) -> None:
    email = unique_email("member")
    await membership.comp(email, "the-gazette")
    token = await membership.token_of(email)
    full = await gateway.get(STORY, headers={"authorization": f"Bearer {token}"})
    assert SECRET in full.text  # the check above would see the text if it leaked
    # The member's own revalidation is a 304 ...
    again = await gateway.get(
        STORY, headers={"authorization": f"Bearer {token}", "if-none-match": full.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    # It still says what the 200 would about caching (RFC 9110, 15.4.5).
    for name in ("etag", "cache-control", "vary", "tollgate-access"):
        assert again.headers[name] == full.headers[name], name
    # ... but the full page's tag from anyone else gets the teaser, never "your copy is still good".
    other = await gateway.get(STORY, headers={"if-none-match": full.headers["etag"]})
    assert other.status_code == 200 and SECRET not in other.text and TEASER in other.text


async def test_a_case_variant_redirects_to_the_one_address_with_no_text(gateway: Gateway) -> None:
    response = await gateway.get("/stories/Night-Press?friend=abc", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/stories/night-press?friend=abc"
    assert SECRET not in response.text and TEASER not in response.text


async def test_tokens_for_other_keys_or_from_other_signers_open_nothing(
    gateway: Gateway, membership: Membership
) -> None:
    email = unique_email("other")
    await membership.comp(email, "field-notes")
    token = await membership.token_of(email)
    session, reader_id = await membership.session_of(unique_email())
    # A signed-in reader spends free unlocks; use them up so that only the keys could open it.
    for n in range(3):
        await membership.spend_unlock(reader_id, f"used-{n}")
    for headers in (
        {"authorization": f"Bearer {foreign_token('someone', ['pub:the-gazette', 'member'])}"},
        {"cookie": f"tollgate_session={session}"},
    ):
        response = await gateway.get(STORY, headers=headers)
        assert SECRET not in response.text, headers
    # The field-notes member is signed in too: their read of a gazette story is a free unlock, not a key.
    response = await gateway.get(STORY, headers={"authorization": f"Bearer {token}"})
    assert response.headers["tollgate-access"] == 'full; reason="free_unlock"'


async def test_spoofed_headers_are_not_passed_on_to_membership(make_gateway: Any, upstream: Upstream) -> None:
    # The forward to membership drops them too; the echo route of the stand-in would show them.
    async with make_gateway(Settings(membership_url=upstream.url, environment="test")) as client:
        echoed = await client.get(
            "/api/echo",
            headers={"x-tollgate-entitlements": "member", "tollgate-access": "full", "x-member": "1"},
        )
    names = {name for name, _ in echoed.json()["headers"]}
    assert "x-request-id" in names  # the echo shows the forwarded headers
    assert not names & {"x-tollgate-entitlements", "tollgate-access", "x-member"}
