"""The catalogue (offers and publication names for pages) against the real membership, on a fake clock.

Names and offers are kept for `offers_cache_seconds`: a publication made meanwhile shows once that
has passed. When membership stops answering, the last names known are shown, and the offers are
none rather than an error: a paywall without offers still shows the teaser and the sign-in link.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.stories.catalogue import Catalogue
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from tests.gateway.stack import OWNER, Membership, running_membership
from tests.gateway.stories.test_http_origin import Clock
from tollgate_client import MembershipClient


async def make_publication(database_url: str, slug: str, name: str) -> None:
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        owner, _ = await ReaderService(session=session).get_or_create(OWNER)
        await PublicationService(session).create(slug, name, owner)
        await session.commit()
    await engine.dispose()


async def test_names_are_kept_for_a_while_and_the_last_known_outlive_membership(
    membership: Membership, tmp_path: Path
) -> None:
    clock = Clock()
    async with running_membership(membership.database_url, tmp_path, membership.api_key) as own:
        client = MembershipClient(own.url, own.api_key)
        catalogue = Catalogue(client, 60, clock=clock)
        names = await catalogue.publication_names()
        assert names["the-gazette"] == "The Gazette"

        await make_publication(membership.database_url, "late-edition", "The Late Edition")
        clock.advance(59)
        assert "late-edition" not in await catalogue.publication_names()
        clock.advance(2)
        assert (await catalogue.publication_names())["late-edition"] == "The Late Edition"
        # No tier has a price here: nothing to offer, and nothing to fail.
        assert await catalogue.offers("the-gazette", ("pub:the-gazette",)) == []

    # Membership is gone: the last names stay, however long it has been.
    clock.advance(3600)
    assert (await catalogue.publication_names())["late-edition"] == "The Late Edition"
    assert await catalogue.offers("the-gazette", ("pub:the-gazette",)) == []
    assert await Catalogue(client, 60, clock=clock).publication_names() == {}
    await client.aclose()
