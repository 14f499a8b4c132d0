"""Publications and staff: owners manage staff; the last owner cannot leave; API keys by scope."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from tests.membership.helpers import sign_in

COOKIE = "tollgate_session"


async def make_publication(database_url: str, slug: str, owner_email: str) -> None:
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        owner, _ = await ReaderService(session=session).get_or_create(owner_email)
        await PublicationService(session).create(slug, slug.replace("-", " ").title(), owner)
        await session.commit()
    await engine.dispose()


async def as_reader(client: AsyncTestClient[Litestar], email: str) -> str:
    client.cookies.clear()
    await sign_in(client, email)
    return client.cookies[COOKIE]


async def test_owner_adds_changes_and_removes_staff(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "the-gazette", "owner@example.com")
    await as_reader(client, "owner@example.com")
    added = await client.post("/api/publications/the-gazette/staff", json={"email": "Ed@Example.com"})
    assert added.status_code == 201
    assert added.json()["role"] == "editor" and added.json()["email"] == "ed@example.com"
    editor_id = added.json()["reader_id"]
    staff = (await client.get("/api/publications/the-gazette/staff")).json()
    assert {(s["email"], s["role"]) for s in staff} == {
        ("owner@example.com", "owner"),
        ("ed@example.com", "editor"),
    }
    again = await client.post("/api/publications/the-gazette/staff", json={"email": "ed@example.com"})
    assert again.status_code == 409
    promoted = await client.patch(f"/api/publications/the-gazette/staff/{editor_id}", json={"role": "owner"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    removed = await client.delete(f"/api/publications/the-gazette/staff/{editor_id}")
    assert removed.status_code == 204
    assert len((await client.get("/api/publications/the-gazette/staff")).json()) == 1


async def test_last_owner_cannot_leave_or_be_demoted(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "solo", "solo@example.com")
    await as_reader(client, "solo@example.com")
    me = (await client.get("/api/me")).json()["id"]
    demote = await client.patch(f"/api/publications/solo/staff/{me}", json={"role": "editor"})
    assert demote.status_code == 409
    leave = await client.delete(f"/api/publications/solo/staff/{me}")
    assert leave.status_code == 409
    assert "at least one owner" in leave.json()["detail"]
    staff = (await client.get("/api/publications/solo/staff")).json()
    assert staff[0]["role"] == "owner"


async def test_editors_and_strangers_cannot_manage_staff(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "guarded", "boss@example.com")
    await as_reader(client, "boss@example.com")
    await client.post("/api/publications/guarded/staff", json={"email": "ed@example.com"})
    await as_reader(client, "ed@example.com")
    assert (await client.get("/api/publications/guarded/staff")).status_code == 200
    refused = await client.post("/api/publications/guarded/staff", json={"email": "x@example.com"})
    assert refused.status_code == 403
    await as_reader(client, "stranger@example.com")
    assert (await client.get("/api/publications/guarded/staff")).status_code == 403
    client.cookies.clear()
    assert (await client.get("/api/publications/guarded/staff")).status_code == 401
    assert (
        await client.post("/api/publications/guarded/staff", json={"email": "y@example.com"})
    ).status_code == 401


async def test_publications_are_listed_and_unknown_is_404(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "listed", "l@example.com")
    listed = (await client.get("/api/publications")).json()
    assert [p["slug"] for p in listed] == ["listed"]
    missing = await client.get("/api/publications/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
