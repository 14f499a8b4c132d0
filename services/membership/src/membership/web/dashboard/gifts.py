"""Gifts: every gift of the publication's tiers (bought, redeemed, expired, refunded), and what
they brought in, for its staff."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from membership.gifts.models import Gift, GiftState
from membership.gifts.services import GiftService, length_words
from membership.lib.clock import utcnow
from membership.publications.models import Publication
from membership.web.dashboard.pages import DashboardSection, page


def state_words(gift: Gift) -> str:
    if gift.state is GiftState.PAID and gift.expires_at is not None and gift.expires_at <= utcnow():
        return "Expired unredeemed"
    return {
        GiftState.PAID: "Not redeemed yet",
        GiftState.REDEEMED: "Redeemed",
        GiftState.REFUNDED: "Refunded",
        GiftState.ABANDONED: "Checkout abandoned",
        GiftState.AWAITING_PAYMENT: "Waiting for payment",
    }[gift.state]


class GiftPages(DashboardSection):
    # --- gifts ---

    @get("/{slug:str}/gifts")
    async def gifts(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        gifts: NamedDependency[GiftService],
    ) -> Template:
        found = [g for g in await gifts.of_publication(publication.id) if g.state is not GiftState.ABANDONED]
        revenue: dict[str, int] = defaultdict(int)
        for g in found:
            if g.state in (GiftState.PAID, GiftState.REDEEMED):
                revenue[g.currency] += g.amount
        context = {
            "publication": publication,
            "section": "gifts",
            "rows": [(g, state_words(g), length_words(g.months)) for g in found],
            "revenue": sorted(revenue.items()),
            "redeemed": sum(g.state is GiftState.REDEEMED for g in found),
        }
        return page(request, "gifts.html", context)
