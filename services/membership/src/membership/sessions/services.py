"""Starting, checking, rotating and ending reader sessions.

The cookie holds an opaque refresh token. Refreshing swaps it for a new one; the old one is
kept (hashed) and marked rotated, so presenting it again is evidence of theft and ends the
whole session for everyone holding any of its tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.services import GrantService
from membership.lib.clock import utcnow
from membership.lib.secrets import new_token, token_hash
from membership.readers.models import Reader
from membership.sessions.models import ReaderSession, RefreshToken
from membership.settings import Settings
from tollgate_common.problems import NotFound, Unauthorized

TOKEN_PREFIX = "tgsession"  # noqa: S105 - a type prefix, not a secret
# Touching last_seen_at on every request would make every read a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


class SessionEnded(Unauthorized):
    """Not signed in, or no longer."""


class RefreshTokenReused(SessionEnded):
    """A rotated token came back: the session is revoked, and that revocation must be committed."""


@dataclass(frozen=True)
class IssuedSession:
    session: ReaderSession
    refresh_token: str


class SessionService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.db = session
        self.settings = settings

    async def start(self, reader: Reader, *, user_agent: str, client_address: str) -> IssuedSession:
        now = utcnow()
        reader_session = ReaderSession(
            reader=reader,
            expires_at=now + timedelta(days=self.settings.session_days),
            last_seen_at=now,
            user_agent=user_agent[:512],
            client_address=client_address[:64],
        )
        self.db.add(reader_session)
        await self.db.flush()
        return await self._issue(reader_session)

    async def _issue(self, reader_session: ReaderSession) -> IssuedSession:
        token = new_token(TOKEN_PREFIX)
        self.db.add(RefreshToken(session_id=reader_session.id, token_hash=token_hash(token)))
        await self.db.flush()
        return IssuedSession(session=reader_session, refresh_token=token)

    async def authenticate(self, token: str | None) -> tuple[ReaderSession, RefreshToken]:
        if not token or not token.startswith(TOKEN_PREFIX + "_"):
            raise SessionEnded("You are not signed in.")
        refresh = await self.db.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash(token))
        )
        if refresh is None:
            raise SessionEnded("You are not signed in.")
        reader_session = refresh.session
        now = utcnow()
        if reader_session.revoked_at is not None or reader_session.expires_at <= now:
            raise SessionEnded("Your session has ended. Please sign in again.")
        if refresh.rotated_at is not None:
            reader_session.revoked_at = now
            raise RefreshTokenReused(
                "This session was ended because an old copy of its sign-in cookie was used. "
                "Please sign in again."
            )
        if now - reader_session.last_seen_at > LAST_SEEN_RESOLUTION:
            reader_session.last_seen_at = now
        return reader_session, refresh

    def keep_alive(self, reader_session: ReaderSession) -> bool:
        """A session in use lives on: past half its life, it gets a whole one again (True then, so
        the caller sets its cookie again too). A reader who reads every week is never signed out."""
        now = utcnow()
        life = timedelta(days=self.settings.session_days)
        if reader_session.expires_at - now >= life / 2:
            return False
        reader_session.expires_at = now + life
        return True

    async def rotate(self, token: str | None) -> IssuedSession:
        reader_session, refresh = await self.authenticate(token)
        now = utcnow()
        # Only one of two racing refreshes may rotate a token; the loser presents a rotated one.
        claimed = await self.db.execute(
            update(RefreshToken)
            .where(RefreshToken.id == refresh.id, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            reader_session.revoked_at = now
            raise RefreshTokenReused(
                "This session was refreshed twice at once and has been ended for safety."
            )
        reader_session.expires_at = now + timedelta(days=self.settings.session_days)
        reader_session.last_seen_at = now
        return await self._issue(reader_session)

    async def revoke(self, reader_id: UUID, session_id: UUID) -> None:
        found = await self.db.scalar(
            select(ReaderSession).where(ReaderSession.id == session_id, ReaderSession.reader_id == reader_id)
        )
        if found is None or found.revoked_at is not None:
            raise NotFound("No such active session.")
        found.revoked_at = utcnow()

    async def sign_out_everywhere(self, reader_id: UUID) -> int:
        """Ends every session of the reader and makes their access tokens already out stale.

        The new entitlement version goes on the revocation feed, which tells every gateway.
        """
        ended = await self.revoke_all(reader_id)
        await GrantService(self.db).bump_version(reader_id)
        return ended

    async def revoke_all(self, reader_id: UUID) -> int:
        result = await self.db.execute(
            update(ReaderSession)
            .where(ReaderSession.reader_id == reader_id, ReaderSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def active(self, reader_id: UUID) -> list[ReaderSession]:
        query = (
            select(ReaderSession)
            .where(
                ReaderSession.reader_id == reader_id,
                ReaderSession.revoked_at.is_(None),
                ReaderSession.expires_at > utcnow(),
            )
            .order_by(ReaderSession.last_seen_at.desc())
        )
        return list(await self.db.scalars(query))
