"""The overview's numbers as last worked out: one row per publication, interval and number of
periods, shared by every replica (see `StatsService.latest`)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import Base


class StatsSnapshot(Base):
    __tablename__ = "stats_snapshot"

    publication_id: Mapped[UUID] = mapped_column(
        ForeignKey("publication.id", ondelete="CASCADE"), primary_key=True
    )
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    periods: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The moment the numbers describe: the series' generated_at, the current period's end.
    computed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # The whole series, as JSON.
    series: Mapped[str] = mapped_column(Text)
