"""Sign-in requests and answers."""

from __future__ import annotations

from typing import Annotated

import msgspec

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
NextPath = Annotated[str, msgspec.Meta(max_length=2048)]
# The same answer whether or not the address has an account.
SENT = "If that address can receive mail, a sign-in link is on its way. It works for a few minutes."


class SignInRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    next: NextPath = "/"


class SignInForm(msgspec.Struct):
    email: Email
    next: NextPath = "/"


class SignInComplete(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ConfirmForm(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class LinkSent(msgspec.Struct):
    detail: str
