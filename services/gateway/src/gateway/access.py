"""The one access decision: who reads a story in full, and who gets the teaser and the paywall.

`decide` is a pure function of two sets of facts the caller has already established: the story's
access policy (`StoryAccess`) and what is known about the reader (`Reader`: the keys of a token
that verified, why a presented token was refused, the session, a friend link, this month's
unlocks). It does no I/O and reads no clock: whatever depends on time (token expiry, which month
the unlocks belong to) is settled by the caller before the call, so every channel (HTML, JSON,
feeds, HEAD, Range) gets the same answer for the same facts, and the table test can cover it all.

The order, and why each step sits where it does:

1. Public story: full. Nothing about the reader matters, so nothing about the reader is looked at.
2. A valid token whose entitlement keys open the story: full, with the key that opened it. Paying
   members come before any metering so that they never spend a free unlock.
3. A valid friend link for this very story: full. It is someone else's gift and costs the reader
   nothing, so it comes before the reader's own unlocks; a link for another story opens nothing.
4. A signed-in reader (valid session, no entitling token): a story already unlocked this month is
   read again for free; otherwise, with unlocks left, the caller must record one unlock at
   membership before serving the full text. The decision says how many remain after it. A request
   that is not a read (HEAD, a browser's prefetch) never spends one: it gets the teaser, saying an
   unlock is available. When the
   gateway's anonymous allowance is switched on, a reader who is not signed in is metered the same
   way against a signed cookie, and is invited to sign in once it is spent.
5. Otherwise the teaser and the paywall, saying why: an anonymous reader is invited to sign in; a
   signed-in reader with no unlocks left is invited to subscribe; a reader who presented a token
   that was refused (expired, stale, invalid) and has no session is treated as anonymous, but is
   told so, since signing in again is what fixes it.

A refused token does not stop a valid session from using the reader's unlocks (step 4), and a
signed-in reader at the paywall is told to subscribe whatever became of a token: with a valid
session the gateway refreshes tokens itself, so the token is not what the reader should act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_UNLOCK_ALLOWANCE = 3


class Reason(StrEnum):
    """Why a request got the full story or the teaser; the value goes into logs and headers."""

    PUBLIC = "public"
    ENTITLED = "entitled"
    FRIEND_LINK = "friend_link"
    UNLOCKED_BEFORE = "unlocked_before"
    FREE_UNLOCK = "free_unlock"
    SIGN_IN = "sign_in"
    SUBSCRIBE = "subscribe"
    TOKEN_REFUSED = "token_refused"  # noqa: S105 (a reason, not a secret)
    UNLOCK_AVAILABLE = "unlock_available"
    AUTHOR = "author"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class StoryAccess:
    """A story's access policy: any one of `keys` opens it; no keys means public."""

    story_id: str
    publication: str
    keys: tuple[str, ...] = ()

    @property
    def public(self) -> bool:
        return not self.keys


@dataclass(frozen=True, slots=True)
class Reader:
    """What the gateway established about the reader, for the story's publication and this month."""

    # Keys of a token that verified; None when no token was presented or it was refused.
    token_keys: frozenset[str] | None = None
    # Why a presented token was refused ("expired", "stale", "invalid"); None if none was refused.
    token_problem: str | None = None
    # A valid session: the reader is known and may spend free unlocks.
    signed_in: bool = False
    # Not signed in, but the gateway's anonymous allowance (a signed cookie) is on: the unlock
    # fields below then describe that cookie, and the allowance is the anonymous one.
    metered_anonymously: bool = False
    # The story a valid friend link opens, if one was presented.
    friend_link_story: str | None = None
    # The story's own author, or on its publication's staff: they read it without spending unlocks.
    author: bool = False
    staff: bool = False
    # Stories of this publication already unlocked this calendar month.
    unlocked_this_month: frozenset[str] = frozenset()
    # Unlocks spent this month at this publication, and how many the publication grants.
    unlocks_used: int = 0
    unlock_allowance: int = DEFAULT_UNLOCK_ALLOWANCE
    # Whether this request may spend an unlock: not a HEAD, not a browser's speculative prefetch.
    may_spend: bool = True

    def __post_init__(self) -> None:
        # Negative counts would make "unlocks left" meaningless; they are a caller bug.
        if self.unlocks_used < 0 or self.unlock_allowance < 0:
            raise ValueError("unlocks_used and unlock_allowance must not be negative")

    @property
    def unlocks_left(self) -> int:
        # An allowance lowered below what was already spent leaves none, not a debt.
        return max(0, self.unlock_allowance - self.unlocks_used)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: full text or teaser, why, and what the caller must do or show.

    `record_unlock` asks the caller to record an unlock at membership before serving the full
    text. `unlocks_left` is what remains this month for a signed-in reader whose read was metered
    (after the unlock, when one is recorded), else None. `key` is the entitlement key that opened
    the story for `ENTITLED`, else None.
    """

    full: bool
    reason: Reason
    record_unlock: bool = False
    unlocks_left: int | None = None
    key: str | None = None


def decide(story: StoryAccess, reader: Reader) -> Decision:
    """Decide one request for one story; see the module docstring for the order and its reasons."""
    # 1. Public: the reader is irrelevant, and must not be charged or counted.
    if story.public:
        return Decision(full=True, reason=Reason.PUBLIC)

    # 2. Entitled: the first of the story's keys the token holds, so the answer is deterministic.
    if reader.token_keys is not None:
        for key in story.keys:
            if key in reader.token_keys:
                return Decision(full=True, reason=Reason.ENTITLED, key=key)

    # 3. Friend link: only for the very story it was made for.
    if reader.friend_link_story is not None and reader.friend_link_story == story.story_id:
        return Decision(full=True, reason=Reason.FRIEND_LINK)

    # 3b. The story's author and its publication's staff read their own work for free.
    if reader.author:
        return Decision(full=True, reason=Reason.AUTHOR)
    if reader.staff:
        return Decision(full=True, reason=Reason.STAFF)

    if reader.signed_in or reader.metered_anonymously:
        left = reader.unlocks_left
        # 4a. Already unlocked this month: reading it again costs nothing, even with none left.
        if story.story_id in reader.unlocked_this_month:
            return Decision(full=True, reason=Reason.UNLOCKED_BEFORE, unlocks_left=left)
        # 4b. A free unlock: the caller records it first, and the reader sees what remains after.
        if left > 0 and reader.may_spend:
            return Decision(full=True, reason=Reason.FREE_UNLOCK, record_unlock=True, unlocks_left=left - 1)
        # 4c. A look that is not a read (HEAD, prefetch) spends nothing: the teaser, saying one is there.
        if left > 0:
            return Decision(full=False, reason=Reason.UNLOCK_AVAILABLE, unlocks_left=left)
        # 5. Known reader, nothing left: the way in is a subscription.
        if reader.signed_in:
            return Decision(full=False, reason=Reason.SUBSCRIBE, unlocks_left=0)
        # 5. Anonymous free reads spent: signing in brings the reader's own allowance.
        return Decision(full=False, reason=Reason.SIGN_IN, unlocks_left=0)

    # 5. Anonymous: say so when a token was presented and refused, since that is what to fix.
    if reader.token_problem is not None:
        return Decision(full=False, reason=Reason.TOKEN_REFUSED)
    return Decision(full=False, reason=Reason.SIGN_IN)
