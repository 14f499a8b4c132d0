"""Bad input: each gets a clear 4xx problem-details answer, and nothing stored changes."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

import membership.db.models as tables
from tests.membership.helpers import sign_in, with_cookie


async def counts(database_url: str) -> dict[str, int]:
    engine = create_async_engine(database_url)
    models: list[Any] = [
        tables.Reader,
        tables.SignInLink,
        tables.ReaderSession,
        tables.RefreshToken,
        tables.OutboxMessage,
    ]
    async with engine.connect() as conn:
        result = {
            m.__tablename__: (await conn.execute(select(func.count()).select_from(m))).scalar_one()
            for m in models
        }
    await engine.dispose()
    return result


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


BAD_SIGN_IN_BODIES = [
    pytest.param(b'{"email": "a@example.com"', "application/json", id="malformed-json"),
    pytest.param(b'{"email": "a@example.com", "admin": true}', "application/json", id="unknown-field"),
    pytest.param(b'{"email": 42}', "application/json", id="wrong-type"),
    pytest.param(b"{}", "application/json", id="missing-field"),
    pytest.param(b'["a@example.com"]', "application/json", id="not-an-object"),
    pytest.param(b'{"email": "not-an-email"}', "application/json", id="invalid-email"),
    pytest.param(
        b'{"email": "a@example.com", "next": "https://evil.example/"}', "application/json", id="offsite-next"
    ),
    pytest.param(
        b'{"email": "a@example.com", "next": "//evil.example/"}',
        "application/json",
        id="protocol-relative-next",
    ),
    pytest.param(b'{"email": "' + b"a" * 400 + b'@example.com"}', "application/json", id="too-long-email"),
]


@pytest.mark.parametrize(("body", "content_type"), BAD_SIGN_IN_BODIES)
async def test_bad_sign_in_requests(
    client: AsyncTestClient[Litestar], database_url: str, body: bytes, content_type: str
) -> None:
    await sign_in(client, "existing@example.com")
    before = await counts(database_url)
    response = await client.post("/api/auth/sign-in", content=body, headers={"content-type": content_type})
    assert_problem(response, 400)
    assert await counts(database_url) == before


async def test_body_over_the_limit_is_413(client: AsyncTestClient[Litestar], database_url: str) -> None:
    before = await counts(database_url)
    huge = b'{"email": "a@example.com", "next": "/' + b"x" * (200 * 1024) + b'"}'
    response = await client.post(
        "/api/auth/sign-in", content=huge, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)
    assert await counts(database_url) == before


async def test_bad_tokens_and_cookies(client: AsyncTestClient[Litestar], database_url: str) -> None:
    await sign_in(client, "holder@example.com")
    good = client.cookies["tollgate_session"]
    client.cookies.clear()
    before = await counts(database_url)
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for cookie in [tampered, "tgsession_", "garbage", good + "x", "tgsession_%C3%A9%00;x"]:
        response = await client.get("/api/me", headers=with_cookie(cookie))
        assert_problem(response, 401)
    assert await counts(database_url) == before
    assert (await client.get("/api/me", headers=with_cookie(good))).status_code == 200


async def test_unknown_paths_methods_and_ids(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "paths@example.com")
    assert_problem(await client.get("/api/nothing-here"), 404)
    assert_problem(await client.put("/api/me"), 405)
    assert_problem(await client.delete("/api/me/sessions/not-a-uuid"), 404)
    body = assert_problem(await client.patch("/api/me", json={"display_name": ""}), 400)
    assert "display_name" in body["detail"]
    assert_problem(await client.patch("/api/me", json={"display_name": "x" * 101}), 400)


async def test_wrong_content_type_for_json_endpoint(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    before = await counts(database_url)
    response = await client.post(
        "/api/auth/sign-in", content=b"email=a@example.com", headers={"content-type": "text/plain"}
    )
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await counts(database_url) == before
