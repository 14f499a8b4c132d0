"""What the import tests share: a publisher's Stripe account as it was before Tollgate (products,
prices, customers with cards and subscriptions made straight through stripe-python, no Checkout),
and running an import in a transaction of its own, as the CLI does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from membership.db import alchemy_config
from membership.imports.formats import Format
from membership.imports.services import ImportReport, MemberImport, PriceImport, tier_named
from membership.lib.stripe_client import StripeApi
from membership.plans.services import PlanService
from membership.publications.services import PublicationService
from tests.membership.conftest import Stack


@asynccontextmanager
async def db(stack: Stack) -> AsyncIterator[AsyncSession]:
    """A session as the CLI's jobs have one (on SQLite, savepoints inside a real transaction)."""
    alchemy = alchemy_config(stack.settings)
    try:
        async with alchemy.get_session() as session:
            yield session
    finally:
        await alchemy.get_engine().dispose()


async def run_import(
    stack: Stack,
    slug: str,
    text: str,
    *,
    dry_run: bool = False,
    chosen: Format = Format.AUTO,
    comp_tier: str | None = None,
) -> ImportReport:
    """One run in one transaction, committed when it returns (rolled back when it raises)."""
    async with db(stack) as session:
        publication = await PublicationService(session).by_slug(slug)
        report = await MemberImport(session, stack.settings, StripeApi(stack.settings)).run(
            publication, text.encode(), chosen=chosen, comp_tier=comp_tier, dry_run=dry_run
        )
        await session.commit()
    return report


async def map_price(stack: Stack, slug: str, stripe_price_id: str, tier: str) -> None:
    async with db(stack) as session:
        stripe_api = StripeApi(stack.settings)
        publication = await PublicationService(session).by_slug(slug)
        chosen = await tier_named(PlanService(session, stripe_api), publication, tier)
        await PriceImport(session, stripe_api).map(stripe_price_id, chosen)
        await session.commit()


@dataclass
class OldAccount:
    """The publisher's Stripe account before Tollgate: one product, a monthly price, its customers."""

    sdk: stripe.StripeClient
    price: str

    @classmethod
    async def made(cls, stack: Stack, amount: int = 600) -> OldAccount:
        sdk = stack.sdk()
        product = await sdk.v1.products.create_async(params={"name": "Old Membership"})
        price = await sdk.v1.prices.create_async(
            params={
                "product": product.id,
                "currency": "usd",
                "unit_amount": amount,
                "recurring": {"interval": "month"},
            }
        )
        return cls(sdk, price.id)

    async def customer(self, email: str, card: str = "pm_card_visa") -> str:
        made = await self.sdk.v1.customers.create_async(params={"email": email, "payment_method": card})
        return made.id

    async def subscriber(
        self, email: str, *, card: str = "pm_card_visa", price: str | None = None, **extra: Any
    ) -> tuple[str, str]:
        """A customer paying through a subscription made directly: (customer id, subscription id)."""
        customer = await self.customer(email, card)
        params: dict[str, Any] = {"customer": customer, "items": [{"price": price or self.price}], **extra}
        sub = await self.sdk.v1.subscriptions.create_async(params=params)  # type: ignore[arg-type]
        return customer, sub.id


def email(name: str = "member") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


async def publication_with_tier(stack: Stack, **tier: Any) -> tuple[str, dict[str, Any]]:
    """A new publication with one tier (`Members`, $5 a month, made through the API): (slug, tier)."""
    owner = await stack.reader()
    slug = await stack.publication(owner)
    made = await stack.tier(owner, slug, **tier)
    await owner.aclose()
    return slug, made
