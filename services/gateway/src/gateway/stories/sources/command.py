"""``gateway stories sync``: bring a Ghost site's, a WordPress site's or a folder's stories into the
gateway's stories folder (``--into``, else ``GATEWAY_STORY_ORIGIN`` when it names a folder).

::

    gateway stories sync --from ghost --url https://harbour.example.com --publication harbour-light
    gateway stories sync --from wordpress --url https://blog.example.com --publication the-gazette
    gateway stories sync --from folder --path ./export --publication field-notes

Ghost's keys are read from ``TOLLGATE_GHOST_CONTENT_KEY`` or ``TOLLGATE_GHOST_ADMIN_KEY`` (or
``--content-key`` / ``--admin-key``, which leave them in the shell's history). It prints a line
per story and a summary; it exits 1, with one sentence, when the source cannot be read.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import rich_click as click

from gateway.settings import SAMPLES, Settings
from gateway.stories.models import is_slug
from gateway.stories.sources import Access, AccessRules, SourceError, parse_access
from gateway.stories.sources.folder import FolderSource
from gateway.stories.sources.ghost import GhostSource
from gateway.stories.sources.sync import Report, sync
from gateway.stories.sources.wordpress import Terms, WordPressSource
from tollgate_common.logging import configure_logging

TIMEOUT_SECONDS = 30.0


def _folder(into: Path | None) -> Path:
    if into is not None:
        return into
    origin = Settings().story_origin
    if origin in ("", SAMPLES) or origin.startswith(("http://", "https://")):
        raise click.UsageError("name the stories folder with --into (GATEWAY_STORY_ORIGIN is not a folder)")
    return Path(origin)


def _access(value: str | None, rules: AccessRules, option: str) -> Access | None:
    if value is None:
        return None
    try:
        return parse_access(value, rules)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _print(report: Report) -> None:
    for line in report.lines:
        story = line.id or "(no slug)"
        click.echo(f"{line.outcome:<9} {story}" + (f": {line.reason}" if line.reason else ""))
    click.echo(report.summary())


@click.group("stories")
def stories() -> None:
    """The gateway's stories: bring them from where they are written."""


@stories.command("sync")
@click.option("--from", "kind", type=click.Choice(["ghost", "wordpress", "folder"]), required=True)
@click.option(
    "--publication", required=True, help="The publication's slug at membership, such as the-gazette."
)
@click.option("--url", help="ghost, wordpress: the site's address.")
@click.option("--path", "source_folder", type=click.Path(path_type=Path), help="folder: where the files are.")
@click.option("--into", type=click.Path(path_type=Path), help="The gateway's stories folder.")
@click.option(
    "--content-key", envvar="TOLLGATE_GHOST_CONTENT_KEY", default="", help="ghost: a Content API key."
)
@click.option("--admin-key", envvar="TOLLGATE_GHOST_ADMIN_KEY", default="", help="ghost: an Admin API key.")
@click.option(
    "--members-access", help="What 'members' opens to: 'public' or keys (default: member,pub:<slug>)."
)
@click.option("--members-term", default="members", show_default=True, help="wordpress: the members' term.")
@click.option("--paid-term", default="paid", show_default=True, help="wordpress: the paying members' term.")
@click.option("--public-term", default="public", show_default=True, help="wordpress: the everyone term.")
@click.option(
    "--untagged", help="wordpress: the access of a post under none of those terms (default: skip it)."
)
@click.option("--prune", is_flag=True, help="Remove the stories this source no longer has.")
def sync_command(
    kind: str,
    publication: str,
    url: str | None,
    source_folder: Path | None,
    into: Path | None,
    content_key: str,
    admin_key: str,
    members_access: str | None,
    members_term: str,
    paid_term: str,
    public_term: str,
    untagged: str | None,
    prune: bool,
) -> None:
    """Write a source's stories into the stories folder; running it twice changes nothing."""
    # The report is the output: checking each document must not add the sanitiser's info lines.
    configure_logging("WARNING", "console")
    if not is_slug(publication):
        raise click.BadParameter(f"{publication!r} is not a publication slug", param_hint="--publication")
    folder = _folder(into)
    rules = AccessRules(publication)
    rules = AccessRules(publication, _access(members_access, rules, "--members-access") or ())
    if kind == "folder" and source_folder is None:
        raise click.UsageError("--from folder reads the files named with --path")
    if kind != "folder" and not (url or "").startswith(("http://", "https://")):
        raise click.UsageError(f"--from {kind} reads the site named with --url, an http(s) address")
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=True) as http:
            source: GhostSource | WordPressSource | FolderSource
            if kind == "ghost":
                source = GhostSource(str(url), rules, http=http, content_key=content_key, admin_key=admin_key)
            elif kind == "wordpress":
                terms = Terms(members_term, paid_term, public_term, _access(untagged, rules, "--untagged"))
                source = WordPressSource(str(url), rules, http=http, terms=terms)
            else:
                assert source_folder is not None
                source = FolderSource(source_folder, rules)
            report = sync(source.stories(), folder, publication=publication, source=source.name, prune=prune)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the folder cannot be read or written
        raise click.ClickException(f"{exc.filename or folder}: {exc.strerror or exc}") from None
    _print(report)
