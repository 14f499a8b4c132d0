"""Members, subscribers and a reader's history in the API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from membership.grants.schemas import GrantOut
from membership.grants.states import GrantSource
from membership.members.services import Member
from membership.subscriptions.schemas import SubscriptionOut


class MemberOut(msgspec.Struct):
    reader_id: UUID
    email: str
    display_name: str
    keys: list[str]
    sources: list[GrantSource]
    until: datetime | None

    @classmethod
    def of(cls, m: Member) -> MemberOut:
        return cls(
            m.reader_id,
            m.email,
            m.display_name,
            sorted(m.keys),
            sorted(m.sources),
            None if m.forever else m.until,
        )


class MembersPage(msgspec.Struct):
    members: list[MemberOut]
    next_cursor: str | None


class SubscriberOut(msgspec.Struct):
    reader_id: UUID
    email: str
    subscription: SubscriptionOut


class SubscribersPage(msgspec.Struct):
    subscribers: list[SubscriberOut]
    next_cursor: str | None


class HistoryOut(msgspec.Struct):
    reader_id: UUID
    grants: list[GrantOut]
    revoked: list[str]
    subscriptions: list[SubscriptionOut]
