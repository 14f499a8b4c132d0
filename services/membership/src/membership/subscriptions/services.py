"""Subscriptions: checkout, cancel and resume, and converging on what Stripe says.

`sync` is the one way local state changes: it fetches the subscription from Stripe (the truth),
updates the mirror, and makes the grants match the access policy. Events are only a signal to
call it, so duplicates and any order of delivery end in the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.services import GrantService, SourceGrants
from membership.lib.clock import utcnow
from membership.lib.stripe_client import RemoteSubscription, StripeApi
from membership.plans.models import Price, Tier
from membership.readers.models import Reader
from membership.settings import Settings
from membership.subscriptions.models import StripeCustomer, Subscription
from membership.subscriptions.policy import SubscriptionState, access
from membership.subscriptions.states import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    CheckoutState,
    SubscriptionStatus,
)
from membership.webhooks.events import EventType, subscription_data
from membership.webhooks.services import Outbox
from tollgate_common.problems import Conflict, NotFound

FIELDS = (
    "status",
    "cancel_at_period_end",
    "current_period_start",
    "current_period_end",
    "trial_start",
    "trial_end",
    "canceled_at",
    "ended_at",
)


class NotYetKnown(Exception):
    """Stripe speaks of a subscription we cannot place yet (its checkout is not recorded): retry."""


class NotOurs(Exception):
    """A subscription Tollgate did not sell: no metadata of ours, a customer and price we never made."""


@dataclass(frozen=True)
class SyncResult:
    subscription: Subscription
    created: bool
    changed: bool


class SubscriptionService:
    def __init__(self, session: AsyncSession, settings: Settings, stripe: StripeApi) -> None:
        self.db = session
        self.settings = settings
        self.stripe = stripe
        self.grants = GrantService(session)

    # Customers and checkout ----------------------------------------------------------------

    async def customer_of(self, reader: Reader) -> str | None:
        found: str | None = await self.db.scalar(
            select(StripeCustomer.stripe_customer_id).where(StripeCustomer.reader_id == reader.id)
        )
        return found

    async def portal_url(self, reader: Reader, return_to: str) -> str | None:
        """Stripe's billing portal for this reader, coming back to `return_to` (a path of ours).

        None when the reader has no billing account yet (never subscribed)."""
        customer = await self.customer_of(reader)
        if customer is None:
            return None
        return await self.stripe.create_portal(
            customer=customer, return_url=f"{self.settings.public_url}{return_to}"
        )

    async def ensure_customer(self, reader: Reader) -> str:
        """One Stripe customer per reader, made once: the idempotency key and a unique row guard it."""
        if found := await self.customer_of(reader):
            return found
        customer_id = await self.stripe.create_customer(reader_id=str(reader.id), email=reader.email)
        try:
            async with self.db.begin_nested():
                self.db.add(StripeCustomer(reader_id=reader.id, stripe_customer_id=customer_id))
        except IntegrityError:
            pass  # a concurrent request recorded the same customer (same idempotency key)
        return customer_id

    async def live_for_tier(self, reader_id: UUID, tier_id: UUID) -> Subscription | None:
        found: Subscription | None = await self.db.scalar(
            select(Subscription).where(
                Subscription.reader_id == reader_id,
                Subscription.tier_id == tier_id,
                Subscription.status.in_(LIVE_STATUSES),
                Subscription.revoked_at.is_(None),
            )
        )
        return found

    async def had_trial(self, reader_id: UUID, tier_id: UUID) -> bool:
        found = await self.db.scalar(
            select(Subscription.id).where(
                Subscription.reader_id == reader_id,
                Subscription.tier_id == tier_id,
                Subscription.trial_start.is_not(None),
            )
        )
        return found is not None

    async def checkout(
        self,
        reader: Reader,
        price: Price,
        *,
        return_to: str,
        offer_id: UUID | None = None,
        promotion_code: str | None = None,
        trial_days: int | None = None,
    ) -> tuple[str, str]:
        """Open Stripe Checkout for a price; through an offer, with its promotion code and its trial
        (`trial_days`: the offer's say; None: the tier's trial, once per reader and tier)."""
        tier = price.tier
        if price.archived_at is not None or tier.archived_at is not None or price.stripe_price_id is None:
            raise NotFound("That price is no longer on offer.")
        if await self.live_for_tier(reader.id, tier.id):
            raise Conflict(f"You already have a live {tier.name} subscription; manage it from your account.")
        customer = await self.ensure_customer(reader)
        if trial_days is None:
            trial_days = 0 if await self.had_trial(reader.id, tier.id) else tier.trial_days
        back = f"{self.settings.public_url}{return_to}"
        glue = "&" if "?" in return_to else "?"
        metadata = {
            "tollgate_reader_id": str(reader.id),
            "tollgate_tier_id": str(tier.id),
            "tollgate_price_id": str(price.id),
        } | ({"tollgate_offer_id": str(offer_id)} if offer_id else {})
        # The same request by the same reader within a minute is one checkout (a double click), not two.
        minute = int(utcnow().timestamp() // 60)
        return await self.stripe.create_checkout(
            idempotency_scope=f"checkout-{reader.id}-{minute}",
            customer=customer,
            stripe_price_id=price.stripe_price_id,
            metadata=metadata,
            trial_days=trial_days,
            success_url=f"{back}{glue}checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{back}{glue}checkout=canceled",
            promotion_code=promotion_code,
        )

    async def trials_taken(self, reader_id: UUID, publication_id: UUID | None = None) -> list[UUID]:
        """The tiers this reader has already had a free trial of (of one publication, if named)."""
        query = (
            select(Subscription.tier_id)
            .where(Subscription.reader_id == reader_id, Subscription.trial_start.is_not(None))
            .distinct()
        )
        if publication_id is not None:
            query = query.join(Tier, Tier.id == Subscription.tier_id).where(
                Tier.publication_id == publication_id
            )
        return sorted(await self.db.scalars(query))

    async def confirm_checkout(self, reader: Reader, session_id: str) -> CheckoutState:
        """Back from Checkout: ask Stripe how it went, and grant now rather than wait for the webhook.

        Stripe's own advice: fulfil on the success page too, since the webhook may arrive later.
        `sync` is the same convergence the webhook runs, so whichever comes first, the end is one.
        """
        remote = await self.stripe.checkout_session(session_id)
        if remote is None or remote.reader_id != str(reader.id):
            raise NotFound("You have no checkout by that id.")
        if remote.status == "expired":
            return CheckoutState.EXPIRED
        if remote.status != "complete" or remote.subscription is None:
            return CheckoutState.PENDING
        try:
            result = await self.sync(remote.subscription)
        except NotYetKnown:
            return CheckoutState.PENDING
        live = {g.source_id for g in await self.grants.live(reader.id)}
        if remote.subscription in live:
            return CheckoutState.ACTIVE
        # Still paying (3-D Secure, a retry) is pending; cancelled or expired since is over.
        still = LIVE_STATUSES | {SubscriptionStatus.INCOMPLETE}
        return CheckoutState.PENDING if result.subscription.status in still else CheckoutState.ENDED

    # The reader's own subscriptions -----------------------------------------------------------

    async def of_reader(self, reader_id: UUID) -> list[Subscription]:
        query = (
            select(Subscription)
            .where(Subscription.reader_id == reader_id)
            .order_by(Subscription.created_at.desc())
        )
        return list(await self.db.scalars(query))

    async def owned(self, reader_id: UUID, subscription_id: UUID) -> Subscription:
        sub = await self.db.get(Subscription, subscription_id)
        if sub is None or sub.reader_id != reader_id:
            raise NotFound("No such subscription.")
        return sub

    async def set_cancel_at_period_end(self, sub: Subscription, value: bool) -> Subscription:
        if sub.status not in LIVE_STATUSES or sub.revoked_at is not None:
            raise Conflict("This subscription has ended; there is nothing to cancel or resume.")
        remote = await self.stripe.set_cancel_at_period_end(sub.stripe_subscription_id, value)
        return (await self.sync(remote.id, remote=remote)).subscription

    # Converging on Stripe ----------------------------------------------------------------

    async def sync(
        self, stripe_subscription_id: str, *, remote: RemoteSubscription | None = None
    ) -> SyncResult:
        # Lock our row before asking Stripe, so two workers cannot write an older answer last.
        local = await self.db.scalar(
            select(Subscription)
            .where(Subscription.stripe_subscription_id == stripe_subscription_id)
            .with_for_update(of=Subscription)
        )
        remote = remote or await self.stripe.subscription(stripe_subscription_id)
        created = False
        if local is None:
            # Not created when another worker placed it first (then it announced it, not we).
            local, created = await self._place(remote)
        changed = created
        # Stripe's word for the status becomes ours here; one we don't know fails loudly (and retries).
        mirrored = {name: getattr(remote, name) for name in FIELDS} | {
            "status": SubscriptionStatus(remote.status)
        }
        for name, value in mirrored.items():
            if getattr(local, name) != value:
                setattr(local, name, value)
                changed = True
        local.synced_at = utcnow()
        await self.db.flush()
        granted = await self.apply_access(local)
        if changed:
            await self._announce(local, created)
        return SyncResult(local, created, changed or granted)

    async def _announce(self, sub: Subscription, created: bool) -> None:
        """subscription.updated (and offer.redeemed for one bought through an offer), in this transaction."""
        outbox = Outbox(self.db)
        where = [sub.tier.publication_id]
        data = subscription_data(sub)
        await outbox.emit(
            EventType.SUBSCRIPTION_UPDATED, data, publication_ids=where, reader_id=sub.reader_id
        )
        if created and sub.offer_id is not None:
            offer = {"offer_id": str(sub.offer_id), **data}
            await outbox.emit(EventType.OFFER_REDEEMED, offer, publication_ids=where, reader_id=sub.reader_id)

    async def _place(self, remote: RemoteSubscription) -> tuple[Subscription, bool]:
        """A subscription we have not seen: whose and which tier, from our metadata or our ids;
        and whether we made its row (False: another worker did meanwhile)."""
        reader_id = _uuid(remote.metadata.get("tollgate_reader_id")) or await self.db.scalar(
            select(StripeCustomer.reader_id).where(StripeCustomer.stripe_customer_id == remote.customer)
        )
        price = None
        if remote.price_id:
            price = await self.db.scalar(select(Price).where(Price.stripe_price_id == remote.price_id))
        tier_id = _uuid(remote.metadata.get("tollgate_tier_id")) or (price.tier_id if price else None)
        if "tollgate_reader_id" not in remote.metadata and (reader_id is None or price is None):
            raise NotOurs(f"subscription {remote.id} was not sold through Tollgate")
        if reader_id is None or tier_id is None or await self.db.get(Reader, reader_id) is None:
            raise NotYetKnown(f"subscription {remote.id} belongs to no reader or tier we know yet")
        if await self.db.get(Tier, tier_id) is None:
            raise NotYetKnown(f"subscription {remote.id} names tier {tier_id}, which we do not have")
        sub = Subscription(
            reader_id=reader_id,
            tier_id=tier_id,
            price_id=price.id if price else None,
            stripe_subscription_id=remote.id,
            stripe_customer_id=remote.customer,
            status=SubscriptionStatus(remote.status),
            synced_at=utcnow(),
            offer_id=_uuid(remote.metadata.get("tollgate_offer_id")),
        )
        try:
            async with self.db.begin_nested():
                self.db.add(sub)
        except IntegrityError:
            # Another worker placed it first; take theirs, locked.
            found = await self.db.scalar(
                select(Subscription)
                .where(Subscription.stripe_subscription_id == remote.id)
                .with_for_update(of=Subscription)
            )
            if found is None:
                raise
            return found, False
        await self.db.refresh(sub, ["tier"])
        return sub, True

    async def apply_access(self, sub: Subscription) -> bool:
        state = SubscriptionState(
            status=sub.status,
            cancel_at_period_end=sub.cancel_at_period_end,
            current_period_start=sub.current_period_start,
            current_period_end=sub.current_period_end,
            trial_start=sub.trial_start,
            trial_end=sub.trial_end,
            created_at=sub.created_at,
            revoked=sub.revoked_at is not None,
        )
        result = access(
            state,
            now=utcnow(),
            grace=timedelta(days=self.settings.past_due_grace_days),
            leeway=timedelta(hours=self.settings.renewal_leeway_hours),
        )
        # Both sources in one go: a trial turning paid is one change to the reader's tokens, not two.
        return await self.grants.sync_sources(
            sub.reader_id,
            [
                SourceGrants(
                    source=source,
                    source_id=sub.stripe_subscription_id,
                    keys=set(sub.tier.entitlement_keys),
                    live=grant.live,
                    starts_at=grant.starts_at,
                    ends_at=grant.ends_at,
                    revoke=grant.revoke,
                    note=sub.revoke_reason or "",
                )
                for source, grant in result.items()
            ],
        )

    async def revoke(self, stripe_subscription_id: str, reason: str) -> SyncResult:
        """A dispute or a full refund: cancel at Stripe now and end access at once, for good."""
        sub = await self.db.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == stripe_subscription_id)
        )
        remote = await self.stripe.subscription(stripe_subscription_id)
        if sub is None:
            # Place it before cancelling anything: NotOurs or NotYetKnown stop us here, not after.
            await self.sync(stripe_subscription_id, remote=remote)
        if remote.status not in FINAL_STATUSES:
            remote = await self.stripe.cancel_now(stripe_subscription_id)
        result = await self.sync(stripe_subscription_id, remote=remote)
        if result.subscription.revoked_at is None:
            result.subscription.revoked_at = utcnow()
            result.subscription.revoke_reason = reason
            await self.apply_access(result.subscription)
            return SyncResult(result.subscription, result.created, True)
        return result


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None
