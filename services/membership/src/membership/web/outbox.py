"""The development outbox as a page: sign-in links land here when no mail server is set."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from membership.mail.services import Mailer


class OutboxPage(Controller):
    path = "/dev/outbox"
    include_in_schema = False

    @get("/")
    async def page(self, mailer: NamedDependency[Mailer], to: FromQuery[str | None] = None) -> Template:
        return Template(
            "outbox.html", context={"messages": await mailer.outbox(recipient=to), "to": to or ""}
        )
