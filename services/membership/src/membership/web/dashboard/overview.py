"""`/account/publications/` and a publication's overview: the reader's publications, the numbers over time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from membership.publications.models import Publication
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.settings import Settings
from membership.stats.services import Interval, Point, Series, StatsService
from membership.web.dashboard import charts
from membership.web.dashboard.pages import (
    DashboardSection,
    page,
    period_label,
)
from tollgate_common.problems import NotFound
from tollgate_common.words import day_and_time, money


def overview_context(publication: Publication, series: Series) -> dict[str, Any]:
    currency = series.currency
    points = series.points
    labels = [period_label(p.period_start, series.interval, short=False) for p in points]
    short = [
        period_label(p.period_start, series.interval, short=True, first=i == 0) for i, p in enumerate(points)
    ]

    def mrr_of(p: Point) -> int:
        return int(p.mrr_by_currency.get(currency, 0))

    def fmt_money(v: int) -> str:
        return money(v, currency)

    def chart(
        make: Callable[..., charts.Chart],
        chart_id: str,
        title: str,
        values: list[tuple[str, list[int]]],
        fmt: Callable[[int], str] = str,
    ) -> charts.Chart:
        return make(chart_id, title, labels, values, fmt, axis_labels=short)

    per = "week" if series.interval == "week" else "month"
    figures = [
        chart(
            charts.line_chart,
            "active-members",
            "Active members",
            [("Active members", [p.active_members for p in points])],
        ),
        chart(
            charts.line_chart,
            "mrr",
            "Monthly recurring revenue",
            [("MRR", [mrr_of(p) for p in points])],
            fmt_money,
        ),
        chart(
            charts.bar_chart,
            "new-churned",
            f"New and churned members by {per}",
            [("New", [p.new_members for p in points]), ("Churned", [p.churned_members for p in points])],
        ),
        chart(
            charts.line_chart,
            "trials-past-due",
            "Trials and past-due subscriptions",
            [("Trials", [p.trials for p in points]), ("Past due", [p.past_due for p in points])],
        ),
    ]
    last = points[-1]
    others = [money(v, c) for c, v in sorted(last.mrr_by_currency.items()) if c != currency and v]
    rows = [
        {
            "label": label,
            "active": p.active_members,
            "new": p.new_members,
            "churned": p.churned_members,
            "mrr": fmt_money(mrr_of(p)),
            "paying": p.paying,
            "trials": p.trials,
            "past_due": p.past_due,
        }
        for label, p in zip(labels, points, strict=True)
    ]
    return {
        "publication": publication,
        "section": "overview",
        "interval": series.interval,
        "per": per,
        "now": {
            "active": last.active_members,
            "mrr": fmt_money(mrr_of(last)),
            "new": last.new_members,
            "churned": last.churned_members,
            "trials": last.trials,
            "past_due": last.past_due,
            "paying": last.paying,
        },
        "other_currencies": others,
        "charts": figures,
        "rows": rows,
        "generated": day_and_time(series.generated_at),
    }


class OverviewPages(DashboardSection):
    # --- the reader's publications ---

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
    ) -> Template:
        mine = await publications.staffed_by(reader.id)
        return page(request, "index.html", {"publications": mine, "reader": reader, "section": None})

    # --- overview: the numbers over time ---

    @get("/{slug:str}")
    async def overview(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        stats: NamedDependency[StatsService],
        settings: NamedDependency[Settings],
        interval: FromQuery[str] = "month",
    ) -> Template:
        chosen: Interval = "week" if interval == "week" else "month"
        series = await stats.latest(
            publication,
            interval=chosen,
            periods=12,
            max_age=settings.stats_cache_seconds,
            keep_slower_than=settings.stats_keep_slower_than_seconds,
        )
        return page(request, "overview.html", overview_context(publication, series))

    # --- anything else under a publication: a page in words ---

    @get("/{slug:str}/{rest:path}")
    async def not_found(self, publication: NamedDependency[Publication]) -> Template:
        raise NotFound(f"The dashboard of {publication.name} has no page at this address.")
