"""Story origins: where the gateway gets the stories it serves.

The origin contract
===================

An origin describes each story with a few fields; the gateway decides who reads what.

``id``
    The story's slug: lower-case letters, digits and hyphens, starting with a letter or digit, at
    most 100 characters (``^[a-z0-9][a-z0-9-]{0,99}$``). It appears in the story's URL.
``publication``
    The slug of the publication the story belongs to, such as ``the-gazette``.
``title``, ``author``
    Plain text.
``author_id`` (optional)
    The author's reader id at membership (a UUID). The author may then make friend links for the
    story; without it, only the publication's staff may.
``published``
    The publication date, ``YYYY-MM-DD``.
``access``
    Either ``public`` (anyone reads it all), or a non-empty list of entitlement keys, any one of
    which opens the story: ``[pub:the-gazette]`` for the publication's members only, or
    ``[member, pub:the-gazette]`` for platform members and the publication's members alike. There
    is no default: a story without ``access`` is refused, so a forgotten line never publishes
    member-only text.
The teaser
    Where the teaser ends. The publisher puts the marker ``<!-- more -->`` between two blocks
    (in Markdown, on a line of its own); everything before it is the teaser. Without a marker the
    teaser is the first two paragraphs (HTML: the first two top-level blocks; for a story of two,
    the first; of one, nothing), so it never holds the whole text. The cut is made on the server,
    never inside an element: an HTML marker inside a block cuts after that block.
``format`` (optional)
    ``markdown`` (the default) or ``html``: the language of the text after the front matter. A
    ``.html`` file is HTML whatever it says.

Other fields (such as ``imported_from``, which ``gateway stories sync`` writes) are ignored.

The built-in :class:`FileOrigin` reads that contract from a folder of files with YAML front
matter, one story per file, named ``<id>.md`` (Markdown) or ``<id>.html`` (HTML, such as a Ghost
post's)::

    ---
    id: the-river-in-march
    publication: field-notes
    title: The river in March
    author: Ada Brook
    published: 2026-03-04
    access: [member, pub:field-notes]
    ---
    The first paragraph, shown to everyone.

    <!-- more -->

    What only readers with an entitlement see.

Every story's HTML, written or rendered from Markdown, goes through one sanitiser
(:mod:`gateway.stories.html`): nh3 with a strict allow-list, so no script, event handler, style,
iframe or form reaches the page, links get ``rel="noopener noreferrer nofollow"``, and an image
stays only when it is the gateway's own (a relative URL, such as ``/images/<name>`` from the
folder's ``images/`` sub-folder) or on one of the publisher's image hosts
(``GATEWAY_IMAGE_HOSTS``, which the page's CSP allows); another image keeps only its ``alt``.
The Markdown is CommonMark with raw HTML disabled: HTML in a Markdown story is shown as text,
never rendered (write the story as ``.html`` to use markup). A file that breaks the contract is
skipped with a logged warning; the other stories are still served. ``gateway stories sync``
(:mod:`gateway.stories.sources`) writes such a folder from Ghost, WordPress or another folder.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import structlog
import yaml
from markdown_it import MarkdownIt

from gateway.stories.html import StoryHtmlError, html_with_teaser, sanitise
from gateway.stories.models import KEY, PUBLIC, Story, is_slug

log = structlog.get_logger("gateway.stories")

DEFAULT_SAMPLES = Path(__file__).parent / "samples"
"""The sample stories shipped with the gateway, served when no other origin is configured."""

MARKER = re.compile(r"^[ \t]*<!--[ \t]*more[ \t]*-->[ \t]*$", re.MULTILINE)
"""The publisher's teaser marker, on a line of its own."""

FORMATS = ("markdown", "html")
"""What a story's text may be written in (front matter ``format``; a ``.html`` file is HTML)."""

SUFFIXES = {".md": "markdown", ".html": "html"}
"""A story file's name ends in one of these; it sets the story's format."""

TEASER_PARAGRAPHS = 2
"""Without a marker, the teaser is this many paragraphs."""

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?\n?", re.DOTALL | re.MULTILINE)


class Origin(Protocol):
    """Anything that describes stories to the gateway."""

    async def story(self, story_id: str) -> Story | None:
        """The story with this id, or None when there is none (or the id is not a slug)."""
        ...

    async def stories(self, publication: str | None = None) -> list[Story]:
        """All stories, or those of one publication, newest first."""
        ...


class StoryFileError(ValueError):
    """A story file that does not follow the origin contract."""


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False})


def render(markdown: str) -> str:
    """Render Markdown to HTML: CommonMark, raw HTML escaped."""
    html: str = _markdown().render(markdown)
    return html


def render_with_teaser(markdown: str, image_hosts: tuple[str, ...] = ()) -> tuple[str, str, bool]:
    """Render the full body and cut the teaser: ``(body_html, teaser_html, teaser_from_marker)``.

    Both go through the same sanitiser as HTML stories (:func:`gateway.stories.html.sanitise`).
    """
    body, teaser, from_marker = _markdown_with_teaser(markdown)
    return sanitise(body, image_hosts), sanitise(teaser, image_hosts), from_marker


def _markdown_with_teaser(markdown: str) -> tuple[str, str, bool]:
    md = _markdown()
    found = MARKER.search(markdown)
    if found is not None:
        before, after = markdown[: found.start()], markdown[found.end() :]
        if not before.strip():
            raise StoryFileError("the teaser marker comes before any text")
        return md.render(before.rstrip() + "\n\n" + after.lstrip()), md.render(before), True
    env: dict[str, Any] = {}
    tokens = md.parse(markdown, env)
    closes = [i for i, t in enumerate(tokens) if t.type == "paragraph_close" and t.level == 0]
    keep = min(TEASER_PARAGRAPHS, len(closes) - 1)
    teaser_tokens = tokens[: closes[keep - 1] + 1] if keep > 0 else []
    body: str = md.renderer.render(tokens, md.options, env)
    teaser: str = md.renderer.render(teaser_tokens, md.options, env) if teaser_tokens else ""
    return body, teaser, False


def _text(meta: dict[str, Any], name: str) -> str:
    value = meta.get(name)
    if not isinstance(value, str) or not value.strip():
        raise StoryFileError(f"{name!r} must be non-empty text")
    return value.strip()


def _published(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise StoryFileError("'published' must be a date, YYYY-MM-DD")


def _author_id(value: object) -> str | None:
    if value is None:
        return None
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise StoryFileError("'author_id' must be the author's reader id, a UUID") from None


def _keys(value: object) -> tuple[str, ...]:
    if value == "public":
        return PUBLIC
    if isinstance(value, list) and value:
        keys: list[str] = []
        for key in value:
            if not isinstance(key, str) or not KEY.fullmatch(key):
                raise StoryFileError(f"access key {key!r} is not an entitlement key")
            if key not in keys:
                keys.append(key)
        return tuple(keys)
    raise StoryFileError("'access' must be 'public' or a non-empty list of entitlement keys")


def _body(text: str, story_format: str, image_hosts: tuple[str, ...]) -> tuple[str, str, bool]:
    if story_format == "markdown":
        return render_with_teaser(text, image_hosts)
    try:
        return html_with_teaser(text, image_hosts)
    except StoryHtmlError as exc:
        raise StoryFileError(str(exc)) from exc


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """A story document's front matter (a YAML mapping) and the text after it.

    Raises :class:`StoryFileError` when there is no front matter or it is not a YAML mapping.
    """
    found = _FRONT_MATTER.match(text)
    if found is None:
        raise StoryFileError("no front matter: the file must start with a '---' block")
    try:
        meta = yaml.safe_load(found.group(1))
    except yaml.YAMLError as exc:
        raise StoryFileError(f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise StoryFileError("front matter must be a mapping")
    return meta, text[found.end() :]


def parse_story(
    text: str, story_id: str, *, story_format: str | None = None, image_hosts: tuple[str, ...] = ()
) -> Story:
    """Parse one story document; ``story_id`` is the file's name without ``.md`` or ``.html``.

    ``story_format`` is ``markdown`` or ``html`` (a ``.html`` file's); None lets the front
    matter's ``format`` say, Markdown by default. Images not on ``image_hosts`` are dropped.
    Raises :class:`StoryFileError` when the document does not follow the origin contract.
    """
    meta, content = front_matter(text)
    declared = meta.get("id", story_id)
    if declared != story_id:
        raise StoryFileError(f"id {declared!r} does not match the file name {story_id!r}.md")
    publication = _text(meta, "publication")
    if not is_slug(publication):
        raise StoryFileError(f"publication {publication!r} is not a slug")
    if "access" not in meta:
        raise StoryFileError("'access' is missing: say 'public' or list the entitlement keys")
    declared_format = meta.get("format", "markdown")
    if declared_format not in FORMATS:
        raise StoryFileError(f"'format' must be 'markdown' or 'html', not {declared_format!r}")
    if not content.strip():
        raise StoryFileError("the story has no text")
    body_html, teaser_html, from_marker = _body(content, story_format or declared_format, image_hosts)
    return Story(
        id=story_id,
        publication=publication,
        title=_text(meta, "title"),
        author=_text(meta, "author"),
        author_id=_author_id(meta.get("author_id")),
        published=_published(meta.get("published")),
        keys=_keys(meta["access"]),
        body_html=body_html,
        teaser_html=teaser_html,
        teaser_from_marker=from_marker,
    )


class FileOrigin:
    """Stories from a folder of ``<id>.md`` and ``<id>.html`` files with YAML front matter.

    Parsed files are cached by path and modification time, so an edited file is read again and an
    unchanged one is not; a file is looked at again at most every `recheck_seconds` (one second by
    default), so a busy story costs no disk access per request. Ids that are not slugs are refused
    before any file is touched, so a request path can never reach outside the folder. A story with
    both an ``.md`` and an ``.html`` file is skipped with a warning: which one is meant is unclear.
    Images not on ``image_hosts`` are dropped from the stories (see :mod:`gateway.stories.html`).
    """

    def __init__(
        self,
        folder: Path,
        *,
        recheck_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        image_hosts: tuple[str, ...] = (),
    ) -> None:
        self.folder = folder
        self.recheck_seconds = recheck_seconds
        self.image_hosts = image_hosts
        self._clock = clock
        # story id -> ((mtime_ns, size) per file, story or None when invalid, monotonic time of the last stat)
        self._cache: dict[str, tuple[tuple[tuple[int, int], ...], Story | None, float]] = {}
        self._lock = threading.Lock()

    async def story(self, story_id: str) -> Story | None:
        if not is_slug(story_id):
            return None
        # A file looked at within the last `recheck_seconds` is served without a disk (and thread) hop.
        cached = self._cache.get(story_id)
        if cached is not None and self._clock() - cached[2] < self.recheck_seconds:
            return cached[1]
        return await asyncio.to_thread(self._load, story_id)

    async def stories(self, publication: str | None = None) -> list[Story]:
        found = await asyncio.to_thread(self._load_all)
        if publication is not None:
            found = [s for s in found if s.publication == publication]
        return sorted(found, key=lambda s: (s.published, s.id), reverse=True)

    def _load_all(self) -> list[Story]:
        try:
            ids = sorted({p.stem for p in self.folder.iterdir() if p.suffix in SUFFIXES and is_slug(p.stem)})
        except OSError:
            log.warning("story_folder_unreadable", folder=str(self.folder))
            return []
        with self._lock:
            for gone in set(self._cache) - set(ids):
                del self._cache[gone]
        return [story for story_id in ids if (story := self._load(story_id)) is not None]

    def _load(self, story_id: str) -> Story | None:
        files: list[tuple[Path, tuple[int, int]]] = []
        for suffix in SUFFIXES:
            path = self.folder / f"{story_id}{suffix}"
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((path, (stat.st_mtime_ns, stat.st_size)))
        if not files:
            with self._lock:
                self._cache.pop(story_id, None)
            return None
        version = tuple(stat for _, stat in files)
        checked = self._clock()
        with self._lock:
            cached = self._cache.get(story_id)
            if cached is not None and cached[0] == version:
                self._cache[story_id] = (version, cached[1], checked)
                return cached[1]
        story = self._parse(story_id, [path for path, _ in files])
        with self._lock:
            self._cache[story_id] = (version, story, checked)
        return story

    def _parse(self, story_id: str, paths: list[Path]) -> Story | None:
        if len(paths) > 1:
            log.warning(
                "story_file_skipped",
                path=str(paths[0]),
                reason=f"both {story_id}.md and {story_id}.html exist: keep one",
            )
            return None
        path = paths[0]
        try:
            text = path.read_text(encoding="utf-8")
            return parse_story(
                text,
                story_id,
                story_format="html" if path.suffix == ".html" else None,
                image_hosts=self.image_hosts,
            )
        except (OSError, UnicodeDecodeError, StoryFileError) as exc:
            log.warning("story_file_skipped", path=str(path), reason=str(exc))
            return None
