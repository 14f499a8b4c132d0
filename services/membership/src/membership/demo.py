"""Demo data for `make run`: two publications, their owner, and tiers to buy (in the sandbox)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.stripe_client import StripeApi
from membership.plans.services import PlanService
from membership.publications.models import Publication
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from membership.settings import Settings
from tollgate_common.problems import NotFound

DEMO_OWNER = "publisher@example.com"
DEMO_PUBLICATIONS = {
    "the-gazette": "The Tollgate Gazette",
    "field-notes": "Field Notes",
}


async def seed(session: AsyncSession) -> str:
    owner, _ = await ReaderService(session=session).get_or_create(DEMO_OWNER, "Demo Publisher")
    publications = PublicationService(session)
    plans = PlanService(session, StripeApi(Settings()))
    made = []
    for slug, name in DEMO_PUBLICATIONS.items():
        try:
            publication: Publication = await publications.by_slug(slug)
        except NotFound:
            publication = await publications.create(slug, name, owner)
            made.append(slug)
        if not await plans.tiers(publication.id):
            tier = await plans.create_tier(
                publication, name="Supporter", description=f"Every story in {name}.", keys=None, trial_days=0
            )
            await plans.add_price(tier, interval="month", currency="usd", unit_amount=500)
            await plans.add_price(tier, interval="year", currency="usd", unit_amount=5000)
            made.append(f"{slug} tier")
    if not await plans.tiers(None):
        member = await plans.create_tier(
            None,
            name="Tollgate Member",
            description="Every member-only story on every publication.",
            keys=["member"],
            trial_days=7,
        )
        await plans.add_price(member, interval="month", currency="usd", unit_amount=900)
        made.append("platform membership")
    if not made:
        return "Demo data already present."
    return f"Seeded {', '.join(made)}, owned by {DEMO_OWNER}."
