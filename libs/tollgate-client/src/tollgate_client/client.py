"""An async client for membership's API, for services that need an answer online.

Most calls carry an API key (`Authorization: Bearer tgk_...`); the reader's own calls (token
renewal, checkout confirmation) carry the reader's session cookie instead, and the public ones
(offers, publications) nothing. Answers decode into typed msgspec structs. An error answer (RFC
9457 problem details) raises `MembershipError`: `MembershipRefused` for a 4xx, `MembershipDown`
for a 5xx, and its subclass `MembershipUnavailable` when no answer came at all (connection
refused, timeout). A call that finds membership down is logged as a warning.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

__all__ = [
    "AccessDecision",
    "BatchDecision",
    "Change",
    "ChangesPage",
    "CheckoutState",
    "Entitlements",
    "FriendLink",
    "FriendLinkCreated",
    "Grant",
    "Member",
    "MembershipClient",
    "MembershipDown",
    "MembershipError",
    "MembershipRefused",
    "MembershipUnavailable",
    "Offer",
    "OfferPrice",
    "Promotion",
    "PromotionPrice",
    "Publication",
    "RenewedToken",
    "UnlockOutcome",
    "UnlockStatus",
]

log = logging.getLogger("tollgate_client.client")

T = TypeVar("T")
ReaderId = str | uuid.UUID


class MembershipError(Exception):
    """Membership answered with an error (or something unreadable); `status` is its HTTP status."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail


class MembershipRefused(MembershipError):
    """Membership refused the request (a 4xx): bad input, nothing there, or not allowed."""


class MembershipDown(MembershipError):
    """Membership failed: a server error (5xx), or, as `MembershipUnavailable`, no answer at all."""


class MembershipUnavailable(MembershipDown):
    """Membership could not be reached at all; `status` is 0 because no response came."""

    def __init__(self, detail: str) -> None:
        super().__init__(0, "Membership unavailable", detail)


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """One grant behind an entitlement: where it comes from and when it holds."""

    key: str
    source: str
    source_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class Entitlements(msgspec.Struct, frozen=True, kw_only=True):
    """What a reader holds now: the keys, the version they carry, and the grants behind them."""

    reader_id: str
    keys: tuple[str, ...]
    version: int
    grants: tuple[Grant, ...] = ()


class AccessDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to "may this reader open something needing any one of these keys?"."""

    allowed: bool
    reason: str = ""
    key: str | None = None
    until: datetime | None = None


class BatchDecision(msgspec.Struct, frozen=True, kw_only=True):
    """One reader's answer in a batch check."""

    allowed: bool
    until: datetime | None = None


class Member(msgspec.Struct, frozen=True, kw_only=True):
    """A reader holding the publication's keys now: which keys, from which sources, until when."""

    reader_id: str
    email: str = ""
    display_name: str = ""
    keys: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    until: datetime | None = None  # None: no end


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the revocation feed: the reader's entitlement version rose to `version`."""

    seq: int
    reader_id: str
    version: int


class ChangesPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the revocation feed."""

    changes: tuple[Change, ...]
    next_after: int | None = None
    has_more: bool = False


class RenewedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A fresh access token for a reader's session, and the `Set-Cookie` values to hand to their browser."""

    access_token: str
    set_cookies: tuple[str, ...] = ()


class CheckoutState(StrEnum):
    """Where a reader's checkout stands when they come back from Stripe (membership's words)."""

    ACTIVE = "active"
    PENDING = "pending"
    EXPIRED = "expired"
    ENDED = "ended"


class UnlockStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A reader's free unlocks at a publication this month, and the stories they opened with them."""

    allowance: int
    used: int
    remaining: int
    stories: tuple[str, ...]
    # On the publication's staff: reads its stories without spending unlocks.
    staff: bool = False


class UnlockOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What recording an unlock did: `unlocked` (or `already` unlocked), and what is left."""

    unlocked: bool
    already: bool
    remaining: int
    allowance: int


class FriendLink(msgspec.Struct, frozen=True, kw_only=True):
    """The story a friend link opens."""

    id: uuid.UUID
    publication: str
    story_id: str


class FriendLinkCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A new friend link: its `code`, shown only now, and the `path` that opens the story with it."""

    id: uuid.UUID
    publication: str
    story_id: str
    code: str
    path: str


class OfferPrice(msgspec.Struct, frozen=True, kw_only=True):
    """One price of a tier: `unit_amount` in the currency's smallest unit, per `interval`."""

    id: uuid.UUID
    interval: str
    currency: str
    unit_amount: int


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """A tier on offer, as a paywall shows it: what it opens, its free trial and its prices."""

    id: uuid.UUID
    name: str
    description: str
    entitlement_keys: tuple[str, ...]
    trial_days: int
    prices: tuple[OfferPrice, ...]


class PromotionPrice(msgspec.Struct, frozen=True, kw_only=True):
    """One of a tier's prices through an offer: `words` is what the reader pays, as membership says it
    ("$2.50 a month for 3 months, then $5 a month", "free for 14 days, then $5 a month")."""

    price_id: uuid.UUID
    interval: str
    currency: str
    unit_amount: int  # the price without the offer, in the currency's smallest unit
    words: str


class Promotion(msgspec.Struct, frozen=True, kw_only=True):
    """A publisher's offer on one tier, found by its code (`GET /api/offers/{code}`): a discount or a
    free trial, and each of the tier's prices as the reader pays through it. Only an `open` one can
    be taken; checkout takes its `code` (the form field and JSON member `offer`)."""

    id: uuid.UUID
    code: str
    name: str
    description: str = ""
    tier_id: uuid.UUID
    tier_name: str
    kind: str  # percent_off, amount_off or free_trial
    audience: str  # new, lapsed or campaign: who may take it
    percent_off: int | None = None
    amount_off: int | None = None
    currency: str | None = None
    duration: str = "once"  # once, repeating (for duration_in_months) or forever
    duration_in_months: int | None = None
    trial_days: int = 0
    keep_tier_trial: bool = False
    max_redemptions: int | None = None
    ends_at: datetime | None = None
    archived_at: datetime | None = None
    # Can a reader take it now (not archived, not past its end)?
    open: bool
    prices: tuple[PromotionPrice, ...] = ()


class Publication(msgspec.Struct, frozen=True, kw_only=True):
    """A publication's address (`slug`) and the name readers see."""

    slug: str
    name: str


class _Latest(msgspec.Struct, frozen=True):
    seq: int


class _Confirmed(msgspec.Struct, frozen=True):
    state: CheckoutState


class Eligibility(msgspec.Struct, frozen=True, kw_only=True):
    """May a reader take an offer now? `reason`, when not, is the sentence checkout would answer."""

    code: str
    reader_id: uuid.UUID
    eligible: bool
    reason: str | None = None


class _Trials(msgspec.Struct, frozen=True):
    tier_ids: tuple[uuid.UUID, ...]


class _BatchAnswer(msgspec.Struct, frozen=True):
    results: dict[str, BatchDecision]


class _MembersPage(msgspec.Struct, frozen=True):
    members: tuple[Member, ...]
    next_cursor: str | None = None


class _Problem(msgspec.Struct, frozen=True):
    title: str = ""
    detail: str = ""
    status: int | None = None


class MembershipClient:
    """Calls membership's API with one API key; close it with `aclose()` (or `async with`).

    `http` lets the caller share an `httpx.AsyncClient` (then the caller closes it); `timeout`
    applies to each request this client makes, whichever HTTP client carries it.
    `session_cookie` is the name of membership's session cookie (`MEMBERSHIP_SESSION_COOKIE`),
    which the reader's own calls carry.
    """

    #: The most reader ids membership takes in one batch check; longer lists are split.
    batch_limit = 10_000

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        session_cookie: str = "tollgate_session",
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._timeout = timeout
        self._session_cookie = session_cookie

    async def __aenter__(self) -> MembershipClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def entitlements(self, reader_id: ReaderId) -> Entitlements:
        """The reader's current entitlement keys, version and grants."""
        return await self._request("GET", f"/api/readers/{_segment(reader_id)}/entitlements", Entitlements)

    async def check(self, reader_id: ReaderId, keys: Iterable[str]) -> AccessDecision:
        """Whether the reader holds any one of `keys` now."""
        body = {"reader_id": str(reader_id), "keys": list(keys)}
        return await self._request("POST", "/api/access/check", AccessDecision, json=body)

    async def check_batch(
        self, reader_ids: Iterable[ReaderId], keys: Iterable[str]
    ) -> dict[str, BatchDecision]:
        """Each reader's answer, keyed by reader id string; more than `batch_limit` ids take several calls."""
        ids = [str(reader_id) for reader_id in reader_ids]
        wanted = list(keys)
        results: dict[str, BatchDecision] = {}
        for start in range(0, len(ids), self.batch_limit):
            body = {"reader_ids": ids[start : start + self.batch_limit], "keys": wanted}
            answer = await self._request("POST", "/api/access/check-batch", _BatchAnswer, json=body)
            results.update(answer.results)
        return results

    async def members(self, slug: str, **filters: str | int | None) -> AsyncIterator[Member]:
        """Every member of the publication, page after page; filters: `tier`, `status`, `source`, `limit`."""
        params = {name: str(value) for name, value in filters.items() if value is not None}
        path = f"/api/publications/{_segment(slug)}/members"
        while True:
            page = await self._request("GET", path, _MembersPage, params=params)
            for member in page.members:
                yield member
            # A cursor that does not move would loop forever; stop rather than trust it.
            if page.next_cursor is None or page.next_cursor == params.get("cursor"):
                return
            params["cursor"] = page.next_cursor

    async def changes(self, after: int, limit: int = 1000) -> ChangesPage:
        """One page of the revocation feed: the entries with a sequence number above `after`."""
        params = {"after": str(after), "limit": str(limit)}
        return await self._request("GET", "/api/entitlements/changes", ChangesPage, params=params)

    async def latest_change(self) -> int:
        """The feed's newest sequence number, so a new follower can start from now."""
        return (await self._request("GET", "/api/entitlements/changes/latest", _Latest)).seq

    # The reader's own calls: with their session cookie, not the API key --------------------

    async def renew_token(self, session: str) -> RenewedToken | None:
        """A fresh access token for the reader's session (`POST /api/auth/token`, with its cookie).

        None when the session is over (signed out, expired: membership answers 401 or 403). Any
        other refusal, and an answer without a token, raise `MembershipDown`: nothing the caller
        can mend, and the reader is no more signed out than before.
        """
        try:
            response = await self._send("POST", "/api/auth/token", headers=self._session_headers(session))
        except MembershipRefused as exc:
            if exc.status in (401, 403):
                return None
            raise MembershipDown(exc.status, exc.title, exc.detail) from exc
        try:
            token = msgspec.json.decode(response.content, type=dict[str, Any]).get("access_token")
        except msgspec.DecodeError:
            token = None
        if not isinstance(token, str):
            raise MembershipDown(response.status_code, "Unreadable answer", "no access_token in the answer")
        return RenewedToken(access_token=token, set_cookies=tuple(response.headers.get_list("set-cookie")))

    async def confirm_checkout(self, session: str, checkout_id: str) -> CheckoutState | None:
        """How the reader's Stripe checkout `cs_...` stands; None if membership refuses (not theirs).

        Membership asks Stripe and grants at once when it is paid, so the webhook need not be first.
        The call carries the reader's session cookie; a membership that is down raises `MembershipDown`.
        """
        try:
            return (
                await self._request(
                    "POST",
                    f"/api/billing/checkout/{_segment(checkout_id)}/confirm",
                    _Confirmed,
                    headers=self._session_headers(session),
                )
            ).state
        except MembershipRefused as exc:
            log.info("checkout not confirmed: %s", exc)
            return None

    # With the API key (a platform key with unlocks:write and friend-links:write) ------------

    async def trials_taken(self, reader_id: ReaderId) -> frozenset[uuid.UUID]:
        """The tiers whose free trial this reader has had; checkout will not give one twice."""
        params = {"reader_id": str(reader_id)}
        return frozenset((await self._request("GET", "/api/trials", _Trials, params=params)).tier_ids)

    async def unlock_status(self, reader_id: ReaderId, publication: str) -> UnlockStatus:
        """The reader's free unlocks at the publication this month."""
        params = {"reader_id": str(reader_id), "publication": publication}
        return await self._request("GET", "/api/unlocks", UnlockStatus, params=params)

    async def record_unlock(self, reader_id: ReaderId, publication: str, story_id: str) -> UnlockOutcome:
        """Spends one of the reader's free unlocks on the story (nothing, if it is unlocked already)."""
        body = {"reader_id": str(reader_id), "publication": publication, "story_id": story_id}
        return await self._request("POST", "/api/unlocks", UnlockOutcome, json=body)

    async def resolve_friend_link(self, code: str) -> FriendLink | None:
        """The story a friend link's code opens; None for a code that opens nothing (unknown, revoked)."""
        try:
            return await self._request("POST", "/api/friend-links/resolve", FriendLink, json={"code": code})
        except MembershipRefused as exc:
            if exc.status in (400, 404, 422):
                return None
            raise

    async def create_friend_link(
        self, *, publication: str, story_id: str, author_id: ReaderId | None = None, bearer: str | None = None
    ) -> FriendLinkCreated:
        """A new friend link to the story: as its author with the API key, else as staff with `bearer`.

        `author_id` is the story's author, vouched for by the caller (the API key's holder); without
        it, the link is made with the reader's own access token `bearer`, which membership accepts
        from the publication's staff only (else `MembershipRefused`, 401 or 403).
        """
        if author_id is not None:
            body = {"publication": publication, "story_id": story_id, "author_id": str(author_id)}
            return await self._request("POST", "/api/friend-links", FriendLinkCreated, json=body)
        if bearer is None:
            raise ValueError("create_friend_link needs the author_id or the staff reader's bearer token")
        return await self._request(
            "POST",
            f"/api/publications/{_segment(publication)}/friend-links",
            FriendLinkCreated,
            json={"story_id": story_id},
            headers={"Authorization": f"Bearer {bearer}"},
        )

    # Public: no credentials ---------------------------------------------------------------------

    async def offers(self, publication: str) -> list[Offer]:
        """The tiers on offer to the publication's readers: its own, then the platform's."""
        own = await self._request(
            "GET", f"/api/publications/{_segment(publication)}/tiers", list[Offer], api_key=False
        )
        return own + await self._request("GET", "/api/platform/tiers", list[Offer], api_key=False)

    async def offer(self, code: str) -> Promotion | None:
        """The offer a link or code names (any case), priced for the reader; None for a code that
        names none (unknown, or a retention offer, which has no landing page). An offer that has
        ended or been archived is still answered, with `open` False."""
        if not code.strip():
            return None
        try:
            path = f"/api/offers/{_segment(code.strip())}"
            return await self._request("GET", path, Promotion, api_key=False)
        except MembershipRefused as exc:
            if exc.status == 404:
                return None
            raise

    async def offer_eligibility(self, code: str, reader_id: ReaderId) -> Eligibility:
        """Whether the reader may take the offer now (new or lapsed readers only, say), and why not:
        what checkout would answer. Needs `entitlements:read`."""
        path = f"/api/offers/{_segment(code.strip())}/eligibility"
        return await self._request("GET", path, Eligibility, params={"reader_id": str(reader_id)})

    async def publications(self) -> list[Publication]:
        """Every publication, with the name readers see."""
        return await self._request("GET", "/api/publications", list[Publication], api_key=False)

    # HTTP ---------------------------------------------------------------------------------------

    def _session_headers(self, session: str) -> dict[str, str]:
        return {"Cookie": f"{self._session_cookie}={session}"}

    async def _request(
        self,
        method: str,
        path: str,
        answer_type: type[T],
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        api_key: bool = True,
    ) -> T:
        response = await self._send(method, path, params=params, json=json, headers=headers, api_key=api_key)
        try:
            return msgspec.json.decode(response.content, type=answer_type)
        except msgspec.DecodeError as exc:
            raise MembershipError(response.status_code, "Unreadable answer", str(exc)) from exc

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        api_key: bool = True,
    ) -> httpx.Response:
        """One request: the API key unless `headers` (or `api_key=False`) say otherwise; errors raised."""
        sent = {"Accept": "application/json, application/problem+json"}
        if api_key and headers is None:
            sent["Authorization"] = f"Bearer {self._api_key}"
        sent.update(headers or {})
        content = None
        if json is not None:
            content = msgspec.json.encode(json)
            sent["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method,
                self._base_url + path,
                params=params,
                content=content,
                headers=sent,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            log.warning("membership call failed: %s %s (%s)", method, path, type(exc).__name__)
            raise MembershipUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            error = problem_error(response)
            if isinstance(error, MembershipDown):
                log.warning("membership call failed: %s %s (%s)", method, path, response.status_code)
            raise error
        return response


def problem_error(response: httpx.Response) -> MembershipError:
    """The `MembershipError` for an error answer, from its problem details when it has them.

    A 4xx is a `MembershipRefused`, a 5xx a `MembershipDown`; anything else (a redirect) is neither.
    """
    title, detail = response.reason_phrase or "Error", ""
    try:
        problem = msgspec.json.decode(response.content, type=_Problem)
    except msgspec.DecodeError:
        # Not problem details (a proxy's HTML page, say): keep the start of the body as the detail.
        detail = response.text[:200]
    else:
        title, detail = problem.title or title, problem.detail
    status = response.status_code
    kind = MembershipRefused if 400 <= status < 500 else MembershipDown if status >= 500 else MembershipError
    return kind(status, title, detail)


def _segment(value: ReaderId) -> str:
    # Quoted with nothing safe, so a value can never add path segments.
    return quote(str(value), safe="")
