"""The entitlement API, for services holding an API key with `entitlements:read`.

A publication's key sees and checks only its own publication's keys (`pub:<slug>...`); a
platform key (made by an operator) sees every key.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from membership.apikeys.models import ApiKey, Scope
from membership.apikeys.services import ApiKeyService
from membership.entitlements.schemas import (
    BatchIn,
    BatchOut,
    BatchResult,
    Change,
    ChangesOut,
    CheckIn,
    CheckOut,
    LatestOut,
    ReaderEntitlements,
)
from membership.entitlements.services import EntitlementService
from membership.grants.schemas import GrantOut
from membership.grants.services import GrantService
from membership.publications.models import Publication, key_under
from membership.readers.services import ReaderService
from tollgate_common.problems import Forbidden


async def visible_prefix(db: AsyncSession, key: ApiKey) -> str | None:
    """None: every key is visible (a platform key); else only `pub:<slug>` and below."""
    ApiKeyService.require(key, Scope.ENTITLEMENTS_READ)
    if key.publication_id is None:
        return None
    publication = await db.get(Publication, key.publication_id)
    return publication.key if publication else "pub:\x00"


def _visible(key: str, prefix: str | None) -> bool:
    return prefix is None or key_under(prefix, key)


class EntitlementApi(Controller):
    path = "/api"
    tags = ["entitlements"]

    @get(
        "/readers/{reader_id:uuid}/entitlements",
        summary="A reader's live entitlements, with sources and ends",
    )
    async def reader_entitlements(
        self,
        reader_id: FromPath[UUID],
        api_key: NamedDependency[ApiKey],
        db_session: NamedDependency[AsyncSession],
        readers: NamedDependency[ReaderService],
        grants: NamedDependency[GrantService],
    ) -> ReaderEntitlements:
        prefix = await visible_prefix(db_session, api_key)
        reader = await readers.require(reader_id)
        live = [g for g in await grants.live(reader.id) if _visible(g.key, prefix)]
        return ReaderEntitlements(
            reader.id,
            sorted({g.key for g in live}),
            reader.entitlement_version,
            [GrantOut.of(g) for g in live],
        )

    @post(
        "/access/check",
        status_code=200,
        summary="May this reader open something that any of these keys open?",
    )
    async def check(
        self,
        data: JSONBody[CheckIn],
        api_key: NamedDependency[ApiKey],
        db_session: NamedDependency[AsyncSession],
        entitlements: NamedDependency[EntitlementService],
    ) -> CheckOut:
        prefix = await visible_prefix(db_session, api_key)
        if hidden := [k for k in data.keys if not _visible(k, prefix)]:
            raise Forbidden(f"This API key may not check {', '.join(hidden)}.")
        decision = await entitlements.check(data.reader_id, data.keys)
        return CheckOut(decision.allowed, decision.reason, decision.key, decision.until)

    # 10,000 reader ids are about 400 KB of JSON: more than the API's default body limit.
    @post(
        "/access/check-batch",
        status_code=200,
        request_max_body_size=1024 * 1024,
        summary="The same question for up to 10,000 readers at once",
    )
    async def check_batch(
        self,
        data: JSONBody[BatchIn],
        api_key: NamedDependency[ApiKey],
        db_session: NamedDependency[AsyncSession],
        entitlements: NamedDependency[EntitlementService],
    ) -> BatchOut:
        prefix = await visible_prefix(db_session, api_key)
        if hidden := [k for k in data.keys if not _visible(k, prefix)]:
            raise Forbidden(f"This API key may not check {', '.join(hidden)}.")
        decisions = await entitlements.check_batch(list(dict.fromkeys(data.reader_ids)), data.keys)
        return BatchOut({str(rid): BatchResult(d.allowed, d.until) for rid, d in decisions.items()})

    @get("/entitlements/changes", summary="The revocation feed: readers whose entitlement version rose")
    async def changes(
        self,
        api_key: NamedDependency[ApiKey],
        entitlements: NamedDependency[EntitlementService],
        after: FromQuery[int] = 0,
        limit: FromQuery[int] = 1000,
    ) -> ChangesOut:
        ApiKeyService.require(api_key, Scope.ENTITLEMENTS_READ)
        found, more = await entitlements.changes(max(0, after), max(1, min(limit, 5000)))
        return ChangesOut(
            [Change(c.seq, c.reader_id, c.version) for c in found], found[-1].seq if found else after, more
        )

    @get("/entitlements/changes/latest", summary="Where the feed is now (to follow it from here)")
    async def latest(
        self, api_key: NamedDependency[ApiKey], entitlements: NamedDependency[EntitlementService]
    ) -> LatestOut:
        ApiKeyService.require(api_key, Scope.ENTITLEMENTS_READ)
        return LatestOut(await entitlements.latest_seq())
