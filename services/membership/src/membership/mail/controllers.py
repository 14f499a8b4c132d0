"""The development outbox as JSON: mail that would have been sent (the page: `web/outbox.py`)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from membership.mail.schemas import OutboxMessageOut
from membership.mail.services import Mailer


class DevOutbox(Controller):
    path = "/dev/outbox"
    tags = ["development"]

    @get("/messages", summary="Mail in the local outbox, newest first (development only)")
    async def messages(
        self, mailer: NamedDependency[Mailer], to: FromQuery[str | None] = None, limit: FromQuery[int] = 50
    ) -> list[OutboxMessageOut]:
        found = await mailer.outbox(recipient=to.lower() if to else None, limit=max(1, min(limit, 500)))
        return [OutboxMessageOut(m.id, m.recipient, m.subject, m.body, m.created_at) for m in found]
