"""Demo data for `make run`: two publications and the reader who owns them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from tollgate_common.problems import NotFound

DEMO_OWNER = "publisher@example.com"
DEMO_PUBLICATIONS = {
    "the-gazette": "The Tollgate Gazette",
    "field-notes": "Field Notes",
}


async def seed(session: AsyncSession) -> str:
    owner, _ = await ReaderService(session=session).get_or_create(DEMO_OWNER, "Demo Publisher")
    publications = PublicationService(session)
    made = []
    for slug, name in DEMO_PUBLICATIONS.items():
        try:
            await publications.by_slug(slug)
        except NotFound:
            await publications.create(slug, name, owner)
            made.append(slug)
    if not made:
        return "Demo data already present."
    return f"Seeded {', '.join(made)}, owned by {DEMO_OWNER}."
