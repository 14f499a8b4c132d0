"""Running Alembic from code: for the CLI's start-up migration and for the tests.

Alembic's env.py runs its own event loop, so these are plain functions; call them from a thread
when a loop is already running. Each makes a throwaway engine, so no pooled connection ever
crosses from the migration's loop into the app's.
"""

from __future__ import annotations

from advanced_alchemy.alembic.commands import AlembicCommands
from advanced_alchemy.extensions.litestar import AlembicAsyncConfig, EngineConfig, SQLAlchemyAsyncConfig
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from membership.db import MIGRATIONS, VERSION_TABLE
from membership.settings import Settings


def _commands(database_url: str) -> AlembicCommands:
    import membership.db.models  # noqa: F401 - the metadata must know every table

    config = SQLAlchemyAsyncConfig(
        connection_string=database_url,
        engine_config=EngineConfig(poolclass=NullPool),
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS), version_table_name=VERSION_TABLE, render_as_batch=True
        ),
    )
    return AlembicCommands(sqlalchemy_config=config)


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    _commands(settings.resolved_database_url).upgrade(revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    _commands(settings.resolved_database_url).downgrade(revision)


def head_revision() -> str | None:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()
