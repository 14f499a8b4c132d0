"""Stories from a WordPress site's REST API.

``GET /wp-json/wp/v2/posts?_embed&per_page=…&page=…`` lists the published posts; the
``X-WP-TotalPages`` header says how many pages there are. From each post: ``slug``,
``title.rendered`` (HTML, made plain text), ``content.rendered``, ``date_gmt``, the author from
``_embedded.author[0].name``, and the post's categories and tags from ``_embedded["wp:term"]``.

WordPress has no access setting of its own (membership plugins each keep theirs), so the
publisher says it with a **category or tag**: a post filed under the ``members`` term (by slug) is
for members, under ``paid`` for paying members, under ``public`` for everyone; the slugs can be
renamed (``--members-term``, ``--paid-term``, ``--public-term``). A post under none of them gets
``--untagged`` (by default it is skipped: no access is assumed); under several, the strictest
wins (paid, then members, then public). Password-protected posts are skipped: their text is not in
the API's answer.

WordPress writes the "more" block as ``<span id="more-N"></span>``; it becomes Tollgate's teaser
marker.
"""

from __future__ import annotations

import html as entities
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.stories.sources import (
    Access,
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

PAGE_SIZE = 100
MAX_PAGES = 1000
_MORE = re.compile(r"(<p>\s*)?<span id=\"more-\d+\"></span>(\s*</p>)?")
_TAGS = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Terms:
    """The category or tag slugs that say a post's access."""

    members: str = "members"
    paid: str = "paid"
    public: str = "public"
    untagged: Access | None = None
    """The access of a post under none of them; None skips it."""


def plain(rendered: str) -> str:
    """``title.rendered`` as plain text: tags removed, entities (``&#8217;``) decoded."""
    return " ".join(entities.unescape(_TAGS.sub("", rendered)).split())


class WordPressSource:
    """A WordPress site's published posts, with access from their categories and tags."""

    def __init__(
        self, url: str, rules: AccessRules, *, http: httpx.Client, terms: Terms | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.rules = rules
        self.http = http
        self.terms = terms or Terms()

    @property
    def name(self) -> str:
        return f"wordpress {self.url}"

    def stories(self) -> Iterator[Found]:
        for post in self._posts():
            yield self._story(post)

    def _posts(self) -> Iterator[dict[str, Any]]:
        url = f"{self.url}/wp-json/wp/v2/posts"
        page, pages = 1, 1
        while page <= pages:
            params = {"_embed": "1", "per_page": str(PAGE_SIZE), "page": str(page)}
            answer = fetch_json(self.http, url, name="WordPress", params=params)
            posts = answer.json()
            if not isinstance(posts, list):
                raise SourceError(f"WordPress's answer for {answer.url} is not a list of posts")
            yield from items(posts)
            try:
                pages = int(answer.headers.get("x-wp-totalpages", "1"))
            except ValueError:
                raise SourceError(f"WordPress's X-WP-TotalPages for {answer.url} is not a number") from None
            if pages > MAX_PAGES:
                raise SourceError(f"WordPress at {self.url} claims {pages} pages, more than {MAX_PAGES}")
            page += 1

    def _access(self, post: dict[str, Any]) -> Access | None:
        groups = field(field(post, "_embedded"), "wp:term")
        slugs = {text(term.get("slug")) for group in groups or [] for term in items(group)}
        if self.terms.paid in slugs:
            return self.rules.for_word("paid")
        if self.terms.members in slugs:
            return self.rules.for_word("members")
        if self.terms.public in slugs:
            return self.rules.for_word("public")
        return self.terms.untagged

    def _story(self, post: dict[str, Any]) -> Found:
        slug = text(post.get("slug"))
        content = post.get("content")
        if field(content, "protected"):
            return Skipped(slug, "the post is password-protected in WordPress")
        access = self._access(post)
        if access is None:
            terms = self.terms
            return Skipped(
                slug,
                f"no access: the post is under none of the terms {terms.public!r}, {terms.members!r} "
                f"or {terms.paid!r} (or sync with --untagged)",
            )
        authors = items(field(field(post, "_embedded"), "author"))
        author = next((name for a in authors if (name := plain(text(a.get("name"))))), "")
        published = day_of(post.get("date_gmt"))
        if not author or published is None:
            return Skipped(slug, "the post has no author" if not author else "the post has no date_gmt")
        body = text(field(content, "rendered"))
        return Imported(
            id=slug,
            title=plain(text(field(post.get("title"), "rendered"))),
            author=author,
            published=published,
            access=access,
            body=_MORE.sub("<!-- more -->", body, count=1),
        )
