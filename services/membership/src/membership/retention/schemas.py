"""Cancelling with a reason, and the retention offer, in the API."""

from __future__ import annotations

from typing import Annotated

import msgspec

from membership.retention.models import CancelReason


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: CancelReason | None = None
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class ReasonCount(msgspec.Struct):
    reason: str
    count: int
    saved: int
