"""Gifts: pricing one, buying it through Stripe Checkout (a one-time payment), delivering its code,
redeeming it, reminding the recipient before it ends, and undoing it when the payment is refunded.

Stripe is the truth for the payment: `settle` asks Stripe how a gift's checkout went, whether the
webhook or the buyer's return gets there first, so both end in the same state. A gift redeemed by
a reader with a paid subscription to its tier becomes free time on that subscription (Stripe's
`trial_end`), so its months are not spent while the reader pays anyway; otherwise it is a `gift`
grant that ends on its own, with no Stripe subscription involved.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from membership.gifts.models import Gift, GiftState, RedeemedAs
from membership.grants.services import GrantService
from membership.grants.states import GrantSource
from membership.lib.clock import utcnow
from membership.lib.stripe_client import StripeApi
from membership.mail.services import Mailer
from membership.plans.models import GIFT_MONTHS, Price, Tier
from membership.readers.models import Reader
from membership.readers.services import normalise_email
from membership.settings import Settings
from membership.subscriptions.models import Subscription
from membership.subscriptions.services import SubscriptionService
from membership.subscriptions.states import SubscriptionStatus
from membership.webhooks.events import EventType, gift_data
from membership.webhooks.services import Outbox
from tollgate_common.months import add_months
from tollgate_common.problems import BadRequest, Conflict, NotFound
from tollgate_common.words import count, day, money

log = structlog.get_logger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by people
MAX_MESSAGE = 500
LATEST_DELIVERY_DAYS = 365


@dataclass(frozen=True)
class GiftOption:
    """One length of one tier, at the price a buyer pays for it."""

    months: int
    amount: int
    currency: str


def new_code() -> str:
    """`GIFT-7KQ3-M9XP-2HTA`: 60 random bits in groups a person can copy."""
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"GIFT-{body[:4]}-{body[4:8]}-{body[8:]}"


def canonical_code(typed: str) -> str:
    """What a reader typed, as we store it: upper case, spaces gone, dashes where they belong."""
    body = "".join(ch for ch in typed.upper() if ch.isalnum()).removeprefix("GIFT")
    return f"GIFT-{body[:4]}-{body[4:8]}-{body[8:]}" if len(body) == 12 else typed.strip().upper()


def gift_amount(price: Price, months: int) -> int:
    """A monthly price times the months; a yearly price pro rata, rounded up to a whole minor unit."""
    if price.interval == "month":
        return price.unit_amount * months
    return math.ceil(price.unit_amount * months / 12)


def options(tier: Tier) -> list[GiftOption]:
    """What the tier can be given for: each offered length in each currency it is sold in
    (its monthly price where it has one, else its yearly one)."""
    if tier.archived_at is not None:
        return []
    by_currency: dict[str, Price] = {}
    for price in tier.prices:
        live = price.archived_at is None and price.stripe_price_id is not None
        if live and (price.currency not in by_currency or price.interval == "month"):
            by_currency[price.currency] = price
    return [
        GiftOption(months, gift_amount(price, months), currency)
        for currency, price in sorted(by_currency.items())
        for months in sorted(set(tier.gift_months) & set(GIFT_MONTHS))
    ]


def length_words(months: int) -> str:
    return "a year" if months == 12 else count(months, "month")


class GiftService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        stripe: StripeApi,
        subscriptions: SubscriptionService,
        mailer: Mailer,
    ) -> None:
        self.db = session
        self.settings = settings
        self.stripe = stripe
        self.subscriptions = subscriptions
        self.mailer = mailer
        self.grants = GrantService(session)

    async def tier(self, tier_id: UUID) -> Tier:
        tier = await self.db.get(Tier, tier_id)
        if tier is None:
            raise NotFound("No such tier.")
        return tier

    def link(self, gift: Gift) -> str:
        return f"{self.settings.public_url}/account/gifts/redeem/{gift.code}"

    # Buying ------------------------------------------------------------------------------

    async def start_checkout(
        self,
        buyer: Reader,
        *,
        tier_id: UUID,
        months: int,
        currency: str,
        recipient_email: str | None,
        deliver_on: date | None,
        message: str,
    ) -> tuple[Gift, str]:
        """Record the gift and open Stripe Checkout for it; answers the gift and where to pay."""
        tier = await self.db.get(Tier, tier_id)
        if tier is None or tier.archived_at is not None:
            raise NotFound("That tier is not on offer.")
        offered = {(o.months, o.currency): o for o in options(tier)}
        if not offered:
            raise BadRequest(f"{tier.name} cannot be given as a gift.")
        option = offered.get((months, currency.lower()))
        if option is None:
            lengths = ", ".join(length_words(m) for m in sorted({m for m, _ in offered}))
            raise BadRequest(f"{tier.name} can be given for {lengths}, in its own currencies.")
        if len(message) > MAX_MESSAGE:
            raise BadRequest(f"The message is {len(message)} characters; at most {MAX_MESSAGE} fit.")
        recipient = normalise_email(recipient_email) if recipient_email else None
        deliver_at = self._delivery(deliver_on) if recipient else None
        if deliver_on and not recipient:
            raise BadRequest("A delivery day needs the recipient's email address.")
        gift = Gift(
            tier_id=tier.id,
            buyer_id=buyer.id,
            months=option.months,
            amount=option.amount,
            currency=option.currency,
            recipient_email=recipient,
            message=message.strip(),
            deliver_at=deliver_at,
        )
        self.db.add(gift)
        await self.db.flush()
        customer = await self.subscriptions.ensure_customer(buyer)
        metadata = {"tollgate_reader_id": str(buyer.id), "tollgate_gift_id": str(gift.id)}
        back = f"{self.settings.public_url}/account/gifts/bought/{gift.id}"
        session_id, url = await self.stripe.create_payment_checkout(
            idempotency_key=f"gift-{gift.id}-checkout",
            customer=customer,
            amount=option.amount,
            currency=option.currency,
            description=f"Gift: {tier.name}, {length_words(option.months)}",
            metadata=metadata,
            success_url=f"{back}?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{back}?checkout=canceled",
        )
        gift.stripe_checkout_session_id = session_id
        return gift, url

    @staticmethod
    def _delivery(deliver_on: date | None) -> datetime:
        """A chosen day is delivered at 08:00 UTC that day; today or none means at once."""
        now = utcnow()
        if deliver_on is None or deliver_on <= now.date():
            if deliver_on is not None and deliver_on < now.date():
                raise BadRequest("The delivery day has passed; choose today or a later day.")
            return now
        if deliver_on > now.date() + timedelta(days=LATEST_DELIVERY_DAYS):
            raise BadRequest("A gift can be delivered at most a year from today.")
        return datetime.combine(deliver_on, time(8, 0), tzinfo=now.tzinfo)

    async def settle(self, session_id: str) -> Gift | None:
        """Converge a gift on its checkout as Stripe tells it: paid, abandoned, or still open."""
        gift = await self.db.scalar(
            select(Gift).where(Gift.stripe_checkout_session_id == session_id).with_for_update()
        )
        if gift is None:
            return None
        if gift.state is not GiftState.AWAITING_PAYMENT:
            return gift  # settled before: a replayed event or the buyer's second visit
        remote = await self.stripe.checkout_session(session_id)
        if remote is None or remote.status == "expired":
            gift.state = GiftState.ABANDONED
            return gift
        if remote.status != "complete" or remote.payment_status != "paid":
            return gift
        now = utcnow()
        gift.state, gift.paid_at = GiftState.PAID, now
        gift.stripe_payment_intent_id = remote.payment_intent
        if remote.payment_intent and await self.stripe.payment_refunded(remote.payment_intent):
            # The refund's event came first (events arrive in any order): it ends here, unissued.
            gift.state, gift.refunded_at = GiftState.REFUNDED, now
            return gift
        gift.code = new_code()
        gift.expires_at = now + timedelta(days=gift.tier.gift_valid_days)
        await self.db.flush()
        buyer = await self.db.get(Reader, gift.buyer_id)
        if buyer is not None:
            await self.mailer.send(buyer.email, "Your gift is ready", self._receipt(gift))
        if gift.recipient_email and gift.deliver_at is not None and gift.deliver_at <= now:
            await self._deliver(gift, now)
        return gift

    def _receipt(self, gift: Gift) -> str:
        to = (
            f"We will email it to {gift.recipient_email} on {day(gift.deliver_at)}."
            if gift.recipient_email
            else "Pass this link on to the person it is for:"
        )
        return (
            f"Thank you for giving {gift.tier.name} for {length_words(gift.months)} "
            f"({money(gift.amount, gift.currency)}).\n\n{to}\n{self.link(gift)}\n\n"
            f"The code {gift.code} can be redeemed until {day(gift.expires_at)}."
        )

    async def _deliver(self, gift: Gift, now: datetime) -> None:
        gift.delivered_at = now
        note = f"\n\nTheir message: {gift.message}" if gift.message else ""
        body = (
            f"Someone has given you {gift.tier.name} for {length_words(gift.months)}.{note}\n\n"
            f"Open your gift: {self.link(gift)}\n\n"
            f"Redeem it by {day(gift.expires_at)}; the months start when you do."
        )
        assert gift.recipient_email is not None
        await self.mailer.send(gift.recipient_email, f"A gift for you: {gift.tier.name}", body)

    # Mail that falls due -------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Email every gift whose delivery day has come; claimed one by one, so two runs send once."""
        now = utcnow()
        due = await self.db.scalars(
            select(Gift.id).where(
                Gift.state == GiftState.PAID,  # redeemed already (the link was passed on): no email
                Gift.recipient_email.is_not(None),
                Gift.delivered_at.is_(None),
                Gift.deliver_at <= now,
            )
        )
        sent = 0
        for gift_id in list(due):
            if await self._claim(gift_id, Gift.delivered_at, now):
                gift = await self.db.get(Gift, gift_id)
                if gift is not None:
                    await self._deliver(gift, now)
                    sent += 1
        return sent

    async def remind_due(self) -> int:
        """A week before a redeemed gift ends, ask its reader to subscribe to keep reading."""
        now = utcnow()
        soon = now + timedelta(days=self.settings.gift_reminder_days)
        due = await self.db.scalars(
            select(Gift.id).where(
                Gift.state == GiftState.REDEEMED,
                Gift.redeemed_as == RedeemedAs.GRANT,
                Gift.reminded_at.is_(None),
                Gift.ends_at > now,
                Gift.ends_at <= soon,
            )
        )
        sent = 0
        for gift_id in list(due):
            if not await self._claim(gift_id, Gift.reminded_at, now):
                continue
            gift = await self.db.get(Gift, gift_id)
            reader = await self.db.get(Reader, gift.redeemed_by_id) if gift and gift.redeemed_by_id else None
            if gift is None or reader is None:
                continue
            body = (
                f"Your gift of {gift.tier.name} ends on {day(gift.ends_at)}. To keep reading, "
                f"subscribe before then: {self.settings.public_url}/account\n\n"
                "Nothing happens if you don't: the gift simply ends, and you are not charged."
            )
            await self.mailer.send(reader.email, f"Your gift of {gift.tier.name} ends soon", body)
            sent += 1
        return sent

    async def _claim(
        self, gift_id: UUID, column: InstrumentedAttribute[datetime | None], now: datetime
    ) -> bool:
        """Stamp `column` if nobody has yet: one UPDATE, so of two senders exactly one sends."""
        claimed = await self.db.execute(
            update(Gift)
            .where(Gift.id == gift_id, column.is_(None))
            .values({column: now})
            .execution_options(synchronize_session=False)
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]

    # Redeeming ----------------------------------------------------------------------------

    async def by_code(self, typed: str, *, lock: bool = False) -> Gift:
        query = select(Gift).where(Gift.code == canonical_code(typed))
        gift = await self.db.scalar(query.with_for_update() if lock else query)
        if gift is None:
            raise NotFound("No gift has this code. Check it against the email or the link you were sent.")
        return gift

    @staticmethod
    def refuse_unless_redeemable(gift: Gift, now: datetime) -> None:
        if gift.state is GiftState.REDEEMED:
            raise Conflict("This gift has already been redeemed.")
        if gift.state is GiftState.REFUNDED:
            raise Conflict("This gift was refunded, so it can no longer be redeemed.")
        if gift.state is not GiftState.PAID or gift.expires_at is None:
            raise Conflict("This gift has not been paid for yet.")
        if gift.expires_at <= now:
            raise Conflict(f"This gift's code expired on {day(gift.expires_at)}.")

    async def redeem(self, typed: str, reader: Reader) -> Gift:
        """Give the reader what the gift holds; a code redeems once."""
        gift = await self.by_code(typed, lock=True)
        now = utcnow()
        self.refuse_unless_redeemable(gift, now)
        tier = gift.tier
        paying = await self.subscriptions.live_for_tier(reader.id, tier.id)
        if (
            paying is not None
            and paying.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)
            and not paying.cancel_at_period_end
        ):
            # The months go on the subscription as free time, after what is already paid for.
            base = max(t for t in (paying.current_period_end, paying.trial_end, now) if t is not None)
            trial_end = add_months(base, gift.months)
            remote = await self.stripe.set_trial_end(paying.stripe_subscription_id, trial_end)
            await self.subscriptions.sync(remote.id, remote=remote)
            gift.redeemed_as, gift.ends_at = RedeemedAs.TRIAL_EXTENSION, trial_end
            gift.extended_from = base
            gift.subscription_id = paying.id
        else:
            gift.redeemed_as, gift.ends_at = RedeemedAs.GRANT, add_months(now, gift.months)
            await self.grants.sync(
                reader.id,
                source=GrantSource.GIFT,
                source_id=str(gift.id),
                keys=set(tier.entitlement_keys),
                live=True,
                starts_at=now,
                ends_at=gift.ends_at,
                note=f"gift of {length_words(gift.months)}",
            )
        gift.state, gift.redeemed_at, gift.redeemed_by_id = GiftState.REDEEMED, now, reader.id
        await Outbox(self.db).emit(
            EventType.GIFT_REDEEMED,
            gift_data(gift),
            publication_ids=[tier.publication_id],
            reader_id=reader.id,
        )
        log.info(
            "gift redeemed", gift_id=str(gift.id), reader_id=str(reader.id), redeemed_as=gift.redeemed_as
        )
        return gift

    # Refunds ------------------------------------------------------------------------------

    async def by_payment(self, payment_intent: str) -> Gift | None:
        found: Gift | None = await self.db.scalar(
            select(Gift).where(Gift.stripe_payment_intent_id == payment_intent).with_for_update()
        )
        return found

    async def refund(self, gift: Gift) -> Gift:
        """The payment came back in full: the code dies, and what a redeemed gift gave ends now."""
        if gift.state is GiftState.REFUNDED:
            return gift
        now = utcnow()
        if gift.state is GiftState.REDEEMED and gift.redeemed_by_id is not None:
            if gift.redeemed_as is RedeemedAs.GRANT:
                await self.grants.sync(
                    gift.redeemed_by_id,
                    source=GrantSource.GIFT,
                    source_id=str(gift.id),
                    keys=set(gift.tier.entitlement_keys),
                    live=False,
                    starts_at=gift.redeemed_at or now,
                    ends_at=now,
                    revoke=True,
                    note="gift refunded",
                )
            elif gift.redeemed_as is RedeemedAs.TRIAL_EXTENSION and gift.subscription_id is not None:
                await self._undo_extension(gift, now)
        gift.state, gift.refunded_at = GiftState.REFUNDED, now
        if gift.ends_at is not None and gift.ends_at > now:
            gift.ends_at = now
        return gift

    async def _undo_extension(self, gift: Gift, now: datetime) -> None:
        sub = await self.db.get(Subscription, gift.subscription_id)
        if sub is None or sub.status not in (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE):
            return
        # Back to where it was before the gift; a moment already past bills now, as it would have.
        back_to = gift.extended_from if gift.extended_from and gift.extended_from > now else now
        remote = await self.stripe.set_trial_end(sub.stripe_subscription_id, back_to)
        await self.subscriptions.sync(remote.id, remote=remote)

    # Reading -----------------------------------------------------------------------------

    async def bought_by(self, reader_id: UUID) -> list[Gift]:
        query = (
            select(Gift)
            .where(Gift.buyer_id == reader_id, Gift.state != GiftState.AWAITING_PAYMENT)
            .order_by(Gift.created_at.desc())
        )
        return list(await self.db.scalars(query))

    async def of_publication(self, publication_id: UUID | None, *, limit: int = 500) -> list[Gift]:
        query = (
            select(Gift)
            .join(Tier, Tier.id == Gift.tier_id)
            .where(Tier.publication_id == publication_id if publication_id else Tier.publication_id.is_(None))
            .where(Gift.state != GiftState.AWAITING_PAYMENT)
            .order_by(Gift.created_at.desc())
            .limit(limit)
        )
        return list(await self.db.scalars(query))
