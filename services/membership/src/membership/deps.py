"""Dependency providers: how controllers get services, the signed-in reader, and the calling API key."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from membership.apikeys.models import ApiKey
from membership.apikeys.services import ApiKeyService
from membership.comps.services import CompService
from membership.entitlements.services import EntitlementService
from membership.friendlinks.services import FriendLinkService
from membership.gifts.services import GiftService
from membership.grants.services import GrantService
from membership.imports.services import MemberImport, PriceImport
from membership.lib.ratelimit import RateLimits
from membership.lib.stripe_client import StripeApi
from membership.mail.services import Mailer
from membership.members.services import MemberService
from membership.offers.services import OfferService
from membership.plans.services import PlanService
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.retention.services import RetentionService
from membership.sessions.models import ReaderSession
from membership.sessions.services import RefreshTokenReused, SessionService
from membership.settings import Settings
from membership.signin.services import SignInService
from membership.stats.services import StatsService
from membership.stripe_events.services import Inbox
from membership.subscriptions.services import SubscriptionService
from membership.tokens.keyring import KeyRing
from membership.tokens.services import InvalidAccessToken, TokenService
from membership.unlocks.services import UnlockService
from membership.webhooks.services import WebhookService


def provide_settings(state: State) -> Settings:
    settings: NamedDependency[Settings] = state.settings
    return settings


def provide_ratelimits(state: State) -> RateLimits:
    ratelimits: RateLimits = state.ratelimits
    return ratelimits


def provide_keyring(state: State) -> KeyRing:
    keyring: KeyRing = state.keyring
    return keyring


def provide_tokens(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    keyring: NamedDependency[KeyRing],
) -> TokenService:
    return TokenService(db_session, settings, keyring)


def provide_stripe_api(state: State) -> StripeApi:
    stripe_api: StripeApi = state.stripe_api
    return stripe_api


def provide_plans(
    db_session: NamedDependency[AsyncSession], stripe_api: NamedDependency[StripeApi]
) -> PlanService:
    return PlanService(db_session, stripe_api)


def provide_subscriptions(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    stripe_api: NamedDependency[StripeApi],
) -> SubscriptionService:
    return SubscriptionService(db_session, settings, stripe_api)


def provide_member_imports(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    stripe_api: NamedDependency[StripeApi],
) -> MemberImport:
    return MemberImport(db_session, settings, stripe_api)


def provide_price_imports(
    db_session: NamedDependency[AsyncSession], stripe_api: NamedDependency[StripeApi]
) -> PriceImport:
    return PriceImport(db_session, stripe_api)


def provide_grants(db_session: NamedDependency[AsyncSession]) -> GrantService:
    return GrantService(db_session)


def provide_mailer(db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]) -> Mailer:
    return Mailer(db_session, settings)


def provide_readers(db_session: NamedDependency[AsyncSession]) -> ReaderService:
    return ReaderService(session=db_session)


def provide_signin(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    mailer: NamedDependency[Mailer],
    ratelimits: NamedDependency[RateLimits],
) -> SignInService:
    return SignInService(db_session, settings, mailer, ratelimits)


def provide_sessions(
    db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> SessionService:
    return SessionService(db_session, settings)


def provide_friend_links(db_session: NamedDependency[AsyncSession]) -> FriendLinkService:
    return FriendLinkService(db_session)


def provide_publications(db_session: NamedDependency[AsyncSession]) -> PublicationService:
    return PublicationService(db_session)


def provide_api_keys(db_session: NamedDependency[AsyncSession]) -> ApiKeyService:
    return ApiKeyService(db_session)


def provide_comps(db_session: NamedDependency[AsyncSession]) -> CompService:
    return CompService(db_session)


def provide_entitlements(db_session: NamedDependency[AsyncSession]) -> EntitlementService:
    return EntitlementService(db_session)


def provide_members(db_session: NamedDependency[AsyncSession]) -> MemberService:
    return MemberService(db_session)


def provide_stats(db_session: NamedDependency[AsyncSession]) -> StatsService:
    return StatsService(db_session)


def provide_gifts(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    stripe_api: NamedDependency[StripeApi],
    subscriptions: NamedDependency[SubscriptionService],
    mailer: NamedDependency[Mailer],
) -> GiftService:
    return GiftService(db_session, settings, stripe_api, subscriptions, mailer)


def provide_offers(
    db_session: NamedDependency[AsyncSession], stripe_api: NamedDependency[StripeApi]
) -> OfferService:
    return OfferService(db_session, stripe_api)


def provide_retention(
    db_session: NamedDependency[AsyncSession], subscriptions: NamedDependency[SubscriptionService]
) -> RetentionService:
    return RetentionService(db_session, subscriptions)


def provide_inbox(db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]) -> Inbox:
    return Inbox(db_session, settings)


def provide_unlocks(db_session: NamedDependency[AsyncSession]) -> UnlockService:
    return UnlockService(db_session)


def provide_webhooks(
    db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> WebhookService:
    return WebhookService(db_session, settings)


async def provide_current_session(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    sessions: NamedDependency[SessionService],
    settings: NamedDependency[Settings],
) -> ReaderSession:
    try:
        reader_session, _ = await sessions.authenticate(request.cookies.get(settings.session_cookie))
    except RefreshTokenReused:
        # The answer is a 401, which rolls back; the revocation must stand, so this request commits it.
        await db_session.commit()
        raise
    return reader_session


async def provide_reader(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    sessions: NamedDependency[SessionService],
    settings: NamedDependency[Settings],
    tokens: NamedDependency[TokenService],
) -> Reader:
    """The signed-in reader: by an access token (`Authorization: Bearer ey...`, for apps) or the cookie."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        claims = await tokens.verify(credential.strip())
        try:
            reader_id = UUID(str(claims["sub"]))
        except ValueError as exc:
            raise InvalidAccessToken("The access token's subject is not a reader.") from exc
        reader = await db_session.get(Reader, reader_id)
        if reader is None:
            raise InvalidAccessToken("The access token's reader does not exist.")
        if claims["ver"] < reader.entitlement_version:
            raise InvalidAccessToken("The access token is stale (entitlements changed); refresh it.")
        return reader
    return (await provide_current_session(request, db_session, sessions, settings)).reader


async def provide_api_key(
    request: Request[Any, Any, Any], api_keys: NamedDependency[ApiKeyService]
) -> ApiKey:
    return await api_keys.authenticate(request.headers.get("authorization"))


dependencies: dict[str, Provide] = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "mailer": Provide(provide_mailer, sync_to_thread=False),
    "readers": Provide(provide_readers, sync_to_thread=False),
    "signin": Provide(provide_signin, sync_to_thread=False),
    "sessions": Provide(provide_sessions, sync_to_thread=False),
    "publications": Provide(provide_publications, sync_to_thread=False),
    "api_keys": Provide(provide_api_keys, sync_to_thread=False),
    "current_session": Provide(provide_current_session),
    "reader": Provide(provide_reader),
    "keyring": Provide(provide_keyring, sync_to_thread=False),
    "ratelimits": Provide(provide_ratelimits, sync_to_thread=False),
    "tokens": Provide(provide_tokens, sync_to_thread=False),
    "api_key": Provide(provide_api_key),
    "stripe_api": Provide(provide_stripe_api, sync_to_thread=False),
    "plans": Provide(provide_plans, sync_to_thread=False),
    "subscriptions": Provide(provide_subscriptions, sync_to_thread=False),
    "grants": Provide(provide_grants, sync_to_thread=False),
    "member_imports": Provide(provide_member_imports, sync_to_thread=False),
    "price_imports": Provide(provide_price_imports, sync_to_thread=False),
    "friend_links": Provide(provide_friend_links, sync_to_thread=False),
    "comps": Provide(provide_comps, sync_to_thread=False),
    "entitlements": Provide(provide_entitlements, sync_to_thread=False),
    "members": Provide(provide_members, sync_to_thread=False),
    "stats": Provide(provide_stats, sync_to_thread=False),
    "unlocks": Provide(provide_unlocks, sync_to_thread=False),
    "inbox": Provide(provide_inbox, sync_to_thread=False),
    "gifts": Provide(provide_gifts, sync_to_thread=False),
    "offers": Provide(provide_offers, sync_to_thread=False),
    "retention": Provide(provide_retention, sync_to_thread=False),
    "webhooks": Provide(provide_webhooks, sync_to_thread=False),
}
