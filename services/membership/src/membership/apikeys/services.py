"""Making, checking and revoking service API keys."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.apikeys.models import ApiKey, Scope
from membership.lib.clock import utcnow
from membership.lib.secrets import new_token, token_hash
from tollgate_common.problems import BadRequest, Forbidden, NotFound, Unauthorized

TOKEN_PREFIX = "tgk"  # noqa: S105 - a type prefix, not a secret
# What each scope lets a key do, in words for the people who make keys.
SCOPES: dict[Scope, str] = {
    Scope.STAFF_READ: "List a publication's staff.",
    Scope.ENTITLEMENTS_READ: "Read readers' entitlements, check access, follow the revocation feed.",
    Scope.MEMBERS_READ: "List a publication's members and subscribers, their history, the CSV export.",
    Scope.UNLOCKS_WRITE: "Record a reader's free unlock of a story (the gateway's metering).",
    Scope.FRIEND_LINKS_WRITE: "Create friend links on behalf of a story's author (the gateway).",
}
# What the gateway's key needs: check access, record unlocks, make friend links for authors.
GATEWAY_SCOPES = [Scope.ENTITLEMENTS_READ, Scope.UNLOCKS_WRITE, Scope.FRIEND_LINKS_WRITE]


def check_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = sorted(set(scopes) - SCOPES.keys())
    if unknown:
        raise BadRequest(
            f"Unknown scope(s): {', '.join(unknown)}. Known scopes: {', '.join(sorted(SCOPES))}."
        )
    if not scopes:
        raise BadRequest("An API key needs at least one scope.")
    return sorted({Scope(scope).value for scope in scopes})


class ApiKeyService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    async def create(
        self, name: str, scopes: Sequence[str], *, publication_id: UUID | None, created_by_id: UUID | None
    ) -> tuple[ApiKey, str]:
        if not name.strip():
            raise BadRequest("An API key needs a name, so you can tell it apart later.")
        secret = new_token(TOKEN_PREFIX)
        key = ApiKey(
            name=name.strip(),
            key_hash=token_hash(secret),
            key_prefix=secret[:12],
            scopes=check_scopes(scopes),
            publication_id=publication_id,
            created_by_id=created_by_id,
        )
        self.db.add(key)
        await self.db.flush()
        return key, secret

    async def authenticate(self, authorization: str | None) -> ApiKey:
        if not authorization:
            raise Unauthorized("This endpoint needs an API key: send `Authorization: Bearer tgk_...`.")
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.startswith(TOKEN_PREFIX + "_"):
            raise Unauthorized("The Authorization header must be `Bearer tgk_...`.")
        key = await self.db.scalar(select(ApiKey).where(ApiKey.key_hash == token_hash(secret.strip())))
        if key is None:
            raise Unauthorized("This API key is not valid.")
        if key.revoked_at is not None:
            raise Unauthorized("This API key has been revoked.")
        return key

    @staticmethod
    def require(key: ApiKey, scope: Scope, publication_id: UUID | None = None) -> None:
        if scope not in key.scopes:
            raise Forbidden(f"This API key lacks the `{scope}` scope.")
        if publication_id is not None and key.publication_id not in (None, publication_id):
            raise Forbidden("This API key belongs to another publication.")

    async def list_for(self, publication_id: UUID | None) -> list[ApiKey]:
        query = select(ApiKey).where(ApiKey.publication_id == publication_id).order_by(ApiKey.created_at)
        if publication_id is None:
            query = select(ApiKey).where(ApiKey.publication_id.is_(None)).order_by(ApiKey.created_at)
        return list(await self.db.scalars(query))

    async def revoke(self, key_id: UUID, publication_id: UUID | None) -> ApiKey:
        key = await self.db.get(ApiKey, key_id)
        if key is None or key.publication_id != publication_id:
            raise NotFound("No such API key.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
        return key
