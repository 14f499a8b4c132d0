"""The declarative bases every membership model inherits from, on advanced-alchemy's one registry.

`UUIDAuditBase` is for rows with a UUID key and created/updated stamps; `Base` is for rows that
bring their own key (a Stripe event id, a key id, a feed sequence).
"""

from __future__ import annotations

from advanced_alchemy.base import CommonTableAttributes, UUIDAuditBase, orm_registry
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "UUIDAuditBase"]


class Base(CommonTableAttributes, DeclarativeBase):
    registry = orm_registry
    __abstract__ = True
