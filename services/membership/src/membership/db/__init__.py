"""The database: advanced-alchemy configuration, SQLite tuning, and Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from advanced_alchemy.types import GUID
from sqlalchemy import BINARY, NUMERIC, Connection, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeEngine

from membership.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def alchemy_config(settings: Settings, info: dict[str, Any] | None = None) -> SQLAlchemyAsyncConfig:
    """`info` goes into every session's `Session.info` (the revocation push reads it there)."""
    engine: dict[str, Any] = {"echo": settings.database_echo}
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    else:
        engine |= {"pool_size": settings.database_pool_size, "pool_pre_ping": True}
    config = SQLAlchemyAsyncConfig(
        connection_string=settings.resolved_database_url,
        engine_config=EngineConfig(**engine),
        session_config=AsyncSessionConfig(expire_on_commit=False, info=dict(info or {})),
        # The request owns the transaction: commit on a 2xx/3xx answer, roll back otherwise.
        before_send_handler="autocommit_include_redirects",
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS), version_table_name=VERSION_TABLE, render_as_batch=True
        ),
        create_all=False,
    )
    if settings.is_sqlite:
        sync_engine = config.get_engine().sync_engine
        event.listen(sync_engine, "connect", _sqlite_pragmas)
        event.listen(sync_engine, "begin", _sqlite_begin_immediate)
    return config


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers run beside the one writer; the busy timeout queues writers instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # We issue BEGIN ourselves (below), so the driver must not.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is locked" when
    # another writer got in between; taking the write lock up front makes it wait its turn instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def compare_type(
    context: object,
    inspected_column: object,
    metadata_column: object,
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic's type comparison, minus SQLite reflecting a UUID (GUID) column as NUMERIC(16)."""
    if isinstance(metadata_type, GUID) and isinstance(inspected_type, NUMERIC | BINARY | GUID):
        return False
    return None  # Alembic's own comparison decides
