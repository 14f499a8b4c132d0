"""What the gateway asks membership, besides forwarding: tokens, unlocks, friend links, offers.

Every call goes over the one pooled client (`upstream.client_of`) with the gateway's API key,
except the token refresh, which carries the reader's own session cookie. A membership that does
not answer raises `MembershipDown`; the caller decides what that means for the reader (entitled
reads never get here, so they go on).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import httpx
import msgspec
import structlog

from gateway.settings import Settings

log = structlog.get_logger("gateway.membership")


class MembershipDown(Exception):
    """Membership did not answer, or answered with a server error."""


class MembershipRefused(Exception):
    """Membership answered with a 4xx problem; `status` and `detail` say what."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Refreshed:
    """A new access token for the reader's session, and the cookies to hand to their browser."""

    token: str
    set_cookies: tuple[str, ...]


class UnlockStatus(msgspec.Struct, frozen=True):
    allowance: int
    used: int
    remaining: int
    stories: list[str]
    # On the publication's staff: reads its stories without spending unlocks.
    staff: bool = False


class UnlockOutcome(msgspec.Struct, frozen=True):
    unlocked: bool
    already: bool
    remaining: int
    allowance: int


class FriendLink(msgspec.Struct, frozen=True):
    id: UUID
    publication: str
    story_id: str


class FriendLinkCreated(msgspec.Struct, frozen=True):
    id: UUID
    publication: str
    story_id: str
    code: str
    path: str


class OfferPrice(msgspec.Struct, frozen=True):
    id: UUID
    interval: str
    currency: str
    unit_amount: int


class Offer(msgspec.Struct, frozen=True):
    """A tier on offer, as the paywall shows it."""

    id: UUID
    name: str
    description: str
    entitlement_keys: list[str]
    trial_days: int
    prices: list[OfferPrice]


class CheckoutState(StrEnum):
    """Where a reader's checkout stands when they come back from Stripe (membership's words)."""

    ACTIVE = "active"
    PENDING = "pending"
    EXPIRED = "expired"
    ENDED = "ended"


class _Confirmed(msgspec.Struct):
    state: CheckoutState


class _Trials(msgspec.Struct):
    tier_ids: list[UUID]


class _Problem(msgspec.Struct):
    detail: str = ""
    title: str = ""


class Membership:
    """Typed calls to membership; small answers that change rarely (offers, friend links) are cached."""

    def __init__(
        self,
        settings: Settings,
        client: Callable[[], httpx.AsyncClient],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._client = client
        self._clock = clock
        self._api_headers = {"authorization": f"Bearer {settings.membership_api_key.get_secret_value()}"}
        self._links: dict[str, tuple[float, FriendLink | None]] = {}
        self._offers: dict[str, tuple[float, list[Offer]]] = {}
        self._names: tuple[float, dict[str, str]] = (-1.0, {})

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self._settings.membership_url}{path}"
        try:
            response = await self._client().request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            log.warning("membership call failed", path=path, error=type(exc).__name__)
            raise MembershipDown(f"membership is unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            log.warning("membership call failed", path=path, status=response.status_code)
            raise MembershipDown(f"membership answered {response.status_code}")
        if response.status_code >= 400:
            try:
                problem = msgspec.json.decode(response.content, type=_Problem)
                detail = problem.detail or problem.title
            except msgspec.DecodeError:
                detail = ""
            raise MembershipRefused(
                response.status_code, detail or f"membership answered {response.status_code}"
            )
        return response

    async def refresh(self, session_token: str) -> Refreshed | None:
        """A fresh access token for this session; None when the session is over (signed out, expired)."""
        try:
            response = await self._call(
                "POST",
                "/api/auth/token",
                headers={"cookie": f"{self._settings.session_cookie}={session_token}"},
            )
        except MembershipRefused as exc:
            if exc.status in (401, 403):
                return None
            raise MembershipDown(exc.detail) from exc
        token = msgspec.json.decode(response.content, type=dict[str, Any]).get("access_token")
        if not isinstance(token, str):
            raise MembershipDown("membership's token answer has no access_token")
        return Refreshed(token, tuple(response.headers.get_list("set-cookie")))

    async def confirm_checkout(self, session_token: str, checkout_id: str) -> CheckoutState | None:
        """How the reader's checkout stands (`active`, `pending`, `expired`); None if it is not theirs.

        Membership asks Stripe and grants at once when it is paid, so the webhook need not be first.
        """
        try:
            response = await self._call(
                "POST",
                f"/api/billing/checkout/{checkout_id}/confirm",
                headers={"cookie": f"{self._settings.session_cookie}={session_token}"},
            )
        except MembershipRefused as exc:
            log.info("checkout not confirmed", status=exc.status, detail=exc.detail)
            return None
        return msgspec.json.decode(response.content, type=_Confirmed).state

    async def trials_taken(self, reader_id: str) -> frozenset[UUID]:
        """The tiers whose free trial this reader has had; checkout will not give it twice."""
        try:
            response = await self._call(
                "GET", "/api/trials", params={"reader_id": reader_id}, headers=self._api_headers
            )
        except MembershipRefused as exc:
            raise MembershipDown(exc.detail) from exc
        return frozenset(msgspec.json.decode(response.content, type=_Trials).tier_ids)

    async def unlock_status(self, reader_id: str, publication: str) -> UnlockStatus:
        response = await self._call(
            "GET",
            "/api/unlocks",
            params={"reader_id": reader_id, "publication": publication},
            headers=self._api_headers,
        )
        return msgspec.json.decode(response.content, type=UnlockStatus)

    async def record_unlock(self, reader_id: str, publication: str, story_id: str) -> UnlockOutcome:
        response = await self._call(
            "POST",
            "/api/unlocks",
            json={"reader_id": reader_id, "publication": publication, "story_id": story_id},
            headers=self._api_headers,
        )
        return msgspec.json.decode(response.content, type=UnlockOutcome)

    async def friend_link(self, code: str) -> FriendLink | None:
        """The story a friend link opens, or None for a code that opens nothing (unknown, revoked)."""
        now = self._clock()
        cached = self._links.get(code)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            response = await self._call(
                "POST", "/api/friend-links/resolve", json={"code": code}, headers=self._api_headers
            )
            link: FriendLink | None = msgspec.json.decode(response.content, type=FriendLink)
        except MembershipRefused as exc:
            if exc.status not in (400, 404, 422):
                raise MembershipDown(exc.detail) from exc
            link = None
        # A made-up code is remembered briefly too, so guessing costs membership little.
        ttl = (
            self._settings.friend_link_cache_seconds
            if link is not None
            else min(5.0, self._settings.friend_link_cache_seconds)
        )
        if len(self._links) > 10_000:
            self._links.clear()
        self._links[code] = (now + ttl, link)
        return link

    async def create_friend_link(
        self, *, publication: str, story_id: str, author_id: str | None, bearer: str
    ) -> FriendLinkCreated:
        """A new link: as the story's author (vouched for by the gateway), else as publication staff."""
        if author_id is not None:
            response = await self._call(
                "POST",
                "/api/friend-links",
                json={"publication": publication, "story_id": story_id, "author_id": author_id},
                headers=self._api_headers,
            )
        else:
            response = await self._call(
                "POST",
                f"/api/publications/{publication}/friend-links",
                json={"story_id": story_id},
                headers={"authorization": f"Bearer {bearer}"},
            )
        return msgspec.json.decode(response.content, type=FriendLinkCreated)

    async def offers(self, publication: str, keys: tuple[str, ...]) -> list[Offer]:
        """The tiers whose keys open a story with these keys: the publication's and the platform's.

        Kept for `offers_cache_seconds`; when membership is down the last list known is shown, or none.
        """
        now = self._clock()
        cached = self._offers.get(publication)
        if cached is None or cached[0] <= now:
            try:
                own = await self._call("GET", f"/api/publications/{publication}/tiers")
                platform = await self._call("GET", "/api/platform/tiers")
                tiers = msgspec.json.decode(own.content, type=list[Offer]) + msgspec.json.decode(
                    platform.content, type=list[Offer]
                )
                cached = (now + self._settings.offers_cache_seconds, tiers)
                self._offers[publication] = cached
            except (MembershipDown, MembershipRefused, msgspec.DecodeError) as exc:
                log.warning("offers unavailable", publication=publication, error=str(exc))
                if cached is None:
                    return []
        return [t for t in cached[1] if t.prices and any(k in keys for k in t.entitlement_keys)]

    async def publication_names(self) -> dict[str, str]:
        """Publication names by slug, for pages; cached like the offers, and empty if never known."""
        now = self._clock()
        if self._names[0] <= now:
            try:
                response = await self._call("GET", "/api/publications")
                found = msgspec.json.decode(response.content, type=list[_Publication])
                self._names = (now + self._settings.offers_cache_seconds, {p.slug: p.name for p in found})
            except (MembershipDown, MembershipRefused, msgspec.DecodeError) as exc:
                log.warning("publication names unavailable", error=str(exc))
        return self._names[1]


class _Publication(msgspec.Struct):
    slug: str
    name: str
