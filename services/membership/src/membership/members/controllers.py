"""Members, subscribers, a reader's history and the CSV export: for staff, or keys with `members:read`."""

from __future__ import annotations

import csv
import io
from uuid import UUID

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from membership.apikeys.models import Scope
from membership.grants.schemas import GrantOut
from membership.grants.states import GrantSource
from membership.members.csv import cell
from membership.members.schemas import HistoryOut, MemberOut, MembersPage, SubscriberOut, SubscribersPage
from membership.members.services import MemberService
from membership.publications.access import viewable_publication
from membership.publications.models import Publication
from membership.subscriptions.schemas import SubscriptionOut
from membership.subscriptions.states import SubscriptionStatus
from tollgate_common.problems import BadRequest


def _cursor(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError as exc:
        raise BadRequest("That cursor is not one this API gave out.") from exc


class MemberApi(Controller):
    path = "/api/publications/{slug:str}"
    tags = ["members"]
    dependencies = {"publication": viewable_publication(Scope.MEMBERS_READ)}

    @get("/members", summary="Readers holding the publication's keys now (filter by source), paginated")
    async def members(
        self,
        publication: NamedDependency[Publication],
        members: NamedDependency[MemberService],
        source: FromQuery[GrantSource | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> MembersPage:
        found, after = await members.members(
            publication, source=source, after=_cursor(cursor), limit=max(1, min(limit, 1000))
        )
        return MembersPage([MemberOut.of(m) for m in found], str(after) if after else None)

    @get(
        "/subscribers",
        summary="Subscriptions to the publication's tiers (filter by tier and status), paginated",
    )
    async def subscribers(
        self,
        publication: NamedDependency[Publication],
        members: NamedDependency[MemberService],
        tier: FromQuery[UUID | None] = None,
        status: FromQuery[SubscriptionStatus | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> SubscribersPage:
        rows, after = await members.subscribers(
            publication, tier_id=tier, status=status, after=_cursor(cursor), limit=max(1, min(limit, 1000))
        )
        return SubscribersPage(
            [SubscriberOut(r.id, r.email, SubscriptionOut.of(s)) for s, r in rows],
            str(after) if after else None,
        )

    @get(
        "/readers/{reader_id:uuid}/history",
        summary="Every grant and subscription a reader had with the publication",
    )
    async def history(
        self,
        reader_id: FromPath[UUID],
        publication: NamedDependency[Publication],
        members: NamedDependency[MemberService],
    ) -> HistoryOut:
        grants, subs = await members.history(publication, reader_id)
        return HistoryOut(
            reader_id,
            [GrantOut.of(g) for g in grants],
            [f"{g.key} ({g.source}) at {g.revoked_at.isoformat()}" for g in grants if g.revoked_at],
            [SubscriptionOut.of(s) for s in subs],
        )

    @get("/members.csv", summary="Every current member as CSV")
    async def export(
        self, publication: NamedDependency[Publication], members: NamedDependency[MemberService]
    ) -> Response[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["reader_id", "email", "display_name", "keys", "sources", "until"])
        after: UUID | None = None
        while True:
            page, after = await members.members(publication, after=after, limit=1000)
            for m in page:
                until = "" if m.forever or m.until is None else m.until.isoformat()
                keys, sources = " ".join(sorted(m.keys)), " ".join(sorted(m.sources))
                writer.writerow(
                    [cell(v) for v in (m.reader_id, m.email, m.display_name, keys, sources, until)]
                )
            if after is None:
                break
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={
                "content-disposition": f'attachment; filename="{publication.slug}-members.csv"',
                "cache-control": "no-store",
            },
        )
