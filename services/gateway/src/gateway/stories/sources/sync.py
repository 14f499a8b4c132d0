"""Writing a source's stories into the gateway's stories folder, in the origin contract's files.

Each story becomes ``<id>.html`` (or ``<id>.md`` for Markdown) with front matter, including
``imported_from`` (the source, such as ``ghost https://harbour.example.com``), which is how a later
sync knows its own files. The sync is idempotent: a file is written only when its text would
change, so running it twice changes nothing the second time. For each story it reports:

``created``, ``updated``, ``unchanged``
    As it says.
``skipped``
    The story cannot be brought over, with the reason: an id that breaks the id rule, no access,
    a document the origin would refuse (no title, no text left after sanitising…), or a file of
    the same id that this source did not write (a story written by hand is never overwritten).
``kept``, ``removed``
    A file this source wrote whose story the source no longer has (deleted or unpublished
    upstream): kept, and reported, unless the sync is told to ``prune``; then removed. A story
    that is still there but skipped this time is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.stories.models import is_slug
from gateway.stories.origin import SUFFIXES, StoryFileError, front_matter, parse_story
from gateway.stories.sources import PUBLIC, Found, Imported, Skipped

SUFFIX = {"html": ".html", "markdown": ".md"}


@dataclass(frozen=True)
class Line:
    """What the sync did with one story, and why when it did not bring it over."""

    outcome: str
    id: str
    reason: str = ""


@dataclass
class Report:
    source: str
    folder: Path
    lines: list[Line] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    def summary(self) -> str:
        outcomes = ("created", "updated", "unchanged", "skipped", "kept", "removed")
        counts = ", ".join(f"{self.count(outcome)} {outcome}" for outcome in outcomes)
        return f"{self.source} -> {self.folder}: {counts}"


def document(story: Imported, publication: str, source: str) -> str:
    """The story file's text: front matter in the contract's fields, then the body."""
    meta: dict[str, Any] = {
        "id": story.id,
        "publication": publication,
        "title": story.title,
        "author": story.author,
        "published": story.published,
        "access": PUBLIC if story.access == PUBLIC else list(story.access),
        "imported_from": source,
    }
    head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
    return f"---\n{head}---\n{story.body.strip()}\n"


def _source_of(path: Path) -> str | None:
    try:
        meta, _ = front_matter(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, StoryFileError):
        return None
    found = meta.get("imported_from")
    return found if isinstance(found, str) else None


def _write(path: Path, text: str) -> None:
    # Whole or not at all: the gateway may read the folder while the sync writes it.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _bring(story: Imported, folder: Path, publication: str, source: str) -> Line:
    if not is_slug(story.id):
        return Line(
            "skipped",
            story.id,
            "the slug is not a story id (lower-case letters, digits and hyphens, at most 100)",
        )
    text = document(story, publication, source)
    try:
        parse_story(text, story.id, story_format=story.format)
    except StoryFileError as exc:
        return Line("skipped", story.id, str(exc))
    path = folder / f"{story.id}{SUFFIX[story.format]}"
    others = [folder / f"{story.id}{suffix}" for suffix in SUFFIXES if suffix != path.suffix]
    for existing in [path, *others]:
        if existing.exists() and _source_of(existing) != source:
            return Line("skipped", story.id, f"{existing.name} is already there, not imported from {source}")
    stale = [other for other in others if other.exists()]
    if path.exists() and not stale and path.read_text(encoding="utf-8") == text:
        return Line("unchanged", story.id)
    outcome = "updated" if path.exists() or stale else "created"
    _write(path, text)
    for other in stale:  # the story changed language upstream
        other.unlink()
    return Line(outcome, story.id)


def sync(
    found: Iterable[Found], folder: Path, *, publication: str, source: str, prune: bool = False
) -> Report:
    """Write the source's stories into ``folder`` (made if missing); see the module docstring."""
    folder.mkdir(parents=True, exist_ok=True)
    report = Report(source, folder)
    seen: set[str] = set()
    for story in found:
        if story.id in seen:
            report.lines.append(Line("skipped", story.id, "the source has another story with this id"))
        elif isinstance(story, Skipped):
            report.lines.append(Line("skipped", story.id, story.reason))
        else:
            report.lines.append(_bring(story, folder, publication, source))
        seen.add(story.id)
    for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.stem not in seen):
        if _source_of(path) != source:
            continue
        if prune:
            path.unlink()
            report.lines.append(Line("removed", path.stem, f"gone from {source}"))
        else:
            report.lines.append(
                Line("kept", path.stem, f"gone from {source}; sync with --prune to remove it")
            )
    return report
