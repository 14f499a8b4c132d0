"""Recording an unlock atomically: a story is unlocked once a month, within the allowance.

The allowance is enforced by `UPDATE unlock_quota SET used = used + 1 WHERE used < allowance`:
one statement, so of fifty concurrent requests with one unlock left exactly one wins. The
story's own row is written first inside a savepoint; if the quota refuses, it is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.publications.models import Publication
from membership.unlocks.models import Unlock, UnlockQuota
from tollgate_common.months import month_key


def month_of(moment: datetime) -> str:
    # The UTC calendar month, by the same rule as the gateway's anonymous allowance.
    return month_key(moment)


class UnlockOutcome(StrEnum):
    UNLOCKED = "unlocked"  # counted now: the reader may read the story in full
    ALREADY = "already"  # unlocked before this month: readable, nothing counted
    REFUSED = "refused"  # the month's allowance is used up: nothing changed


@dataclass(frozen=True)
class UnlockResult:
    outcome: UnlockOutcome
    used: int
    allowance: int

    @property
    def unlocked(self) -> bool:
        """The reader may read the story in full now."""
        return self.outcome is not UnlockOutcome.REFUSED

    @property
    def already(self) -> bool:
        return self.outcome is UnlockOutcome.ALREADY

    @property
    def remaining(self) -> int:
        return max(0, self.allowance - self.used)


class UnlockService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    def _postgres(self) -> bool:
        return self.db.get_bind().dialect.name == "postgresql"

    async def status(self, reader_id: UUID, publication: Publication) -> tuple[int, list[str]]:
        month = month_of(utcnow())
        used = await self.db.scalar(
            select(UnlockQuota.used).where(
                UnlockQuota.reader_id == reader_id,
                UnlockQuota.publication_id == publication.id,
                UnlockQuota.month == month,
            )
        )
        stories = await self.db.scalars(
            select(Unlock.story_id)
            .where(
                Unlock.reader_id == reader_id, Unlock.publication_id == publication.id, Unlock.month == month
            )
            .order_by(Unlock.created_at)
        )
        return int(used or 0), list(stories)

    async def unlock(self, reader_id: UUID, publication: Publication, story_id: str) -> UnlockResult:
        now = utcnow()
        month = month_of(now)
        allowance = publication.free_unlocks_per_month
        insert = postgresql.insert if self._postgres() else sqlite.insert
        # The month's counter exists before anyone counts on it (a no-op when it already does).
        await self.db.execute(
            insert(UnlockQuota)
            .values(reader_id=reader_id, publication_id=publication.id, month=month, used=0)
            .on_conflict_do_nothing(index_elements=["reader_id", "publication_id", "month"])
        )
        async with self.db.begin_nested() as savepoint:
            story = await self.db.execute(
                insert(Unlock)
                .values(reader_id=reader_id, publication_id=publication.id, story_id=story_id, month=month)
                .on_conflict_do_nothing(index_elements=["reader_id", "publication_id", "story_id", "month"])
            )
            if not story.rowcount:  # type: ignore[attr-defined]
                used, _ = await self.status(reader_id, publication)
                return UnlockResult(UnlockOutcome.ALREADY, used, allowance)
            counted = await self.db.execute(
                update(UnlockQuota)
                .where(
                    UnlockQuota.reader_id == reader_id,
                    UnlockQuota.publication_id == publication.id,
                    UnlockQuota.month == month,
                    UnlockQuota.used < allowance,
                )
                .values(used=UnlockQuota.used + 1, updated_at=now)
                .returning(UnlockQuota.used)
                .execution_options(synchronize_session=False)
            )
            used_now = counted.scalar_one_or_none()
            if used_now is None:
                await savepoint.rollback()
                return UnlockResult(UnlockOutcome.REFUSED, allowance, allowance)
        return UnlockResult(UnlockOutcome.UNLOCKED, int(used_now), allowance)
