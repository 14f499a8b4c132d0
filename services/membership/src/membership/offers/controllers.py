"""Offers over the API: a publication's staff make, list and archive them; anyone reads an offer's
landing answer by its code. Checkout takes an offer's code (`/api/billing/checkout`)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from membership.offers.models import Offer
from membership.offers.schemas import OfferIn, OfferOut, PublisherOfferOut
from membership.offers.services import OfferService
from membership.plans.services import PlanService
from membership.publications.access import staff_publication
from membership.publications.models import Publication
from tollgate_common.problems import NotFound

STAFF = {"publication": staff_publication()}


class OfferApi(Controller):
    path = "/api/offers"
    tags = ["offers"]

    @get("/{code:str}", summary="An offer's landing answer: the tier and each price as the reader pays it")
    async def landing(self, code: FromPath[str], offers: NamedDependency[OfferService]) -> OfferOut:
        offer = await offers.by_code(code)
        offers.refuse_unless_listed(offer)
        return OfferOut.of(offer)


class PublicationOfferApi(Controller):
    path = "/api/publications/{slug:str}/offers"
    tags = ["offers"]
    dependencies = STAFF

    async def _own(self, offers: OfferService, publication: Publication, offer_id: UUID) -> Offer:
        offer = await offers.get(offer_id)
        if offer is None or offer.tier.publication_id != publication.id:
            raise NotFound("No such offer.")
        return offer

    @post("/", summary="Make an offer on one of the publication's tiers (a Stripe coupon and code)")
    async def create(
        self,
        data: JSONBody[OfferIn],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        offers: NamedDependency[OfferService],
    ) -> OfferOut:
        tier = await plans.tier(data.tier_id, publication.id)
        return OfferOut.of(await offers.create(tier, data.terms()))

    @get("/", summary="The publication's offers, with their redemptions (staff)")
    async def list_offers(
        self,
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        offers: NamedDependency[OfferService],
    ) -> list[PublisherOfferOut]:
        tiers = await plans.tiers(publication.id, include_archived=True)
        found = await offers.of_tiers([t.id for t in tiers])
        counts = await offers.redemptions([o.id for o in found])
        return [PublisherOfferOut(OfferOut.of(o), *counts.get(o.id, (0, 0))) for o in found]

    @post("/{offer_id:uuid}/archive", status_code=200, summary="Archive an offer: no new redemptions")
    async def archive(
        self,
        offer_id: FromPath[UUID],
        publication: NamedDependency[Publication],
        offers: NamedDependency[OfferService],
    ) -> OfferOut:
        return OfferOut.of(await offers.archive(await self._own(offers, publication, offer_id)))
