"""Tiers and prices over the API: anyone may see what is on offer; staff change it."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from membership.plans.schemas import GiftSettingsIn, PriceIn, PriceOut, TierIn, TierOut
from membership.plans.services import PlanService
from membership.publications.access import staff_publication
from membership.publications.models import Publication
from membership.publications.services import PublicationService
from tollgate_common.problems import NotFound

STAFF = {"publication": staff_publication()}


class PlatformTierApi(Controller):
    path = "/api/platform/tiers"
    tags = ["tiers"]

    @get("/", summary="The platform's own tiers on offer (Medium-style membership)")
    async def list_platform_tiers(self, plans: NamedDependency[PlanService]) -> list[TierOut]:
        return [TierOut.of(t) for t in await plans.tiers(None)]


class TierApi(Controller):
    path = "/api/publications/{slug:str}/tiers"
    tags = ["tiers"]

    @get("/", summary="A publication's tiers on offer, with their prices")
    async def list_tiers(
        self,
        slug: FromPath[str],
        publications: NamedDependency[PublicationService],
        plans: NamedDependency[PlanService],
        include_archived: FromQuery[bool] = False,
    ) -> list[TierOut]:
        publication = await publications.by_slug(slug)
        tiers = await plans.tiers(publication.id, include_archived=include_archived)
        return [TierOut.of(t, include_archived_prices=include_archived) for t in tiers]

    @post(
        "/", dependencies=STAFF, summary="Create a tier and its prices (staff); a Stripe Product and Prices"
    )
    async def create_tier(
        self,
        data: JSONBody[TierIn],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
    ) -> TierOut:
        tier = await plans.create_tier(
            publication,
            name=data.name,
            description=data.description,
            keys=data.entitlement_keys,
            trial_days=data.trial_days,
        )
        for price in data.prices:
            await plans.add_price(
                tier, interval=price.interval, currency=price.currency, unit_amount=price.unit_amount
            )
        return TierOut.of(tier)

    @post(
        "/{tier_id:uuid}/prices",
        dependencies=STAFF,
        summary="Add a price; it replaces the tier's price of that interval and currency",
    )
    async def add_price(
        self,
        tier_id: FromPath[UUID],
        data: JSONBody[PriceIn],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
    ) -> PriceOut:
        tier = await plans.tier(tier_id, publication.id)
        return PriceOut.of(
            await plans.add_price(
                tier, interval=data.interval, currency=data.currency, unit_amount=data.unit_amount
            )
        )

    @post(
        "/{tier_id:uuid}/gifts",
        status_code=200,
        dependencies=STAFF,
        summary="Which lengths readers may give the tier for, and how long a gift code stays valid",
    )
    async def set_gifts(
        self,
        tier_id: FromPath[UUID],
        data: JSONBody[GiftSettingsIn],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
    ) -> TierOut:
        tier = await plans.tier(tier_id, publication.id)
        return TierOut.of(await plans.set_gifts(tier, months=data.months, valid_days=data.valid_days))

    @post(
        "/{tier_id:uuid}/archive",
        status_code=200,
        dependencies=STAFF,
        summary="Archive a tier and its prices",
    )
    async def archive_tier(
        self,
        tier_id: FromPath[UUID],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
    ) -> TierOut:
        tier = await plans.archive_tier(await plans.tier(tier_id, publication.id))
        return TierOut.of(tier, include_archived_prices=True)

    @post(
        "/{tier_id:uuid}/prices/{price_id:uuid}/archive",
        status_code=200,
        dependencies=STAFF,
        summary="Archive a price",
    )
    async def archive_price(
        self,
        tier_id: FromPath[UUID],
        price_id: FromPath[UUID],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
    ) -> PriceOut:
        tier = await plans.tier(tier_id, publication.id)
        price = next((p for p in tier.prices if p.id == price_id), None)
        if price is None:
            raise NotFound("No such price in this tier.")
        return PriceOut.of(await plans.archive_price(price))
