"""Asking for a sign-in link, and redeeming one.

The answer to a request is the same whether or not the email has an account: a link is made
and mailed either way, and following it creates the reader if new. Both rate limits (per email,
per network) are counted in `lib/ratelimit.py`: in Redis, so they hold across every replica.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.lib.ratelimit import RateLimits, Rule
from membership.lib.secrets import new_token, token_hash
from membership.mail.services import Mailer
from membership.readers.services import ReaderService, normalise_email
from membership.sessions.services import IssuedSession, SessionService
from membership.settings import Settings
from membership.signin.models import SignInLink
from tollgate_common.problems import BadRequest, Gone

TOKEN_PREFIX = "tgsignin"  # noqa: S105 - a type prefix, not a secret


def safe_next(path: str | None) -> str:
    """Only a path on our own origin: no scheme, no host, no `//` (an open redirect otherwise)."""
    if not path:
        return "/"
    if not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 32 for c in path):
        raise BadRequest("`next` must be a path on this site, such as /stories/some-story.")
    return path


class SignInService:
    def __init__(self, session: AsyncSession, settings: Settings, mailer: Mailer, limits: RateLimits) -> None:
        self.db = session
        self.settings = settings
        self.mailer = mailer
        self.limits = limits

    async def request_link(self, email: str, next_path: str | None, client_address: str) -> None:
        email = normalise_email(email)
        next_path = safe_next(next_path)
        window = self.settings.signin_rate_window_seconds
        await self.limits.hit(
            Rule("signin-email", self.settings.signin_rate_per_email, window),
            email,
            "Too many sign-in links were asked for this email",
        )
        await self.limits.hit(
            Rule("signin-address", self.settings.signin_rate_per_address, window),
            client_address,
            "Too many sign-in links were asked for your network",
        )
        token = new_token(TOKEN_PREFIX)
        now = utcnow()
        self.db.add(
            SignInLink(
                email=email,
                token_hash=token_hash(token),
                requested_from=client_address[:64],
                next_path=next_path,
                expires_at=now + timedelta(minutes=self.settings.signin_link_minutes),
            )
        )
        await self.db.flush()
        link = f"{self.settings.public_url}/auth/sign-in/confirm?token={quote(token)}"
        await self.mailer.send(
            to=email,
            subject="Your Tollgate sign-in link",
            body=(
                f"Open this link to sign in:\n\n{link}\n\n"
                f"It works for {self.settings.signin_link_minutes} minutes. "
                "If you did not ask for it, ignore this email: nobody can sign in without it.\n"
            ),
        )

    async def redeem(self, token: str) -> SignInLink:
        """Checks and marks a link used; a used link still works within the mail-scanner window."""
        link = None
        if token.startswith(TOKEN_PREFIX + "_"):
            link = await self.db.scalar(select(SignInLink).where(SignInLink.token_hash == token_hash(token)))
        if link is None:
            raise BadRequest("This sign-in link is not valid. Ask for a new one.")
        now = utcnow()
        if link.expires_at <= now:
            raise Gone("This sign-in link has expired. Ask for a new one.")
        if link.used_at is not None:
            if now - link.used_at > timedelta(seconds=self.settings.signin_reuse_seconds):
                raise Gone("This sign-in link has already been used. Ask for a new one.")
        else:
            link.used_at = now
        return link


async def complete_sign_in(
    token: str,
    user_agent: str,
    client_address: str,
    signin: SignInService,
    readers: ReaderService,
    sessions: SessionService,
) -> tuple[IssuedSession, str]:
    """Spend a sign-in link, make its reader if new, and start a session: the reader and where to go."""
    link = await signin.redeem(token)
    reader, _ = await readers.get_or_create(link.email)
    issued = await sessions.start(reader, user_agent=user_agent, client_address=client_address)
    return issued, link.next_path
