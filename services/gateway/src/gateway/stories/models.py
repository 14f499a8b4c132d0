"""The story the gateway serves: its metadata, its access policy, and its full and teaser HTML.

Both HTML versions are rendered on the server. The teaser is what an unentitled reader receives;
the full body never leaves the gateway unless the access decision opens the story.
"""

from __future__ import annotations

import re
from datetime import date

import msgspec

from gateway.slugs import is_slug

__all__ = ["KEY", "PUBLIC", "Story", "is_slug"]

KEY = re.compile(r"^[a-z0-9][a-z0-9:_.-]{0,199}$")
"""Entitlement keys, such as ``member`` or ``pub:the-gazette``."""

PUBLIC: tuple[str, ...] = ()
"""The access keys of a public story: none are needed."""


class Story(msgspec.Struct, frozen=True, kw_only=True):
    """One story as the gateway knows it.

    ``keys`` lists the entitlement keys that open the story (any one of them is enough); an empty
    tuple means the story is public. ``teaser_html`` is the part shown before the paywall: the
    text up to the publisher's ``<!-- more -->`` marker when there is one
    (``teaser_from_marker`` is then true), else the first two paragraphs (or HTML blocks).
    """

    id: str
    publication: str
    title: str
    author: str
    published: date
    # The author's reader id at membership, when the origin knows it: they may make friend links.
    author_id: str | None = None
    keys: tuple[str, ...] = PUBLIC
    body_html: str
    teaser_html: str
    teaser_from_marker: bool = False

    @property
    def is_public(self) -> bool:
        """Whether anyone may read the whole story."""
        return not self.keys

    def opened_by(self, keys: frozenset[str] | set[str] | tuple[str, ...]) -> bool:
        """Whether a reader holding ``keys`` may read the whole story (always true when public)."""
        return self.is_public or any(key in keys for key in self.keys)
