"""Sign-in over the JSON API (`/api/auth/...`) and as pages (`/auth/sign-in...`).

The emailed link opens a confirmation page; only its button (a POST) spends the link, so a mail
scanner that merely fetches links does not sign anyone in.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_202_ACCEPTED

from membership.deps import client_address
from membership.readers.services import ReaderService
from membership.sessions.cookies import session_cookie, signed_in
from membership.sessions.schemas import SignedIn
from membership.sessions.services import IssuedSession, SessionService
from membership.settings import Settings
from membership.signin.schemas import ConfirmForm, LinkSent, SignInComplete, SignInForm, SignInRequest
from membership.signin.services import SignInService, safe_next
from tollgate_common.problems import TollgateError

SENT = "If that address can receive mail, a sign-in link is on its way. It works for a few minutes."


async def _complete(
    token: str,
    request: Request[Any, Any, Any],
    signin: NamedDependency[SignInService],
    readers: NamedDependency[ReaderService],
    sessions: NamedDependency[SessionService],
) -> tuple[IssuedSession, str]:
    link = await signin.redeem(token)
    reader, _ = await readers.get_or_create(link.email)
    issued = await sessions.start(
        reader, user_agent=request.headers.get("user-agent", ""), client_address=client_address(request)
    )
    return issued, link.next_path


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
        issued, _ = await _complete(data.token, request, signin, readers, sessions)
        return signed_in(settings, issued)


class SignInPages(Controller):
    path = "/auth/sign-in"
    tags = ["sign-in"]
    include_in_schema = False

    @get("/")
    async def form(self, next: FromQuery[str] = "/") -> Template:
        return Template("sign_in.html", context={"next": next if next.startswith("/") else "/"})

    @post("/", status_code=200)
    async def send(
        self,
        data: URLEncodedBody[SignInForm],
        request: Request[Any, Any, Any],
        signin: NamedDependency[SignInService],
    ) -> Template:
        try:
            await signin.request_link(data.email, data.next, client_address(request))
        except TollgateError as exc:
            context = {"next": data.next, "email": data.email, "error": exc.detail}
            return Template("sign_in.html", context=context, status_code=exc.status_code, headers=exc.headers)
        return Template("sign_in_sent.html", context={"message": SENT})

    @get("/confirm")
    async def confirm_page(self, token: FromQuery[str] = "") -> Template:
        return Template("sign_in_confirm.html", context={"token": token})

    @post("/confirm", status_code=303)
    async def confirm(
        self,
        data: URLEncodedBody[ConfirmForm],
        request: Request[Any, Any, Any],
        signin: NamedDependency[SignInService],
        readers: NamedDependency[ReaderService],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            issued, next_path = await _complete(data.token, request, signin, readers, sessions)
        except TollgateError as exc:
            return Template(
                "sign_in_confirm.html", context={"error": exc.detail}, status_code=exc.status_code
            )
        return Redirect(
            safe_next(next_path), status_code=303, cookies=[session_cookie(settings, issued.refresh_token)]
        )
