"""RevocationFeed against the fake feed, and a TokenVerifier refusing tokens the feed made stale."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from tests.client.conftest import API_KEY, FakeMembership, SigningKey, VerifierFactory, serve_on
from tests.servers import bound_socket
from tollgate_client import MembershipError, MembershipUnavailable, RevocationFeed, TokenExpired

FeedFactory = Callable[..., RevocationFeed]
READER = str(uuid.uuid4())
OTHER = str(uuid.uuid4())


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def test_the_feed_follows_every_page(membership: FakeMembership, make_feed: FeedFactory) -> None:
    for version in range(1, 6):
        membership.add_change(READER, version)
    membership.add_change(OTHER, 3)
    feed = make_feed(start_from_latest=False, page_size=2)

    applied = await feed.poll_once()

    assert applied == 6
    assert feed.min_version(READER) == 5
    assert feed.min_version(OTHER) == 3
    assert feed.min_version(str(uuid.uuid4())) == 0
    assert feed.position == 6
    pages = [path for path in membership.requests if path.startswith("/api/entitlements/changes?")]
    assert pages == [
        "/api/entitlements/changes?after=0&limit=2",
        "/api/entitlements/changes?after=2&limit=2",
        "/api/entitlements/changes?after=4&limit=2",
    ]
    assert all(header == f"Bearer {API_KEY}" for header in membership.authorizations)


async def test_staleness_is_a_version_below_the_latest(
    membership: FakeMembership, make_feed: FeedFactory
) -> None:
    membership.add_change(READER, 7)
    feed = make_feed(start_from_latest=False)
    await feed.poll_once()

    assert feed.is_stale(READER, 6)
    assert not feed.is_stale(READER, 7)
    assert not feed.is_stale(READER, 8)
    assert not feed.is_stale(OTHER, 0)


async def test_a_version_never_goes_down(membership: FakeMembership, make_feed: FeedFactory) -> None:
    membership.add_change(READER, 9)
    membership.add_change(READER, 4)
    feed = make_feed(start_from_latest=False)
    await feed.poll_once()

    assert feed.min_version(READER) == 9


async def test_starting_from_latest_skips_history(membership: FakeMembership, make_feed: FeedFactory) -> None:
    membership.add_change(READER, 1)
    membership.add_change(READER, 2)
    feed = make_feed()

    assert await feed.poll_once() == 0
    assert feed.position == 2
    assert feed.min_version(READER) == 0
    assert "/api/entitlements/changes/latest" in membership.requests

    membership.add_change(OTHER, 5)
    assert await feed.poll_once() == 1
    assert feed.min_version(OTHER) == 5


async def test_a_poll_with_nothing_new_changes_nothing(
    membership: FakeMembership, make_feed: FeedFactory
) -> None:
    membership.add_change(READER, 3)
    feed = make_feed(start_from_latest=False)
    await feed.poll_once()

    assert await feed.poll_once() == 0
    assert feed.position == 1
    assert feed.min_version(READER) == 3


async def test_a_wrong_api_key_is_a_membership_error(membership: FakeMembership) -> None:
    async with RevocationFeed(membership.url, "tgk_wrong", start_from_latest=False) as feed:
        with pytest.raises(MembershipError) as caught:
            await feed.poll_once()
    assert caught.value.status == 401
    assert caught.value.title == "Unauthorized"


async def test_the_feed_keeps_what_it_knows_while_membership_is_down(
    membership: FakeMembership, make_feed: FeedFactory
) -> None:
    membership.add_change(READER, 2)
    feed = make_feed(start_from_latest=False)
    await feed.poll_once()

    membership.down = True
    membership.add_change(READER, 3)
    with pytest.raises(MembershipError) as caught:
        await feed.poll_once()
    assert caught.value.status == 503
    assert feed.min_version(READER) == 2
    assert feed.position == 1

    membership.down = False
    assert await feed.poll_once() == 1
    assert feed.min_version(READER) == 3


async def test_the_background_task_survives_membership_stopping_and_resumes(
    membership: FakeMembership,
) -> None:
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()
    membership.add_change(READER, 1)
    url = f"http://127.0.0.1:{port}"
    feed = RevocationFeed(url, API_KEY, poll_interval=0.05, max_backoff=0.2, start_from_latest=False)
    try:
        with serve_on(membership.app(), port):
            await feed.start()
            assert feed.min_version(READER) == 1

        # Stopped: connections are refused; the task keeps polling and keeps what it knows.
        with pytest.raises(MembershipUnavailable):
            await feed.poll_once()
        await asyncio.sleep(0.3)
        assert feed.min_version(READER) == 1
        assert feed._task is not None
        assert not feed._task.done()

        membership.add_change(READER, 4)
        with serve_on(membership.app(), port):
            await wait_for(lambda: feed.min_version(READER) == 4)
    finally:
        await feed.aclose()


async def test_start_survives_membership_being_down(dead_url: str) -> None:
    feed = RevocationFeed(dead_url, API_KEY, poll_interval=0.05)
    try:
        await feed.start()
        assert feed.position is None
        assert feed.last_success is None
    finally:
        await feed.aclose()


# --- the verifier with the feed ---


async def test_a_token_older_than_the_feed_says_is_refused_as_expired(
    membership: FakeMembership,
    keys: dict[str, SigningKey],
    make_verifier: VerifierFactory,
    make_feed: FeedFactory,
) -> None:
    feed = make_feed(start_from_latest=False)
    await feed.poll_once()
    verifier = make_verifier(revocations=feed)
    old = membership.mint(keys["ed"], sub=READER, ver=6)
    current = membership.mint(keys["ed"], sub=READER, ver=7)
    assert (await verifier.verify(old)).ver == 6  # now cached

    # A refund: membership raises the reader's version and the feed reports it.
    membership.add_change(READER, 7)
    await feed.poll_once()

    with pytest.raises(TokenExpired, match="stale entitlements: refresh"):
        await verifier.verify(old)
    with pytest.raises(TokenExpired, match="stale entitlements: refresh"):
        await verifier.verify(membership.mint(keys["ed"], sub=READER, ver=6))
    assert (await verifier.verify(current)).ver == 7
    assert (await verifier.verify(membership.mint(keys["ed"], sub=OTHER, ver=1))).ver == 1


async def test_the_background_feed_makes_tokens_stale(
    membership: FakeMembership,
    keys: dict[str, SigningKey],
    make_verifier: VerifierFactory,
    make_feed: FeedFactory,
) -> None:
    feed = make_feed()
    await feed.start()
    verifier = make_verifier(revocations=feed)
    token = membership.mint(keys["ed"], sub=READER, ver=1)
    await verifier.verify(token)

    membership.add_change(READER, 2)
    await wait_for(lambda: feed.is_stale(READER, 1))

    with pytest.raises(TokenExpired):
        await verifier.verify(token)
