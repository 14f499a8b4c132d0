"""Sign-in over the JSON API (`/api/auth/...`); the pages are in `membership.web.signin`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from membership.lib.client_address import client_address
from membership.lib.metrics import metrics_of
from membership.readers.services import ReaderService
from membership.sessions.cookies import signed_in
from membership.sessions.schemas import SignedIn
from membership.sessions.services import SessionService
from membership.settings import Settings
from membership.signin.schemas import SENT, LinkSent, SignInComplete, SignInRequest
from membership.signin.services import SignInService, complete_sign_in


class SignInApi(Controller):
    path = "/api/auth"
    tags = ["sign-in"]

    @post("/sign-in", status_code=HTTP_202_ACCEPTED, summary="Email a sign-in link")
    async def request_link(
        self,
        data: JSONBody[SignInRequest],
        request: Request[Any, Any, Any],
        signin: NamedDependency[SignInService],
    ) -> LinkSent:
        await signin.request_link(data.email, data.next, client_address(request))
        metrics_of(request).signin_emails.inc()
        return LinkSent(detail=SENT)

    @post("/sign-in/complete", status_code=200, summary="Spend a sign-in link's token and start a session")
    async def complete(
        self,
        data: JSONBody[SignInComplete],
        request: Request[Any, Any, Any],
        signin: NamedDependency[SignInService],
        readers: NamedDependency[ReaderService],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
    ) -> Response[SignedIn]:
        issued, _ = await complete_sign_in(
            data.token,
            request.headers.get("user-agent", ""),
            client_address(request),
            signin,
            readers,
            sessions,
        )
        return signed_in(settings, issued)
