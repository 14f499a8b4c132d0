"""The stats series over the API: for staff, or keys with `members:read`."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from membership.apikeys.models import Scope
from membership.publications.access import viewable_publication
from membership.publications.models import Publication
from membership.settings import Settings
from membership.stats.schemas import Interval, StatsOut
from membership.stats.services import MAX_PERIODS, StatsService


class StatsApi(Controller):
    path = "/api/publications/{slug:str}/stats"
    tags = ["stats"]
    dependencies = {"publication": viewable_publication(Scope.MEMBERS_READ)}

    @get(
        "/",
        summary="Active members, MRR, new and churned members, trials and past-due, period by period",
        description=(
            "One point per calendar week (from Monday, UTC) or month (UTC), oldest first; the last "
            "is the current period, measured now. Snapshot numbers are at the period's end; new and "
            "churned count what happened within it. MRR is in minor units a month: active and "
            "past-due subscriptions' list prices, a yearly price divided by 12; trials are not in it. "
            "The numbers are those at `generated_at`: once worked out they are served for "
            "`MEMBERSHIP_STATS_CACHE_SECONDS` (a minute unless set)."
        ),
    )
    async def stats(
        self,
        publication: NamedDependency[Publication],
        stats: NamedDependency[StatsService],
        settings: NamedDependency[Settings],
        interval: FromQuery[Interval] = "month",
        periods: Annotated[int, QueryParameter(ge=1, le=MAX_PERIODS)] = 12,
    ) -> StatsOut:
        series = await stats.latest(
            publication,
            interval=interval,
            periods=periods,
            max_age=settings.stats_cache_seconds,
            keep_slower_than=settings.stats_keep_slower_than_seconds,
        )
        return StatsOut.of(publication.slug, series)
