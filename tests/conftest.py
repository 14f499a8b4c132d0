"""Real databases for the tests: an SQLite file and a fresh PostgreSQL database per run.

PostgreSQL is the one at TOLLGATE_TEST_POSTGRES (default: 127.0.0.1:5432, database `test`,
trust auth). Each run creates its own database beside it and drops it at the end. Without a
server those tests skip with the reason, except with CI=true, where a missing PostgreSQL fails.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from advanced_alchemy.base import orm_registry
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import membership.db.models  # noqa: F401 - every table on the metadata
from membership.app import create_app
from membership.db import migrate
from membership.settings import Settings
from tests.redis import PrivateRedis, machine_redis, unique_prefix

# --pinned-date: the whole run at a chosen moment (tests/pinned_date.py).
pytest_plugins = ["tests.pinned_date"]

POSTGRES = os.environ.get("TOLLGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _admin(query: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES, timeout=5)
        try:
            await conn.execute(query)
        finally:
            await conn.close()

    asyncio.run(run())


def _postgres_or_skip() -> None:
    try:
        _admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL is not reachable at {POSTGRES}: {exc}"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true requires it)")
        pytest.skip(reason)


def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the given kind; dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'membership-{uuid.uuid4().hex[:8]}.db'}"
        return
    _postgres_or_skip()
    name = f"tollgate_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head, shared by a run's tests; each test leaves it empty."""
    for url in fresh_database(request.param, tmp_path_factory.mktemp("db")):
        migrate.upgrade(Settings(database_url=url))
        yield url


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "data_dir": tmp_path,
        "log_format": "console",
        "log_level": "WARNING",
        "public_url": "http://testserver.local",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar, database_url: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url="http://testserver.local") as test_client:
        yield test_client
    await empty_tables(database_url)


ClientFactory = Callable[..., AbstractAsyncContextManager[AsyncTestClient[Litestar]]]


@pytest.fixture
async def client_with(database_url: str, tmp_path: Path) -> AsyncIterator[ClientFactory]:
    """For tests that need other settings: `async with client_with(signin_rate_per_email=2) as c:`."""

    @asynccontextmanager
    async def make(**overrides: object) -> AsyncIterator[AsyncTestClient[Litestar]]:
        app = create_app(make_settings(database_url, tmp_path, **overrides))
        async with AsyncTestClient(app, base_url="http://testserver.local") as test_client:
            yield test_client

    yield make
    await empty_tables(database_url)


async def empty_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table in reversed(orm_registry.metadata.sorted_tables):
                await conn.execute(text(f'DELETE FROM "{table.name}"'))  # noqa: S608 - our own table names
    finally:
        await engine.dispose()


@pytest.fixture
def shared_redis() -> tuple[str, str]:
    """The machine's Redis and a key prefix no other test uses: (url, prefix)."""
    return machine_redis(), unique_prefix()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, started; the test may stop and start it again."""
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
