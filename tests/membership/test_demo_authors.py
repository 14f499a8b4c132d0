"""The demo authors: readers with fixed ids (the gateway's sample stories name them), made once."""

from __future__ import annotations

from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from membership.demo import DEMO_AUTHORS, DEMO_PUBLICATIONS, seed_authors
from membership.publications.models import StaffMember
from membership.readers.models import Reader
from membership.readers.services import normalise_email
from tests.membership.helpers import latest_token, sign_in
from tests.membership.publications.test_publications import make_publication
from tests.membership.tokens.test_tokens import db
from tests.membership.unlocks.test_unlocks import gateway_key

EXPECTED = {
    "a0000000-0000-4000-8000-000000000001": ("clara@gazette.example", "Clara Vos", "the-gazette"),
    "a0000000-0000-4000-8000-000000000002": ("maren@gazette.example", "Maren Holt", "the-gazette"),
    "a0000000-0000-4000-8000-000000000003": ("jonas@gazette.example", "Jonas Weller", "the-gazette"),
    "a0000000-0000-4000-8000-000000000004": ("felix@field-notes.example", "Felix Marr", "field-notes"),
    "a0000000-0000-4000-8000-000000000005": ("ada@field-notes.example", "Ada Brook", "field-notes"),
    "a0000000-0000-4000-8000-000000000006": ("nell@harbour-post.example", "Nell Tarrant", "harbour-post"),
    "a0000000-0000-4000-8000-000000000007": ("owen@harbour-post.example", "Owen Pryce", "harbour-post"),
}


def test_the_constant_names_the_agreed_authors() -> None:
    assert {str(a.id): (a.email, a.name, a.publication) for a in DEMO_AUTHORS} == EXPECTED
    assert {a.publication for a in DEMO_AUTHORS} <= DEMO_PUBLICATIONS.keys()
    # Stored as sign-in will look them up, or the author could never sign in to their account.
    assert all(normalise_email(a.email) == a.email for a in DEMO_AUTHORS)


async def test_seeding_makes_them_once_and_not_staff(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    async with db(database_url) as session:
        made = await seed_authors(session)
    assert made == [a.name for a in DEMO_AUTHORS]
    async with db(database_url) as session:
        assert await seed_authors(session) == []
        readers = {str(r.id): (r.email, r.display_name) for r in await session.scalars(select(Reader))}
        assert readers == {rid: (email, name) for rid, (email, name, _) in EXPECTED.items()}
        assert await session.scalar(select(func.count()).select_from(StaffMember)) == 0

    # Signing in with an author's address opens that very account.
    asked = await client.post("/api/auth/sign-in", json={"email": "Clara@Gazette.example"})
    assert asked.status_code == 202
    done = await client.post(
        "/api/auth/sign-in/complete", json={"token": await latest_token(client, "clara@gazette.example")}
    )
    assert done.json()["reader"]["id"] == "a0000000-0000-4000-8000-000000000001"


async def test_an_address_already_taken_is_left_to_its_reader(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    async with db(database_url) as session:
        session.add(Reader(email="ada@field-notes.example", display_name="Someone"))
    async with db(database_url) as session:
        made = await seed_authors(session)
    assert "Ada Brook" not in made and len(made) == len(DEMO_AUTHORS) - 1
    async with db(database_url) as session:
        ada = await session.scalar(select(Reader).where(Reader.email == "ada@field-notes.example"))
        assert ada is not None and ada.display_name == "Someone"
        assert await session.get(Reader, UUID("a0000000-0000-4000-8000-000000000005")) is None


async def test_the_gateway_makes_links_for_a_demo_author(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "the-gazette", "publisher@example.com")
    async with db(database_url) as session:
        await seed_authors(session)
    key = await gateway_key(database_url, "the-gazette", scopes=("friend-links:write",))
    made = await client.post(
        "/api/friend-links",
        json={
            "publication": "the-gazette",
            "story_id": "the-night-press",
            "author_id": "a0000000-0000-4000-8000-000000000003",
        },
        headers={"authorization": f"Bearer {key}"},
    )
    assert made.status_code == 201, made.text
    # Not staff: the author cannot make links to the publication's other stories by themselves.
    await sign_in(client, "jonas@gazette.example")
    mine = (await client.get("/api/me/friend-links")).json()
    assert [(link["story_id"], link["created_by"]["name"]) for link in mine] == [
        ("the-night-press", "Jonas Weller")
    ]
    staff_only = await client.post("/api/publications/the-gazette/friend-links", json={"story_id": "other"})
    assert staff_only.status_code == 403
