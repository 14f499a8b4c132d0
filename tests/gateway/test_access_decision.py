"""The one access decision: every branch and every reason in one table, plus its invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.access import Decision, Reader, Reason, StoryAccess, decide

PUBLIC = StoryAccess("open-letter", "harbour", ())
MEMBERS = StoryAccess("tide-tables", "harbour", ("harbour:members", "harbour:patrons"))

SIGNED_IN = Reader(signed_in=True)
ANONYMOUS = Reader()


def _full(
    reason: Reason, *, record_unlock: bool = False, unlocks_left: int | None = None, key: str | None = None
) -> Decision:
    return Decision(True, reason, record_unlock, unlocks_left, key)


def _teaser(reason: Reason, *, unlocks_left: int | None = None) -> Decision:
    return Decision(False, reason, False, unlocks_left, None)


CASES = [
    # 1. Public stories open for anyone, and nothing is counted.
    pytest.param(PUBLIC, ANONYMOUS, _full(Reason.PUBLIC), id="public-anonymous"),
    pytest.param(PUBLIC, SIGNED_IN, _full(Reason.PUBLIC), id="public-signed-in-costs-no-unlock"),
    pytest.param(
        PUBLIC, Reader(token_problem="expired"), _full(Reason.PUBLIC), id="public-with-refused-token"
    ),
    # 2. Entitled by token.
    pytest.param(
        MEMBERS,
        Reader(token_keys=frozenset({"harbour:patrons"}), signed_in=True),
        _full(Reason.ENTITLED, key="harbour:patrons"),
        id="token-holds-one-of-several-keys",
    ),
    pytest.param(
        MEMBERS,
        Reader(token_keys=frozenset({"harbour:patrons", "harbour:members"})),
        _full(Reason.ENTITLED, key="harbour:members"),
        id="token-holds-several-keys-first-story-key-wins",
    ),
    pytest.param(
        MEMBERS,
        Reader(token_keys=frozenset({"quay:members"}), signed_in=True, unlocks_used=1),
        _full(Reason.FREE_UNLOCK, record_unlock=True, unlocks_left=1),
        id="token-without-story-key-falls-through-to-unlock",
    ),
    pytest.param(
        MEMBERS,
        Reader(token_keys=frozenset(), signed_in=True, unlocks_used=3),
        _teaser(Reason.SUBSCRIBE, unlocks_left=0),
        id="token-without-keys-and-no-unlocks-left",
    ),
    # 3. Friend links open only their own story.
    pytest.param(
        MEMBERS,
        Reader(friend_link_story="tide-tables"),
        _full(Reason.FRIEND_LINK),
        id="friend-link-this-story",
    ),
    pytest.param(
        MEMBERS,
        Reader(friend_link_story="other-story"),
        _teaser(Reason.SIGN_IN),
        id="friend-link-other-story",
    ),
    pytest.param(
        MEMBERS,
        Reader(friend_link_story="other-story", signed_in=True, unlocks_used=3),
        _teaser(Reason.SUBSCRIBE, unlocks_left=0),
        id="friend-link-other-story-signed-in-no-unlocks",
    ),
    # 4. Free unlocks for signed-in readers.
    pytest.param(
        MEMBERS, SIGNED_IN, _full(Reason.FREE_UNLOCK, record_unlock=True, unlocks_left=2), id="first-unlock"
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlocks_used=2, unlocked_this_month=frozenset({"a", "b"})),
        _full(Reason.FREE_UNLOCK, record_unlock=True, unlocks_left=0),
        id="last-unlock",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlocks_used=1, unlock_allowance=10),
        _full(Reason.FREE_UNLOCK, record_unlock=True, unlocks_left=8),
        id="publication-allowance-10",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlocks_used=1, unlocked_this_month=frozenset({"tide-tables"})),
        _full(Reason.UNLOCKED_BEFORE, unlocks_left=2),
        id="already-unlocked-costs-nothing",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlocks_used=3, unlocked_this_month=frozenset({"tide-tables", "a", "b"})),
        _full(Reason.UNLOCKED_BEFORE, unlocks_left=0),
        id="already-unlocked-with-allowance-exhausted",
    ),
    pytest.param(
        MEMBERS,
        Reader(unlocked_this_month=frozenset({"tide-tables"})),
        _teaser(Reason.SIGN_IN),
        id="unlocked-before-but-not-signed-in",
    ),
    pytest.param(
        MEMBERS,
        Reader(token_problem="expired", signed_in=True, unlocks_used=1),
        _full(Reason.FREE_UNLOCK, record_unlock=True, unlocks_left=1),
        id="refused-token-signed-in-still-unlocks",
    ),
    # 5. The paywall, and why.
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlocks_used=3, unlocked_this_month=frozenset({"a", "b", "c"})),
        _teaser(Reason.SUBSCRIBE, unlocks_left=0),
        id="allowance-exhausted",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlocks_used=5),
        _teaser(Reason.SUBSCRIBE, unlocks_left=0),
        id="allowance-lowered-below-used",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlock_allowance=0),
        _teaser(Reason.SUBSCRIBE, unlocks_left=0),
        id="allowance-zero",
    ),
    pytest.param(
        MEMBERS,
        Reader(token_problem="stale", signed_in=True, unlocks_used=3),
        _teaser(Reason.SUBSCRIBE, unlocks_left=0),
        id="refused-token-signed-in-no-unlocks-subscribe",
    ),
    pytest.param(MEMBERS, ANONYMOUS, _teaser(Reason.SIGN_IN), id="anonymous"),
    pytest.param(
        MEMBERS, Reader(token_problem="expired"), _teaser(Reason.TOKEN_REFUSED), id="refused-token-expired"
    ),
    pytest.param(
        MEMBERS, Reader(token_problem="invalid"), _teaser(Reason.TOKEN_REFUSED), id="refused-token-invalid"
    ),
    # Precedence.
    pytest.param(
        MEMBERS,
        Reader(token_keys=frozenset({"harbour:members"}), signed_in=True),
        _full(Reason.ENTITLED, key="harbour:members"),
        id="entitled-with-unlocks-left-records-no-unlock",
    ),
    pytest.param(
        MEMBERS,
        Reader(
            token_keys=frozenset({"harbour:members"}),
            signed_in=True,
            unlocked_this_month=frozenset({"tide-tables"}),
        ),
        _full(Reason.ENTITLED, key="harbour:members"),
        id="entitled-beats-unlocked-before",
    ),
    pytest.param(
        MEMBERS,
        Reader(token_keys=frozenset({"harbour:members"}), friend_link_story="tide-tables"),
        _full(Reason.ENTITLED, key="harbour:members"),
        id="entitled-beats-friend-link",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, friend_link_story="tide-tables"),
        _full(Reason.FRIEND_LINK),
        id="friend-link-beats-unlock",
    ),
    pytest.param(
        MEMBERS,
        Reader(token_problem="expired", friend_link_story="tide-tables"),
        _full(Reason.FRIEND_LINK),
        id="friend-link-beats-refused-token",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlocks_used=1, may_spend=False),
        _teaser(Reason.UNLOCK_AVAILABLE, unlocks_left=2),
        id="a-look-that-is-not-a-read-spends-nothing",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, unlocked_this_month=frozenset({"tide-tables"}), may_spend=False),
        _full(Reason.UNLOCKED_BEFORE, unlocks_left=3),
        id="a-look-at-an-unlocked-story-opens-it",
    ),
    # 4 and 5 for readers who are not signed in, when the anonymous allowance (a cookie) is on.
    pytest.param(
        MEMBERS,
        Reader(metered_anonymously=True, unlock_allowance=2),
        _full(Reason.FREE_UNLOCK, record_unlock=True, unlocks_left=1),
        id="anonymous-allowance-opens-and-records",
    ),
    pytest.param(
        MEMBERS,
        Reader(
            metered_anonymously=True,
            unlocked_this_month=frozenset({"tide-tables"}),
            unlocks_used=2,
            unlock_allowance=2,
        ),
        _full(Reason.UNLOCKED_BEFORE, unlocks_left=0),
        id="anonymous-allowance-rereading-is-free",
    ),
    pytest.param(
        MEMBERS,
        Reader(metered_anonymously=True, unlocks_used=2, unlock_allowance=2),
        _teaser(Reason.SIGN_IN, unlocks_left=0),
        id="anonymous-allowance-spent-invites-sign-in",
    ),
    pytest.param(
        MEMBERS,
        Reader(metered_anonymously=True, token_problem="expired", unlocks_used=2, unlock_allowance=2),
        _teaser(Reason.SIGN_IN, unlocks_left=0),
        id="anonymous-allowance-spent-with-refused-token-invites-sign-in",
    ),
    pytest.param(
        PUBLIC,
        Reader(metered_anonymously=True, unlock_allowance=2),
        _full(Reason.PUBLIC),
        id="anonymous-allowance-not-spent-on-public",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, author=True, unlocks_used=3),
        _full(Reason.AUTHOR),
        id="the-author-reads-for-free-with-no-unlocks-left",
    ),
    pytest.param(
        MEMBERS,
        Reader(signed_in=True, staff=True, unlocks_used=0),
        _full(Reason.STAFF),
        id="staff-read-for-free-and-spend-no-unlock",
    ),
    pytest.param(
        MEMBERS,
        Reader(token_keys=frozenset({"harbour:patrons"}), signed_in=True, staff=True),
        _full(Reason.ENTITLED, key="harbour:patrons"),
        id="staff-with-a-membership-read-as-members",
    ),
    pytest.param(
        PUBLIC,
        Reader(signed_in=True, staff=True),
        _full(Reason.PUBLIC),
        id="staff-on-a-public-story-public",
    ),
]


@pytest.mark.parametrize(("story", "reader", "expected"), CASES)
def test_access_decision(story: StoryAccess, reader: Reader, expected: Decision) -> None:
    assert decide(story, reader) == expected


def test_table_covers_every_reason() -> None:
    reasons = {case.values[2].reason for case in CASES if isinstance(case.values[2], Decision)}
    assert reasons == set(Reason)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Reader(unlocks_used=-1)
    with pytest.raises(ValueError, match="negative"):
        Reader(unlock_allowance=-1)


_ids = st.sampled_from(["s1", "s2", "s3"])
_keys = st.sampled_from(["k1", "k2", "k3"])
_stories = st.builds(StoryAccess, story_id=_ids, publication=st.just("p"), keys=st.lists(_keys).map(tuple))
_readers = st.builds(
    Reader,
    token_keys=st.none() | st.frozensets(_keys),
    token_problem=st.none() | st.sampled_from(["expired", "stale", "invalid"]),
    signed_in=st.booleans(),
    metered_anonymously=st.booleans(),
    may_spend=st.booleans(),
    friend_link_story=st.none() | _ids,
    unlocked_this_month=st.frozensets(_ids),
    unlocks_used=st.integers(min_value=0, max_value=10),
    unlock_allowance=st.integers(min_value=0, max_value=10),
)


SHUT = {Reason.SIGN_IN, Reason.SUBSCRIBE, Reason.TOKEN_REFUSED, Reason.UNLOCK_AVAILABLE}


@given(story=_stories, reader=_readers)
def test_decision_invariants(story: StoryAccess, reader: Reader) -> None:
    decision = decide(story, reader)
    if not decision.full:
        assert decision.reason in SHUT
    else:
        assert decision.reason not in SHUT
    if decision.reason is Reason.UNLOCK_AVAILABLE or decision.record_unlock:
        # Only a read spends, and only a read that may.
        assert reader.may_spend == decision.record_unlock
    if decision.record_unlock:
        assert decision.reason is Reason.FREE_UNLOCK
        assert decision.unlocks_left is not None
        assert decision.unlocks_left >= 0
    # Only the token opens with a key, and only a key the story lists and the token holds.
    if decision.key is not None:
        assert decision.reason is Reason.ENTITLED
        assert decision.key in story.keys
        assert reader.token_keys is not None
        assert decision.key in reader.token_keys
    # A public story never costs an unlock; a friend link only opens its own story.
    if story.public:
        assert decision == Decision(full=True, reason=Reason.PUBLIC)
    if decision.reason is Reason.FRIEND_LINK:
        assert reader.friend_link_story == story.story_id
