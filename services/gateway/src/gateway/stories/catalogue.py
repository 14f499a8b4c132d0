"""What the paywall and the index show of membership: the tiers on offer, the publications' names,
and the offer an offer link names.

All change rarely and are asked for on every teaser, so they are kept for `offers_cache_seconds`.
When membership does not answer (or answers something unreadable), the last tiers and names known
are shown, or none: a paywall without offers still shows the teaser and the sign-in link. An offer
link's offer is not kept past that: membership down, the paywall shows the plain prices (checkout
could not take the offer then anyway, and one archived meanwhile must not be promised).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from tollgate_client import MembershipClient, MembershipError, Offer, Promotion

log = structlog.get_logger("gateway.catalogue")

# Offer codes remembered at most; past that the memory starts again (anyone can make up codes).
MAX_CODES = 10_000


class Catalogue:
    """The offers per publication and the publication names, from membership, cached."""

    def __init__(
        self,
        membership: MembershipClient,
        cache_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._membership = membership
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._offers: dict[str, tuple[float, list[Offer]]] = {}
        self._names: tuple[float, dict[str, str]] = (-1.0, {})
        self._promotions: dict[str, tuple[float, Promotion | None]] = {}

    async def offers(self, publication: str, keys: tuple[str, ...]) -> list[Offer]:
        """The tiers with a price that open a story with these keys: the publication's and the platform's."""
        now = self._clock()
        cached = self._offers.get(publication)
        if cached is None or cached[0] <= now:
            try:
                cached = (now + self._cache_seconds, await self._membership.offers(publication))
                self._offers[publication] = cached
            except MembershipError as exc:
                log.warning("offers unavailable", publication=publication, error=str(exc))
                if cached is None:
                    return []
        return [t for t in cached[1] if t.prices and any(k in keys for k in t.entitlement_keys)]

    async def promotion(self, code: str) -> Promotion | None:
        """The offer a code names (None: none), kept a while, unknown codes too.

        None while membership is down: no offer is promised that checkout could not take.
        """
        code = code.upper()
        now = self._clock()
        cached = self._promotions.get(code)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            found = await self._membership.offer(code)
        except MembershipError as exc:
            log.warning("offer unavailable", code=code, error=str(exc))
            return None
        if len(self._promotions) >= MAX_CODES:
            self._promotions.clear()
        self._promotions[code] = (now + self._cache_seconds, found)
        return found

    async def publication_names(self) -> dict[str, str]:
        """Publication names by slug, for pages; empty if never known."""
        now = self._clock()
        if self._names[0] <= now:
            try:
                found = await self._membership.publications()
                self._names = (now + self._cache_seconds, {p.slug: p.name for p in found})
            except MembershipError as exc:
                log.warning("publication names unavailable", error=str(exc))
        return self._names[1]
