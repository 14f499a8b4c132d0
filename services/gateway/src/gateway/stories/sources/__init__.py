"""Bringing a publisher's stories from where they are written into the gateway's stories folder.

One module per kind of source, each reading the source's own words and mapping them onto the
origin contract (:mod:`gateway.stories.origin`): :mod:`.ghost` (Ghost's Content or Admin API),
:mod:`.wordpress` (WordPress's REST API) and :mod:`.folder` (a folder of Markdown and HTML files
from elsewhere). Each yields :class:`Imported` stories, or :class:`Skipped` ones with the reason;
:mod:`.sync` writes them into the folder, and :mod:`.command` is ``gateway stories sync``.

A source's access words become entitlement keys the same way everywhere (:class:`AccessRules`):

``public``
    ``public``: anyone reads it all.
``members``
    ``[member, pub:<publication>]`` by default: the platform's members and the publication's; the
    publisher may name other keys, or ``public`` (``--members-access``).
``paid``
    ``[pub:<publication>]``: the publication's paying members.
a paid tier (Ghost's ``tiers``)
    ``pub:<publication>:<tier slug>`` for each tier named: the keys of a tier at membership that
    sits under the publication's own key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from gateway.stories.models import KEY

Access = str | tuple[str, ...]
"""``"public"``, or the entitlement keys any one of which opens the story."""

PUBLIC = "public"


class SourceError(Exception):
    """The source could not be read at all (unreachable, refused the key, answered nonsense)."""


@dataclass(frozen=True)
class Imported:
    """One story as a source describes it, in the origin contract's terms."""

    id: str
    title: str
    author: str
    published: date
    access: Access
    body: str
    format: str = "html"
    """``html`` or ``markdown``: the body's language, and so the file's ending."""


@dataclass(frozen=True)
class Skipped:
    """A story the source has that cannot be brought over, and why."""

    id: str
    reason: str


Found = Imported | Skipped


@dataclass(frozen=True)
class AccessRules:
    """How the source's access words become the publication's entitlement keys."""

    publication: str
    members: Access = ()

    def __post_init__(self) -> None:
        if not self.members:
            object.__setattr__(self, "members", ("member", f"pub:{self.publication}"))

    def for_word(self, word: str) -> Access | None:
        """The access for ``public``, ``members`` or ``paid``; None for any other word."""
        if word == PUBLIC:
            return PUBLIC
        if word == "members":
            return self.members
        if word == "paid":
            return (f"pub:{self.publication}",)
        return None

    def for_tiers(self, tiers: list[str]) -> Access | None:
        """The keys of these paid tiers (by slug); None when there are none or one is not a key."""
        keys = tuple(f"pub:{self.publication}:{tier}" for tier in tiers)
        if not keys or not all(KEY.fullmatch(key) for key in keys):
            return None
        return keys


def parse_access(value: str, rules: AccessRules) -> Access:
    """An access given on the command line: ``public``, ``members``, ``paid``, or comma-separated keys."""
    value = value.strip()
    word = rules.for_word(value)
    if word is not None:
        return word
    keys = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    bad = [key for key in keys if not KEY.fullmatch(key)]
    if not keys or bad:
        raise ValueError(
            f"{value!r} is not public, members, paid or a comma-separated list of entitlement keys"
        )
    return keys


def field(value: object, name: str) -> Any:
    """``value[name]`` when ``value`` is a JSON object, else None: answers are not trusted to have
    the documented shape, and a field of the wrong kind reads as missing rather than crashing."""
    return value.get(name) if isinstance(value, dict) else None


def items(value: object) -> list[dict[str, Any]]:
    """The JSON objects of a JSON list (others left out); empty when ``value`` is no list."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def text(value: object) -> str:
    """A JSON string, stripped; empty for anything else."""
    return value.strip() if isinstance(value, str) else ""


def day_of(value: object) -> date | None:
    """The date of an ISO 8601 date or timestamp as the APIs write them; None when unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None


def fetch_json(
    http: httpx.Client,
    url: str,
    *,
    name: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """GET ``url`` and check it answered JSON; ``name`` ("Ghost") words the errors.

    Raises :class:`SourceError` when the source cannot be reached or answers anything but 200 JSON.
    """
    try:
        answer = http.get(url, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise SourceError(f"{name} at {url} could not be reached: {exc}") from exc
    if answer.status_code != 200:
        raise SourceError(f"{name} answered {answer.status_code} for {url}: {_said(answer)}")
    try:
        answer.json()
    except ValueError as exc:
        raise SourceError(f"{name} did not answer JSON for {url}") from exc
    return answer


def _said(answer: httpx.Response) -> str:
    """What an error answer says, briefly: Ghost's `errors[0].message`, WordPress's `message`."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200].strip() or answer.reason_phrase
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))[:200]
        if "message" in body:
            return str(body["message"])[:200]
    return answer.reason_phrase
