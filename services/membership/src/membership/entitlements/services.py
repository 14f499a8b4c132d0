"""Answering access questions from live grants, one reader or ten thousand at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.models import EntitlementChange, Grant
from membership.lib.clock import utcnow


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    key: str | None = None
    until: datetime | None = None


def _live(now: datetime) -> list[object]:
    return [
        Grant.revoked_at.is_(None),
        Grant.starts_at <= now,
        or_(Grant.ends_at.is_(None), Grant.ends_at > now),
    ]


class EntitlementService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def check(self, reader_id: UUID, keys: list[str]) -> Decision:
        """Allowed if any one of `keys` is live; `until` is when that stops being true, if ever."""
        now = utcnow()
        rows = (
            await self.db.execute(
                select(Grant.key, Grant.source, Grant.ends_at).where(
                    Grant.reader_id == reader_id,
                    Grant.key.in_(keys),
                    *_live(now),  # type: ignore[arg-type]
                )
            )
        ).all()
        if not rows:
            return Decision(False, f"no live grant of {', '.join(sorted(keys))}")
        # The grant that lasts longest decides; no end at all beats any end.
        key, source, until = max(rows, key=lambda r: (r.ends_at is None, r.ends_at or now))
        return Decision(True, f"granted by {source}", key, until)

    async def check_batch(self, reader_ids: list[UUID], keys: list[str]) -> dict[UUID, Decision]:
        now = utcnow()
        # One query for the lot; the latest end per reader is folded here (None: no end at all).
        rows = (
            await self.db.execute(
                select(Grant.reader_id, Grant.ends_at).where(
                    Grant.reader_id.in_(reader_ids),
                    Grant.key.in_(keys),
                    *_live(now),  # type: ignore[arg-type]
                )
            )
        ).all()
        ends: dict[UUID, datetime | None] = {}
        for reader_id, ends_at in rows:
            if reader_id in ends and ends[reader_id] is None:
                continue
            ends[reader_id] = None if ends_at is None else max(ends_at, ends.get(reader_id) or ends_at)
        return {
            rid: Decision(True, "granted", until=ends[rid])
            if rid in ends
            else Decision(False, "no live grant")
            for rid in reader_ids
        }

    async def changes(self, after: int, limit: int) -> tuple[list[EntitlementChange], bool]:
        found = list(
            await self.db.scalars(
                select(EntitlementChange)
                .where(EntitlementChange.seq > after)
                .order_by(EntitlementChange.seq)
                .limit(limit + 1)
            )
        )
        return found[:limit], len(found) > limit

    async def latest_seq(self) -> int:
        return int(await self.db.scalar(select(func.coalesce(func.max(EntitlementChange.seq), 0))) or 0)
