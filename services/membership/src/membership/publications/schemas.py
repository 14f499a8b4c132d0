"""Publications and staff in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.publications.models import Publication, StaffMember, StaffRole


class PublicationOut(msgspec.Struct):
    id: UUID
    slug: str
    name: str

    @classmethod
    def of(cls, p: Publication) -> PublicationOut:
        return cls(id=p.id, slug=p.slug, name=p.name)


class StaffOut(msgspec.Struct):
    reader_id: UUID
    email: str
    display_name: str
    role: StaffRole
    since: datetime

    @classmethod
    def of(cls, m: StaffMember) -> StaffOut:
        return cls(
            reader_id=m.reader_id,
            email=m.reader.email,
            display_name=m.reader.display_name,
            role=StaffRole(m.role),
            since=m.created_at,
        )


class StaffAdd(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    role: StaffRole = StaffRole.EDITOR


class StaffChange(msgspec.Struct, forbid_unknown_fields=True):
    role: StaffRole
