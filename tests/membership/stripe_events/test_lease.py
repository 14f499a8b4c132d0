"""A worker that claims an event and dies holds it only for the lease; then another worker takes it.

The lease is shortened by its setting (MEMBERSHIP_STRIPE_LEASE_SECONDS) so that the test can let it
lapse, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from membership.stripe_events.models import StripeEvent
from membership.stripe_events.services import Inbox
from tests.conftest import empty_tables, make_settings
from tests.membership.stripe_events.signing import body, event
from tests.membership.stripe_events.test_webhook_intake import HARMLESS


async def claim(database_url: str, tmp_path: Path, lease: float) -> list[str]:
    """One worker's claim, in a transaction of its own that commits."""
    engine = create_async_engine(database_url)
    try:
        async with async_sessionmaker(engine, class_=AsyncSession)() as session:
            taken = await Inbox(
                session, make_settings(database_url, tmp_path, stripe_lease_seconds=lease)
            ).claim_due()
            await session.commit()
            return taken
    finally:
        await engine.dispose()


async def test_an_abandoned_claim_is_taken_again_once_its_lease_lapses(
    database_url: str, tmp_path: Path
) -> None:
    stored = event("checkout.session.completed", HARMLESS)
    engine = create_async_engine(database_url)
    try:
        async with async_sessionmaker(engine, class_=AsyncSession)() as session:
            assert await Inbox(session, make_settings(database_url, tmp_path)).store(stored, body(stored))
            await session.commit()
        # The first worker claims it and dies before handling it.
        assert await claim(database_url, tmp_path, lease=1.0) == [stored["id"]]
        # While the lease holds, no other worker may take it.
        assert await claim(database_url, tmp_path, lease=1.0) == []
        await asyncio.sleep(1.2)
        assert await claim(database_url, tmp_path, lease=1.0) == [stored["id"]]
        async with async_sessionmaker(engine, class_=AsyncSession)() as session:
            row = await session.get(StripeEvent, stored["id"])
            assert row is not None and (row.status, row.attempts) == ("pending", 2)
    finally:
        await engine.dispose()
        await empty_tables(database_url)
