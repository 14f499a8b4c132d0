"""Sign-in as pages (`/auth/sign-in...`): the form, "check your mail", and the confirmation.

The emailed link opens a confirmation page; only its button (a POST) spends the link, so a mail
scanner that merely fetches links does not sign anyone in.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from membership.lib.client_address import client_address
from membership.lib.metrics import metrics_of
from membership.readers.services import ReaderService
from membership.sessions.cookies import session_cookie
from membership.sessions.services import SessionService
from membership.settings import Settings
from membership.signin.schemas import SENT, ConfirmForm, SignInForm
from membership.signin.services import SignInService, complete_sign_in, safe_next
from tollgate_common.problems import TollgateError


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
        metrics_of(request).signin_emails.inc()
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
            issued, next_path = await complete_sign_in(
                data.token,
                request.headers.get("user-agent", ""),
                client_address(request),
                signin,
                readers,
                sessions,
            )
        except TollgateError as exc:
            return Template(
                "sign_in_confirm.html", context={"error": exc.detail}, status_code=exc.status_code
            )
        return Redirect(
            safe_next(next_path), status_code=303, cookies=[session_cookie(settings, issued.refresh_token)]
        )
