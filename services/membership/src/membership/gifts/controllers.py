"""Gifts over the API: options of a tier, buying (Stripe Checkout), the buyer's gifts, redeeming a
code, and a publication's gifts for its staff. The pages are in `membership.web.gifts`."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from membership.apikeys.models import Scope
from membership.gifts.schemas import (
    GiftCheckoutIn,
    GiftCheckoutOut,
    GiftOptionOut,
    GiftOut,
    GiftSummary,
    PublisherGiftOut,
    RedeemedOut,
    RedeemIn,
)
from membership.gifts.services import GiftService, options
from membership.publications.access import viewable_publication
from membership.publications.models import Publication
from membership.readers.models import Reader
from tollgate_common.problems import BadRequest, NotFound


class GiftApi(Controller):
    path = "/api"
    tags = ["gifts"]

    @get("/tiers/{tier_id:uuid}/gift-options", summary="The lengths and prices a tier can be given for")
    async def gift_options(
        self, tier_id: FromPath[UUID], gifts: NamedDependency[GiftService]
    ) -> list[GiftOptionOut]:
        return [GiftOptionOut.of(o) for o in options(await gifts.tier(tier_id))]

    @post("/gifts/checkout", status_code=200, summary="Buy a gift: answers where to pay (Stripe Checkout)")
    async def checkout(
        self,
        data: JSONBody[GiftCheckoutIn],
        reader: NamedDependency[Reader],
        gifts: NamedDependency[GiftService],
    ) -> GiftCheckoutOut:
        gift, url = await gifts.start_checkout(
            reader,
            tier_id=data.tier_id,
            months=data.months,
            currency=data.currency,
            recipient_email=data.recipient_email or None,
            deliver_on=data.deliver_on,
            message=data.message,
        )
        return GiftCheckoutOut(gift.id, url)

    @post(
        "/gifts/checkout/{session_id:str}/confirm",
        status_code=200,
        summary="Back from paying for a gift: settles it at once if Stripe says it is paid",
    )
    async def confirm(
        self, session_id: FromPath[str], reader: NamedDependency[Reader], gifts: NamedDependency[GiftService]
    ) -> GiftOut:
        if not session_id.startswith("cs_"):
            raise BadRequest("A checkout session id looks like `cs_...`.")
        gift = await gifts.settle(session_id)
        if gift is None or gift.buyer_id != reader.id:
            raise NotFound("You have no gift checkout by that id.")
        return GiftOut.of(gift, gifts.link(gift))

    @get("/me/gifts", summary="The gifts I bought, with their codes and whether they were redeemed")
    async def mine(
        self, reader: NamedDependency[Reader], gifts: NamedDependency[GiftService]
    ) -> list[GiftOut]:
        return [GiftOut.of(g, gifts.link(g)) for g in await gifts.bought_by(reader.id)]

    @get("/gifts/{code:str}", summary="What a gift code opens, and whether it can still be redeemed")
    async def summary(self, code: FromPath[str], gifts: NamedDependency[GiftService]) -> GiftSummary:
        gift = await gifts.by_code(code)
        return GiftSummary(gift.tier.name, gift.months, gift.state, gift.expires_at)

    @post("/gifts/redeem", status_code=200, summary="Redeem a gift code for the signed-in reader")
    async def redeem(
        self, data: JSONBody[RedeemIn], reader: NamedDependency[Reader], gifts: NamedDependency[GiftService]
    ) -> RedeemedOut:
        gift = await gifts.redeem(data.code, reader)
        assert gift.redeemed_as is not None and gift.ends_at is not None
        return RedeemedOut(gift.tier.name, gift.redeemed_as, gift.ends_at)


class PublicationGiftApi(Controller):
    path = "/api/publications/{slug:str}/gifts"
    tags = ["gifts"]
    dependencies = {"publication": viewable_publication(Scope.MEMBERS_READ)}

    @get("/", summary="Gifts of the publication's tiers: bought, redeemed, expired or refunded (staff)")
    async def list_gifts(
        self, publication: NamedDependency[Publication], gifts: NamedDependency[GiftService]
    ) -> list[PublisherGiftOut]:
        return [PublisherGiftOut.of(g) for g in await gifts.of_publication(publication.id)]
