"""A story's HTML made safe to serve, and its teaser cut at a block boundary.

Every story body, HTML or rendered Markdown, passes through :func:`sanitise`: nh3 (the Ammonia
sanitiser) with a strict allow-list. What is kept:

* headings, paragraphs, lists, blockquotes, ``figure``/``figcaption``, ``pre``/``code``,
  ``em``/``strong``/``b``/``i``/``s``/``sub``/``sup``, ``hr``, ``br`` and simple tables;
* links with an ``href`` that is relative or ``http``, ``https`` or ``mailto`` (``title`` too), each
  given ``rel="noopener noreferrer nofollow"``;
* images with ``src``, ``srcset``, ``sizes``, ``alt``, ``width``, ``height`` and ``title``, when the
  image is the gateway's own (a relative URL) or on one of the publisher's image hosts
  (``GATEWAY_IMAGE_HOSTS``). An image from any other host is dropped with a logged line
  (``story_image_dropped``): its ``src`` goes, and a browser shows the ``alt`` text instead (the
  page's Content-Security-Policy would block the image anyway, leaving a broken one).

Everything else goes: ``script`` and ``style`` with their content, event handlers (``onerror``…),
``style`` and ``class`` attributes, ``iframe``, ``object``, forms, comments, and ``javascript:`` or
``data:`` URLs. Unknown elements are unwrapped, keeping their text.

The teaser is cut on the sanitised HTML, between two top-level blocks, never inside an element.
The publisher's marker ``<!-- more -->`` sets the cut; a marker inside a block cuts after that
block. Without one, the teaser is the first two blocks (of two blocks, the first; of one, nothing),
so it never holds the whole text.
"""

from __future__ import annotations

import re
import uuid
from functools import lru_cache
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3
import structlog

log = structlog.get_logger("gateway.stories")

MARKER = re.compile(r"<!--\s*more\s*-->", re.IGNORECASE)
"""The publisher's teaser marker in an HTML story (anywhere; it is looked for before sanitising)."""

TEASER_BLOCKS = 2
"""Without a marker, the teaser is this many top-level blocks."""

TAGS = frozenset(
    {"h1", "h2", "h3", "h4", "h5", "h6", "p", "a", "ul", "ol", "li", "blockquote", "figure"}
    | {"figcaption", "img", "pre", "code", "em", "strong", "b", "i", "s", "sub", "sup", "hr", "br"}
    | {"table", "thead", "tbody", "tr", "th", "td", "caption"}
)
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "srcset", "sizes", "alt", "width", "height", "title"},
    "ol": {"start"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}
LINK_REL = "noopener noreferrer nofollow"
URL_SCHEMES = frozenset({"http", "https", "mailto"})
VOID = frozenset({"img", "hr", "br"})
INLINE = frozenset({"a", "img", "br", "code", "em", "strong", "b", "i", "s", "sub", "sup"})
"""Elements that, at the top level, join the text around them in one block."""


class StoryHtmlError(ValueError):
    """HTML that cannot become a story (nothing left after sanitising, a misplaced marker)."""


def image_allowed(url: str, image_hosts: tuple[str, ...]) -> bool:
    """Whether an image URL is the gateway's own (relative) or on one of ``image_hosts``.

    ``image_hosts`` are ``https://host`` or ``https://*.host`` (a wildcard matches subdomains only,
    as in a Content-Security-Policy).
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if not parts.scheme and not parts.netloc:
        return True
    if parts.scheme != "https" or not parts.hostname:
        return False
    host = parts.hostname.lower()
    if parts.port is not None:
        return False
    for allowed in image_hosts:
        name = allowed.removeprefix("https://")
        if name.startswith("*."):
            if host.endswith(name[1:]):
                return True
        elif host == name:
            return True
    return False


def _srcset(value: str, image_hosts: tuple[str, ...]) -> str | None:
    kept = [c.strip() for c in value.split(",") if c.strip() and image_allowed(c.split()[0], image_hosts)]
    return ", ".join(kept) or None


@lru_cache(maxsize=16)
def _cleaner(image_hosts: tuple[str, ...]) -> nh3.Cleaner:
    def attribute(element: str, name: str, value: str) -> str | None:
        if element != "img" or name not in ("src", "srcset"):
            return value
        kept = _srcset(value, image_hosts) if name == "srcset" else value
        if kept is None or (name == "src" and not image_allowed(value, image_hosts)):
            log.info("story_image_dropped", url=value[:200], reason="not on GATEWAY_IMAGE_HOSTS")
            return None
        return kept

    return nh3.Cleaner(
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        attribute_filter=attribute,
        link_rel=LINK_REL,
        url_schemes=set(URL_SCHEMES),
    )


def sanitise(html: str, image_hosts: tuple[str, ...] = ()) -> str:
    """The story's HTML with only the allow-listed markup (see the module docstring)."""
    return _cleaner(image_hosts).clean(html)


class _Blocks(HTMLParser):
    """Where each top-level block of sanitised HTML ends (offsets into the text)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=False)
        self.html = html
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", html)]
        self.depth = 0
        self.ends: list[int] = []
        self.rules: list[int] = []
        """The ends of the top-level ``hr``: boundaries, not blocks of text."""
        self._open_text = False
        self.feed(html)
        self.close()
        if self._open_text:
            self.ends.append(len(html.rstrip()))

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def _end_of_tag(self) -> int:
        raw = self.get_starttag_text()
        return self._offset() + (len(raw) if raw else 0)

    def _close_text(self) -> None:
        if self._open_text:
            self.ends.append(len(self.html[: self._offset()].rstrip()))
            self._open_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth == 0:
            if tag in INLINE:
                self._open_text = True
            else:
                self._close_text()
                if tag in VOID:
                    self.rules.append(self._end_of_tag())
        if tag not in VOID:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        self.depth -= 1
        if self.depth == 0 and tag not in INLINE:
            self.ends.append(self.html.index(">", self._offset()) + 1)

    def handle_data(self, data: str) -> None:
        if self.depth == 0 and data.strip():
            self._open_text = True

    def handle_entityref(self, name: str) -> None:
        self.handle_data("&")

    def handle_charref(self, name: str) -> None:
        self.handle_data("&")


def block_ends(html: str) -> tuple[list[int], list[int]]:
    """Where the top-level blocks of (sanitised) ``html`` end, and where the rules between them do."""
    blocks = _Blocks(html)
    return blocks.ends, blocks.rules


def _default_teaser(body: str, ends: list[int]) -> str:
    keep = min(TEASER_BLOCKS, len(ends) - 1)
    return body[: ends[keep - 1]].strip() if keep > 0 else ""


def html_with_teaser(html: str, image_hosts: tuple[str, ...] = ()) -> tuple[str, str, bool]:
    """Sanitise and cut the teaser: ``(body_html, teaser_html, teaser_from_marker)``.

    Raises :class:`StoryHtmlError` when nothing is left to read, or the marker comes first.
    """
    found = MARKER.search(html)
    # The marker does not survive sanitising (comments are removed): a token of text stands in.
    token = f"tollgate{uuid.uuid4().hex}"
    if found is not None:
        html = html[: found.start()] + token + MARKER.sub("", html[found.end() :])
    cleaned = sanitise(html, image_hosts).strip()
    at = cleaned.find(token)
    body = cleaned.replace(token, "").strip() if at >= 0 else cleaned
    ends, rules = block_ends(body)
    if not ends:
        raise StoryHtmlError("the story has no text")
    if at < 0:
        return body, _default_teaser(body, ends), False
    at = len(body[:at].rstrip())
    if at == 0:
        raise StoryHtmlError("the teaser marker comes before any text")
    cut = min(end for end in [*ends, *rules, len(body)] if end >= at)
    teaser = body[:cut].strip()
    if cut >= ends[-1]:
        # A marker in or after the last block would show everything: the usual cut applies.
        return body, _default_teaser(body, ends), False
    return body, teaser, True
