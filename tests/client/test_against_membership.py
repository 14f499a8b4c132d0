"""The client library against the real membership over HTTP: the contract both sides keep.

A reader given a comp gets an access token; another service verifies it offline (JWKS), checks
access through the API, lists members; the comp ends, the revocation feed says so, and the same
token is refused as stale while a fresh one carries no key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.apikeys.services import ApiKeyService
from membership.app import create_app
from tests.conftest import empty_tables, make_settings
from tests.membership.publications.test_publications import make_publication
from tests.servers import bound_socket, serve
from tollgate_client import MembershipClient, RevocationFeed, TokenExpired, TokenVerifier

LINK = re.compile(r"/auth/sign-in/confirm\?token=(\S+)")


@pytest.fixture
def membership(database_url: str, tmp_path: Path) -> Iterator[str]:
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with serve(
        create_app(make_settings(database_url, tmp_path, public_url=url, stripe_workers=0)), sock=sock
    ):
        yield url


async def signed_in(url: str, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, timeout=30)
    await client.post("/api/auth/sign-in", json={"email": email})
    body = (await client.get("/dev/outbox/messages", params={"to": email, "limit": 1})).json()[0]["body"]
    match = LINK.search(body)
    assert match
    assert (
        await client.post("/api/auth/sign-in/complete", json={"token": match.group(1)})
    ).status_code == 200
    return client


async def platform_key(database_url: str) -> str:
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        _, secret = await ApiKeyService(session).create(
            "another service", ["entitlements:read", "members:read"], publication_id=None, created_by_id=None
        )
        await session.commit()
    await engine.dispose()
    return secret


async def test_verify_check_list_and_revoke(membership: str, database_url: str) -> None:
    await make_publication(database_url, "contract", "owner@example.com")
    key = await platform_key(database_url)
    owner = await signed_in(membership, "owner@example.com")
    comp = (await owner.post("/api/publications/contract/comps", json={"email": "reader@example.com"})).json()
    reader = await signed_in(membership, "reader@example.com")
    token = (await reader.post("/api/auth/token")).json()["access_token"]

    async with (
        RevocationFeed(membership, key, start_from_latest=False) as feed,
        TokenVerifier(f"{membership}/.well-known/jwks.json", issuer=membership, revocations=feed) as verifier,
        MembershipClient(membership, key) as api,
    ):
        await feed.poll_once()
        claims = await verifier.verify(token)
        assert claims.sub == comp["reader_id"]
        assert claims.ent == ("pub:contract",)
        assert claims.allows("pub:contract") and not claims.allows("member")
        assert (await api.check(claims.sub, ["pub:contract"])).allowed
        members = [m async for m in api.members("contract")]
        assert [(m.reader_id, m.sources) for m in members] == [(comp["reader_id"], ("comp",))]

        ended = await owner.post(f"/api/publications/contract/comps/{comp['id']}/end")
        assert ended.status_code == 200
        await feed.poll_once()
        assert feed.is_stale(claims.sub, claims.ver)
        with pytest.raises(TokenExpired):
            await verifier.verify(token)  # cached before, refused now
        assert not (await api.check(claims.sub, ["pub:contract"])).allowed
        fresh = (await reader.post("/api/auth/token")).json()["access_token"]
        assert (await verifier.verify(fresh)).ent == ()
    for client in (owner, reader):
        await client.aclose()
    await empty_tables(database_url)
