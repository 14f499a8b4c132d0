"""Cancellations: why members cancelled, per reason, how many the retention offer kept, and the
latest cancellations one by one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from membership.offers.services import OfferService
from membership.plans.services import PlanService
from membership.publications.models import Publication
from membership.retention.models import Cancellation, CancelOutcome
from membership.retention.services import REASONS, RetentionService
from membership.web.dashboard.charts import axis
from membership.web.dashboard.pages import PAGE_SIZE, DashboardSection, page
from tollgate_common.words import count

# A horizontal bar per reason: the reasons are sentences, too long to sit under upright bars.
WIDTH, LABEL_W, VALUE_W, ROW_H, BAR_H, TOP = 640, 250, 120, 30, 18, 8
PLOT_W = WIDTH - LABEL_W - VALUE_W


@dataclass(frozen=True)
class ReasonBar:
    label: str
    y: float
    width: float  # every member who gave the reason
    saved_width: float  # of them, those who stayed with the offer
    value: str
    title: str


@dataclass(frozen=True)
class ReasonChart:
    id: str
    title: str
    description: str
    bars: list[ReasonBar]
    width: int
    height: int
    left: int


def reason_chart(counted: list[tuple[str, int, int]]) -> ReasonChart:
    top, _ = axis(max((n for _, n, _ in counted), default=0))

    def scale(n: int) -> float:
        return round(PLOT_W * n / top, 1)

    bars = []
    for i, (words, n, saved) in enumerate(counted):
        value = count(n, "member") + (f", {saved} stayed" if saved else "")
        bars.append(ReasonBar(words, TOP + i * ROW_H, scale(n), scale(saved), value, f"{words}: {value}"))
    title = "Why members cancelled"
    parts = [f"{words}: {count(n, 'member')}, {saved} of them stayed" for words, n, saved in counted]
    description = f"{title}, most given first. " + "; ".join(parts) + "." if parts else f"{title}: none yet."
    return ReasonChart(
        id="reasons",
        title=title,
        description=description,
        bars=bars,
        width=WIDTH,
        height=TOP * 2 + ROW_H * max(len(counted), 1),
        left=LABEL_W,
    )


def outcome_words(row: Cancellation, offers: dict[Any, str]) -> str:
    if row.outcome is CancelOutcome.SAVED:
        return f"Stayed with the offer {offers.get(row.offer_id, '')}".rstrip()
    if row.offer_id is not None:
        return f"Cancelled at period end (was offered {offers.get(row.offer_id, 'an offer')})"
    return "Cancelled at period end"


class CancellationPages(DashboardSection):
    # --- cancellations ---

    @get("/{slug:str}/cancellations")
    async def cancellations(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        offers: NamedDependency[OfferService],
        retention: NamedDependency[RetentionService],
    ) -> Template:
        rows = await retention.of_publication(publication.id)
        counted = RetentionService.reasons_counted(rows)
        tiers = {t.id: t.name for t in await plans.tiers(publication.id, include_archived=True)}
        names = {o.id: o.name for o in await offers.of_tiers(list(tiers))}
        latest = [
            {
                "when": row.created_at,
                "tier": tiers.get(row.tier_id, ""),
                "reason": REASONS[row.reason] if row.reason else "No reason given",
                "note": row.note,
                "outcome": outcome_words(row, names),
            }
            for row in rows[:PAGE_SIZE]
        ]
        context = {
            "publication": publication,
            "section": "cancellations",
            "chart": reason_chart(counted),
            "counted": counted,
            "total": len(rows),
            "saved": sum(row.outcome is CancelOutcome.SAVED for row in rows),
            "offered": sum(row.offer_id is not None for row in rows),
            "latest": latest,
            "page_size": PAGE_SIZE,
        }
        return page(request, "cancellations.html", context)
