"""Sending mail: over SMTP when a server is configured, otherwise into the local outbox."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.mail.models import OutboxMessage
from membership.settings import Settings
from tollgate_common.problems import ServiceUnavailable

log = structlog.get_logger(__name__)


class Mailer:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.db = session
        self.settings = settings

    async def send(self, to: str, subject: str, body: str) -> None:
        if self.settings.uses_outbox:
            self.db.add(OutboxMessage(recipient=to, subject=subject, body=body))
            await self.db.flush()
            log.info("mail kept in the local outbox", to=to, subject=subject)
            return
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        s = self.settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password.get_secret_value() or None,
                start_tls=s.smtp_security == "starttls",
                use_tls=s.smtp_security == "tls",
                timeout=s.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("smtp send failed", to=to, error=str(exc))
            raise ServiceUnavailable(
                "We could not send the email just now; please try again in a minute."
            ) from exc
        log.info("mail sent", to=to, subject=subject)

    async def outbox(self, *, recipient: str | None = None, limit: int = 50) -> list[OutboxMessage]:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id).limit(limit)
        if recipient:
            query = query.where(OutboxMessage.recipient == recipient)
        return list(await self.db.scalars(query))
