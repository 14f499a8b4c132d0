"""`membership api-keys ensure-gateway`: compose's init service makes the gateway's key once.

Run as the CLI runs, against a real database (SQLite and PostgreSQL): it writes a key with the
gateway's scopes, keeps it on a second run, and replaces it once it has been revoked.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.membership.test_cli import run


@pytest.fixture(autouse=True)
def leaves_no_keys(database_url: str) -> Iterator[None]:
    """The database is shared by the run's tests; each leaves it empty."""
    yield

    async def clear() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM api_key"))
        await engine.dispose()

    asyncio.run(clear())


def ensure(data: Path, url: str, key_file: Path) -> subprocess.CompletedProcess[str]:
    return run(data, "api-keys", "ensure-gateway", "--write", str(key_file), MEMBERSHIP_DATABASE_URL=url)


def test_the_gateway_key_is_made_once_and_remade_when_revoked(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "gateway-api-key"
    first = ensure(tmp_path, database_url, key_file)
    assert first.returncode == 0, first.stderr
    secret = key_file.read_text().strip()
    assert secret.startswith("tgk_")
    listed = run(tmp_path, "api-keys", "list", MEMBERSHIP_DATABASE_URL=database_url).stdout
    assert all(scope in listed for scope in ("entitlements:read", "unlocks:write", "friend-links:write"))

    again = ensure(tmp_path, database_url, key_file)
    assert again.returncode == 0, again.stderr
    assert key_file.read_text().strip() == secret

    key_id = next(
        line.split()[0] for line in listed.splitlines() if secret.startswith(line.split()[1].rstrip("…"))
    )
    assert run(tmp_path, "api-keys", "revoke", key_id, MEMBERSHIP_DATABASE_URL=database_url).returncode == 0
    remade = ensure(tmp_path, database_url, key_file)
    assert remade.returncode == 0, remade.stderr
    assert key_file.read_text().strip() not in ("", secret)
