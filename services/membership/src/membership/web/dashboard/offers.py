"""Offers: a publication's discounts and free trials on its tiers, with their landing links, what
they brought in, a form to make one and a button to archive one."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.offers.models import Offer, OfferAudience, OfferDuration, OfferKind
from membership.offers.schemas import OfferIn
from membership.offers.services import OfferService, OfferTerms, price_words
from membership.plans.models import Price, Tier
from membership.plans.services import PlanService
from membership.publications.models import Publication
from membership.settings import Settings
from membership.stats.services import monthly, yearly_minor_units
from membership.subscriptions.models import Subscription
from membership.subscriptions.states import SubscriptionStatus
from membership.web.dashboard.pages import DashboardSection, base_of, done, id_of, page
from membership.web.dashboard.words import parse_amount
from membership.web.guards import same_origin
from tollgate_common.problems import BadRequest, NotFound, TollgateError
from tollgate_common.words import day, decimals, money

KINDS = {
    OfferKind.PERCENT_OFF: "A percentage off",
    OfferKind.AMOUNT_OFF: "An amount off",
    OfferKind.FREE_TRIAL: "A free trial",
}
DURATIONS = {
    OfferDuration.ONCE: "The first payment only",
    OfferDuration.REPEATING: "For some months",
    OfferDuration.FOREVER: "For as long as they stay",
}
AUDIENCES = {
    OfferAudience.NEW: "Readers new to the publication",
    OfferAudience.LAPSED: "Readers whose membership has ended",
    OfferAudience.CAMPAIGN: "Anyone with the link",
    OfferAudience.RETENTION: "Members cancelling (offered instead; no link)",
}
# Revenue as the overview counts it: subscriptions paying now, at their monthly list price.
PAYING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
CURRENCY = re.compile(r"^[a-zA-Z]{3}$")
E = TypeVar("E", OfferKind, OfferDuration, OfferAudience)
FIELDS = (
    "tier_id",
    "name",
    "code",
    "description",
    "kind",
    "percent_off",
    "amount_off",
    "currency",
    "duration",
    "duration_in_months",
    "trial_days",
    "audience",
    "max_redemptions",
    "last_day",
)


def _text(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _whole(form: FormMultiDict, name: str, words: str) -> int | None:
    typed = _text(form, name)
    if not typed:
        return None
    if not typed.isdigit() or len(typed) > 9:
        raise BadRequest(f"{words} is a whole number, such as 3.")
    return int(typed)


def _choice(form: FormMultiDict, name: str, choices: type[E], words: str) -> E:
    typed = _text(form, name)
    found = next((c for c in choices if c.value == typed), None)
    if found is None:
        raise BadRequest(words)
    return found


def read_offer(form: FormMultiDict, tiers: list[Tier], *, today: date) -> tuple[Tier, OfferTerms]:
    """The offer form as terms for `OfferService.create`, or a sentence on what is wrong."""
    tier = next((t for t in tiers if str(t.id) == _text(form, "tier_id")), None)
    if tier is None:
        raise BadRequest("Choose the tier the offer is on.")
    name, code, description = _text(form, "name"), _text(form, "code"), _text(form, "description")
    if not name:
        raise BadRequest("Give the offer a name readers will recognise, such as “Spring sale”.")
    kind = _choice(
        form,
        "kind",
        OfferKind,
        "Choose what the offer gives: a percentage off, an amount off or a free trial.",
    )
    audience = _choice(form, "audience", OfferAudience, "Choose who the offer is for.")
    percent_off = amount_off = None
    currency = None
    duration, months, trial_days = OfferDuration.ONCE, None, 0
    if kind is OfferKind.PERCENT_OFF:
        percent_off = _whole(form, "percent_off", "The percentage off")
        if percent_off is None:
            raise BadRequest("Give the percentage off, from 1 to 100.")
    elif kind is OfferKind.AMOUNT_OFF:
        currency = (_text(form, "currency") or "usd").lower()
        if not CURRENCY.match(currency):
            raise BadRequest("The currency is a three-letter code, such as USD or EUR.")
        typed = _text(form, "amount_off")
        amount_off = parse_amount(typed, currency) if typed else None
        if amount_off is None:
            example = {0: "500", 3: "1.000"}.get(decimals(currency), "1.00")
            raise BadRequest(f"The amount off “{typed}” is not an amount; write it like {example}.")
    else:
        trial_days = _whole(form, "trial_days", "The free trial's days") or 0
    if kind is not OfferKind.FREE_TRIAL:
        duration = _choice(form, "duration", OfferDuration, "Choose how long the discount lasts.")
        if duration is OfferDuration.REPEATING:
            months = _whole(form, "duration_in_months", "The number of months")
    ends_at = None
    last_day = _text(form, "last_day")
    if last_day:
        try:
            chosen = date.fromisoformat(last_day)
        except ValueError as exc:
            raise BadRequest("The last day is a date, such as 2027-01-31.") from exc
        if chosen < today:
            raise BadRequest("The last day has passed; choose today or a later day, or leave it empty.")
        # Through the whole of the last day, UTC.
        ends_at = datetime.combine(chosen + timedelta(days=1), time(), tzinfo=UTC)
    data = OfferIn(
        tier_id=tier.id,
        name=name,
        code=code,
        kind=kind,
        audience=audience,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency,
        duration=duration,
        duration_in_months=months,
        trial_days=trial_days,
        # The tier's trial before a discount; a member cancelling gets no trial.
        keep_tier_trial=(
            "keep_tier_trial" in form
            and kind is not OfferKind.FREE_TRIAL
            and audience is not OfferAudience.RETENTION
        ),
        max_redemptions=_whole(form, "max_redemptions", "The limit on redemptions"),
        ends_at=ends_at,
        description=description,
    )
    try:  # the API's own schema, so the form can do nothing the API refuses
        msgspec.convert(msgspec.to_builtins(data), OfferIn)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"The offer was not filled in as expected: {exc}.") from exc
    return tier, data.terms()


def first_price(offer: Offer) -> Price | None:
    """The price the list describes the offer by: the tier's first on sale (in the offer's currency)."""
    live = [p for p in offer.tier.prices if p.archived_at is None and p.stripe_price_id is not None]
    if offer.currency:
        live = [p for p in live if p.currency == offer.currency] or live
    return live[0] if live else None


def gives_words(offer: Offer) -> str:
    price = first_price(offer)
    if price is not None:
        return price_words(offer, price)
    if offer.kind is OfferKind.PERCENT_OFF:
        return f"{offer.percent_off}% off"
    if offer.kind is OfferKind.AMOUNT_OFF and offer.currency and offer.amount_off:
        return f"{money(offer.amount_off, offer.currency)} off"
    return f"a {offer.trial_days}-day free trial"


def state_words(offer: Offer, now: datetime) -> tuple[str, str]:
    """When the offer ends, and where it stands."""
    # The form's last day is given whole: the offer ends at the midnight after it.
    ends = f"Through {day(offer.ends_at - timedelta(days=1))}" if offer.ends_at else "No end date"
    if offer.archived_at is not None:
        return ends, f"Archived on {day(offer.archived_at)}"
    if offer.ends_at is not None and offer.ends_at <= now:
        return ends, "Ended"
    return ends, "Open"


class OfferPages(DashboardSection):
    # --- offers ---

    async def _revenue(self, db: AsyncSession, offer_ids: list[UUID]) -> dict[UUID, list[str]]:
        """Per offer, the monthly list price of the subscriptions bought through it paying now."""
        found: dict[UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        subs = await db.scalars(
            select(Subscription).where(Subscription.offer_id.in_(offer_ids), Subscription.status.in_(PAYING))
        )
        for sub in subs:
            amount, currency = yearly_minor_units(sub.price)
            if sub.offer_id and currency:
                found[sub.offer_id][currency] += amount
        return {
            offer_id: [money(monthly(v), c) for c, v in sorted(by_currency.items())]
            for offer_id, by_currency in found.items()
        }

    async def _offers_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        plans: PlanService,
        offers: OfferService,
        db: AsyncSession,
        settings: Settings,
        *,
        error: TollgateError | None = None,
        form: dict[str, Any] | None = None,
    ) -> Template:
        tiers = await plans.tiers(publication.id, include_archived=True)
        found = await offers.of_tiers([t.id for t in tiers])
        counts = await offers.redemptions([o.id for o in found])
        revenue = await self._revenue(db, [o.id for o in found])
        now = utcnow()
        rows = []
        for o in found:
            ends, state = state_words(o, now)
            total, live = counts.get(o.id, (0, 0))
            price = first_price(o)
            paying = revenue.get(o.id) or [money(0, price.currency) if price else "None"]
            rows.append(
                {
                    "offer": o,
                    "gives": gives_words(o),
                    "audience": AUDIENCES[o.audience],
                    "redemptions": total,
                    "live": live,
                    "revenue": ", ".join(paying),
                    "ends": ends,
                    "state": state,
                    "open": state == "Open",
                    "link": (
                        ""
                        if o.audience is OfferAudience.RETENTION
                        else f"{settings.public_url}/account/offers/{o.code}"
                    ),
                }
            )
        on_sale = [t for t in tiers if t.archived_at is None]
        context = {
            "publication": publication,
            "section": "offers",
            "rows": rows,
            "tiers": on_sale,
            "kinds": KINDS,
            "durations": DURATIONS,
            "audiences": AUDIENCES,
            "error": error.detail if error else "",
            "form": form
            or {
                "tier_id": str(on_sale[0].id) if on_sale else "",
                "kind": OfferKind.PERCENT_OFF.value,
                "duration": OfferDuration.ONCE.value,
                "audience": OfferAudience.CAMPAIGN.value,
                "currency": "usd",
            },
        }
        return page(request, "offers.html", context, status_code=error.status_code if error else 200)

    @get("/{slug:str}/offers")
    async def offers(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        offers: NamedDependency[OfferService],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Template:
        return await self._offers_page(request, publication, plans, offers, db_session, settings)

    @post("/{slug:str}/offers", status_code=303, guards=[same_origin])
    async def make_offer(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        offers: NamedDependency[OfferService],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        form = await request.form()
        typed: dict[str, Any] = {name: _text(form, name) for name in FIELDS}
        typed["keep_tier_trial"] = "keep_tier_trial" in form
        try:
            tiers = await plans.tiers(publication.id)
            tier, terms = read_offer(form, tiers, today=utcnow().date())
            offer = await offers.create(tier, terms)
        except TollgateError as exc:
            return await self._offers_page(
                request, publication, plans, offers, db_session, settings, error=exc, form=typed
            )
        if offer.audience is OfferAudience.RETENTION:
            return done(
                settings,
                base_of(publication, "offers"),
                f"The offer {offer.name} is made: members of {tier.name} who cancel are offered "
                f"{gives_words(offer)} to stay.",
            )
        return done(
            settings,
            base_of(publication, "offers"),
            f"The offer {offer.name} is made: {gives_words(offer)}. Share its link.",
            f"{settings.public_url}/account/offers/{offer.code}",
        )

    @post("/{slug:str}/offers/{offer_id:str}/archive", status_code=303, guards=[same_origin])
    async def archive_offer(
        self,
        request: Request[Any, Any, Any],
        offer_id: FromPath[str],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        offers: NamedDependency[OfferService],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            offer = await offers.get(id_of(offer_id, "offer"))
            if offer is None or offer.tier.publication_id != publication.id:
                raise NotFound("There is no such offer.")
            await offers.archive(offer)
        except TollgateError as exc:
            return await self._offers_page(
                request, publication, plans, offers, db_session, settings, error=exc
            )
        return done(
            settings,
            base_of(publication, "offers"),
            f"The offer {offer.name} is archived: no one new can take it; "
            "members keep the discount they have.",
        )
