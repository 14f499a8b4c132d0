"""Stories from a folder of Markdown and HTML files written for another system (an export, a
static site's posts).

Each ``*.md``, ``*.markdown``, ``*.html`` or ``*.htm`` file starts with YAML front matter:

``slug`` (or ``id``; else the file's name)
    The story's id; it must already follow the id rule (it is not made up from the title).
``title``, ``author``
    Plain text.
``published`` (or ``date``)
    ``YYYY-MM-DD`` or a timestamp.
``access`` (or ``visibility``)
    ``public``, ``members`` or ``paid`` (mapped as :class:`~gateway.stories.sources.AccessRules`
    says), or a list of entitlement keys, taken as they are. There is no default.

The text after the front matter is kept in its language, the teaser marker ``<!-- more -->``
included. Files in sub-folders, and files of other kinds, are not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from gateway.stories.origin import StoryFileError, front_matter
from gateway.stories.sources import Access, AccessRules, Found, Imported, Skipped, SourceError, day_of

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


class FolderSource:
    """The story files of a folder, each with its front matter in the source's words."""

    def __init__(self, folder: Path, rules: AccessRules) -> None:
        self.folder = folder
        self.rules = rules

    @property
    def name(self) -> str:
        return f"folder {self.folder.resolve()}"

    def stories(self) -> Iterator[Found]:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder} is not a folder")
        for path in sorted(self.folder.iterdir()):
            if path.is_file() and path.suffix.lower() in FORMATS:
                yield self._story(path)

    def _access(self, value: object) -> Access | None:
        if isinstance(value, str):
            return self.rules.for_word(value.strip())
        if isinstance(value, list) and value and all(isinstance(key, str) for key in value):
            return tuple(value)
        return None

    def _story(self, path: Path) -> Found:
        try:
            meta, text = front_matter(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, StoryFileError) as exc:
            return Skipped(path.stem, f"{path.name}: {exc}")
        slug = str(meta.get("slug") or meta.get("id") or path.stem)
        given: Any = meta.get("access", meta.get("visibility"))
        if given is None:
            return Skipped(slug, f"{path.name} says no access (public, members, paid or a list of keys)")
        access = self._access(given)
        if access is None:
            return Skipped(
                slug, f"{path.name}: access {given!r} is not public, members, paid or a list of keys"
            )
        published: object = meta.get("published", meta.get("date"))
        day = day_of(published.isoformat() if isinstance(published, date) else published)
        if day is None:
            return Skipped(slug, f"{path.name} has no published date")
        return Imported(
            id=slug,
            title=str(meta.get("title") or "").strip(),
            author=str(meta.get("author") or "").strip(),
            published=day,
            access=access,
            body=text,
            format=FORMATS[path.suffix.lower()],
        )
