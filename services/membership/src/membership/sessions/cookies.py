"""The reader's cookies (HttpOnly, SameSite=Lax, Secure outside development), and the answer that
starts or renews a session."""

from __future__ import annotations

from litestar import Response
from litestar.datastructures import Cookie

from membership.readers.schemas import ReaderOut
from membership.sessions.schemas import SessionOut, SignedIn
from membership.sessions.services import IssuedSession
from membership.settings import Settings


def reader_cookie(settings: Settings, key: str, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def session_cookie(settings: Settings, token: str) -> Cookie:
    return reader_cookie(settings, settings.session_cookie, token, settings.session_days * 86400)


def cleared_cookie(settings: Settings) -> Cookie:
    return reader_cookie(settings, settings.session_cookie, "", 0)


def signed_in(settings: Settings, issued: IssuedSession) -> Response[SignedIn]:
    """The reader and their (new) session, with the cookie that holds its refresh token."""
    body = SignedIn(
        reader=ReaderOut.of(issued.session.reader), session=SessionOut.of(issued.session, issued.session.id)
    )
    return Response(body, cookies=[session_cookie(settings, issued.refresh_token)])
