"""Stories from a Ghost site: its Content API, or its Admin API for the members' text.

Both list published posts page by page (``limit``, ``page``; ``meta.pagination.next`` is the next
page, null on the last) with the same fields: ``slug``, ``title``, ``html``, ``published_at``,
``visibility`` (``public``, ``members``, ``paid`` or ``tiers``, with the ``tiers`` list),
``primary_author.name``.

* The **Content API** (``/ghost/api/content/posts/?key=…``) is read with a Content API key. It is
  public by design, so Ghost gives a members-only post's ``html`` only up to its public preview, or
  not at all: such a post is skipped, with that reason, rather than served cut short to members.
* The **Admin API** (``/ghost/api/admin/posts/``) is read with an Admin API key (``id:secret``,
  from a custom integration), sent as the short-lived token Ghost asks for (HS256, ``kid`` the id,
  audience ``/admin/``, five minutes). It gives every post's whole ``html``, with
  ``<!--members-only-->`` where the publisher put the paywall card.

Ghost's paywall card becomes Tollgate's teaser marker, ``<!-- more -->``; the visibility becomes
access as :class:`~gateway.stories.sources.AccessRules` says (``tiers``: the tiers' keys).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt

from gateway.stories.sources import (
    AccessRules,
    Found,
    Imported,
    Skipped,
    SourceError,
    day_of,
    fetch_json,
    field,
    items,
    text,
)

PAGE_SIZE = 50
MAX_PAGES = 1000
"""A source claiming more pages than this is answering nonsense."""
ACCEPT_VERSION = "v5.0"
PAYWALL_CARD = re.compile(r"<!--\s*members-only\s*-->")
_ADMIN_KEY = re.compile(r"([0-9a-f]{24}):([0-9a-f]{64})")


def admin_token(admin_key: str, now: float | None = None) -> str:
    """The token for Ghost's Admin API from an ``id:secret`` Admin API key."""
    found = _ADMIN_KEY.fullmatch(admin_key.strip())
    if found is None:
        raise SourceError("a Ghost Admin API key is '<24 hex digits>:<64 hex digits>', as Ghost shows it")
    issued = int(time.time() if now is None else now)
    return jwt.encode(
        {"iat": issued, "exp": issued + 300, "aud": "/admin/"},
        bytes.fromhex(found.group(2)),
        algorithm="HS256",
        headers={"kid": found.group(1)},
    )


class GhostSource:
    """A Ghost site's published posts, read with a Content API key or an Admin API key."""

    def __init__(
        self,
        url: str,
        rules: AccessRules,
        *,
        http: httpx.Client,
        content_key: str = "",
        admin_key: str = "",
    ) -> None:
        if bool(content_key) == bool(admin_key):
            raise SourceError("name one Ghost key: a Content API key or an Admin API key")
        if admin_key:
            admin_token(admin_key)  # refuses a malformed key before any request
        self.url = url.rstrip("/")
        self.rules = rules
        self.http = http
        self.content_key = content_key
        self.admin_key = admin_key

    @property
    def name(self) -> str:
        return f"ghost {self.url}"

    def stories(self) -> Iterator[Found]:
        for post in self._posts():
            yield self._story(post)

    def _posts(self) -> Iterator[dict[str, Any]]:
        page: object = 1
        for _ in range(MAX_PAGES):
            answer = self._page(page)
            body = answer.json()
            posts = body.get("posts") if isinstance(body, dict) else None
            if not isinstance(posts, list):
                raise SourceError(f"Ghost's answer for {answer.url} has no 'posts' list")
            yield from items(posts)
            page = field(field(body.get("meta"), "pagination"), "next")
            if not page:
                return
        raise SourceError(f"Ghost at {self.url} answered more than {MAX_PAGES} pages")

    def _page(self, page: object) -> httpx.Response:
        params = {
            "include": "tags,authors,tiers",
            "formats": "html",
            "limit": str(PAGE_SIZE),
            "page": str(page),
        }
        headers = {"accept-version": ACCEPT_VERSION}
        if self.content_key:
            url = f"{self.url}/ghost/api/content/posts/"
            params["key"] = self.content_key
            return fetch_json(self.http, url, name="Ghost", params=params, headers=headers)
        url = f"{self.url}/ghost/api/admin/posts/"
        params["filter"] = "status:published"
        headers["authorization"] = f"Ghost {admin_token(self.admin_key)}"
        return fetch_json(self.http, url, name="Ghost", params=params, headers=headers)

    def _story(self, post: dict[str, Any]) -> Found:
        slug = text(post.get("slug"))
        visibility = post.get("visibility")
        if self.content_key and visibility != "public":
            return Skipped(
                slug,
                "Ghost's Content API gives at most the public preview of a members-only post: "
                "sync with an Admin API key",
            )
        if visibility == "tiers":
            tiers = [text(tier.get("slug")) for tier in items(post.get("tiers"))]
            access = self.rules.for_tiers(tiers)
            if access is None:
                return Skipped(slug, f"visibility 'tiers' names no tier with a usable slug: {tiers}")
        else:
            access = self.rules.for_word(str(visibility))
            if access is None:
                return Skipped(slug, f"visibility {visibility!r} is not public, members, paid or tiers")
        html = post.get("html")
        if not isinstance(html, str) or not html.strip():
            return Skipped(slug, "the post has no html")
        authors = items(post.get("authors"))
        names = [field(post.get("primary_author"), "name"), *(a.get("name") for a in authors)]
        author = next((name for name in map(text, names) if name), "")
        published = day_of(post.get("published_at"))
        if not author or published is None:
            return Skipped(slug, "the post has no author" if not author else "the post has no published_at")
        return Imported(
            id=slug,
            title=text(post.get("title")),
            author=author,
            published=published,
            access=access,
            body=PAYWALL_CARD.sub("<!-- more -->", html, count=1),
        )
