"""Service API keys: made by an owner or the CLI, shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import hashlib

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from membership.apikeys.models import ApiKey
from tests.membership.helpers import with_cookie
from tests.membership.publications.test_publications import as_reader, make_publication


async def new_key(client: AsyncTestClient[Litestar], slug: str, scopes: list[str]) -> dict[str, object]:
    made = await client.post(
        f"/api/publications/{slug}/api-keys", json={"name": "newsletter", "scopes": scopes}
    )
    assert made.status_code == 201, made.text
    body: dict[str, object] = made.json()
    return body


async def test_key_is_shown_once_and_stored_hashed(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "keys", "k@example.com")
    await as_reader(client, "k@example.com")
    made = await new_key(client, "keys", ["staff:read"])
    secret = str(made["secret"])
    assert secret.startswith("tgk_")
    listed = (await client.get("/api/publications/keys/api-keys")).json()
    assert secret not in str(listed)
    assert listed[0]["prefix"] == secret[:12]
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(ApiKey.key_hash))).scalar_one()
    await engine.dispose()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored


async def test_key_with_scope_reads_staff_of_its_own_publication_only(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "mine", "m@example.com")
    await make_publication(database_url, "theirs", "t@example.com")
    await as_reader(client, "m@example.com")
    secret = (await new_key(client, "mine", ["staff:read"]))["secret"]
    client.cookies.clear()
    auth = {"Authorization": f"Bearer {secret}"}
    ok = await client.get("/api/publications/mine/staff", headers=auth)
    assert ok.status_code == 200 and ok.json()[0]["email"] == "m@example.com"
    other = await client.get("/api/publications/theirs/staff", headers=auth)
    assert other.status_code == 403
    assert "another publication" in other.json()["detail"]
    me = await client.get("/api/service/key", headers=auth)
    assert me.status_code == 200 and me.json()["scopes"] == ["staff:read"]


async def test_missing_wrong_revoked_and_unscoped_keys(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await make_publication(database_url, "pub", "p@example.com")
    await as_reader(client, "p@example.com")
    made = await new_key(client, "pub", ["staff:read"])
    owner_cookie = client.cookies["tollgate_session"]
    client.cookies.clear()
    assert (await client.get("/api/service/key")).status_code == 401
    for header in ["Bearer tgk_wrong", "Basic abc", "Bearer " + "x" * 50, "tgk_no_scheme"]:
        response = await client.get("/api/service/key", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["content-type"].startswith("application/problem+json")
    revoked = await client.delete(
        f"/api/publications/pub/api-keys/{made['key']['id']}", headers=with_cookie(owner_cookie)
    )  # type: ignore[index]
    assert revoked.status_code == 204
    after = await client.get("/api/service/key", headers={"Authorization": f"Bearer {made['secret']}"})
    assert after.status_code == 401 and "revoked" in after.json()["detail"]


async def test_scopes_are_checked(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await make_publication(database_url, "scoped", "s@example.com")
    await as_reader(client, "s@example.com")
    unknown = await client.post(
        "/api/publications/scoped/api-keys", json={"name": "x", "scopes": ["everything"]}
    )
    assert unknown.status_code == 400 and "Unknown scope" in unknown.json()["detail"]
    empty = await client.post("/api/publications/scoped/api-keys", json={"name": "x", "scopes": []})
    assert empty.status_code == 400


async def test_only_owners_manage_keys(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await make_publication(database_url, "owned", "o@example.com")
    await as_reader(client, "o@example.com")
    await client.post("/api/publications/owned/staff", json={"email": "e@example.com"})
    await as_reader(client, "e@example.com")
    made = await client.post("/api/publications/owned/api-keys", json={"name": "x", "scopes": ["staff:read"]})
    assert made.status_code == 403
    assert (await client.get("/api/publications/owned/api-keys")).status_code == 403
