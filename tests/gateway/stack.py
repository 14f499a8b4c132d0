"""The gateway in front of the real membership, over real HTTP, for the paywall tests.

Membership runs (uvicorn, in a thread) on the test database with a platform API key for the
gateway; the gateway runs in-process under Litestar's test client, reads stories from a folder the
test writes, and talks to membership over loopback exactly as in production.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.app import create_app as create_gateway
from gateway.settings import Settings as GatewaySettings
from membership.apikeys.services import ApiKeyService
from membership.app import create_app as create_membership
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from tests.conftest import make_settings
from tests.servers import bound_socket, serve

GATEWAY_URL = "http://gateway.test"
LINK = re.compile(r"/auth/sign-in/confirm\?token=(\S+)")
GATEWAY_SCOPES = ["entitlements:read", "unlocks:write", "friend-links:write"]
OWNER = "owner@gazette.example.com"
# Words that appear only past the teaser of every member-only test story: finding them is a leak.
SECRET = "Pomegranate-Lighthouse"

Gateway = AsyncTestClient[Litestar]


def story_text(story_id: str, publication: str, access: str, *, author_id: str | None = None) -> str:
    author = f"author_id: {author_id}\n" if author_id else ""
    return (
        f"---\nid: {story_id}\npublication: {publication}\ntitle: Story {story_id}\n"
        f"author: A Writer\n{author}"
        f"published: 2026-03-04\naccess: {access}\n---\n"
        f"The opening of {story_id}, for everyone.\n\n<!-- more -->\n\n"
        f"Past the teaser of {story_id}: {SECRET} one.\n\nAnd the ending, {SECRET} two.\n"
    )


def write_story(
    folder: Path, story_id: str, publication: str, access: str, *, author_id: str | None = None
) -> None:
    (folder / f"{story_id}.md").write_text(story_text(story_id, publication, access, author_id=author_id))


def unique_email(name: str = "reader") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Membership:
    url: str
    database_url: str
    api_key: str
    data_dir: Path

    async def sign_in(self, email: str) -> httpx.AsyncClient:
        """A client signed in to membership as this reader (made if new); its cookies hold the session."""
        client = httpx.AsyncClient(base_url=self.url, timeout=30)
        await client.post("/api/auth/sign-in", json={"email": email})
        messages = (await client.get("/dev/outbox/messages", params={"to": email, "limit": 1})).json()
        match = LINK.search(messages[0]["body"])
        assert match, messages
        done = await client.post("/api/auth/sign-in/complete", json={"token": match.group(1)})
        assert done.status_code == 200, done.text
        return client

    async def session_of(self, email: str) -> tuple[str, str]:
        """(session cookie value, reader id) for a newly signed-in reader."""
        client = await self.sign_in(email)
        me = (await client.get("/api/me")).json()
        session = client.cookies["tollgate_session"]
        await client.aclose()
        return session, str(me["id"])

    async def token_of(self, email: str) -> str:
        client = await self.sign_in(email)
        token = (await client.post("/api/auth/token")).json()["access_token"]
        await client.aclose()
        assert isinstance(token, str)
        return token

    async def spend_unlock(self, reader_id: str, story_id: str, publication: str = "the-gazette") -> None:
        """Records a free unlock for the reader, as the gateway would."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            answer = await client.post(
                "/api/unlocks",
                json={"reader_id": reader_id, "publication": publication, "story_id": story_id},
                headers={"authorization": f"Bearer {self.api_key}"},
            )
        assert answer.status_code == 200, answer.text

    async def comp(self, email: str, publication: str) -> dict[str, Any]:
        """The publication's owner gives this reader a comp (so their tokens carry `pub:<slug>`)."""
        owner = await self.sign_in(OWNER)
        answer = await owner.post(f"/api/publications/{publication}/comps", json={"email": email})
        await owner.aclose()
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body


async def prepare_membership(database_url: str) -> str:
    """Two publications owned by OWNER, and a platform API key for the gateway; returns the key."""
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, class_=AsyncSession)() as session:
        owner, _ = await ReaderService(session=session).get_or_create(OWNER)
        publications = PublicationService(session)
        for slug in ("the-gazette", "field-notes"):
            await publications.create(slug, slug.replace("-", " ").title(), owner)
        _, secret = await ApiKeyService(session).create(
            "gateway", GATEWAY_SCOPES, publication_id=None, created_by_id=None
        )
        await session.commit()
    await engine.dispose()
    return secret


@asynccontextmanager
async def running_membership(
    database_url: str, data_dir: Path, api_key: str, **overrides: Any
) -> AsyncIterator[Membership]:
    """Membership over HTTP; `overrides` are more of its settings."""
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(database_url, data_dir, public_url=GATEWAY_URL, stripe_workers=0, **overrides)
    with serve(create_membership(settings), sock=sock):
        yield Membership(url, database_url, api_key, data_dir)


def gateway_settings(membership_url: str, api_key: str, stories: Path, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "test",
        "log_format": "console",
        "log_level": "WARNING",
        "public_url": GATEWAY_URL,
        "membership_url": membership_url,
        "membership_api_key": api_key,
        "story_origin": str(stories),
        "friend_link_cache_seconds": 0,
        "offers_cache_seconds": 0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[Gateway]:
    async with AsyncTestClient(create_gateway(settings), base_url=GATEWAY_URL) as client:
        yield client


def foreign_token(sub: str, keys: list[str]) -> str:
    """A well-formed access token signed by a key membership never published."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = 1_700_000_000
    claims = {
        "iss": GATEWAY_URL,
        "aud": "tollgate",
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now * 2,
        "ent": keys,
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "not-ours", "typ": "at+jwt"})


def stories_folder(root: Path) -> Iterator[Path]:
    folder = root / "stories"
    folder.mkdir(exist_ok=True)
    yield folder
