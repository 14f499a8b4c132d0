"""The `membership` command: Litestar's CLI for this app, plus membership's own commands.

`membership run` serves, `membership database upgrade` migrates (advanced-alchemy's Alembic
commands), and the commands below manage the outbox, publications, API keys and demo data.
Each command is a job: it owns its transaction and commits once at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from litestar.plugins import CLIPluginProtocol
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate_common.problems import TollgateError

T = TypeVar("T")


def _job(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from membership.db import alchemy_config
    from membership.settings import Settings

    alchemy = alchemy_config(Settings())

    async def go() -> T:
        try:
            async with alchemy.get_session() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await alchemy.get_engine().dispose()

    try:
        return asyncio.run(go())
    except TollgateError as exc:
        raise click.ClickException(exc.detail) from exc


@click.command("outbox")
@click.option("--to", "recipient", default=None, help="Only mail to this address.")
@click.option("--limit", default=10, show_default=True)
def outbox_command(recipient: str | None, limit: int) -> None:
    """Show the newest mail in the local outbox (when no SMTP server is configured)."""
    from membership.mail.services import Mailer
    from membership.settings import Settings

    async def work(session: AsyncSession) -> None:
        messages = await Mailer(session, Settings()).outbox(recipient=recipient, limit=limit)
        if not messages:
            click.echo("The outbox is empty.")
        for m in messages:
            click.echo(f"--- {m.created_at:%Y-%m-%d %H:%M:%S} to {m.recipient}: {m.subject}\n{m.body}")

    _job(work)


@click.group("publications")
def publications_group() -> None:
    """Manage publications."""


@publications_group.command("create")
@click.argument("slug")
@click.argument("name")
@click.option("--owner", "owner_email", required=True, help="The first owner's email (created if new).")
def create_publication(slug: str, name: str, owner_email: str) -> None:
    """Create a publication with its first owner."""
    from membership.publications.services import PublicationService
    from membership.readers.services import ReaderService

    async def work(session: AsyncSession) -> str:
        owner, _ = await ReaderService(session=session).get_or_create(owner_email)
        publication = await PublicationService(session).create(slug, name, owner)
        return f"Created {publication.name} ({publication.slug}) owned by {owner.email}."

    click.echo(_job(work))


@click.group("api-keys")
def api_keys_group() -> None:
    """Manage service API keys."""


@api_keys_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, help="Repeat for several scopes.")
@click.option("--publication", "slug", default=None, help="Tie the key to one publication.")
def create_api_key(name: str, scopes: tuple[str, ...], slug: str | None) -> None:
    """Create an API key and print its secret (shown only this once)."""
    from membership.apikeys.services import ApiKeyService
    from membership.publications.services import PublicationService

    async def work(session: AsyncSession) -> str:
        publication_id = (await PublicationService(session).by_slug(slug)).id if slug else None
        key, secret = await ApiKeyService(session).create(
            name, list(scopes), publication_id=publication_id, created_by_id=None
        )
        return f"Created API key {key.name} ({key.id}) with scopes {', '.join(key.scopes)}.\n{secret}"

    click.echo(_job(work))


@api_keys_group.command("list")
@click.option("--publication", "slug", default=None, help="A publication's keys; platform keys without it.")
def list_api_keys(slug: str | None) -> None:
    """List API keys (never their secrets)."""
    from membership.apikeys.services import ApiKeyService
    from membership.publications.services import PublicationService

    async def work(session: AsyncSession) -> list[str]:
        publication_id = (await PublicationService(session).by_slug(slug)).id if slug else None
        keys = await ApiKeyService(session).list_for(publication_id)
        return [
            f"{k.id}  {k.key_prefix}…  {k.name}  [{', '.join(k.scopes)}]"
            + ("  revoked" if k.revoked_at else "")
            for k in keys
        ]

    lines = _job(work)
    click.echo("\n".join(lines) if lines else "No API keys.")


@api_keys_group.command("revoke")
@click.argument("key_id", type=click.UUID)
@click.option("--publication", "slug", default=None)
def revoke_api_key(key_id: object, slug: str | None) -> None:
    """Revoke an API key at once."""
    from uuid import UUID

    from membership.apikeys.services import ApiKeyService
    from membership.publications.services import PublicationService

    async def work(session: AsyncSession) -> str:
        publication_id = (await PublicationService(session).by_slug(slug)).id if slug else None
        key = await ApiKeyService(session).revoke(UUID(str(key_id)), publication_id)
        return f"Revoked {key.name}."

    click.echo(_job(work))


@click.group("demo")
def demo_group() -> None:
    """Demo data for development."""


@demo_group.command("seed")
def seed_demo() -> None:
    """Create the demo publications and their owner, once (running it again changes nothing)."""
    from membership.demo import seed

    click.echo(_job(seed))


class MembershipCLI(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        for command in (outbox_command, publications_group, api_keys_group, demo_group):
            cli.add_command(command)


def main() -> None:
    from litestar.cli.main import litestar_group

    from membership.settings import Settings

    settings = Settings()
    os.environ.setdefault("LITESTAR_APP", "membership.app:create_app")
    os.environ.setdefault("LITESTAR_HOST", settings.host)
    os.environ.setdefault("LITESTAR_PORT", str(settings.port))
    sys.exit(litestar_group())
