"""The reader account."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from membership.lib.orm import UUIDAuditBase


class Reader(UUIDAuditBase):
    __tablename__ = "reader"

    # Stored normalised (see readers.services.normalise_email), so uniqueness ignores case.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    # Rises with every change to the reader's grants; tokens carrying an older one are stale.
    entitlement_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
