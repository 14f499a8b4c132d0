"""Migrations: up to head on an empty database, down to base, up again; models match them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from advanced_alchemy.base import orm_registry
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from litestar.testing import AsyncTestClient
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

import membership.db.models  # noqa: F401 - every table on the metadata
from membership.app import create_app
from membership.db import compare_type, migrate
from membership.settings import Settings
from tests.conftest import BACKENDS, fresh_database, make_settings


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(request.param, tmp_path)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
    return list(compare_metadata(context, orm_registry.metadata))


async def _inspect(url: str) -> tuple[set[str], list[object]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_tables), await conn.run_sync(_diff)
    finally:
        await engine.dispose()


def test_up_down_up_and_models_match(empty_database: str) -> None:
    settings = Settings(database_url=empty_database)
    expected = set(orm_registry.metadata.tables)

    migrate.upgrade(settings)
    tables, diff = asyncio.run(_inspect(empty_database))
    assert expected <= tables
    assert diff == [], f"models and migrations disagree: {diff}"

    migrate.downgrade(settings, "base")
    tables, _ = asyncio.run(_inspect(empty_database))
    assert tables & expected == set()

    migrate.upgrade(settings)
    tables, diff = asyncio.run(_inspect(empty_database))
    assert expected <= tables
    assert diff == []


def test_head_is_a_single_known_revision() -> None:
    assert migrate.head_revision() == "0010"


async def test_migrate_on_start_readies_an_empty_database(empty_database: str, tmp_path: Path) -> None:
    """What docker-compose relies on: an empty database, the service starts, and it is ready."""
    cold = create_app(make_settings(empty_database, tmp_path, stripe_workers=0))
    async with AsyncTestClient(cold) as client:
        assert (await client.get("/health/ready")).status_code == 503  # nothing migrated it
    warm = create_app(make_settings(empty_database, tmp_path, stripe_workers=0, migrate_on_start=True))
    async with AsyncTestClient(warm) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert (await client.get("/.well-known/jwks.json")).json()["keys"]  # and its first key was made
    tables, diff = await _inspect(empty_database)
    assert set(orm_registry.metadata.tables) <= tables
    assert diff == []
