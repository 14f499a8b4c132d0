"""The development outbox: a page and JSON listing of mail that would have been sent."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from membership.mail.schemas import OutboxMessageOut
from membership.mail.services import Mailer


class DevOutbox(Controller):
    path = "/dev/outbox"
    tags = ["development"]

    @get("/", include_in_schema=False)
    async def page(self, mailer: NamedDependency[Mailer], to: FromQuery[str | None] = None) -> Template:
        return Template(
            "outbox.html", context={"messages": await mailer.outbox(recipient=to), "to": to or ""}
        )

    @get("/messages", summary="Mail in the local outbox, newest first (development only)")
    async def messages(
        self, mailer: NamedDependency[Mailer], to: FromQuery[str | None] = None, limit: FromQuery[int] = 50
    ) -> list[OutboxMessageOut]:
        found = await mailer.outbox(recipient=to.lower() if to else None, limit=max(1, min(limit, 500)))
        return [OutboxMessageOut(m.id, m.recipient, m.subject, m.body, m.created_at) for m in found]
