"""The HTTP origin: a real stand-in CMS on loopback, a fake clock for freshness, the cache rules,
revalidation, failures, coalescing, the LRU bound and the listing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate

import httpx
import pytest
from structlog.testing import capture_logs

from gateway.stories import Origin, Story
from gateway.stories.http_origin import (
    MAX_BODY,
    HttpOrigin,
    OriginError,
    OriginTimeout,
    OriginUnavailable,
)
from tests.gateway.cms import Cms, Reply
from tests.servers import bound_socket, serve


def document(
    story_id: str = "a-story",
    *,
    access: str = "[pub:the-gazette]",
    publication: str = "the-gazette",
    published: str = "2026-05-01",
    body: str = "One.\n\nTwo.\n\nThree.\n",
) -> str:
    return (
        f"---\nid: {story_id}\npublication: {publication}\ntitle: A story\nauthor: A. Writer\n"
        f"published: {published}\naccess: {access}\n---\n{body}"
    )


def path(story_id: str) -> str:
    return f"/stories/{story_id}.md"


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def cms_server() -> Iterator[Cms]:
    sock = bound_socket()
    cms = Cms(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    with serve(cms.app, sock=sock):
        yield cms


@pytest.fixture
def cms(cms_server: Cms) -> Iterator[Cms]:
    cms_server.reset()
    yield cms_server
    cms_server.reset()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def origin(cms: Cms, http: httpx.AsyncClient, clock: Clock) -> HttpOrigin:
    return HttpOrigin(cms.url, http=http, timeout=5.0, clock=clock)


def test_it_is_an_origin(http: httpx.AsyncClient) -> None:
    origin: Origin = HttpOrigin("http://cms.test/", http=http)
    assert isinstance(origin, HttpOrigin)
    assert origin.base_url == "http://cms.test"
    assert issubclass(OriginTimeout, OriginError)
    assert issubclass(OriginUnavailable, OriginError)


# Freshness -------------------------------------------------------------------------------------


async def test_a_fresh_story_is_served_without_asking_the_origin(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    cms.replies[path("a-story")] = Reply(body=document(), headers={"cache-control": "max-age=60"})
    first = await origin.story("a-story")
    assert isinstance(first, Story)
    assert first.keys == ("pub:the-gazette",)
    clock.advance(59)
    assert await origin.story("a-story") is first
    assert cms.count(path("a-story")) == 1
    assert cms.last(path("a-story")).headers["accept"] == "text/markdown"


async def test_an_expired_story_is_revalidated_and_a_304_keeps_the_parsed_story(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    cms.replies[path("a-story")] = Reply(
        body=document(), headers={"cache-control": "max-age=60", "etag": '"v1"'}
    )
    first = await origin.story("a-story")
    assert "if-none-match" not in cms.last(path("a-story")).headers
    clock.advance(61)
    again = await origin.story("a-story")
    revalidation = cms.last(path("a-story"))
    assert revalidation.headers["if-none-match"] == '"v1"'
    assert revalidation.status == 304
    assert again is first  # not parsed again
    # The 304 made it fresh for another minute.
    clock.advance(59)
    assert await origin.story("a-story") is first
    assert cms.count(path("a-story")) == 2


async def test_last_modified_is_revalidated_with_if_modified_since(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    stamp = "Tue, 05 May 2026 10:00:00 GMT"
    cms.replies[path("a-story")] = Reply(body=document(), headers={"last-modified": stamp})
    first = await origin.story("a-story")
    # No freshness given: stored, but revalidated on every use.
    assert await origin.story("a-story") is first
    assert cms.last(path("a-story")).headers["if-modified-since"] == stamp
    assert cms.last(path("a-story")).status == 304
    assert cms.count(path("a-story")) == 2


async def test_a_changed_document_after_expiry_is_parsed_again(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    cms.replies[path("a-story")] = Reply(
        body=document(access="public"), headers={"cache-control": "max-age=60", "etag": '"v1"'}
    )
    first = await origin.story("a-story")
    assert first is not None and first.is_public
    # The publisher closes the story; the cached copy is still fresh for a while.
    cms.replies[path("a-story")] = Reply(
        body=document(access="[pub:the-gazette]"), headers={"cache-control": "max-age=60", "etag": '"v2"'}
    )
    clock.advance(30)
    assert await origin.story("a-story") is first
    clock.advance(31)
    closed = await origin.story("a-story")
    assert cms.last(path("a-story")).headers["if-none-match"] == '"v1"'
    assert cms.last(path("a-story")).status == 200
    assert closed is not None and not closed.is_public
    assert closed.keys == ("pub:the-gazette",)


async def test_s_maxage_wins_over_max_age(cms: Cms, origin: HttpOrigin, clock: Clock) -> None:
    cms.replies[path("a-story")] = Reply(body=document(), headers={"cache-control": "max-age=0, s-maxage=60"})
    first = await origin.story("a-story")
    clock.advance(59)
    assert await origin.story("a-story") is first
    assert cms.count(path("a-story")) == 1

    cms.replies[path("b-story")] = Reply(
        body=document("b-story"), headers={"cache-control": "max-age=600, s-maxage=0"}
    )
    await origin.story("b-story")
    await origin.story("b-story")
    assert cms.count(path("b-story")) == 2


async def test_age_is_subtracted(cms: Cms, origin: HttpOrigin, clock: Clock) -> None:
    cms.replies[path("a-story")] = Reply(
        body=document(), headers={"cache-control": "max-age=60", "age": "50"}
    )
    await origin.story("a-story")
    clock.advance(9)
    await origin.story("a-story")
    assert cms.count(path("a-story")) == 1
    clock.advance(2)
    await origin.story("a-story")
    assert cms.count(path("a-story")) == 2


async def test_expires_counts_when_there_is_no_max_age(cms: Cms, origin: HttpOrigin, clock: Clock) -> None:
    # Against the Date the server sends (to the second), so the margins are a few seconds wide.
    cms.replies[path("a-story")] = Reply(
        body=document(), headers={"expires": formatdate(time.time() + 30, usegmt=True)}
    )
    await origin.story("a-story")
    clock.advance(25)
    await origin.story("a-story")
    assert cms.count(path("a-story")) == 1
    clock.advance(10)
    await origin.story("a-story")
    assert cms.count(path("a-story")) == 2


async def test_max_age_overrides_expires(cms: Cms, origin: HttpOrigin, clock: Clock) -> None:
    cms.replies[path("a-story")] = Reply(
        body=document(),
        headers={"expires": formatdate(time.time() + 3600, usegmt=True), "cache-control": "max-age=0"},
    )
    await origin.story("a-story")
    await origin.story("a-story")
    assert cms.count(path("a-story")) == 2


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"cache-control": "no-store, max-age=600", "etag": '"v1"'}, id="no-store"),
        pytest.param({"cache-control": "private, max-age=600", "etag": '"v1"'}, id="private"),
        pytest.param({}, id="no-cache-control-no-validator"),
        pytest.param({"cache-control": "max-age=0"}, id="max-age-0-no-validator"),
        pytest.param({"cache-control": "max-age=600", "vary": "*"}, id="vary-star"),
        pytest.param({"expires": "0"}, id="invalid-expires"),
        pytest.param({"cache-control": "max-age=soon"}, id="invalid-max-age"),
    ],
)
async def test_answers_the_cache_may_not_keep_are_fetched_every_time(
    cms: Cms, origin: HttpOrigin, clock: Clock, headers: dict[str, str]
) -> None:
    cms.replies[path("a-story")] = Reply(body=document(), headers=headers)
    for _ in range(3):
        story = await origin.story("a-story")
        assert story is not None and story.id == "a-story"
    assert cms.count(path("a-story")) == 3
    assert all("if-none-match" not in seen.headers for seen in cms.seen)
    assert not origin.cached("a-story")


@pytest.mark.parametrize("directive", ["no-cache", "max-age=0", "no-cache, max-age=600"])
async def test_no_cache_and_max_age_0_with_a_validator_revalidate_every_time(
    cms: Cms, origin: HttpOrigin, directive: str
) -> None:
    cms.replies[path("a-story")] = Reply(
        body=document(), headers={"cache-control": directive, "etag": 'W/"v1"'}
    )
    first = await origin.story("a-story")
    for _ in range(2):
        assert await origin.story("a-story") is first
    assert [seen.status for seen in cms.seen] == [200, 304, 304]
    assert cms.last(path("a-story")).headers["if-none-match"] == 'W/"v1"'


async def test_a_304_that_says_no_store_is_used_once_and_forgotten(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    cms.replies[path("a-story")] = Reply(
        body=document(), headers={"cache-control": "max-age=10", "etag": '"v1"'}
    )
    first = await origin.story("a-story")
    cms.replies[path("a-story")] = Reply(
        body=document(), headers={"cache-control": "no-store", "etag": '"v1"'}
    )
    clock.advance(11)
    assert await origin.story("a-story") is first
    assert cms.last(path("a-story")).status == 304
    assert not origin.cached("a-story")


# Missing stories ---------------------------------------------------------------------------------


async def test_a_404_without_cache_control_is_asked_again(cms: Cms, origin: HttpOrigin) -> None:
    assert await origin.story("nowhere") is None
    assert await origin.story("nowhere") is None
    assert cms.count(path("nowhere")) == 2


async def test_a_404_is_cached_only_as_long_as_its_cache_control_says(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    cms.replies[path("soon")] = Reply(status=404, headers={"cache-control": "max-age=30"})
    assert await origin.story("soon") is None
    cms.replies[path("soon")] = Reply(body=document("soon"), headers={"cache-control": "max-age=30"})
    clock.advance(29)
    assert await origin.story("soon") is None
    assert cms.count(path("soon")) == 1
    clock.advance(2)
    story = await origin.story("soon")
    assert story is not None and story.id == "soon"
    assert cms.count(path("soon")) == 2


async def test_a_story_that_is_gone_after_revalidation_is_missing(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    cms.replies[path("a-story")] = Reply(
        body=document(), headers={"cache-control": "max-age=10", "etag": '"v1"'}
    )
    assert await origin.story("a-story") is not None
    cms.replies[path("a-story")] = Reply(status=410)
    clock.advance(11)
    assert await origin.story("a-story") is None
    assert not origin.cached("a-story")


@pytest.mark.parametrize("story_id", ["../secret", "A-Story", "", "a/b", "-dash", "a" * 101, "a-story.md"])
async def test_an_id_that_is_not_a_slug_makes_no_request(cms: Cms, origin: HttpOrigin, story_id: str) -> None:
    cms.replies[path("a-story")] = Reply(body=document())
    assert await origin.story(story_id) is None
    assert cms.seen == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param("no front matter at all", "front matter", id="no-front-matter"),
        pytest.param(document().replace("access: [pub:the-gazette]\n", ""), "access", id="no-access"),
        pytest.param(document("other-story"), "does not match", id="wrong-id"),
        pytest.param(b"---\n\xff\xfe\n---\nx\n", "utf-8", id="not-utf8"),
    ],
)
async def test_a_document_that_breaks_the_contract_is_a_missing_story(
    cms: Cms, origin: HttpOrigin, body: str | bytes, reason: str
) -> None:
    cms.replies[path("a-story")] = Reply(body=body, headers={"cache-control": "max-age=60"})
    with capture_logs() as logs:
        assert await origin.story("a-story") is None
    skipped = [e for e in logs if e["event"] == "story_document_skipped"]
    assert len(skipped) == 1
    assert skipped[0]["log_level"] == "warning"
    assert skipped[0]["url"].endswith("/stories/a-story.md")
    assert reason in skipped[0]["reason"].lower()


@pytest.mark.parametrize("chunk", [0, 256 * 1024], ids=["content-length", "chunked"])
async def test_a_document_over_2_mib_is_refused_as_a_missing_story(
    cms: Cms, origin: HttpOrigin, chunk: int
) -> None:
    big = document(body="x" * MAX_BODY)
    cms.replies[path("a-story")] = Reply(body=big, chunk=chunk)
    with capture_logs() as logs:
        assert await origin.story("a-story") is None
    assert any(e["event"] == "story_document_skipped" and "larger" in e["reason"] for e in logs)


async def test_a_document_of_exactly_2_mib_is_read(cms: Cms, origin: HttpOrigin) -> None:
    text = document()
    text += "x" * (MAX_BODY - len(text.encode()))
    cms.replies[path("a-story")] = Reply(body=text, chunk=64 * 1024)
    assert await origin.story("a-story") is not None


# Failures --------------------------------------------------------------------------------------


async def test_a_slow_origin_times_out(cms: Cms, http: httpx.AsyncClient) -> None:
    cms.replies[path("a-story")] = Reply(body=document(), delay=1.0)
    origin = HttpOrigin(cms.url, http=http, timeout=0.2)
    with pytest.raises(OriginTimeout):
        await origin.story("a-story")


async def test_a_body_that_trickles_past_the_timeout_times_out(cms: Cms, http: httpx.AsyncClient) -> None:
    # Each chunk comes well within the timeout; the whole exchange does not.
    cms.replies[path("a-story")] = Reply(body=document(body="word " * 200), chunk=64, trickle=0.05)
    origin = HttpOrigin(cms.url, http=http, timeout=0.3)
    with pytest.raises(OriginTimeout):
        await origin.story("a-story")


async def test_a_refused_connection_is_unavailable(closed_port_url: str, http: httpx.AsyncClient) -> None:
    origin = HttpOrigin(closed_port_url, http=http, timeout=2.0)
    with pytest.raises(OriginUnavailable):
        await origin.story("a-story")
    with pytest.raises(OriginUnavailable):
        await origin.stories()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_is_unavailable(cms: Cms, origin: HttpOrigin, status: int) -> None:
    cms.replies[path("a-story")] = Reply(status=status, body="oops", headers={"cache-control": "max-age=60"})
    with pytest.raises(OriginUnavailable, match=str(status)):
        await origin.story("a-story")
    assert not origin.cached("a-story")


@pytest.mark.parametrize("status", [401, 403, 418])
async def test_an_answer_outside_the_contract_is_unavailable(
    cms: Cms, origin: HttpOrigin, status: int
) -> None:
    cms.replies[path("a-story")] = Reply(status=status)
    with pytest.raises(OriginUnavailable):
        await origin.story("a-story")


async def test_stale_if_error_serves_the_stale_story_while_the_origin_is_down(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    cms.replies[path("a-story")] = Reply(
        body=document(), headers={"cache-control": "max-age=10, stale-if-error=60"}
    )
    first = await origin.story("a-story")
    cms.replies[path("a-story")] = Reply(status=503)
    clock.advance(30)
    with capture_logs() as logs:
        assert await origin.story("a-story") is first
    assert any(e["event"] == "origin_stale_served" for e in logs)
    clock.advance(41)  # 71 s old: past max-age + stale-if-error
    with pytest.raises(OriginUnavailable):
        await origin.story("a-story")


@pytest.mark.parametrize(
    "cache_control",
    ["max-age=10", "max-age=10, stale-if-error=60, must-revalidate", "s-maxage=10, stale-if-error=60"],
)
async def test_without_stale_if_error_an_expired_story_is_not_served_when_the_origin_fails(
    cms: Cms, origin: HttpOrigin, clock: Clock, cache_control: str
) -> None:
    cms.replies[path("a-story")] = Reply(body=document(), headers={"cache-control": cache_control})
    await origin.story("a-story")
    cms.replies[path("a-story")] = Reply(status=500)
    clock.advance(11)
    with pytest.raises(OriginUnavailable):
        await origin.story("a-story")


# Coalescing and the bound -------------------------------------------------------------------------


async def test_concurrent_requests_for_one_story_make_one_origin_request(
    cms: Cms, origin: HttpOrigin
) -> None:
    # No Cache-Control: nothing is stored, so only coalescing can save the extra requests.
    cms.replies[path("a-story")] = Reply(body=document(), delay=0.2)
    results = await asyncio.gather(*(origin.story("a-story") for _ in range(20)))
    assert cms.count(path("a-story")) == 1
    assert all(r is results[0] for r in results)
    assert results[0] is not None
    # Once it has landed, the next request asks again.
    await origin.story("a-story")
    assert cms.count(path("a-story")) == 2


async def test_concurrent_failures_are_shared_too(cms: Cms, origin: HttpOrigin) -> None:
    cms.replies[path("a-story")] = Reply(status=502, delay=0.2)
    results = await asyncio.gather(*(origin.story("a-story") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, OriginUnavailable) for r in results)
    assert cms.count(path("a-story")) == 1


async def test_a_caller_that_goes_away_does_not_cancel_the_fetch_for_the_others(
    cms: Cms, origin: HttpOrigin
) -> None:
    cms.replies[path("a-story")] = Reply(body=document(), delay=0.2, headers={"cache-control": "max-age=60"})
    impatient = asyncio.create_task(origin.story("a-story"))
    patient = asyncio.create_task(origin.story("a-story"))
    await asyncio.sleep(0.05)
    impatient.cancel()
    story = await patient
    assert story is not None
    assert impatient.cancelled()
    assert cms.count(path("a-story")) == 1


async def test_the_cache_keeps_the_most_recently_used_stories(
    cms: Cms, http: httpx.AsyncClient, clock: Clock
) -> None:
    origin = HttpOrigin(cms.url, http=http, max_entries=2, clock=clock)
    for story_id in ("a", "b", "c"):
        cms.replies[path(story_id)] = Reply(body=document(story_id), headers={"cache-control": "max-age=600"})
    await origin.story("a")
    await origin.story("b")
    await origin.story("a")  # a is now the most recently used
    await origin.story("c")  # so b goes
    assert origin.cached("a") and origin.cached("c") and not origin.cached("b")
    await origin.story("a")
    assert cms.count(path("a")) == 1
    await origin.story("b")
    assert cms.count(path("b")) == 2


# The listing -------------------------------------------------------------------------------------


def listing(cms: Cms, headers: dict[str, str] | None = None) -> None:
    stories = {
        "old-gazette": ("the-gazette", "2026-01-10"),
        "new-gazette": ("the-gazette", "2026-04-02"),
        "field-day": ("field-notes", "2026-03-15"),
        "same-day-b": ("field-notes", "2026-04-02"),
    }
    for story_id, (publication, published) in stories.items():
        cms.replies[path(story_id)] = Reply(
            body=document(story_id, publication=publication, published=published),
            headers={"cache-control": "max-age=60"},
        )
    cms.replies[path("broken")] = Reply(body="no front matter")
    ids = [*stories, "broken", "missing", "Not-A-Slug", "old-gazette"]
    cms.replies["/stories/index.json"] = Reply(
        body=json.dumps({"stories": ids}),
        headers={"content-type": "application/json", **(headers or {})},
    )


async def test_stories_lists_every_valid_story_newest_first(cms: Cms, origin: HttpOrigin) -> None:
    listing(cms)
    with capture_logs() as logs:
        stories = await origin.stories()
    assert [s.id for s in stories] == ["same-day-b", "new-gazette", "field-day", "old-gazette"]
    assert cms.count(path("old-gazette")) == 1  # listed twice, fetched once
    assert cms.count(path("Not-A-Slug")) == 0
    assert cms.last("/stories/index.json").headers["accept"] == "application/json"
    skipped = [e for e in logs if e["event"] == "story_document_skipped"]
    assert len(skipped) == 2  # the broken document and the id that is not a slug


async def test_stories_filters_by_publication(cms: Cms, origin: HttpOrigin) -> None:
    listing(cms)
    assert [s.id for s in await origin.stories("the-gazette")] == ["new-gazette", "old-gazette"]
    assert [s.id for s in await origin.stories("field-notes")] == ["same-day-b", "field-day"]
    assert await origin.stories("nobody") == []


async def test_stories_uses_the_cache_for_the_documents_and_the_index(
    cms: Cms, origin: HttpOrigin, clock: Clock
) -> None:
    listing(cms, {"cache-control": "max-age=30"})
    first = await origin.stories()
    before = len(cms.seen)
    clock.advance(29)
    assert await origin.stories() == first
    # Only what may not be kept was asked again: the broken document and the missing one.
    asked = [seen.path for seen in cms.seen[before:]]
    assert sorted(asked) == [path("broken"), path("missing")]
    assert await origin.story("field-day") is next(s for s in first if s.id == "field-day")


async def test_an_index_without_cache_control_is_asked_every_time(cms: Cms, origin: HttpOrigin) -> None:
    listing(cms)
    await origin.stories()
    await origin.stories()
    assert cms.count("/stories/index.json") == 2


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(status=404), id="missing"),
        pytest.param(Reply(body="not json"), id="not-json"),
        pytest.param(Reply(body='{"stories": "a-story"}'), id="wrong-shape"),
        pytest.param(Reply(body='{"stories": ["' + "a" * MAX_BODY + '"]}'), id="too-large"),
        pytest.param(Reply(status=500), id="5xx"),
    ],
)
async def test_an_index_that_cannot_be_read_is_unavailable(
    cms: Cms, origin: HttpOrigin, reply: Reply
) -> None:
    cms.replies["/stories/index.json"] = reply
    with pytest.raises(OriginUnavailable):
        await origin.stories()


async def test_a_failing_story_is_left_out_of_the_listing_with_a_warning(
    cms: Cms, origin: HttpOrigin
) -> None:
    listing(cms)
    cms.replies[path("field-day")] = Reply(status=503)
    with capture_logs() as logs:
        stories = await origin.stories()
    assert [s.id for s in stories] == ["same-day-b", "new-gazette", "old-gazette"]
    assert [e["story"] for e in logs if e["event"] == "origin_story_left_out"] == ["field-day"]


async def test_a_listing_where_every_story_fails_is_unavailable(cms: Cms, origin: HttpOrigin) -> None:
    cms.replies["/stories/index.json"] = Reply(
        body=json.dumps({"stories": ["one", "two"]}), headers={"content-type": "application/json"}
    )
    cms.replies[path("one")] = cms.replies[path("two")] = Reply(status=503)
    with pytest.raises(OriginUnavailable):
        await origin.stories()
