"""`membership stripe reconcile`: walk all of Stripe's subscriptions and repair local state, then
settle every gift whose checkout we have not heard the end of.

How an operator recovers from anything (lost webhooks, a restored backup, a bug): each
subscription (and each gift) is synced in its own transaction, page by page, with a progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from membership.entitlements.push import job_database
from membership.gifts.models import Gift, GiftState
from membership.gifts.services import GiftService
from membership.lib.stripe_client import StripeApi
from membership.mail.services import Mailer
from membership.offers.services import OfferService
from membership.settings import Settings
from membership.subscriptions.services import NotOurs, NotYetKnown, SubscriptionService


@dataclass
class Report:
    seen: int = 0
    created: int = 0
    changed: int = 0
    not_ours: int = 0
    gifts_settled: int = 0
    changes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        right = self.seen - self.changed - self.not_ours
        return (
            f"Reconciled {self.seen} Stripe subscription(s): {self.created} added, "
            f"{self.changed - self.created} repaired, {right} already right, {self.not_ours} not ours; "
            f"{self.gifts_settled} gift checkout(s) settled."
        )


async def reconcile_all(settings: Settings | None = None, *, show_progress: bool = True) -> Report:
    settings = settings or Settings()
    async with job_database(settings) as alchemy:
        return await _reconcile(alchemy, settings, show_progress)


async def _reconcile(alchemy: SQLAlchemyAsyncConfig, settings: Settings, show_progress: bool) -> Report:
    stripe = StripeApi(settings)
    report = Report()
    columns = (
        TextColumn("Reconciling"),
        BarColumn(),
        TextColumn("{task.completed} subscriptions"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=not show_progress, transient=False) as progress:
        task = progress.add_task("reconcile", total=None)
        async for remote in stripe.all_subscriptions():
            report.seen += 1
            async with alchemy.get_session() as session:
                try:
                    result = await SubscriptionService(session, settings, stripe).sync(
                        remote.id, remote=remote
                    )
                except (NotOurs, NotYetKnown):
                    report.not_ours += 1
                    progress.advance(task)
                    continue
                await session.commit()
            if result.changed:
                report.changed += 1
                report.created += result.created
                verb = "added" if result.created else "repaired"
                report.changes.append(f"{verb} {remote.id} ({remote.status})")
            progress.advance(task)
        await _settle_gifts(alchemy, settings, stripe, report)
        async with alchemy.get_session() as session:
            report.changes += await OfferService(session, stripe).reconcile()
            await session.commit()
    return report


async def _settle_gifts(
    alchemy: SQLAlchemyAsyncConfig, settings: Settings, stripe: StripeApi, report: Report
) -> None:
    """A gift still awaiting payment: Stripe says whether it was paid or abandoned."""
    async with alchemy.get_session() as session:
        waiting = list(
            await session.scalars(
                select(Gift.stripe_checkout_session_id).where(
                    Gift.state == GiftState.AWAITING_PAYMENT, Gift.stripe_checkout_session_id.is_not(None)
                )
            )
        )
    for session_id in waiting:
        async with alchemy.get_session() as session:
            subscriptions = SubscriptionService(session, settings, stripe)
            gifts = GiftService(session, settings, stripe, subscriptions, Mailer(session, settings))
            gift = await gifts.settle(str(session_id))
            await session.commit()
        if gift is not None and gift.state is not GiftState.AWAITING_PAYMENT:
            report.gifts_settled += 1
            report.changes.append(f"gift {gift.id}: {gift.state}")
