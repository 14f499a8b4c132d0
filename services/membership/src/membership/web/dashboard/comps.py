"""Comps: staff give a reader keys, until a date or for good, and end them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from membership.comps.services import CompService
from membership.lib.clock import utcnow
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.settings import Settings
from membership.web.dashboard.forms import CompForm
from membership.web.dashboard.pages import (
    DashboardSection,
    base_of,
    done,
    page,
)
from membership.web.dashboard.services import DashboardService
from membership.web.guards import same_origin
from tollgate_common.problems import TollgateError
from tollgate_common.words import day


class CompPages(DashboardSection):
    # --- comps ---

    async def _comps_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        dashboard: DashboardService,
        comps: CompService,
        *,
        error: TollgateError | None = None,
        form: dict[str, Any] | None = None,
    ) -> Template:
        given = await comps.of_publication(publication)
        readers = await dashboard.readers(c.reader_id for c in given)
        now = utcnow()
        rows = []
        for c in given:
            reader = readers.get(c.reader_id)
            if c.ended_at is not None:
                state, live = f"Ended on {day(c.ended_at)}", False
            elif c.until is not None and c.until <= now:
                state, live = f"Ran out on {day(c.until)}", False
            else:
                state, live = (f"Until {day(c.until)}" if c.until else "No end date"), True
            rows.append(
                {
                    "id": c.id,
                    "reader_id": c.reader_id,
                    "email": reader.email if reader else "",
                    "opens": c.keys,
                    "given": day(c.starts_at),
                    "state": state,
                    "live": live,
                    "note": c.note,
                }
            )
        context = {
            "publication": publication,
            "section": "comps",
            "rows": rows,
            "keys": await dashboard.keys_on_offer(publication),
            "error": error.detail if error else "",
            "form": form or {"email": request.query_params.get("email", ""), "keys": [publication.key]},
        }
        return page(request, "comps.html", context, status_code=error.status_code if error else 200)

    @get("/{slug:str}/comps")
    async def comps(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        dashboard: NamedDependency[DashboardService],
        comps: NamedDependency[CompService],
    ) -> Template:
        return await self._comps_page(request, publication, dashboard, comps)

    @post("/{slug:str}/comps", status_code=303, guards=[same_origin])
    async def give_comp(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        readers: NamedDependency[ReaderService],
        settings: NamedDependency[Settings],
        dashboard: NamedDependency[DashboardService],
        comps: NamedDependency[CompService],
    ) -> Redirect | Template:
        form = await request.form()
        typed: dict[str, Any] = {
            "email": str(form.get("email") or ""),
            "last_day": str(form.get("last_day") or ""),
            "note": str(form.get("note") or ""),
            "keys": [k for k in form.getall("keys") if isinstance(k, str)] if "keys" in form else [],
        }
        try:
            keys = await dashboard.keys_on_offer(publication)
            data = CompForm.read(form, keys, today=utcnow().date())
            recipient, _ = await readers.get_or_create(data.email)
            await comps.give(publication, recipient, keys=data.keys or None, until=data.until, note=data.note)
        except TollgateError as exc:
            return await self._comps_page(request, publication, dashboard, comps, error=exc, form=typed)
        # The form's last day is given whole: the comp ends at the midnight after it.
        ends = f" through {day(data.until - timedelta(days=1))}" if data.until else " with no end date"
        return done(settings, base_of(publication, "comps"), f"{recipient.email} has a comp{ends}.")

    @post("/{slug:str}/comps/{comp_id:str}/end", status_code=303, guards=[same_origin])
    async def end_comp(
        self,
        request: Request[Any, Any, Any],
        comp_id: FromPath[str],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        dashboard: NamedDependency[DashboardService],
        comps: NamedDependency[CompService],
    ) -> Redirect | Template:
        try:
            comp = await comps.end(publication, comp_id)
        except TollgateError as exc:
            return await self._comps_page(request, publication, dashboard, comps, error=exc)
        reader = await db_session.get(Reader, comp.reader_id)
        who = reader.email if reader else "the reader"
        return done(
            settings, base_of(publication, "comps"), f"The comp for {who} is ended; access it gave stops now."
        )
