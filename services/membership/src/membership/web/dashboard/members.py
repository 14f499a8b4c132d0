"""A publication's members and subscribers, and one reader's history."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.states import GrantSource
from membership.lib.clock import utcnow
from membership.members.services import MemberService
from membership.plans.services import PlanService
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import SubscriptionStatus
from membership.web.dashboard.pages import (
    PAGE_SIZE,
    SOURCES,
    STATUSES,
    DashboardSection,
    base_of,
    cursor_of,
    id_of,
    page,
    query_of,
)
from membership.web.dashboard.services import DashboardService
from membership.web.dashboard.words import price_words, source_words, status_words, subscription_detail
from tollgate_common.problems import NotFound
from tollgate_common.words import day, day_and_time


def subscriber_row(sub: Subscription, reader: Reader) -> dict[str, Any]:
    return {
        "reader_id": reader.id,
        "email": reader.email,
        "name": reader.display_name,
        "tier": sub.tier.name,
        "price": price_words(sub.price.unit_amount, sub.price.currency, sub.price.interval)
        if sub.price
        else "",
        "status": status_words(sub.status),
        "detail": subscription_detail(sub),
        "started": day(sub.created_at),
    }


class MemberPages(DashboardSection):
    # --- members and subscribers ---

    @get("/{slug:str}/members")
    async def members(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        members: NamedDependency[MemberService],
        dashboard: NamedDependency[DashboardService],
        source: FromQuery[str] = "",
        q: FromQuery[str] = "",
        cursor: FromQuery[str] = "",
    ) -> Template:
        q = q.strip()[:200]
        # An unknown source filters nothing, as an empty one does.
        chosen = next((s for s in GrantSource if s == source), None)
        source = chosen or ""
        rows: list[dict[str, Any]] = []
        next_cursor, more_matches = None, False
        if q:
            matches, more_matches = await dashboard.search(publication, q)
            for m in matches:
                if not m.live or (source and source not in m.sources):
                    continue
                ends = [g.ends_at for g in m.live]
                until = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
                rows.append(
                    self._member_row(
                        m.reader.id, m.reader.email, m.reader.display_name, m.sources, m.keys, until
                    )
                )
        else:
            found, after = await members.members(
                publication, source=chosen, after=cursor_of(cursor), limit=PAGE_SIZE
            )
            rows = [
                self._member_row(
                    m.reader_id,
                    m.email,
                    m.display_name,
                    sorted(m.sources),
                    sorted(m.keys),
                    None if m.forever else m.until,
                )
                for m in found
            ]
            next_cursor = str(after) if after else None
        context = {
            "publication": publication,
            "section": "members",
            "rows": rows,
            "source": source,
            "q": q,
            "sources": [(s, source_words(s)) for s in SOURCES],
            "more_matches": more_matches,
            "next_page": base_of(publication, "members") + query_of(source=source, cursor=next_cursor)
            if next_cursor
            else "",
            "first_page": base_of(publication, "members") + query_of(source=source) if cursor else "",
            "csv": f"/api/publications/{publication.slug}/members.csv",
        }
        return page(request, "members.html", context)

    @staticmethod
    def _member_row(
        reader_id: UUID,
        email: str,
        name: str,
        sources: list[GrantSource],
        keys: list[str],
        until: datetime | None,
    ) -> dict[str, Any]:
        return {
            "reader_id": reader_id,
            "email": email,
            "name": name,
            "sources": ", ".join(source_words(s) for s in sources),
            "keys": keys,
            "until": day(until) if until else "No end",
        }

    @get("/{slug:str}/subscribers")
    async def subscribers(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        members: NamedDependency[MemberService],
        dashboard: NamedDependency[DashboardService],
        tier: FromQuery[str] = "",
        status: FromQuery[str] = "",
        q: FromQuery[str] = "",
        cursor: FromQuery[str] = "",
    ) -> Template:
        q = q.strip()[:200]
        tier_id = cursor_of(tier)
        # An unknown status filters nothing, as an empty one does.
        chosen = next((s for s in SubscriptionStatus if s == status), None)
        status = chosen or ""
        rows: list[dict[str, Any]] = []
        next_cursor, more_matches = None, False
        if q:
            matches, more_matches = await dashboard.search(publication, q)
            rows = [
                subscriber_row(s, m.reader)
                for m in matches
                for s in m.subscriptions
                if (tier_id is None or s.tier_id == tier_id) and (not status or s.status == status)
            ]
        else:
            found, after = await members.subscribers(
                publication, tier_id=tier_id, status=chosen, after=cursor_of(cursor), limit=PAGE_SIZE
            )
            rows = [subscriber_row(s, r) for s, r in found]
            next_cursor = str(after) if after else None
        base = base_of(publication, "subscribers")
        context = {
            "publication": publication,
            "section": "subscribers",
            "rows": rows,
            "tier": tier,
            "status": status,
            "q": q,
            "tiers": [
                (str(t.id), t.name + (" (archived)" if t.archived_at else ""))
                for t in await plans.tiers(publication.id, include_archived=True)
            ],
            "statuses": [(s, status_words(s)) for s in STATUSES],
            "more_matches": more_matches,
            "next_page": base + query_of(tier=tier, status=status, cursor=next_cursor) if next_cursor else "",
            "first_page": base + query_of(tier=tier, status=status) if cursor else "",
        }
        return page(request, "subscribers.html", context)

    @get("/{slug:str}/readers/{reader_id:str}")
    async def reader_history(
        self,
        request: Request[Any, Any, Any],
        reader_id: FromPath[str],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        members: NamedDependency[MemberService],
    ) -> Template:
        rid = id_of(reader_id, "reader")
        reader = await db_session.get(Reader, rid)
        grants, subs = await members.history(publication, rid)
        if reader is None or not (grants or subs):
            raise NotFound(f"This reader has no history with {publication.name}.")
        now = utcnow()
        live = [
            g
            for g in grants
            if g.revoked_at is None and g.starts_at <= now and (g.ends_at is None or g.ends_at > now)
        ]
        context = {
            "publication": publication,
            "section": "members",
            "reader": reader,
            "member_now": bool(live),
            "live_sources": ", ".join(sorted({source_words(g.source) for g in live})),
            "subscriptions": [subscriber_row(s, reader) | {"sub": s} for s in subs],
            "grants": [
                {
                    "key": g.key,
                    "source": source_words(g.source),
                    "source_id": g.source_id,
                    "starts": day_and_time(g.starts_at),
                    "ends": day_and_time(g.ends_at) if g.ends_at else "No end",
                    "revoked": day_and_time(g.revoked_at) if g.revoked_at else "",
                    "note": g.note,
                    "live": g in live,
                }
                for g in grants
            ],
        }
        return page(request, "reader.html", context)
