"""The current time, in UTC, from one place: the wall clock, or the followed sandbox's in development."""

from __future__ import annotations

from tollgate_common.clock import utcnow

__all__ = ["utcnow"]
