"""The signed-in reader: who am I, my sessions, refresh, sign out, sign out everywhere."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from membership.grants.services import GrantService
from membership.readers.models import Reader
from membership.readers.schemas import ReaderOut, ReaderUpdate
from membership.sessions.cookies import cleared_cookie, signed_in
from membership.sessions.models import ReaderSession
from membership.sessions.schemas import SessionOut, SignedIn, SignedOut
from membership.sessions.services import RefreshTokenReused, SessionService
from membership.settings import Settings
from membership.webhooks.events import EventType, member_data
from membership.webhooks.services import Outbox


class AccountApi(Controller):
    path = "/api/me"
    tags = ["account"]

    @get("/", summary="The signed-in reader")
    async def me(self, reader: NamedDependency[Reader]) -> ReaderOut:
        return ReaderOut.of(reader)

    @patch("/", summary="Change my display name")
    async def update(
        self,
        data: JSONBody[ReaderUpdate],
        reader: NamedDependency[Reader],
        db_session: NamedDependency[AsyncSession],
    ) -> ReaderOut:
        name = data.display_name.strip() or reader.display_name
        if name != reader.display_name:
            reader.display_name = name
            # The publications the reader is (or was) a member of hear of it: member.updated.
            where = await GrantService(db_session).publications_ever(reader.id)
            member = member_data(reader, reader.entitlement_version)
            await Outbox(db_session).emit(EventType.MEMBER_UPDATED, member, slugs=where, reader_id=reader.id)
        return ReaderOut.of(reader)

    @get("/sessions", summary="My active sessions")
    async def list_sessions(
        self, current_session: NamedDependency[ReaderSession], sessions: NamedDependency[SessionService]
    ) -> list[SessionOut]:
        active = await sessions.active(current_session.reader_id)
        return [SessionOut.of(s, current_session.id) for s in active]

    @delete("/sessions/{session_id:uuid}", summary="End one of my sessions")
    async def end_session(
        self,
        session_id: FromPath[UUID],
        reader: NamedDependency[Reader],
        sessions: NamedDependency[SessionService],
    ) -> None:
        await sessions.revoke(reader.id, session_id)


class SessionApi(Controller):
    path = "/api/auth"
    tags = ["sign-in"]

    @post("/refresh", status_code=200, summary="Swap the session cookie for a new one")
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[SignedIn]:
        try:
            issued = await sessions.rotate(request.cookies.get(settings.session_cookie))
        except RefreshTokenReused:
            await db_session.commit()  # the revocation stands although the answer is a 401
            raise
        return signed_in(settings, issued)

    @post("/sign-out", status_code=200, summary="End this session")
    async def sign_out(
        self,
        current_session: NamedDependency[ReaderSession],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
    ) -> Response[SignedOut]:
        await sessions.revoke(current_session.reader_id, current_session.id)
        return Response(SignedOut(sessions_ended=1), cookies=[cleared_cookie(settings)])

    @post("/sign-out-everywhere", status_code=200, summary="End every session of mine, on every device")
    async def sign_out_everywhere(
        self,
        reader: NamedDependency[Reader],
        sessions: NamedDependency[SessionService],
        settings: NamedDependency[Settings],
    ) -> Response[SignedOut]:
        ended = await sessions.sign_out_everywhere(reader.id)
        return Response(SignedOut(sessions_ended=ended), cookies=[cleared_cookie(settings)])
