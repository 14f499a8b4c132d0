"""Demo data for `make run`: the publications, their owner, tiers to buy (in the sandbox), the
authors of the gateway's sample stories, and The Harbour Post's members, imported from Ghost."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.imports.formats import Format
from membership.imports.services import MemberImport, Outcome, PriceImport, tier_named
from membership.lib.stripe_client import StripeApi
from membership.plans.services import PlanService
from membership.publications.models import Publication
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.settings import Settings
from tollgate_common.problems import NotFound

DEMO_OWNER = "publisher@example.com"
DEMO_PUBLICATIONS = {
    "the-gazette": "The Tollgate Gazette",
    "field-notes": "Field Notes",
    "harbour-post": "The Harbour Post",
}

# The Harbour Post moved from Ghost: its members come from Ghost's export, and its paying members
# keep the subscriptions its old platform made in the (sandbox's) Stripe account, which the seed
# adopts as `membership import map-price` and `membership import members` would.
IMPORTED = "harbour-post"
IMPORTED_MEMBERS = Path(__file__).parent / "demo_data" / "harbour-post-ghost-members.csv"
OLD_PRICE = "harbour-post-ghost-monthly"  # the lookup key of the old platform's price
IMPORTED_PAID_MEMBER = "ines.moreau@example.com"  # whom make run suggests signing in as

# The platform membership ("every member-only story on every publication"): every member-only
# sample story lists this key, so the tier opens what its description promises.
PLATFORM_KEYS = ("member",)


class DemoAuthor(NamedTuple):
    id: UUID
    email: str
    name: str
    publication: str  # the slug of the publication they write for


# The gateway's sample stories name these ids as their `author_id`, so a demo author signed in
# at the gateway may make friend links to their own stories. They are readers, not staff: an
# editor may make links to every story of the publication (and give comps, list members), which
# is more than writing a story should allow.
DEMO_AUTHORS: tuple[DemoAuthor, ...] = (
    DemoAuthor(
        UUID("a0000000-0000-4000-8000-000000000001"), "clara@gazette.example", "Clara Vos", "the-gazette"
    ),
    DemoAuthor(
        UUID("a0000000-0000-4000-8000-000000000002"), "maren@gazette.example", "Maren Holt", "the-gazette"
    ),
    DemoAuthor(
        UUID("a0000000-0000-4000-8000-000000000003"), "jonas@gazette.example", "Jonas Weller", "the-gazette"
    ),
    DemoAuthor(
        UUID("a0000000-0000-4000-8000-000000000004"), "felix@field-notes.example", "Felix Marr", "field-notes"
    ),
    DemoAuthor(
        UUID("a0000000-0000-4000-8000-000000000005"), "ada@field-notes.example", "Ada Brook", "field-notes"
    ),
    DemoAuthor(
        UUID("a0000000-0000-4000-8000-000000000006"),
        "nell@harbour-post.example",
        "Nell Tarrant",
        "harbour-post",
    ),
    DemoAuthor(
        UUID("a0000000-0000-4000-8000-000000000007"),
        "owen@harbour-post.example",
        "Owen Pryce",
        "harbour-post",
    ),
)


async def seed_authors(session: AsyncSession) -> list[str]:
    """The demo authors, with their fixed ids; those already present are left as they are.

    An address already taken by a reader with another id (someone signed in with it before the
    seed) is left alone too: that reader keeps their account, and the author is not made.
    """
    made = []
    for author in DEMO_AUTHORS:
        if await session.get(Reader, author.id) is not None:
            continue
        if await session.scalar(select(Reader.id).where(Reader.email == author.email)) is not None:
            continue
        session.add(Reader(id=author.id, email=author.email, display_name=author.name))
        made.append(author.name)
    await session.flush()
    return made


async def seed_imported(session: AsyncSession, publication: Publication, stripe: StripeApi) -> bool:
    """The Harbour Post's members from its Ghost export; whether anything changed.

    First the old Stripe account as its platform left it (a price of its own; each paying member
    a customer with a card and a subscription made straight through the API), found again when
    present. The export names each paying member's customer by a placeholder (the sandbox gives
    its customers their own ids), swapped here for the customer's id. Then the old price is mapped
    to the Supporter tier and the file imported, both idempotent, so a second run changes nothing.
    """
    raw = IMPORTED_MEMBERS.read_text(encoding="utf-8")
    price = await stripe.own_monthly_price(
        lookup_key=OLD_PRICE, product="Harbour Friends (Ghost)", currency="usd", amount=600
    )
    for row in csv.DictReader(io.StringIO(raw)):
        if placeholder := row["stripe_customer_id"]:
            customer = await stripe.own_subscriber(email=row["email"], name=row["name"], price=price)
            raw = raw.replace(placeholder, customer)
    tier = await tier_named(PlanService(session, stripe), publication, "Supporter")
    _, mapped = await PriceImport(session, stripe).map(price, tier)
    report = await MemberImport(session, Settings(), stripe).run(
        publication, raw.encode(), chosen=Format.GHOST, dry_run=False
    )
    return mapped or any(row.outcome is Outcome.CREATE or row.does for row in report.rows)


async def seed(session: AsyncSession) -> str:
    owner, _ = await ReaderService(session=session).get_or_create(DEMO_OWNER, "Demo Publisher")
    publications = PublicationService(session)
    stripe = StripeApi(Settings())
    plans = PlanService(session, stripe)
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
            await plans.set_gifts(tier, months=[1, 3, 12], valid_days=365)
            made.append(f"{slug} tier")
    if not await plans.tiers(None):
        member = await plans.create_tier(
            None,
            name="Tollgate Member",
            description="Every member-only story on every publication.",
            keys=list(PLATFORM_KEYS),
            trial_days=7,
        )
        await plans.add_price(member, interval="month", currency="usd", unit_amount=900)
        await plans.set_gifts(member, months=[1, 3, 6, 12], valid_days=365)
        made.append("platform membership")
    if authors := await seed_authors(session):
        made.append(f"demo authors ({', '.join(authors)})")
    # Only in the sandbox: the old account's subscriptions charge a test card.
    if stripe.sandboxed and await seed_imported(session, await publications.by_slug(IMPORTED), stripe):
        made.append(f"{IMPORTED} members (imported from Ghost)")
    said = f"Seeded {', '.join(made)}, owned by {DEMO_OWNER}." if made else "Demo data already present."
    if stripe.sandboxed:
        said += (
            f"\nSign in as {IMPORTED_PAID_MEMBER} to read The Harbour Post's member-only stories: "
            "a paying member imported from Ghost, whose Stripe subscription Tollgate adopted."
        )
    return said
