"""The session cookie: HttpOnly, SameSite=Lax, Secure outside development."""

from __future__ import annotations

from litestar.datastructures import Cookie

from membership.settings import Settings


def session_cookie(settings: Settings, token: str) -> Cookie:
    return Cookie(
        key=settings.session_cookie,
        value=token,
        max_age=settings.session_days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def cleared_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=settings.session_cookie,
        value="",
        max_age=0,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
