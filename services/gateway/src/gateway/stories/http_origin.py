"""The origin contract served over HTTP by the publisher's CMS, with a shared cache in front of it.

The CMS answers two URLs under its base URL:

``GET {base_url}/stories/{id}.md``
    The story document: Markdown with YAML front matter, exactly what a :class:`FileOrigin` file
    holds (see :mod:`gateway.stories.origin`), or HTML when the front matter says ``format: html``;
    404 (or 410) when there is no such story.
``GET {base_url}/stories/index.json``
    ``{"stories": ["id", ...]}``: the ids of every story. :meth:`HttpOrigin.stories` then fetches
    each story through the same cache.

Caching
=======

:class:`HttpOrigin` is a *shared* cache (it serves every reader), written by hand after RFC 9111 and
keeping only the useful subset. It keeps parsed stories, so a revalidated document is not parsed
again. The rules, conservative by design because a story's ``access`` line can change:

* Only 200 and 404/410 answers are stored, and only when the origin allows it: never with
  ``no-store``, ``private`` (we are a shared cache) or ``Vary: *``; and never when the answer has
  neither an explicit freshness lifetime nor a validator (no heuristic freshness).
* The freshness lifetime is ``s-maxage`` (it wins in a shared cache), else ``max-age``, else
  ``Expires - Date``. An invalid or conflicting value means "already stale". ``no-cache`` means
  "stored, but revalidated on every use", as does a lifetime of 0.
* The age is the ``Age`` header plus the time the request took plus the time spent in the cache.
* A stale entry with an ``ETag`` or ``Last-Modified`` is revalidated with ``If-None-Match`` /
  ``If-Modified-Since``; a 304 refreshes its freshness (the 304's headers update the stored ones)
  and keeps the parsed story. A 200 replaces it and is parsed again.
* ``stale-if-error=N`` (RFC 5861): when the origin times out, cannot be reached or answers 5xx, a
  stored answer stale for at most N seconds is served instead of failing, unless the origin also
  said ``no-cache``, ``must-revalidate``, ``proxy-revalidate`` or ``s-maxage`` (which implies
  ``proxy-revalidate`` for a shared cache).
* The cache holds at most ``max_entries`` stories and drops the least recently used one first.
* Concurrent requests for the same story share one origin request.

Why not hishel
--------------

hishel is the maintained RFC 9111 cache for httpx, and the rules above are a subset of RFC 9111,
so it was weighed (hishel 2.0.0, the version on our package index) as a replacement for this
module's cache. It would lose behaviour this module has, and its tests check:

* **No stale-if-error.** hishel does not read RFC 5861's ``stale-if-error``. A 5xx during
  revalidation is forwarded *and stored*, replacing the good answer, and a timeout or refused
  connection is raised. Here, a story stays readable through an origin outage for as long as the
  CMS allows. Its only stale option (``allow_stale``) goes the other way: it serves stale answers
  without revalidating, with no bound.
* **Heuristic freshness.** Without ``max-age`` or ``Expires``, hishel treats an answer with
  ``Last-Modified`` as fresh for 10% of its age (up to a week). Here, such an answer is revalidated
  on every use: a story's ``access`` line may change, and a story made member-only must not stay
  public for days.
* **Age from the wall clock.** hishel takes age from ``time.time()`` against the origin's
  ``Date``, so a CMS whose clock runs behind makes every answer look old, and tests cannot move
  its clock. Here, age is ``Age`` plus the request's own delay, measured on an injectable
  monotonic clock.
* **Bytes, not stories.** hishel stores responses, in SQLite or Redis (it has no bounded
  in-memory LRU). Each hit would read the store and parse the Markdown again, and a 304 would
  parse it too. Here, a hit is a dict lookup that returns the parsed ``Story``.
* **No shared flights.** Concurrent misses for one story would each ask the CMS.

Closing those gaps would mean wrapping hishel's state machine in about as much code as the cache
below, plus a storage backend. So the cache stays hand-written; it is kept small, and each rule
has a test in ``tests/gateway/test_http_origin.py``.

Failures
========

An origin that does not answer within ``timeout`` seconds (the whole exchange, body included)
raises :class:`OriginTimeout`; one that cannot be reached, answers 5xx or anything else the contract
does not foresee raises :class:`OriginUnavailable`. Both are :class:`OriginError`. A story document
that breaks the contract, is not UTF-8 or is larger than :data:`MAX_BODY` is a missing story (None)
with a logged warning (``story_document_skipped``); an index that cannot be read raises
:class:`OriginUnavailable`, since the gateway cannot list the stories without it. When listing,
a story whose document fails is left out with a warning (``origin_story_left_out``); only when
every one fails does the listing raise.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx
import msgspec
import structlog

from gateway.stories.models import Story, is_slug
from gateway.stories.origin import parse_story

if TYPE_CHECKING:
    from gateway.stories.origin import Origin

log = structlog.get_logger("gateway.stories")

MAX_BODY = 2 * 1024 * 1024
"""The largest story document or index the gateway reads (decoded bytes): 2 MiB."""

LISTING_CONCURRENCY = 8
"""How many story documents :meth:`HttpOrigin.stories` fetches at once."""

_MAX_DELTA = 2**31
"""RFC 9111 1.2.2: a larger delta-seconds is read as this."""

_STORED_HEADERS = ("cache-control", "expires", "date", "age", "etag", "last-modified", "vary")
"""The response headers the cache keeps with an entry, and updates from a 304."""

_DIRECTIVE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*(?:=[ \t]*(\"(?:[^\"\\]|\\.)*\"|[^,\s]*))?")
_DIGITS = re.compile(r"[0-9]+")

T = TypeVar("T")
Headers = Mapping[str, tuple[str, ...]]


class OriginError(Exception):
    """The origin could not describe the story: the gateway answers 502 or 504, not 500."""


class OriginTimeout(OriginError):
    """The origin did not answer within the timeout (the gateway's 504)."""


class OriginUnavailable(OriginError):
    """The origin could not be reached, answered 5xx, or answered outside the contract (502)."""


class _Index(msgspec.Struct):
    stories: list[str]


# Cache-Control and friends -------------------------------------------------------------------


def _directives(values: Iterable[str]) -> dict[str, list[str | None]]:
    """The Cache-Control directives, lower-cased, each with every argument it was given."""
    found: dict[str, list[str | None]] = {}
    for value in values:
        for match in _DIRECTIVE.finditer(value):
            argument = match.group(2)
            if argument is not None and argument.startswith('"'):
                argument = re.sub(r"\\(.)", r"\1", argument[1:-1])
            found.setdefault(match.group(1).lower(), []).append(argument)
    return found


def _delta(arguments: list[str | None]) -> float | None:
    """A delta-seconds argument; None when missing, invalid or given twice with different values."""
    if len(set(arguments)) != 1:
        return None
    argument = arguments[0]
    if argument is None or not _DIGITS.fullmatch(argument):
        return None
    return float(min(int(argument), _MAX_DELTA))


def _http_date(value: str) -> float | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _first(headers: Headers, name: str) -> str | None:
    values = headers.get(name, ())
    return values[0] if values else None


@dataclass(frozen=True)
class _Policy:
    """What the origin's headers allow the cache to do with an answer."""

    store: bool
    lifetime: float
    """Freshness lifetime in seconds; 0 means "revalidate on every use"."""
    stale_if_error: float
    age: float
    """The ``Age`` the answer arrived with."""
    etag: str | None
    last_modified: str | None


def _policy(headers: Headers) -> _Policy:
    cc = _directives(headers.get("cache-control", ()))
    etag = _first(headers, "etag")
    last_modified = _first(headers, "last-modified")
    lifetime = 0.0
    if "s-maxage" in cc:
        lifetime = _delta(cc["s-maxage"]) or 0.0
    elif "max-age" in cc:
        lifetime = _delta(cc["max-age"]) or 0.0
    elif "expires" in headers:
        expires_values = headers["expires"]
        expires = _http_date(expires_values[0]) if len(expires_values) == 1 else None
        date_value = _first(headers, "date")
        date = _http_date(date_value) if date_value is not None else None
        if expires is not None:
            lifetime = max(0.0, expires - (date if date is not None else time.time()))
    revalidate_always = "no-cache" in cc
    if revalidate_always:
        lifetime = 0.0
    stale_if_error = 0.0
    strict = ("no-cache", "must-revalidate", "proxy-revalidate", "s-maxage")
    if "stale-if-error" in cc and not any(name in cc for name in strict):
        stale_if_error = _delta(cc["stale-if-error"]) or 0.0
    forbidden = (
        "no-store" in cc
        or "private" in cc
        or any(part.strip() == "*" for value in headers.get("vary", ()) for part in value.split(","))
    )
    useful = lifetime > 0 or etag is not None or last_modified is not None or stale_if_error > 0
    age_value = _first(headers, "age")
    age = 0.0
    if age_value is not None:
        age = _delta([age_value.split(",")[0].strip()]) or 0.0
    return _Policy(
        store=useful and not forbidden,
        lifetime=lifetime,
        stale_if_error=stale_if_error,
        age=age,
        etag=etag,
        last_modified=last_modified,
    )


@dataclass
class _Entry(Generic[T]):
    """One stored answer: the parsed value, the headers it came with, and its age bookkeeping."""

    value: T
    headers: dict[str, tuple[str, ...]]
    policy: _Policy
    response_time: float
    initial_age: float

    def age(self, now: float) -> float:
        return self.initial_age + max(0.0, now - self.response_time)

    def fresh(self, now: float) -> bool:
        return self.age(now) < self.policy.lifetime

    def usable_on_error(self, now: float) -> bool:
        return self.age(now) < self.policy.lifetime + self.policy.stale_if_error


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, tuple[str, ...]]
    body: bytes | None
    """The body of a 200; None when it was larger than :data:`MAX_BODY`."""
    request_time: float
    response_time: float


class _Lru(Generic[T]):
    """Entries by key, least recently used first, at most ``max_entries`` of them."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> _Entry[T] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: _Entry[T]) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)


class _Flights(Generic[T]):
    """One load per key at a time: concurrent callers for the same key share its result.

    The load runs in its own task, so a caller that goes away (a reader closing the page) neither
    cancels it for the others nor leaves the cache half-updated.
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, load: Callable[[], Coroutine[object, object, T]]) -> T:
        task = self._running.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(load())
            self._running[key] = task
            task.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(task)

    def _landed(self, key: str, task: asyncio.Task[T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved, so an error nobody awaited is not reported as lost


# The origin ----------------------------------------------------------------------------------


class HttpOrigin:
    """Stories from the publisher's CMS over HTTP, cached as its Cache-Control allows.

    ``http`` is the gateway's pooled client; the origin never closes it. ``timeout`` bounds each
    exchange with the CMS, body included. ``clock`` (monotonic seconds) measures ages and
    freshness; tests pass a fake one. Images not on ``image_hosts`` are dropped from the stories.
    """

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.AsyncClient,
        timeout: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        image_hosts: tuple[str, ...] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.image_hosts = image_hosts
        self.timeout = timeout
        self._http = http
        self._clock = clock
        self._stories: _Lru[Story | None] = _Lru(max_entries)
        self._index: _Lru[tuple[str, ...]] = _Lru(1)
        self._story_flights: _Flights[Story | None] = _Flights()
        self._index_flights: _Flights[tuple[str, ...]] = _Flights()

    def cached(self, story_id: str) -> bool:
        """Whether an answer for this story is held (fresh or not); for tests and diagnostics."""
        return story_id in self._stories

    async def story(self, story_id: str) -> Story | None:
        if not is_slug(story_id):
            return None
        entry = self._stories.get(story_id)
        if entry is not None and entry.fresh(self._clock()):
            return entry.value
        url = f"{self.base_url}/stories/{story_id}.md"
        return await self._story_flights.run(story_id, lambda: self._load_story(story_id, url))

    async def stories(self, publication: str | None = None) -> list[Story]:
        ids = await self._ids()
        limit = asyncio.Semaphore(LISTING_CONCURRENCY)

        async def one(story_id: str) -> Story | OriginError | None:
            async with limit:
                try:
                    return await self.story(story_id)
                except OriginError as exc:
                    # One story the origin fails to give leaves the list without it, not without all.
                    log.warning("origin_story_left_out", story=story_id, reason=str(exc))
                    return exc

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(story_id)) for story_id in ids]
        results = [task.result() for task in tasks]
        failures = [result for result in results if isinstance(result, OriginError)]
        if failures and len(failures) == len(results):
            raise failures[0]  # nothing could be fetched: the origin is down, not one story
        found = [result for result in results if isinstance(result, Story)]
        if publication is not None:
            found = [s for s in found if s.publication == publication]
        return sorted(found, key=lambda s: (s.published, s.id), reverse=True)

    # Loading -----------------------------------------------------------------------------------

    async def _load_story(self, story_id: str, url: str) -> Story | None:
        entry = self._stories.get(story_id)
        try:
            answer = await self._get(url, entry, accept="text/markdown")
        except OriginError as exc:
            if entry is not None and entry.usable_on_error(self._clock()):
                log.warning("origin_stale_served", url=url, reason=str(exc))
                return entry.value
            raise
        if answer.status == 304:
            if entry is None:
                raise OriginUnavailable(f"the origin answered 304 to an unconditional request for {url}")
            self._refresh(self._stories, story_id, entry, answer)
            return entry.value
        story: Story | None = None
        if answer.status == 200:
            story = self._parse(story_id, url, answer.body)
        elif answer.status not in (404, 410):
            raise OriginUnavailable(f"the origin answered {answer.status} for {url}")
        self._remember(self._stories, story_id, story, answer)
        return story

    async def _ids(self) -> tuple[str, ...]:
        entry = self._index.get("index")
        if entry is not None and entry.fresh(self._clock()):
            return entry.value
        url = f"{self.base_url}/stories/index.json"
        return await self._index_flights.run("index", lambda: self._load_index(url))

    async def _load_index(self, url: str) -> tuple[str, ...]:
        entry = self._index.get("index")
        try:
            answer = await self._get(url, entry, accept="application/json")
        except OriginError as exc:
            if entry is not None and entry.usable_on_error(self._clock()):
                log.warning("origin_stale_served", url=url, reason=str(exc))
                return entry.value
            raise
        if answer.status == 304:
            if entry is None:
                raise OriginUnavailable(f"the origin answered 304 to an unconditional request for {url}")
            self._refresh(self._index, "index", entry, answer)
            return entry.value
        if answer.status != 200:
            raise OriginUnavailable(f"the origin answered {answer.status} for {url}")
        if answer.body is None:
            raise OriginUnavailable(f"the story index at {url} is larger than {MAX_BODY} bytes")
        try:
            listed = msgspec.json.decode(answer.body, type=_Index).stories
        except msgspec.DecodeError as exc:
            log.warning("story_index_unreadable", url=url, reason=str(exc))
            raise OriginUnavailable(f"the story index at {url} breaks the contract: {exc}") from exc
        ids: list[str] = []
        for story_id in listed:
            if not is_slug(story_id):
                log.warning("story_document_skipped", url=url, story_id=story_id, reason="id is not a slug")
            elif story_id not in ids:
                ids.append(story_id)
        value = tuple(ids)
        self._remember(self._index, "index", value, answer)
        return value

    def _parse(self, story_id: str, url: str, body: bytes | None) -> Story | None:
        if body is None:
            log.warning("story_document_skipped", url=url, reason=f"larger than {MAX_BODY} bytes")
            return None
        try:
            return parse_story(body.decode("utf-8"), story_id, image_hosts=self.image_hosts)
        except (ValueError, TypeError, RecursionError) as exc:  # StoryFileError, UnicodeDecodeError
            log.warning("story_document_skipped", url=url, reason=str(exc))
            return None

    # The cache ---------------------------------------------------------------------------------

    def _remember(self, cache: _Lru[T], key: str, value: T, answer: _Answer) -> None:
        """Store a full answer if its headers allow it; otherwise forget any older one."""
        policy = _policy(answer.headers)
        if not policy.store:
            cache.drop(key)
            return
        cache.put(key, self._entry(value, answer.headers, policy, answer))

    def _refresh(self, cache: _Lru[T], key: str, entry: _Entry[T], answer: _Answer) -> None:
        """A 304: the stored answer stays, its headers updated with the new ones (RFC 9111 4.3.4)."""
        headers = {name: values for name, values in entry.headers.items() if name != "age"}
        headers.update(answer.headers)
        policy = _policy(headers)
        if not policy.store:
            cache.drop(key)
            return
        cache.put(key, self._entry(entry.value, headers, policy, answer))

    @staticmethod
    def _entry(value: T, headers: dict[str, tuple[str, ...]], policy: _Policy, answer: _Answer) -> _Entry[T]:
        # RFC 9111 4.2.3: the Age the answer arrived with, plus how long the request took. The
        # apparent age (our clock minus the origin's Date) is left out: it only measures clock skew.
        delay = max(0.0, answer.response_time - answer.request_time)
        return _Entry(
            value=value,
            headers=headers,
            policy=policy,
            response_time=answer.response_time,
            initial_age=policy.age + delay,
        )

    # HTTP ----------------------------------------------------------------------------------------

    async def _get(self, url: str, entry: _Entry[T] | None, *, accept: str) -> _Answer:
        """One GET within the timeout, conditional when a stored answer has validators."""
        headers = {"accept": accept}
        if entry is not None:
            if entry.policy.etag is not None:
                headers["if-none-match"] = entry.policy.etag
            if entry.policy.last_modified is not None:
                headers["if-modified-since"] = entry.policy.last_modified
        request_time = self._clock()
        try:
            async with (
                asyncio.timeout(self.timeout),
                self._http.stream("GET", url, headers=headers, timeout=self.timeout) as response,
            ):
                response_time = self._clock()
                if response.status_code >= 500:
                    raise OriginUnavailable(f"the origin answered {response.status_code} for {url}")
                body = await _read(response) if response.status_code == 200 else b""
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise OriginTimeout(f"the origin did not answer within {self.timeout} s for {url}") from exc
        except httpx.HTTPError as exc:
            raise OriginUnavailable(f"the origin is unreachable for {url} ({type(exc).__name__})") from exc
        kept = {name: tuple(response.headers.get_list(name)) for name in _STORED_HEADERS}
        return _Answer(
            status=response.status_code,
            headers={name: values for name, values in kept.items() if values},
            body=body,
            request_time=request_time,
            response_time=response_time,
        )


async def _read(response: httpx.Response) -> bytes | None:
    """The body, or None as soon as it grows past :data:`MAX_BODY` (the rest is never read)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


if TYPE_CHECKING:

    def _is_an_origin(origin: HttpOrigin) -> Origin:
        """Type-checked only: :class:`HttpOrigin` satisfies the :class:`Origin` protocol."""
        return origin
