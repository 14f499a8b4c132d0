"""A member cancelling over the API: with a reason, and the retention offer they may take instead."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from membership.apikeys.models import Scope
from membership.offers.schemas import OfferOut
from membership.publications.access import viewable_publication
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.retention.schemas import CancelIn, ReasonCount
from membership.retention.services import RetentionService
from membership.subscriptions.schemas import SubscriptionOut
from membership.subscriptions.services import SubscriptionService
from tollgate_common.problems import NotFound


class RetentionApi(Controller):
    path = "/api/me/subscriptions/{subscription_id:uuid}"
    tags = ["billing"]

    @get("/retention-offer", summary="The offer to stay this member may take now (404: none)")
    async def retention_offer(
        self,
        subscription_id: FromPath[UUID],
        reader: NamedDependency[Reader],
        subscriptions: NamedDependency[SubscriptionService],
        retention: NamedDependency[RetentionService],
    ) -> OfferOut:
        offer = await retention.offer_for(await subscriptions.owned(reader.id, subscription_id))
        if offer is None:
            raise NotFound("There is no offer to stay on this subscription now.")
        return OfferOut.of(offer)

    @post("/cancellation", status_code=200, summary="Cancel at the period's end, saying why")
    async def cancel(
        self,
        subscription_id: FromPath[UUID],
        data: JSONBody[CancelIn],
        reader: NamedDependency[Reader],
        subscriptions: NamedDependency[SubscriptionService],
        retention: NamedDependency[RetentionService],
    ) -> SubscriptionOut:
        sub = await subscriptions.owned(reader.id, subscription_id)
        offered = await retention.offer_for(sub)
        done = await retention.cancel(sub, reason=data.reason, note=data.note, offered=offered)
        return SubscriptionOut.of(done)

    @post("/stay", status_code=200, summary="Take the retention offer and keep the subscription")
    async def stay(
        self,
        subscription_id: FromPath[UUID],
        data: JSONBody[CancelIn],
        reader: NamedDependency[Reader],
        subscriptions: NamedDependency[SubscriptionService],
        retention: NamedDependency[RetentionService],
    ) -> SubscriptionOut:
        sub = await subscriptions.owned(reader.id, subscription_id)
        await retention.stay(sub, reason=data.reason, note=data.note)
        return SubscriptionOut.of(sub)


class PublicationCancellationApi(Controller):
    path = "/api/publications/{slug:str}/cancellations"
    tags = ["billing"]
    dependencies = {"publication": viewable_publication(Scope.MEMBERS_READ)}

    @get("/", summary="Why members cancelled, per reason, and how many a retention offer kept (staff)")
    async def reasons(
        self, publication: NamedDependency[Publication], retention: NamedDependency[RetentionService]
    ) -> list[ReasonCount]:
        rows = await retention.of_publication(publication.id)
        return [ReasonCount(words, n, saved) for words, n, saved in RetentionService.reasons_counted(rows)]
