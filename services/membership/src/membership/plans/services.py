"""Creating and archiving tiers and prices, here and in Stripe (Products and Prices)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.lib.stripe_client import StripeApi
from membership.plans.models import GIFT_MONTHS, Price, Tier
from membership.publications.models import Publication, key_under
from tollgate_common.problems import BadRequest, Conflict, NotFound


def allowed_keys(publication: Publication | None, keys: list[str]) -> list[str]:
    """A publication grants only its own keys (`pub:<slug>` and `pub:<slug>:...`); the platform any."""
    if publication is None:
        return sorted(set(keys))
    own = publication.key
    foreign = [k for k in keys if not key_under(own, k)]
    if foreign:
        raise BadRequest(
            f"{publication.name} can grant only `{own}` or keys under `{own}:`, not {', '.join(foreign)}."
        )
    return sorted(set(keys))


class PlanService:
    def __init__(self, session: AsyncSession, stripe: StripeApi) -> None:
        self.db = session
        self.stripe = stripe

    async def create_tier(
        self,
        publication: Publication | None,
        *,
        name: str,
        description: str,
        keys: list[str] | None,
        trial_days: int,
    ) -> Tier:
        if not name.strip():
            raise BadRequest("A tier needs a name readers will recognise.")
        if keys is None:
            if publication is None:
                raise BadRequest("A platform tier names the keys it grants, such as `member`.")
            keys = [publication.key]
        if not keys:
            raise BadRequest("A tier grants at least one entitlement key.")
        tier = Tier(
            publication_id=publication.id if publication else None,
            name=name.strip(),
            description=description.strip(),
            entitlement_keys=allowed_keys(publication, keys),
            trial_days=trial_days,
            prices=[],
        )
        self.db.add(tier)
        await self.db.flush()
        tier.stripe_product_id = await self.stripe.create_product(
            tier_id=str(tier.id),
            name=tier.name,
            description=tier.description,
            publication=publication.slug if publication else None,
        )
        await self.db.flush()
        return tier

    async def set_gifts(self, tier: Tier, *, months: list[int], valid_days: int) -> Tier:
        """Which lengths the tier can be given for; gifts already bought keep theirs."""
        if tier.archived_at is not None:
            raise Conflict("This tier is archived; it cannot be given as a gift.")
        if unknown := sorted(set(months) - set(GIFT_MONTHS)):
            lengths = ", ".join(str(m) for m in GIFT_MONTHS)
            raise BadRequest(
                f"A gift lasts {lengths} months; {', '.join(map(str, unknown))} is not one of them."
            )
        tier.gift_months, tier.gift_valid_days = sorted(set(months)), valid_days
        await self.db.flush()
        return tier

    async def add_price(self, tier: Tier, *, interval: str, currency: str, unit_amount: int) -> Price:
        if tier.archived_at is not None:
            raise Conflict("This tier is archived; it takes no new prices.")
        if tier.stripe_product_id is None:
            raise Conflict("This tier has no Stripe product yet.")
        currency = currency.lower()
        lookup_key = f"tollgate_{tier.id.hex}_{interval}_{currency}"
        # The new price replaces the current one of the same interval and currency.
        replaced = [
            p
            for p in tier.prices
            if p.archived_at is None and (p.interval, p.currency) == (interval, currency)
        ]
        price = Price(
            tier=tier, interval=interval, currency=currency, unit_amount=unit_amount, lookup_key=lookup_key
        )
        self.db.add(price)
        await self.db.flush()
        price.stripe_price_id = await self.stripe.create_price(
            price_id=str(price.id),
            tier_id=str(tier.id),
            product_id=tier.stripe_product_id,
            interval=interval,
            currency=currency,
            unit_amount=unit_amount,
            lookup_key=lookup_key,
        )
        for old in replaced:  # only once the new one exists at Stripe
            await self.archive_price(old)
        await self.db.flush()
        return price

    async def tiers(self, publication_id: UUID | None, *, include_archived: bool = False) -> list[Tier]:
        query = select(Tier).order_by(Tier.created_at)
        query = query.where(
            Tier.publication_id == publication_id if publication_id else Tier.publication_id.is_(None)
        )
        if not include_archived:
            query = query.where(Tier.archived_at.is_(None))
        return list(await self.db.scalars(query))

    async def tier(self, tier_id: UUID, publication_id: UUID | None) -> Tier:
        tier = await self.db.get(Tier, tier_id)
        if tier is None or tier.publication_id != publication_id:
            raise NotFound("No such tier.")
        return tier

    async def price(self, price_id: UUID) -> Price:
        price = await self.db.get(Price, price_id)
        if price is None:
            raise NotFound("No such price.")
        return price

    async def archive_tier(self, tier: Tier) -> Tier:
        if tier.archived_at is None:
            tier.archived_at = utcnow()
            for price in tier.prices:
                await self.archive_price(price)
            if tier.stripe_product_id:
                await self.stripe.archive_product(tier.stripe_product_id)
        return tier

    async def archive_price(self, price: Price) -> Price:
        if price.archived_at is None:
            price.archived_at = utcnow()
            if price.stripe_price_id:
                await self.stripe.archive_price(price.stripe_price_id)
        return price
