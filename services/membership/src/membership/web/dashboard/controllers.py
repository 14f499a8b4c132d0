"""`/account/publications/...`: the dashboard's pages, for a publication's staff.

Server-rendered pages and plain HTML forms (post, then 303 back with a short notice), so they work
without JavaScript. Every form is refused when its `Origin` is another site's (SameSite=Lax
cookies are the other half). Not signed in: 303 to sign-in, back here after. Signed in but not on
the staff: a 403 page. Whatever goes wrong is a page with a sentence, never JSON or a trace.

The pages call the same services as the JSON API, so they can do nothing the API would refuse.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from membership.comps.services import CompService
from membership.friendlinks.models import MadeAs
from membership.friendlinks.services import FriendLinkService
from membership.lib.clock import utcnow
from membership.members.services import MemberService
from membership.plans.services import PlanService
from membership.publications.access import staff_publication
from membership.publications.models import Publication
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.settings import Settings
from membership.stats.services import Interval, Point, Series, StatsService
from membership.subscriptions.models import Subscription
from membership.web.dashboard import charts
from membership.web.dashboard.forms import CompForm, TierForm, read_added_price, read_story_id
from membership.web.dashboard.services import DashboardService
from membership.web.dashboard.words import price_words, source_words, status_words, subscription_detail
from membership.web.guards import same_origin
from tollgate_common.problems import BadRequest, NotFound, TollgateError, Unauthorized
from tollgate_common.words import day, day_and_time, money, month, short_day

log = structlog.get_logger(__name__)
PREFIX = "/account/publications"
NOTICE_COOKIE = "tollgate_dashboard_notice"
HEADERS = {"cache-control": "no-store", "content-security-policy": "frame-ancestors 'none'"}
PAGE_SIZE = 50
SOURCES = ("subscription", "trial", "comp", "gift")
STATUSES = (
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "paused",
)
SECTIONS = {
    "overview": "Overview",
    "tiers": "Tiers and prices",
    "members": "Members",
    "subscribers": "Subscribers",
    "comps": "Comps",
    "friend-links": "Friend links",
}


# --- answers: pages, notices, errors ---------------------------------------------------------


def _back_here(request: Request[Any, Any, Any]) -> str:
    """Where sign-in returns to: this page, or for a form, the page that holds it."""
    path = request.url.path
    if request.method == "GET":
        return path + (f"?{request.url.query}" if request.url.query else "")
    return "/".join(path.split("/")[:5])


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The dashboard's errors, for people: sign in first, or the sentence with the right status."""
    if isinstance(exc, Unauthorized):
        # Includes a reused cookie: its session was revoked, and the 303 commits that.
        return Redirect(f"/auth/sign-in?{urlencode({'next': _back_here(request)})}", status_code=303)
    if isinstance(exc, TollgateError):
        status, detail, headers = exc.status_code, exc.detail, exc.headers
    elif isinstance(exc, HTTPException):
        status, headers = exc.status_code, dict(exc.headers or {})
        detail = {
            400: "The form or address was not what this page expects. Please go back and try again.",
            404: "There is no page at this address.",
            405: "This page cannot do that.",
        }.get(status, HTTPStatus(status).phrase + ".")
    else:
        log.exception("unhandled error", path=request.url.path, exc_info=exc)
        status, detail, headers = 500, "Something went wrong on our side; it has been logged.", {}
    titles = {403: "Not for you", 404: "Not found"}
    return Template(
        "dashboard/error.html",
        context={"title": titles.get(status, HTTPStatus(status).phrase), "message": detail, "section": None},
        status_code=status,
        headers={**headers, **HEADERS},
    )


def _notice_cookie(settings: Settings, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=NOTICE_COOKIE,
        value=value,
        path=PREFIX,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def done(settings: Settings, to: str, message: str, link: str = "") -> Redirect:
    """303 back to a page, with a notice it shows once (a cookie, so no link can forge its words)."""
    raw = json.dumps({"message": message, "link": link}).encode()
    value = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return Redirect(to, status_code=303, cookies=[_notice_cookie(settings, value, 300)])


def _take_notice(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    value = request.cookies.get(NOTICE_COOKIE)
    if not value:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("message"), str):
        return None
    return {"message": found["message"], "link": str(found.get("link") or "")}


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Template:
    notice = _take_notice(request)
    settings: Settings = request.app.state.settings
    cookies = [_notice_cookie(settings, "", 0)] if NOTICE_COOKIE in request.cookies else []
    return Template(
        f"dashboard/{template}",
        context={**context, "notice": notice},
        status_code=status_code,
        headers=HEADERS,
        cookies=cookies,
    )


def _base(publication: Publication, section: str) -> str:
    return f"{PREFIX}/{publication.slug}" + ("" if section == "overview" else f"/{section}")


def _cursor(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError as exc:
        raise BadRequest("That page link is not one of ours; start again from the first page.") from exc


def _id(value: str, what: str) -> UUID:
    """A path's id; one that is not a UUID names nothing here (a page, not the router's JSON 404)."""
    try:
        return UUID(value)
    except ValueError as exc:
        raise NotFound(f"There is no such {what}.") from exc


def _query(**params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return ("?" + urlencode(kept)) if kept else ""


# --- what the pages show ---------------------------------------------------------------------


def _period_label(start: datetime, interval: str, *, short: bool, first: bool = False) -> str:
    if interval == "week":
        return short_day(start) if short else "week of " + day(start)
    if short:
        return month(start, short=True, with_year=first or start.month == 1)
    return month(start)


def overview_context(publication: Publication, series: Series) -> dict[str, Any]:
    currency = series.currency
    points = series.points
    labels = [_period_label(p.period_start, series.interval, short=False) for p in points]
    short = [
        _period_label(p.period_start, series.interval, short=True, first=i == 0) for i, p in enumerate(points)
    ]

    def mrr_of(p: Point) -> int:
        return int(p.mrr_by_currency.get(currency, 0))

    def fmt_money(v: int) -> str:
        return money(v, currency)

    def chart(
        make: Callable[..., charts.Chart],
        chart_id: str,
        title: str,
        values: list[tuple[str, list[int]]],
        fmt: Callable[[int], str] = str,
    ) -> charts.Chart:
        return make(chart_id, title, labels, values, fmt, axis_labels=short)

    per = "week" if series.interval == "week" else "month"
    figures = [
        chart(
            charts.line_chart,
            "active-members",
            "Active members",
            [("Active members", [p.active_members for p in points])],
        ),
        chart(
            charts.line_chart,
            "mrr",
            "Monthly recurring revenue",
            [("MRR", [mrr_of(p) for p in points])],
            fmt_money,
        ),
        chart(
            charts.bar_chart,
            "new-churned",
            f"New and churned members by {per}",
            [("New", [p.new_members for p in points]), ("Churned", [p.churned_members for p in points])],
        ),
        chart(
            charts.line_chart,
            "trials-past-due",
            "Trials and past-due subscriptions",
            [("Trials", [p.trials for p in points]), ("Past due", [p.past_due for p in points])],
        ),
    ]
    last = points[-1]
    others = [money(v, c) for c, v in sorted(last.mrr_by_currency.items()) if c != currency and v]
    rows = [
        {
            "label": label,
            "active": p.active_members,
            "new": p.new_members,
            "churned": p.churned_members,
            "mrr": fmt_money(mrr_of(p)),
            "paying": p.paying,
            "trials": p.trials,
            "past_due": p.past_due,
        }
        for label, p in zip(labels, points, strict=True)
    ]
    return {
        "publication": publication,
        "section": "overview",
        "interval": series.interval,
        "per": per,
        "now": {
            "active": last.active_members,
            "mrr": fmt_money(mrr_of(last)),
            "new": last.new_members,
            "churned": last.churned_members,
            "trials": last.trials,
            "past_due": last.past_due,
            "paying": last.paying,
        },
        "other_currencies": others,
        "charts": figures,
        "rows": rows,
        "generated": day_and_time(series.generated_at),
    }


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


class DashboardPages(Controller):
    path = PREFIX
    tags = ["dashboard"]
    include_in_schema = False
    dependencies = {"publication": staff_publication()}
    exception_handlers = {TollgateError: error_page, HTTPException: error_page, Exception: error_page}

    # --- the reader's publications ---

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        reader: NamedDependency[Reader],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        mine = await PublicationService(db_session).staffed_by(reader.id)
        return page(request, "index.html", {"publications": mine, "reader": reader, "section": None})

    # --- overview: the numbers over time ---

    @get("/{slug:str}")
    async def overview(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        interval: FromQuery[str] = "month",
    ) -> Template:
        chosen: Interval = "week" if interval == "week" else "month"
        series = await StatsService(db_session).series(publication, interval=chosen, periods=12)
        return page(request, "overview.html", overview_context(publication, series))

    # --- tiers and prices ---

    async def _tiers_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        db_session: AsyncSession,
        plans: PlanService,
        *,
        error: TollgateError | None = None,
        form: dict[str, str] | None = None,
    ) -> Template:
        tiers = await plans.tiers(publication.id, include_archived=True)
        live = await DashboardService(db_session).live_subscriptions_by_tier(publication)
        context = {
            "publication": publication,
            "section": "tiers",
            "tiers": [t for t in tiers if t.archived_at is None],
            "archived": [t for t in tiers if t.archived_at is not None],
            "live": live,
            "price_words": price_words,
            "error": error.detail if error else "",
            "form": form or {"currency": "usd", "trial_days": "0"},
        }
        return page(request, "tiers.html", context, status_code=error.status_code if error else 200)

    @get("/{slug:str}/tiers")
    async def tiers(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        plans: NamedDependency[PlanService],
    ) -> Template:
        return await self._tiers_page(request, publication, db_session, plans)

    @post("/{slug:str}/tiers", status_code=303, guards=[same_origin])
    async def create_tier(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        typed = {
            k: str(form.get(k) or "")
            for k in ("name", "description", "monthly", "yearly", "currency", "trial_days")
        }
        try:
            data = TierForm.read(form)
            tier = await plans.create_tier(
                publication,
                name=data.name,
                description=data.description,
                keys=None,
                trial_days=data.trial_days,
            )
            for price in data.prices:
                await plans.add_price(
                    tier, interval=price.interval, currency=price.currency, unit_amount=price.unit_amount
                )
        except TollgateError as exc:
            return await self._tiers_page(request, publication, db_session, plans, error=exc, form=typed)
        offered = " and ".join(price_words(p.unit_amount, p.currency, p.interval) for p in data.prices)
        return done(
            settings, _base(publication, "tiers"), f"The tier “{tier.name}” is on offer at {offered}."
        )

    @post("/{slug:str}/tiers/{tier_id:str}/prices", status_code=303, guards=[same_origin])
    async def add_price(
        self,
        request: Request[Any, Any, Any],
        tier_id: FromPath[str],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            tier = await plans.tier(_id(tier_id, "tier"), publication.id)
            price = read_added_price(await request.form())
            made = await plans.add_price(
                tier, interval=price.interval, currency=price.currency, unit_amount=price.unit_amount
            )
        except TollgateError as exc:
            return await self._tiers_page(request, publication, db_session, plans, error=exc)
        words = price_words(made.unit_amount, made.currency, made.interval)
        return done(
            settings,
            _base(publication, "tiers"),
            f"“{tier.name}” now costs {words}; the price it replaces is archived.",
        )

    @post("/{slug:str}/tiers/{tier_id:str}/archive", status_code=303, guards=[same_origin])
    async def archive_tier(
        self,
        request: Request[Any, Any, Any],
        tier_id: FromPath[str],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            tier = await plans.archive_tier(await plans.tier(_id(tier_id, "tier"), publication.id))
        except TollgateError as exc:
            return await self._tiers_page(request, publication, db_session, plans, error=exc)
        return done(
            settings,
            _base(publication, "tiers"),
            f"“{tier.name}” is archived: no one new can buy it; its subscribers keep what they have.",
        )

    @post(
        "/{slug:str}/tiers/{tier_id:str}/prices/{price_id:str}/archive",
        status_code=303,
        guards=[same_origin],
    )
    async def archive_price(
        self,
        request: Request[Any, Any, Any],
        tier_id: FromPath[str],
        price_id: FromPath[str],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        plans: NamedDependency[PlanService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            tier = await plans.tier(_id(tier_id, "tier"), publication.id)
            price = next((p for p in tier.prices if p.id == _id(price_id, "price")), None)
            if price is None:
                raise NotFound("That price is not one of this tier's.")
            await plans.archive_price(price)
        except TollgateError as exc:
            return await self._tiers_page(request, publication, db_session, plans, error=exc)
        words = price_words(price.unit_amount, price.currency, price.interval)
        return done(
            settings,
            _base(publication, "tiers"),
            f"The price {words} of “{tier.name}” is archived: no one new can buy it; subscribers keep it.",
        )

    # --- members and subscribers ---

    @get("/{slug:str}/members")
    async def members(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        source: FromQuery[str] = "",
        q: FromQuery[str] = "",
        cursor: FromQuery[str] = "",
    ) -> Template:
        q = q.strip()[:200]
        rows: list[dict[str, Any]] = []
        next_cursor, more_matches = None, False
        if q:
            matches, more_matches = await DashboardService(db_session).search(publication, q)
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
            found, after = await MemberService(db_session).members(
                publication, source=source or None, after=_cursor(cursor), limit=PAGE_SIZE
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
            "next_page": _base(publication, "members") + _query(source=source, cursor=next_cursor)
            if next_cursor
            else "",
            "first_page": _base(publication, "members") + _query(source=source) if cursor else "",
            "csv": f"/api/publications/{publication.slug}/members.csv",
        }
        return page(request, "members.html", context)

    @staticmethod
    def _member_row(
        reader_id: UUID, email: str, name: str, sources: list[str], keys: list[str], until: datetime | None
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
        db_session: NamedDependency[AsyncSession],
        plans: NamedDependency[PlanService],
        tier: FromQuery[str] = "",
        status: FromQuery[str] = "",
        q: FromQuery[str] = "",
        cursor: FromQuery[str] = "",
    ) -> Template:
        q = q.strip()[:200]
        tier_id = _cursor(tier)
        rows: list[dict[str, Any]] = []
        next_cursor, more_matches = None, False
        if q:
            matches, more_matches = await DashboardService(db_session).search(publication, q)
            rows = [
                subscriber_row(s, m.reader)
                for m in matches
                for s in m.subscriptions
                if (tier_id is None or s.tier_id == tier_id) and (not status or s.status == status)
            ]
        else:
            found, after = await MemberService(db_session).subscribers(
                publication, tier_id=tier_id, status=status or None, after=_cursor(cursor), limit=PAGE_SIZE
            )
            rows = [subscriber_row(s, r) for s, r in found]
            next_cursor = str(after) if after else None
        base = _base(publication, "subscribers")
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
            "next_page": base + _query(tier=tier, status=status, cursor=next_cursor) if next_cursor else "",
            "first_page": base + _query(tier=tier, status=status) if cursor else "",
        }
        return page(request, "subscribers.html", context)

    @get("/{slug:str}/readers/{reader_id:str}")
    async def reader_history(
        self,
        request: Request[Any, Any, Any],
        reader_id: FromPath[str],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        rid = _id(reader_id, "reader")
        reader = await db_session.get(Reader, rid)
        grants, subs = await MemberService(db_session).history(publication, rid)
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

    # --- comps ---

    async def _comps_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        db_session: AsyncSession,
        *,
        error: TollgateError | None = None,
        form: dict[str, Any] | None = None,
    ) -> Template:
        dashboard = DashboardService(db_session)
        comps = await CompService(db_session).of_publication(publication)
        readers = await dashboard.readers(c.reader_id for c in comps)
        now = utcnow()
        rows = []
        for c in comps:
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
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        return await self._comps_page(request, publication, db_session)

    @post("/{slug:str}/comps", status_code=303, guards=[same_origin])
    async def give_comp(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        readers: NamedDependency[ReaderService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        typed: dict[str, Any] = {
            "email": str(form.get("email") or ""),
            "last_day": str(form.get("last_day") or ""),
            "note": str(form.get("note") or ""),
            "keys": [k for k in form.getall("keys") if isinstance(k, str)] if "keys" in form else [],
        }
        try:
            keys = await DashboardService(db_session).keys_on_offer(publication)
            data = CompForm.read(form, keys, today=utcnow().date())
            recipient, _ = await readers.get_or_create(data.email)
            await CompService(db_session).give(
                publication, recipient, keys=data.keys or None, until=data.until, note=data.note
            )
        except TollgateError as exc:
            return await self._comps_page(request, publication, db_session, error=exc, form=typed)
        # The form's last day is given whole: the comp ends at the midnight after it.
        ends = f" through {day(data.until - timedelta(days=1))}" if data.until else " with no end date"
        return done(settings, _base(publication, "comps"), f"{recipient.email} has a comp{ends}.")

    @post("/{slug:str}/comps/{comp_id:str}/end", status_code=303, guards=[same_origin])
    async def end_comp(
        self,
        request: Request[Any, Any, Any],
        comp_id: FromPath[str],
        publication: NamedDependency[Publication],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            comp = await CompService(db_session).end(publication, comp_id)
        except TollgateError as exc:
            return await self._comps_page(request, publication, db_session, error=exc)
        reader = await db_session.get(Reader, comp.reader_id)
        who = reader.email if reader else "the reader"
        return done(
            settings, _base(publication, "comps"), f"The comp for {who} is ended; access it gave stops now."
        )

    # --- friend links ---

    async def _links_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        friend_links: FriendLinkService,
        *,
        error: TollgateError | None = None,
        story_id: str = "",
    ) -> Template:
        links = await friend_links.of_publication(publication, include_revoked=True)
        rows = [
            {
                "id": link.id,
                "story_id": link.story_id,
                "hint": link.hint,
                "made_by": link.created_by.display_name or link.created_by.email,
                "made_as": "staff" if link.made_as == MadeAs.STAFF else "the story's author",
                "made": day_and_time(link.created_at),
                "revoked": day_and_time(link.revoked_at) if link.revoked_at else "",
            }
            for link in links
        ]
        context = {
            "publication": publication,
            "section": "friend-links",
            "rows": rows,
            "error": error.detail if error else "",
            "story_id": story_id or request.query_params.get("story", ""),
        }
        return page(request, "friend_links.html", context, status_code=error.status_code if error else 200)

    @get("/{slug:str}/friend-links")
    async def friend_links_page(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        friend_links: NamedDependency[FriendLinkService],
    ) -> Template:
        return await self._links_page(request, publication, friend_links)

    @post("/{slug:str}/friend-links", status_code=303, guards=[same_origin])
    async def create_friend_link(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        friend_links: NamedDependency[FriendLinkService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        try:
            story_id = read_story_id(form)
            link, code = await friend_links.create(publication, story_id, reader, MadeAs.STAFF)
        except TollgateError as exc:
            return await self._links_page(
                request, publication, friend_links, error=exc, story_id=str(form.get("story_id") or "")
            )
        url = f"{settings.public_url}/stories/{link.story_id}?{urlencode({'friend': code})}"
        return done(
            settings,
            _base(publication, "friend-links"),
            f"A friend link to “{story_id}” is made. Copy it now: it is shown only this once.",
            link=url,
        )

    @post("/{slug:str}/friend-links/{link_id:str}/revoke", status_code=303, guards=[same_origin])
    async def revoke_friend_link(
        self,
        request: Request[Any, Any, Any],
        link_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        friend_links: NamedDependency[FriendLinkService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            link = await friend_links.revoke(
                await friend_links.in_publication(publication, _id(link_id, "friend link")), reader
            )
        except TollgateError as exc:
            return await self._links_page(request, publication, friend_links, error=exc)
        return done(
            settings,
            _base(publication, "friend-links"),
            f"The friend link to “{link.story_id}” ending in {link.hint} is revoked; it opens nothing now.",
        )

    # --- anything else under a publication: a page in words ---

    @get("/{slug:str}/{rest:path}")
    async def not_found(self, publication: NamedDependency[Publication]) -> Template:
        raise NotFound(f"The dashboard of {publication.name} has no page at this address.")
