"""A lost key-encryption secret: the old keys cannot sign any more, so a new key is made."""

from __future__ import annotations

from pathlib import Path

import jwt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.tokens.keys import KeyService
from tests.conftest import ClientFactory, make_settings
from tests.membership.helpers import sign_in


async def test_new_key_when_the_secret_changed(
    client_with: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    async with client_with(key_encryption_secret="first-secret-" + "x" * 20) as client:
        await sign_in(client, "keys@example.com")
        first = (await client.post("/api/auth/token")).json()["access_token"]
    async with client_with(key_encryption_secret="second-secret-" + "y" * 20) as client:
        await sign_in(client, "keys@example.com")
        answer = await client.post("/api/auth/token")
        assert answer.status_code == 200, answer.text
        second = answer.json()["access_token"]
        kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    old_kid, new_kid = jwt.get_unverified_header(first)["kid"], jwt.get_unverified_header(second)["kid"]
    assert old_kid != new_kid
    assert kids[0] == new_kid  # the new key signs; the old one stays published until its tokens expire
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        settings = make_settings(database_url, tmp_path, key_encryption_secret="second-secret-" + "y" * 20)
        published = {k.kid: k for k in await KeyService(session, settings).published()}
        assert published[old_kid].retired_at is not None
        assert KeyService(session, settings).load(published[old_kid]) is None
    await engine.dispose()
