"""What a story id or a publication slug may look like: one rule for addresses, origins and cookies."""

from __future__ import annotations

import re

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


def is_slug(value: str) -> bool:
    """Whether ``value`` is a valid story id or publication slug."""
    return bool(SLUG.fullmatch(value))
