"""An async client for membership's entitlement API, for services that need an answer online.

Every call carries an API key (`Authorization: Bearer tgk_...`). Answers decode into typed
msgspec structs; an error answer (RFC 9457 problem details) raises `MembershipError`, and no
answer at all (connection refused, timeout) raises its subclass `MembershipUnavailable`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

__all__ = [
    "AccessDecision",
    "BatchDecision",
    "Change",
    "ChangesPage",
    "Entitlements",
    "Grant",
    "Member",
    "MembershipClient",
    "MembershipError",
    "MembershipUnavailable",
]

T = TypeVar("T")
ReaderId = str | uuid.UUID


class MembershipError(Exception):
    """Membership answered with an error (or something unreadable); `status` is its HTTP status."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail


class MembershipUnavailable(MembershipError):
    """Membership could not be reached at all; `status` is 0 because no response came."""

    def __init__(self, detail: str) -> None:
        super().__init__(0, "Membership unavailable", detail)


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """One grant behind an entitlement: where it comes from and when it holds."""

    key: str
    source: str
    source_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class Entitlements(msgspec.Struct, frozen=True, kw_only=True):
    """What a reader holds now: the keys, the version they carry, and the grants behind them."""

    reader_id: str
    keys: tuple[str, ...]
    version: int
    grants: tuple[Grant, ...] = ()


class AccessDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to "may this reader open something needing any one of these keys?"."""

    allowed: bool
    reason: str = ""
    key: str | None = None
    until: datetime | None = None


class BatchDecision(msgspec.Struct, frozen=True, kw_only=True):
    """One reader's answer in a batch check."""

    allowed: bool
    until: datetime | None = None


class Member(msgspec.Struct, frozen=True, kw_only=True):
    """A reader holding the publication's keys now: which keys, from which sources, until when."""

    reader_id: str
    email: str = ""
    display_name: str = ""
    keys: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    until: datetime | None = None  # None: no end


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the revocation feed: the reader's entitlement version rose to `version`."""

    seq: int
    reader_id: str
    version: int


class ChangesPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the revocation feed."""

    changes: tuple[Change, ...]
    next_after: int | None = None
    has_more: bool = False


class _Latest(msgspec.Struct, frozen=True):
    seq: int


class _BatchAnswer(msgspec.Struct, frozen=True):
    results: dict[str, BatchDecision]


class _MembersPage(msgspec.Struct, frozen=True):
    members: tuple[Member, ...]
    next_cursor: str | None = None


class _Problem(msgspec.Struct, frozen=True):
    title: str = ""
    detail: str = ""
    status: int | None = None


class MembershipClient:
    """Calls membership's entitlement API with one API key; close it with `aclose()` (or `async with`).

    `http` lets the caller share an `httpx.AsyncClient` (then the caller closes it); `timeout`
    applies to each request this client makes, whichever HTTP client carries it.
    """

    #: The most reader ids membership takes in one batch check; longer lists are split.
    batch_limit = 10_000

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json, application/problem+json",
        }
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._timeout = timeout

    async def __aenter__(self) -> MembershipClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def entitlements(self, reader_id: ReaderId) -> Entitlements:
        """The reader's current entitlement keys, version and grants."""
        return await self._request("GET", f"/api/readers/{_segment(reader_id)}/entitlements", Entitlements)

    async def check(self, reader_id: ReaderId, keys: Iterable[str]) -> AccessDecision:
        """Whether the reader holds any one of `keys` now."""
        body = {"reader_id": str(reader_id), "keys": list(keys)}
        return await self._request("POST", "/api/access/check", AccessDecision, json=body)

    async def check_batch(
        self, reader_ids: Iterable[ReaderId], keys: Iterable[str]
    ) -> dict[str, BatchDecision]:
        """Each reader's answer, keyed by reader id string; more than `batch_limit` ids take several calls."""
        ids = [str(reader_id) for reader_id in reader_ids]
        wanted = list(keys)
        results: dict[str, BatchDecision] = {}
        for start in range(0, len(ids), self.batch_limit):
            body = {"reader_ids": ids[start : start + self.batch_limit], "keys": wanted}
            answer = await self._request("POST", "/api/access/check-batch", _BatchAnswer, json=body)
            results.update(answer.results)
        return results

    async def members(self, slug: str, **filters: str | int | None) -> AsyncIterator[Member]:
        """Every member of the publication, page after page; filters: `tier`, `status`, `source`, `limit`."""
        params = {name: str(value) for name, value in filters.items() if value is not None}
        path = f"/api/publications/{_segment(slug)}/members"
        while True:
            page = await self._request("GET", path, _MembersPage, params=params)
            for member in page.members:
                yield member
            # A cursor that does not move would loop forever; stop rather than trust it.
            if page.next_cursor is None or page.next_cursor == params.get("cursor"):
                return
            params["cursor"] = page.next_cursor

    async def changes(self, after: int, limit: int = 1000) -> ChangesPage:
        """One page of the revocation feed: the entries with a sequence number above `after`."""
        params = {"after": str(after), "limit": str(limit)}
        return await self._request("GET", "/api/entitlements/changes", ChangesPage, params=params)

    async def latest_change(self) -> int:
        """The feed's newest sequence number, so a new follower can start from now."""
        return (await self._request("GET", "/api/entitlements/changes/latest", _Latest)).seq

    async def _request(
        self,
        method: str,
        path: str,
        answer_type: type[T],
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> T:
        headers = dict(self._headers)
        content = None
        if json is not None:
            content = msgspec.json.encode(json)
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method,
                self._base_url + path,
                params=params,
                content=content,
                headers=headers,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise MembershipUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise problem_error(response)
        try:
            return msgspec.json.decode(response.content, type=answer_type)
        except msgspec.DecodeError as exc:
            raise MembershipError(response.status_code, "Unreadable answer", str(exc)) from exc


def problem_error(response: httpx.Response) -> MembershipError:
    """The `MembershipError` for an error answer, from its problem details when it has them."""
    title, detail = response.reason_phrase or "Error", ""
    try:
        problem = msgspec.json.decode(response.content, type=_Problem)
    except msgspec.DecodeError:
        # Not problem details (a proxy's HTML page, say): keep the start of the body as the detail.
        detail = response.text[:200]
    else:
        title, detail = problem.title or title, problem.detail
    return MembershipError(response.status_code, title, detail)


def _segment(value: ReaderId) -> str:
    # Quoted with nothing safe, so a value can never add path segments.
    return quote(str(value), safe="")
