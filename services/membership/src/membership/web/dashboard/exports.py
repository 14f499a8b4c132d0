"""Exports: the publication's members and subscribers as CSV, for any of its staff.

The members CSV is the JSON API's (`/api/publications/{slug}/members.csv`, which staff reach with
their session); the subscribers CSV is served here, because it says each status in the
dashboard's words. Both protect their cells against spreadsheet formulas the same way.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from uuid import UUID

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Template

from membership.members.csv import cell
from membership.members.services import MemberService
from membership.publications.models import Publication
from membership.web.dashboard.pages import HEADERS, DashboardSection, base_of, page
from membership.web.dashboard.words import status_words

MEMBERS_COLUMNS = ["reader_id", "email", "display_name", "keys", "sources", "until"]
SUBSCRIBERS_COLUMNS = [
    "subscription_id",
    "reader_id",
    "email",
    "tier",
    "status",
    "current_period_end",
    "cancel_at_period_end",
]


class ExportPages(DashboardSection):
    # --- exports ---

    @get("/{slug:str}/exports")
    async def exports(
        self, request: Request[Any, Any, Any], publication: NamedDependency[Publication]
    ) -> Template:
        context = {
            "publication": publication,
            "section": "exports",
            "members_csv": f"/api/publications/{publication.slug}/members.csv",
            "members_columns": MEMBERS_COLUMNS,
            "subscribers_csv": base_of(publication, "exports") + "/subscribers.csv",
            "subscribers_columns": SUBSCRIBERS_COLUMNS,
        }
        return page(request, "exports.html", context)

    @get("/{slug:str}/exports/subscribers.csv")
    async def subscribers_csv(
        self, publication: NamedDependency[Publication], members: NamedDependency[MemberService]
    ) -> Response[str]:
        """Every subscription to the publication's tiers, oldest id first, one row each."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(SUBSCRIBERS_COLUMNS)
        after: UUID | None = None
        while True:
            rows, after = await members.subscribers(publication, after=after, limit=1000)
            for sub, reader in rows:
                ends = sub.current_period_end.date().isoformat() if sub.current_period_end else ""
                values = (
                    sub.id,
                    reader.id,
                    reader.email,
                    sub.tier.name,
                    status_words(sub.status),
                    ends,
                    "yes" if sub.cancel_at_period_end else "no",
                )
                writer.writerow([cell(v) for v in values])
            if after is None:
                break
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={
                **HEADERS,
                "content-disposition": f'attachment; filename="{publication.slug}-subscribers.csv"',
            },
        )
