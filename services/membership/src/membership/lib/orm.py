"""The declarative bases every membership model inherits from, on advanced-alchemy's one registry.

`UUIDAuditBase` is for rows with a UUID key and created/updated stamps; `Base` is for rows that
bring their own key (a Stripe event id, a key id, a feed sequence). `state_column` stores a
state enum.
"""

from __future__ import annotations

from enum import StrEnum

from advanced_alchemy.base import CommonTableAttributes, UUIDAuditBase, orm_registry
from sqlalchemy import Enum
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "UUIDAuditBase", "state_column"]


class Base(CommonTableAttributes, DeclarativeBase):
    registry = orm_registry
    __abstract__ = True


def state_column(states: type[StrEnum], length: int) -> Enum:
    """A column holding one of `states` as its plain string value (VARCHAR, no database enum type):
    reads come back as members, and writing anything else fails before it reaches the database."""
    return Enum(
        states,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
