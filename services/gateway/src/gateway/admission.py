"""Establishes the facts about the reader that `access.decide` needs, and acts on its decision.

The facts are gathered in the order `decide` uses them, and each only when no earlier step has
already opened the story, so that the common cases stay cheap:

1. a public story needs nothing;
2. the access token (the `Authorization: Bearer` header, else the access cookie) is verified
   offline; when it is missing, expired or stale and the reader has a session cookie, membership
   swaps the session for a fresh token without the reader noticing (the new cookie rides along);
   A reader back from Stripe Checkout (`?checkout=success&session_id=cs_...`) has membership ask
   Stripe first, which grants at once when it is paid; until then the page says the payment is
   being confirmed, and neither the paywall nor a free story is offered;
3. a `?friend=` code is resolved at membership (cached for `friend_link_cache_seconds`; a code
   that opens nothing for at most 5 s, so guessing costs membership little);
4. for a signed-in reader, membership says how many free unlocks are left, and records the unlock
   before the full text goes out. A session is refreshed first, so a reader who subscribed a
   moment ago is recognised as a member instead of spending a free story;
5. with the anonymous allowance on, a reader who is not signed in is metered by a signed cookie.

Membership is asked through `tollgate_client.MembershipClient`. Whenever it is needed for a
member-only story and does not answer, the result is `unavailable`: the caller answers 503.
Readers whose token opens the story never get that far.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from litestar import Request

from gateway.access import Decision, Reader, Reason, StoryAccess, decide
from gateway.free_reads import COOKIE as FREE_READS_COOKIE
from gateway.free_reads import FreeReads, month_now
from gateway.metrics import Metrics
from gateway.settings import Settings
from tollgate_client import (
    AccessClaims,
    CheckoutState,
    FriendLink,
    InvalidToken,
    MembershipClient,
    MembershipDown,
    MembershipRefused,
    TokenExpired,
    TokenVerifier,
)
from tollgate_common import clock

log = structlog.get_logger("gateway.admission")

FRIEND_PARAM = "friend"
# A code that opens nothing is remembered this long at most, so a mistyped link soon works once fixed.
UNKNOWN_FRIEND_CODE_SECONDS = 5.0
CHECKOUT_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")


@dataclass(slots=True)
class Admission:
    """The decision, and what the response must carry because of how it was reached."""

    decision: Decision
    reader_id: str | None = None
    # Raw Set-Cookie values for the reader's browser (a refreshed token, the free-reads cookie).
    set_cookies: list[str] = field(default_factory=list)
    # Why membership was needed and could not be asked; the caller answers 503.
    unavailable: str | None = None
    # A friend code was presented (the page must not be stored under a shared URL).
    friend_code: bool = False
    # Back from Stripe Checkout: how it stands (None: not back from one, or not this reader's).
    checkout: CheckoutState | None = None


def may_spend(request: Request[Any, Any, Any]) -> bool:
    """Whether this request is a read that may spend a free unlock: not HEAD, not a prefetch."""
    if request.method == "HEAD":
        return False
    # Browsers' speculative loads say so (Sec-Purpose: prefetch; older: Purpose / X-Moz).
    purpose = " ".join(request.headers.get(h, "") for h in ("sec-purpose", "purpose", "x-moz")).lower()
    return "prefetch" not in purpose and "prerender" not in purpose


class Story(Protocol):
    """What admission needs of a story (`stories.models.Story` has it; no import, no cycle)."""

    @property
    def id(self) -> str: ...
    @property
    def publication(self) -> str: ...
    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def author_id(self) -> str | None: ...


def returning_checkout(request: Request[Any, Any, Any]) -> str | None:
    """The Checkout Session id a reader came back from Stripe with, if the URL carries one."""
    if request.query_params.get("checkout") != "success":
        return None
    session_id = request.query_params.get("session_id", "")
    return session_id if CHECKOUT_SESSION_ID.match(session_id) else None


def _token_problem(exc: InvalidToken) -> str:
    if isinstance(exc, TokenExpired):
        return "stale" if "stale" in exc.reason else "expired"
    return "invalid"


class Gatekeeper:
    """One per app: verifies tokens, asks membership, and meters; shared by every request."""

    def __init__(
        self,
        settings: Settings,
        verifier: TokenVerifier,
        membership: MembershipClient,
        free_reads: FreeReads,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        self.membership = membership
        self.free_reads = free_reads
        self.metrics = metrics
        self._clock = clock
        self._links: dict[str, tuple[float, FriendLink | None]] = {}

    def _presented_token(self, request: Request[Any, Any, Any]) -> str | None:
        # Straight from the raw headers: building Litestar's header and cookie maps costs more.
        authorization = next((v for n, v in request.scope["headers"] if n == b"authorization"), b"")
        if authorization:
            scheme, _, value = authorization.decode("latin-1").partition(" ")
            return value.strip() if scheme.lower() == "bearer" and value.strip() else None
        return request.cookies.get(self.settings.access_cookie) or None

    async def _verify(self, token: str) -> tuple[AccessClaims | None, str | None]:
        started = time.perf_counter()
        try:
            return await self.verifier.verify(token), None
        except InvalidToken as exc:
            return None, _token_problem(exc)
        finally:
            self.metrics.token_check_seconds.observe(time.perf_counter() - started)

    async def admit(self, request: Request[Any, Any, Any], story: Story) -> Admission:
        access = StoryAccess(story.id, story.publication, story.keys)
        if access.public:
            return Admission(decide(access, Reader()))

        # 2. The token, and a silent refresh when it cannot be used but a session can.
        token = self._presented_token(request)
        claims, problem = (await self._verify(token)) if token else (None, None)
        if claims is not None:
            # The member's common case: decided from the (cached) token alone, nothing else parsed.
            decision = decide(access, Reader(token_keys=frozenset(claims.ent)))
            if decision.full:
                return Admission(decision, reader_id=claims.sub)
        admission = Admission(Decision(full=False, reason=Reason.SIGN_IN))
        session = request.cookies.get(self.settings.session_cookie)
        checkout_id = returning_checkout(request) if session else None
        if session and checkout_id:
            # Before any refresh: it rotates the session cookie this request holds.
            try:
                admission.checkout = await self.membership.confirm_checkout(session, checkout_id)
            except MembershipDown:
                admission.checkout = CheckoutState.PENDING  # the page reloads and asks again
        refreshed = False
        if (claims is None or admission.checkout is CheckoutState.ACTIVE) and session:
            try:
                _, claims, refresh_problem = await self._refresh(session, admission.set_cookies)
            except MembershipDown as exc:
                admission.unavailable = str(exc)
                return admission
            refreshed = True
            if claims is None:
                problem = problem or refresh_problem
        keys = frozenset(claims.ent) if claims is not None else None
        decision = decide(access, Reader(token_keys=keys, token_problem=problem))
        if decision.full:
            admission.decision = decision
            admission.reader_id = claims.sub if claims is not None else None
            return admission
        if admission.checkout is CheckoutState.PENDING:
            # Paid, or paying: not the paywall again, nor a free story spent; the page asks again.
            admission.decision = decision
            admission.reader_id = claims.sub if claims is not None else None
            return admission

        # 3. A friend link for this story.
        code = request.query_params.get(FRIEND_PARAM)
        if code:
            admission.friend_code = True
            try:
                link = await self._friend_link(code)
            except (MembershipDown, MembershipRefused) as exc:
                admission.unavailable = str(exc)
                return admission
            opened = link.story_id if link is not None and link.publication == story.publication else None
            decision = decide(
                access, Reader(token_keys=keys, token_problem=problem, friend_link_story=opened)
            )
            if decision.full:
                admission.decision = decision
                return admission

        # 4. A signed-in reader: current entitlements first, then free unlocks.
        if claims is not None:
            try:
                author = story.author_id is not None and story.author_id == claims.sub
                return await self._metered(
                    access, admission, claims, session if not refreshed else None, may_spend(request), author
                )
            except MembershipDown as exc:
                admission.unavailable = str(exc)
                return admission

        # 5. Not signed in: the anonymous allowance, if switched on.
        if self.free_reads.enabled:
            return self._metered_anonymously(access, admission, request, problem)
        admission.decision = decide(access, Reader(token_problem=problem))
        return admission

    async def identify(self, request: Request[Any, Any, Any]) -> tuple[AccessClaims, str, list[str]] | None:
        """Who is asking: verified claims, the token they came from, and cookies a refresh set.

        None when the reader is not signed in. Membership being down is raised as `MembershipDown`.
        """
        token = self._presented_token(request)
        claims, _ = (await self._verify(token)) if token else (None, None)
        if claims is not None and token is not None:
            return claims, token, []
        session = request.cookies.get(self.settings.session_cookie)
        if not session:
            return None
        set_cookies: list[str] = []
        token, claims, _ = await self._refresh(session, set_cookies)
        return (claims, token, set_cookies) if claims is not None and token is not None else None

    async def _refresh(
        self, session: str, set_cookies: list[str]
    ) -> tuple[str | None, AccessClaims | None, str | None]:
        """Swaps the session for a fresh token at membership: the token, its claims, why it was refused.

        The new cookies are added to `set_cookies`. Raises `MembershipDown`.
        """
        refreshed = await self.membership.renew_token(session)
        if refreshed is None:
            # The session is over; the reader is anonymous now, and told so if they held a token.
            return None, None, None
        set_cookies.extend(refreshed.set_cookies)
        self.metrics.token_refreshes.inc()
        claims, problem = await self._verify(refreshed.access_token)
        if claims is None:
            # A token membership has just issued should always verify: the settings disagree.
            log.error(
                "a fresh token from membership was refused; check GATEWAY_PUBLIC_URL or GATEWAY_TOKEN_ISSUER",
                problem=problem,
                issuer=self.settings.issuer,
            )
        return refreshed.access_token, claims, problem

    async def _friend_link(self, code: str) -> FriendLink | None:
        """The story a friend code opens, or None; kept a while (a revoked link lasts that long)."""
        now = self._clock()
        cached = self._links.get(code)
        if cached is not None and cached[0] > now:
            return cached[1]
        link = await self.membership.resolve_friend_link(code)
        # A made-up code is remembered briefly too, so guessing costs membership little.
        ttl = self.settings.friend_link_cache_seconds
        if link is None:
            ttl = min(UNKNOWN_FRIEND_CODE_SECONDS, ttl)
        if len(self._links) > 10_000:
            self._links.clear()
        self._links[code] = (now + ttl, link)
        return link

    async def _metered(
        self,
        access: StoryAccess,
        admission: Admission,
        claims: AccessClaims,
        session: str | None,
        spend: bool,
        author: bool,
    ) -> Admission:
        admission.reader_id = claims.sub
        keys = frozenset(claims.ent)
        if session and clock.now() - claims.iat >= self.settings.metered_renew_after_seconds:
            # A token can predate a subscription by a few minutes; a fresh one settles it first.
            try:
                _, fresh, _ = await self._refresh(session, admission.set_cookies)
            except MembershipDown as exc:
                # Only a check for news: the token in hand still holds (a 429 here is no outage).
                log.info("token not renewed before a metered read", status=exc.status, detail=exc.detail)
                fresh = None
            if fresh is not None:
                claims, keys = fresh, frozenset(fresh.ent)
                decision = decide(access, Reader(token_keys=keys))
                if decision.full:
                    admission.decision = decision
                    return admission
        if author:
            admission.decision = decide(access, Reader(token_keys=keys, signed_in=True, author=True))
            return admission
        try:
            status = await self.membership.unlock_status(claims.sub, access.publication)
        except MembershipRefused as exc:
            # Membership does not know the publication (or the reader): nothing to spend.
            log.warning("unlock status refused", status=exc.status, detail=exc.detail)
            admission.decision = decide(access, Reader(token_keys=keys, signed_in=True, unlock_allowance=0))
            return admission
        facts = Reader(
            token_keys=keys,
            signed_in=True,
            staff=status.staff,
            unlocked_this_month=frozenset(status.stories),
            unlocks_used=status.used,
            unlock_allowance=status.allowance,
            may_spend=spend,
        )
        decision = decide(access, facts)
        if decision.record_unlock:
            try:
                outcome = await self.membership.record_unlock(claims.sub, access.publication, access.story_id)
            except MembershipRefused as exc:
                log.warning("unlock refused", status=exc.status, detail=exc.detail)
                outcome = None
            if outcome is None or not outcome.unlocked:
                # Another request spent the last unlock first: decide again on what is now true.
                used = outcome.allowance if outcome is not None else status.allowance
                decision = decide(
                    access,
                    Reader(
                        token_keys=keys, signed_in=True, unlocks_used=used, unlock_allowance=status.allowance
                    ),
                )
            elif outcome.already:
                decision = decide(
                    access,
                    Reader(
                        token_keys=keys,
                        signed_in=True,
                        unlocked_this_month=facts.unlocked_this_month | {access.story_id},
                        unlocks_used=outcome.allowance - outcome.remaining,
                        unlock_allowance=outcome.allowance,
                    ),
                )
            else:
                decision = Decision(full=True, reason=Reason.FREE_UNLOCK, unlocks_left=outcome.remaining)
        admission.decision = decision
        return admission

    def _metered_anonymously(
        self, access: StoryAccess, admission: Admission, request: Request[Any, Any, Any], problem: str | None
    ) -> Admission:
        month = month_now()
        read = self.free_reads.read(request.cookies.get(FREE_READS_COOKIE), month)
        facts = Reader(
            token_problem=problem,
            metered_anonymously=True,
            unlocked_this_month=read,
            unlocks_used=len(read),
            unlock_allowance=self.free_reads.allowance,
            may_spend=may_spend(request),
        )
        decision = decide(access, facts)
        if decision.record_unlock:
            value = self.free_reads.write(read | {access.story_id}, month)
            secure = "; Secure" if self.settings.public_url.startswith("https://") else ""
            # Until the end of next month at most; the month inside the cookie is what counts.
            admission.set_cookies.append(
                f"{FREE_READS_COOKIE}={value}; Path=/; Max-Age={62 * 86400}; HttpOnly; SameSite=Lax{secure}"
            )
        admission.decision = decision
        return admission
