"""The PostgreSQL the benchmarks use (`TOLLGATE_TEST_POSTGRES`, as the tests do), and running one
administrative statement on it (creating and dropping a benchmark's own database)."""

from __future__ import annotations

import os

import asyncpg

POSTGRES = os.environ.get("TOLLGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def admin(query: str) -> None:
    conn = await asyncpg.connect(POSTGRES)
    try:
        await conn.execute(query)
    finally:
        await conn.close()
