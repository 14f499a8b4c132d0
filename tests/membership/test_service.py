"""The service itself: health, readiness against the schema, OpenAPI, request ids, JSON logs."""

from __future__ import annotations

import json
import logging

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from membership.db import migrate


async def test_live_and_ready(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


async def test_not_ready_when_schema_is_behind(client: AsyncTestClient[Litestar], database_url: str) -> None:
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    try:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        assert "membership database upgrade" in ready.json()["detail"]
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": migrate.head_revision()}
            )
        await engine.dispose()


async def test_openapi_is_served(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["info"]["title"] == "Tollgate membership"
    for path in ["/api/auth/sign-in", "/api/me", "/api/publications/{slug}/staff", "/health/ready"]:
        assert path in schema["paths"], path
    assert (await client.get("/schema/swagger")).status_code == 200


async def test_request_id_is_kept_or_made(client: AsyncTestClient[Litestar]) -> None:
    kept = await client.get("/health/live", headers={"x-request-id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = await client.get("/health/live", headers={"x-request-id": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_access_log_is_json_with_request_id(
    client: AsyncTestClient[Litestar], capsys: pytest.CaptureFixture[str]
) -> None:
    from tollgate_common.logging import configure_logging

    configure_logging("INFO", "json")
    try:
        await client.get("/health/live", headers={"x-request-id": "log-me-1"})
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    finally:
        configure_logging("WARNING", "console")
        logging.getLogger().setLevel(logging.WARNING)
    access = [
        entry for entry in lines if entry.get("event") == "request" and entry.get("request_id") == "log-me-1"
    ]
    assert access, lines
    assert access[0]["path"] == "/health/live" and access[0]["status"] == 200
