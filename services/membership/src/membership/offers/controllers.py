"""Offers over the API: a publication's staff make, list and archive them; anyone reads an offer's
landing answer by its code. Checkout takes an offer's code (`/api/billing/checkout`)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from membership.apikeys.models import ApiKey, Scope
from membership.apikeys.services import ApiKeyService
from membership.offers.models import Offer
from membership.offers.schemas import EligibilityOut, OfferIn, OfferOut, PublisherOfferOut
from membership.offers.services import OfferService
from membership.plans.services import PlanService
from membership.publications.access import staff_publication
from membership.publications.models import Publication
from membership.readers.services import ReaderService
from tollgate_common.problems import Conflict, NotFound

STAFF = {"publication": staff_publication()}


class OfferApi(Controller):
    path = "/api/offers"
    tags = ["offers"]

    @get("/{code:str}", summary="An offer's landing answer: the tier and each price as the reader pays it")
    async def landing(self, code: FromPath[str], offers: NamedDependency[OfferService]) -> OfferOut:
        offer = await offers.by_code(code)
        offers.refuse_unless_listed(offer)
        return OfferOut.of(offer)

    @get(
        "/{code:str}/eligibility",
        summary="Whether a reader may take an offer now (API key: `entitlements:read`)",
        description="The paywall shows an offer for new or lapsed readers only to a reader checkout "
        "would let take it; `reason` says why not. A publication's key sees its own offers only.",
    )
    async def eligibility(
        self,
        code: FromPath[str],
        reader_id: FromQuery[UUID],
        api_key: NamedDependency[ApiKey],
        readers: NamedDependency[ReaderService],
        offers: NamedDependency[OfferService],
    ) -> EligibilityOut:
        ApiKeyService.require(api_key, Scope.ENTITLEMENTS_READ)
        offer = await offers.by_code(code)
        offers.refuse_unless_listed(offer)
        if api_key.publication_id is not None and offer.tier.publication_id != api_key.publication_id:
            raise NotFound("No offer has this code.")
        reader = await readers.require(reader_id)
        try:
            await offers.check_reader(offer, reader.id)
        except Conflict as exc:
            return EligibilityOut(offer.code, reader.id, eligible=False, reason=exc.detail)
        return EligibilityOut(offer.code, reader.id, eligible=True, reason=None)


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
