"""Bringing members over from Ghost, Substack or a plain CSV, and adopting their Stripe subscriptions.

`PriceImport` lists the prices in the Stripe account and maps one to a tier: a `Price` row of that
tier carrying the Stripe price's id, archived (kept for the subscriptions on it, not offered to new
readers). That is all adoption needs: `SubscriptionService.sync` takes as ours a subscription
whose customer is a reader's `StripeCustomer` and whose price is one of our rows, so linking the
customer and syncing adopts it (no new subscription, no charge), and from then on its webhooks
and `membership stripe reconcile` keep it right.

`MemberImport.run` first plans every row (reading the database and Stripe, writing nothing): what
it would create or match, and why a row is skipped. A dry run stops there. Otherwise it writes the
rows that passed, all in the caller's one transaction: a row that fails when written stops the run
(`ImportFailed`) and the caller rolls back, so nothing is ever half-imported. By email it is
idempotent: an imported reader is matched, their comp is the same one (`CompService.imported_id`),
a linked customer and an adopted subscription are found, so importing again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.comps.services import CompService
from membership.imports.formats import Format, Row, parse
from membership.lib.clock import utcnow
from membership.lib.stripe_client import RemotePrice, RemoteSubscription, StripeApi
from membership.plans.models import ADOPTED, Price, Tier
from membership.plans.services import PlanService
from membership.publications.models import Publication
from membership.readers.models import Reader
from membership.readers.services import ReaderService, normalise_email
from membership.settings import Settings
from membership.subscriptions.models import StripeCustomer, Subscription
from membership.subscriptions.services import NotOurs, NotYetKnown, SubscriptionService
from membership.subscriptions.states import FINAL_STATUSES, SubscriptionStatus
from tollgate_common.problems import BadRequest, Conflict, NotFound, TollgateError
from tollgate_common.words import count, day

Progress = Callable[[int, int], None]  # (rows done, rows in all)


class ImportFailed(Conflict):
    """A row that passed the plan failed when written; the caller rolls the whole run back."""


# --- prices --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundPrice:
    """A recurring price in the Stripe account and the tier it maps to (None: not mapped)."""

    remote: RemotePrice
    tier: Tier | None

    @property
    def made_by_tollgate(self) -> bool:
        return "tollgate_price_id" in self.remote.metadata


class PriceImport:
    def __init__(self, session: AsyncSession, stripe: StripeApi) -> None:
        self.db = session
        self.stripe = stripe

    async def found(self) -> list[FoundPrice]:
        """Every recurring price in the Stripe account, newest first, with its tier if mapped."""
        rows = await self.db.scalars(select(Price).where(Price.stripe_price_id.is_not(None)))
        mapped = {p.stripe_price_id: p.tier for p in rows}
        return [
            FoundPrice(remote, mapped.get(remote.id))
            async for remote in self.stripe.prices()
            if remote.interval is not None
        ]

    async def map(self, stripe_price_id: str, tier: Tier) -> tuple[Price, bool]:
        """The tier takes the Stripe price's subscribers; and whether that changed anything.

        A price no adopted subscription is on yet may move to another tier; after that it stays."""
        remote = await self.stripe.price(stripe_price_id)
        if remote is None:
            raise NotFound(f"Stripe has no price {stripe_price_id}; `membership import prices` lists them.")
        if remote.interval not in ("month", "year") or remote.interval_count != 1:
            every = f"{remote.interval_count} {remote.interval}" if remote.interval else "once"
            raise BadRequest(
                f"{remote.id} is charged every {every}; Tollgate's tiers take monthly or yearly prices only."
            )
        if not remote.unit_amount:
            raise BadRequest(f"{remote.id} has no amount (free or metered); a tier takes a paying price.")
        price = await self.db.scalar(select(Price).where(Price.stripe_price_id == remote.id))
        if price is not None:
            if price.tier_id == tier.id:
                return price, False
            if await self.db.scalar(
                select(Subscription.id).where(Subscription.price_id == price.id).limit(1)
            ):
                raise Conflict(
                    f"{remote.id} already maps to {price.tier.name}, and subscriptions on it are adopted."
                )
            price.tier_id = tier.id
            await self.db.flush()
            await self.db.refresh(price, ["tier"])
            return price, True
        price = Price(
            tier=tier,
            interval=remote.interval,
            currency=remote.currency,
            unit_amount=remote.unit_amount,
            lookup_key=f"{ADOPTED}{remote.id}"[:200],
            stripe_price_id=remote.id,
            # Kept for the subscriptions on it; new readers are offered the tier's own prices.
            archived_at=utcnow(),
        )
        self.db.add(price)
        await self.db.flush()
        return price, True


async def tier_named(plans: PlanService, publication: Publication, name: str) -> Tier:
    """One of the publication's tiers, by name (any case) or id."""
    tiers = await plans.tiers(publication.id)
    for tier in tiers:
        if tier.name.casefold() == name.strip().casefold() or str(tier.id) == name.strip():
            return tier
    names = ", ".join(t.name for t in tiers) or "none yet"
    raise NotFound(f"{publication.name} has no tier “{name}” (its tiers: {names}).")


# --- members -------------------------------------------------------------------------------


class Outcome(StrEnum):
    CREATE = "create"  # a new reader
    MATCH = "match"  # a reader we have (by email): what is missing is added
    SKIP = "skip"  # a bad row: nothing of it is imported


@dataclass
class RowReport:
    """What importing does (or did) for one line; a matched row that does nothing is already in."""

    line: int
    email: str
    outcome: Outcome
    does: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class ImportReport:
    format: Format
    dry_run: bool
    rows: list[RowReport]

    def of(self, outcome: Outcome) -> list[RowReport]:
        return [r for r in self.rows if r.outcome is outcome]

    @property
    def unchanged(self) -> int:
        return sum(1 for r in self.of(Outcome.MATCH) if not r.does)

    def summary(self) -> str:
        created, matched, skipped = (len(self.of(o)) for o in Outcome)
        verb = (
            ("would create", "would match", "would skip")
            if self.dry_run
            else ("created", "matched", "skipped")
        )
        return (
            f"{count(len(self.rows), 'row')} ({self.format}): {verb[0]} {count(created, 'reader')}, "
            f"{verb[1]} {count(matched, 'reader')} ({self.unchanged} already imported), "
            f"{verb[2]} {count(skipped, 'row')}."
        )


@dataclass
class _Plan:
    row: Row
    report: RowReport
    email: str = ""
    reader: Reader | None = None
    customer: str | None = None
    link: bool = False
    comp_keys: set[str] = field(default_factory=set)
    comp_until: datetime | None = None
    adopt: list[RemoteSubscription] = field(default_factory=list)


class _Skip(Exception):
    """This row is skipped, for the reason given."""


class MemberImport:
    def __init__(self, session: AsyncSession, settings: Settings, stripe: StripeApi) -> None:
        self.db = session
        self.stripe = stripe
        self.readers = ReaderService(session=session)
        self.comps = CompService(session)
        self.plans = PlanService(session, stripe)
        self.subscriptions = SubscriptionService(session, settings, stripe)

    async def run(
        self,
        publication: Publication,
        raw: bytes,
        *,
        chosen: Format = Format.AUTO,
        comp_tier: str | None = None,
        dry_run: bool,
        progress: Progress | None = None,
    ) -> ImportReport:
        found, rows = parse(raw, chosen)
        tiers = await self.plans.tiers(publication.id)
        default = await tier_named(self.plans, publication, comp_tier) if comp_tier else None
        if default is None and len(tiers) == 1:
            default = tiers[0]
        total = len(rows) * (1 if dry_run else 2)
        seen: dict[str, int] = {}
        plans: list[_Plan] = []
        for row in rows:
            plan = _Plan(row, RowReport(row.line, row.email, Outcome.SKIP))
            try:
                await self._plan(publication, plan, tiers, default, seen)
            except _Skip as skip:
                plan.report.outcome, plan.report.does, plan.report.reason = Outcome.SKIP, [], str(skip)
            plans.append(plan)
            if progress:
                progress(len(plans), total)
        if not dry_run:
            for done, plan in enumerate(plans, start=len(plans) + 1):
                if plan.report.outcome is not Outcome.SKIP:
                    await self._write(publication, plan)
                if progress:
                    progress(done, total)
        return ImportReport(found, dry_run, [p.report for p in plans])

    # Planning: reads only ---------------------------------------------------------------

    async def _plan(
        self,
        publication: Publication,
        plan: _Plan,
        tiers: list[Tier],
        default: Tier | None,
        seen: dict[str, int],
    ) -> None:
        row, does = plan.row, plan.report.does
        if row.problem:
            raise _Skip(row.problem)
        if not row.email:
            raise _Skip("no email address")
        try:
            plan.email = normalise_email(row.email)
        except BadRequest:
            raise _Skip(f"“{row.email[:80]}” is not an email address") from None
        plan.report.email = plan.email
        if (first := seen.setdefault(f"email:{plan.email}", row.line)) != row.line:
            raise _Skip(f"the same email as line {first}")
        plan.reader = await self.readers.get_one_or_none(email=plan.email)
        plan.report.outcome = Outcome.CREATE if plan.reader is None else Outcome.MATCH
        named = [_tier(tiers, name) for name in row.tiers]
        if row.comp:
            await self._plan_comp(publication, plan, named or ([default] if default else []), tiers)
        customer = row.customer or (await self._customer_by_email(plan.email) if row.find_customer else None)
        if customer:
            if (first := seen.setdefault(f"customer:{customer}", row.line)) != row.line:
                raise _Skip(f"the same Stripe customer ({customer}) as line {first}")
            await self._plan_customer(plan, customer)
        if plan.reader is None:
            does.insert(0, "a new reader" + (f" named {row.name}" if row.name else ""))

    async def _plan_comp(
        self, publication: Publication, plan: _Plan, tiers: list[Tier], every: list[Tier]
    ) -> None:
        if not tiers:
            names = ", ".join(t.name for t in every) or "none yet"
            raise _Skip(f"a comp, but of which tier? (tiers: {names}; choose one for comps without a tier)")
        until = plan.row.comp_until
        what = " and ".join(t.name for t in tiers)
        if until is not None and until <= utcnow():
            plan.report.does.append(f"no comp: it ended on {day(until)}")
            return
        keys = {k for t in tiers for k in t.entitlement_keys}
        if plan.reader is not None:
            given = await self.comps.find(CompService.imported_id(publication, plan.reader))
            if given is not None and given.ended_at is not None:
                plan.report.does.append(f"no comp: the imported one was ended on {day(given.ended_at)}")
                return
            if given is not None and set(given.keys) == keys and given.until == until:
                return
        plan.comp_keys, plan.comp_until = keys, until
        plan.report.does.append(f"a comp of {what} " + (f"until {day(until)}" if until else "with no end"))

    async def _customer_by_email(self, email: str) -> str:
        found = await self.stripe.customers_with_email(email)
        if not found:
            raise _Skip("paid, but no Stripe customer has this email (add a stripe_customer_id column)")
        if len(found) > 1:
            raise _Skip(
                f"paid, and {len(found)} Stripe customers have this email: name one in stripe_customer_id"
            )
        return found[0]

    async def _plan_customer(self, plan: _Plan, customer: str) -> None:
        if not await self.stripe.customer_exists(customer):
            raise _Skip(f"Stripe has no customer {customer}")
        owner = await self.db.scalar(
            select(StripeCustomer.reader_id).where(StripeCustomer.stripe_customer_id == customer)
        )
        if owner is not None and (plan.reader is None or owner != plan.reader.id):
            raise _Skip(f"Stripe customer {customer} is already another reader's")
        if plan.reader is not None:
            own = await self.subscriptions.customer_of(plan.reader)
            if own not in (None, customer):
                raise _Skip(f"this reader already pays through Stripe customer {own}, not {customer}")
        plan.customer, plan.link = customer, owner is None
        if plan.link:
            plan.report.does.append(f"link Stripe customer {customer}")
        for remote in await self.stripe.subscriptions_of(customer):
            tier = await self._tier_of(remote)
            if tier is None:
                if SubscriptionStatus(remote.status) in FINAL_STATUSES:
                    continue  # over, and no tier takes it: nothing to carry over
                raise _Skip(
                    f"Stripe subscription {remote.id} ({remote.status}) is on price {remote.price_id}, "
                    "which maps to no tier: map it first "
                    f"(`membership import map-price {remote.price_id} TIER`)"
                )
            if await self.db.scalar(
                select(Subscription.id).where(Subscription.stripe_subscription_id == remote.id)
            ):
                continue  # adopted (or sold) before: reconcile keeps it right
            plan.adopt.append(remote)
            plan.report.does.append(f"adopt {remote.id} ({remote.status}) into {tier.name}")

    async def _tier_of(self, remote: RemoteSubscription) -> Tier | None:
        """The tier a subscription belongs to: its price's, or ours by metadata (sold by Tollgate)."""
        if remote.price_id:
            price = await self.db.scalar(select(Price).where(Price.stripe_price_id == remote.price_id))
            if price is not None:
                return price.tier
        tier_id = remote.metadata.get("tollgate_tier_id")
        try:
            return await self.db.get(Tier, UUID(tier_id)) if tier_id else None
        except ValueError:
            return None

    # Writing: in the caller's transaction -------------------------------------------------

    async def _write(self, publication: Publication, plan: _Plan) -> None:
        row = plan.row
        try:
            reader, created = await self.readers.get_or_create(plan.email, display_name=row.name[:100])
            if created and row.signed_up_at is not None and row.signed_up_at < utcnow():
                reader.created_at = row.signed_up_at
            if plan.link and plan.customer:
                self.db.add(StripeCustomer(reader_id=reader.id, stripe_customer_id=plan.customer))
                await self.db.flush()
            if plan.comp_keys:
                await self.comps.give(
                    publication,
                    reader,
                    keys=sorted(plan.comp_keys),
                    until=plan.comp_until,
                    note="imported",
                    comp_id=CompService.imported_id(publication, reader),
                )
            for remote in plan.adopt:
                await self.subscriptions.sync(remote.id, remote=remote)
        except (TollgateError, NotOurs, NotYetKnown) as exc:
            reason = exc.detail if isinstance(exc, TollgateError) else str(exc)
            raise ImportFailed(
                f"Nothing was imported: line {row.line} ({plan.email}) failed: {reason}."
            ) from exc


def _tier(tiers: list[Tier], name: str) -> Tier:
    for tier in tiers:
        if tier.name.casefold() == name.casefold():
            return tier
    names = ", ".join(t.name for t in tiers) or "none yet"
    raise _Skip(f"no tier named “{name[:60]}” (tiers: {names})")
