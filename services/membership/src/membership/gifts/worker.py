"""The gift mailer: sends gifts on their chosen delivery day and reminds recipients before a gift
ends. Runs as a task inside membership; any number of them may run against one database (each
email is claimed by one UPDATE before it is sent)."""

from __future__ import annotations

import asyncio

import structlog
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

from membership.gifts.services import GiftService
from membership.lib.stripe_client import StripeApi
from membership.mail.services import Mailer
from membership.settings import Settings
from membership.subscriptions.services import SubscriptionService

log = structlog.get_logger(__name__)


class GiftMailer:
    def __init__(self, alchemy: SQLAlchemyAsyncConfig, settings: Settings, stripe: StripeApi) -> None:
        self.alchemy = alchemy
        self.settings = settings
        self.stripe = stripe

    async def run_once(self) -> tuple[int, int]:
        """Sends what is due now, in one transaction; answers (delivered, reminded)."""
        async with self.alchemy.get_session() as session:
            gifts = GiftService(
                session,
                self.settings,
                self.stripe,
                SubscriptionService(session, self.settings, self.stripe),
                Mailer(session, self.settings),
            )
            delivered, reminded = await gifts.deliver_due(), await gifts.remind_due()
            await session.commit()
        if delivered or reminded:
            log.info("gift mail sent", delivered=delivered, reminded=reminded)
        return delivered, reminded

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the database or the mail server may be briefly away
                log.exception("gift mailer error")
            await asyncio.sleep(self.settings.gift_mail_seconds)
