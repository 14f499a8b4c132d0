"""A publication's tiers and prices: list, create, add a price, archive."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from membership.plans.models import GIFT_MONTHS
from membership.plans.services import PlanService
from membership.publications.models import Publication
from membership.settings import Settings
from membership.web.dashboard.forms import TierForm, read_added_price
from membership.web.dashboard.pages import (
    DashboardSection,
    base_of,
    done,
    id_of,
    page,
)
from membership.web.dashboard.services import DashboardService
from membership.web.dashboard.words import price_words
from membership.web.guards import same_origin
from tollgate_common.problems import BadRequest, NotFound, TollgateError


class TierPages(DashboardSection):
    # --- tiers and prices ---

    async def _tiers_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        plans: PlanService,
        dashboard: DashboardService,
        *,
        error: TollgateError | None = None,
        form: dict[str, str] | None = None,
    ) -> Template:
        tiers = await plans.tiers(publication.id, include_archived=True)
        live = await dashboard.live_subscriptions_by_tier(publication)
        context = {
            "publication": publication,
            "section": "tiers",
            "tiers": [t for t in tiers if t.archived_at is None],
            "archived": [t for t in tiers if t.archived_at is not None],
            "live": live,
            "price_words": price_words,
            "gift_lengths": GIFT_MONTHS,
            "error": error.detail if error else "",
            "form": form or {"currency": "usd", "trial_days": "0"},
        }
        return page(request, "tiers.html", context, status_code=error.status_code if error else 200)

    @get("/{slug:str}/tiers")
    async def tiers(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        dashboard: NamedDependency[DashboardService],
        plans: NamedDependency[PlanService],
    ) -> Template:
        return await self._tiers_page(request, publication, plans, dashboard)

    @post("/{slug:str}/tiers", status_code=303, guards=[same_origin])
    async def create_tier(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        dashboard: NamedDependency[DashboardService],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        typed = {
            k: str(form.get(k) or "")
            for k in ("name", "description", "monthly", "yearly", "currency", "trial_days")
        }
        try:
            data = TierForm.read(form)
            tier = await plans.create_tier(
                publication,
                name=data.name,
                description=data.description,
                keys=None,
                trial_days=data.trial_days,
            )
            for price in data.prices:
                await plans.add_price(
                    tier, interval=price.interval, currency=price.currency, unit_amount=price.unit_amount
                )
        except TollgateError as exc:
            return await self._tiers_page(request, publication, plans, dashboard, error=exc, form=typed)
        offered = " and ".join(price_words(p.unit_amount, p.currency, p.interval) for p in data.prices)
        return done(
            settings, base_of(publication, "tiers"), f"The tier “{tier.name}” is on offer at {offered}."
        )

    @post("/{slug:str}/tiers/{tier_id:str}/prices", status_code=303, guards=[same_origin])
    async def add_price(
        self,
        request: Request[Any, Any, Any],
        tier_id: FromPath[str],
        publication: NamedDependency[Publication],
        dashboard: NamedDependency[DashboardService],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            tier = await plans.tier(id_of(tier_id, "tier"), publication.id)
            price = read_added_price(await request.form())
            made = await plans.add_price(
                tier, interval=price.interval, currency=price.currency, unit_amount=price.unit_amount
            )
        except TollgateError as exc:
            return await self._tiers_page(request, publication, plans, dashboard, error=exc)
        words = price_words(made.unit_amount, made.currency, made.interval)
        return done(
            settings,
            base_of(publication, "tiers"),
            f"“{tier.name}” now costs {words}; the price it replaces is archived.",
        )

    @post("/{slug:str}/tiers/{tier_id:str}/gifts", status_code=303, guards=[same_origin])
    async def set_gifts(
        self,
        request: Request[Any, Any, Any],
        tier_id: FromPath[str],
        publication: NamedDependency[Publication],
        dashboard: NamedDependency[DashboardService],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        try:
            tier = await plans.tier(id_of(tier_id, "tier"), publication.id)
            ticked = form.getall("months") if "months" in form else []
            months = [int(m) for m in ticked if isinstance(m, str) and m.isdigit()]
            days = str(form.get("valid_days") or "365")
            if not days.isdigit() or not 7 <= int(days) <= 1095:
                raise BadRequest("A gift's code is redeemable for 7 to 1,095 days.")
            await plans.set_gifts(tier, months=months, valid_days=int(days))
        except TollgateError as exc:
            return await self._tiers_page(request, publication, plans, dashboard, error=exc)
        offered = ", ".join(map(str, tier.gift_months))
        words = f"can be given for {offered} month(s)" if offered else "can no longer be given"
        return done(settings, base_of(publication, "tiers"), f"“{tier.name}” {words}.")

    @post("/{slug:str}/tiers/{tier_id:str}/archive", status_code=303, guards=[same_origin])
    async def archive_tier(
        self,
        request: Request[Any, Any, Any],
        tier_id: FromPath[str],
        publication: NamedDependency[Publication],
        dashboard: NamedDependency[DashboardService],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            tier = await plans.archive_tier(await plans.tier(id_of(tier_id, "tier"), publication.id))
        except TollgateError as exc:
            return await self._tiers_page(request, publication, plans, dashboard, error=exc)
        return done(
            settings,
            base_of(publication, "tiers"),
            f"“{tier.name}” is archived: no one new can buy it; its subscribers keep what they have.",
        )

    @post(
        "/{slug:str}/tiers/{tier_id:str}/prices/{price_id:str}/archive",
        status_code=303,
        guards=[same_origin],
    )
    async def archive_price(
        self,
        request: Request[Any, Any, Any],
        tier_id: FromPath[str],
        price_id: FromPath[str],
        publication: NamedDependency[Publication],
        dashboard: NamedDependency[DashboardService],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            tier = await plans.tier(id_of(tier_id, "tier"), publication.id)
            price = next((p for p in tier.prices if p.id == id_of(price_id, "price")), None)
            if price is None:
                raise NotFound("That price is not one of this tier's.")
            await plans.archive_price(price)
        except TollgateError as exc:
            return await self._tiers_page(request, publication, plans, dashboard, error=exc)
        words = price_words(price.unit_amount, price.currency, price.interval)
        return done(
            settings,
            base_of(publication, "tiers"),
            f"The price {words} of “{tier.name}” is archived: no one new can buy it; subscribers keep it.",
        )
