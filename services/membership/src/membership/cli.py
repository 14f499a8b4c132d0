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
from tollgate_common.sandbox_clock import following
from tollgate_common.words import money, stamp

T = TypeVar("T")


def _job(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from membership.entitlements.push import job_database
    from membership.settings import Settings

    settings = Settings()

    async def go() -> T:
        clock = following(settings.sandbox_clock_url)
        async with clock, job_database(settings) as alchemy, alchemy.get_session() as session:
            result = await work(session)
            await session.commit()
            return result

    try:
        return asyncio.run(go())
    except TollgateError as exc:
        raise click.ClickException(_explained(exc) or exc.detail) from exc


def _explained(exc: BaseException) -> str | None:
    from membership.cli_errors import explain
    from membership.settings import Settings

    return explain(exc, Settings())


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
            click.echo(f"--- {stamp(m.created_at)} to {m.recipient}: {m.subject}\n{m.body}")

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


# What the gateway needs of membership: entitlement checks, metered unlocks, friend links.


@api_keys_group.command("ensure-gateway")
@click.option(
    "--write", "path", required=True, type=click.Path(dir_okay=False), help="The gateway's key file."
)
def ensure_gateway_key(path: str) -> None:
    """Make sure PATH holds a valid gateway key: reuse the saved one, else create and save one."""
    from pathlib import Path

    from membership.apikeys.services import GATEWAY_SCOPES, ApiKeyService
    from tollgate_common.problems import TollgateError as KeyRejected

    saved = Path(path)
    secret = saved.read_text().strip() if saved.exists() else ""

    async def work(session: AsyncSession) -> str | None:
        service = ApiKeyService(session)
        if secret:
            try:
                key = await service.authenticate(f"Bearer {secret}")
            except KeyRejected:  # revoked, or a database made since: make a new one
                key = None
            if key is not None and set(GATEWAY_SCOPES) <= set(key.scopes) and key.publication_id is None:
                return None
        _, made = await service.create("gateway", GATEWAY_SCOPES, publication_id=None, created_by_id=None)
        return made

    made = _job(work)
    if made is None:
        click.echo(f"The gateway key in {saved} is valid; kept it.")
        return
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(made + "\n")
    saved.chmod(0o600)  # only its owner (membership's user, which the gateway's image shares) reads it
    click.echo(f"Created a gateway API key and wrote it to {saved}.")


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


@click.group("tiers")
def tiers_group() -> None:
    """Manage tiers and prices (mirrored to Stripe)."""


@tiers_group.command("create")
@click.argument("name")
@click.option(
    "--publication", "slug", default=None, help="The publication's slug; without it, a platform tier."
)
@click.option(
    "--key", "keys", multiple=True, help="An entitlement key it grants (repeat); default pub:<slug>."
)
@click.option("--description", default="")
@click.option("--trial-days", default=0, show_default=True)
@click.option("--currency", default="usd", show_default=True)
@click.option("--monthly", type=int, default=None, help="Monthly price in minor units (cents).")
@click.option("--yearly", type=int, default=None, help="Yearly price in minor units (cents).")
def create_tier(
    name: str,
    slug: str | None,
    keys: tuple[str, ...],
    description: str,
    trial_days: int,
    currency: str,
    monthly: int | None,
    yearly: int | None,
) -> None:
    """Create a tier with its prices, here and in Stripe."""
    from membership.lib.stripe_client import StripeApi
    from membership.plans.services import PlanService
    from membership.publications.services import PublicationService
    from membership.settings import Settings

    async def work(session: AsyncSession) -> str:
        publication = await PublicationService(session).by_slug(slug) if slug else None
        plans = PlanService(session, StripeApi(Settings()))
        tier = await plans.create_tier(
            publication, name=name, description=description, keys=list(keys) or None, trial_days=trial_days
        )
        for interval, amount in (("month", monthly), ("year", yearly)):
            if amount:
                await plans.add_price(tier, interval=interval, currency=currency, unit_amount=amount)
        prices = ", ".join(f"{money(p.unit_amount, p.currency)}/{p.interval}" for p in tier.prices)
        granted = ", ".join(tier.entitlement_keys)
        return f"Created tier {tier.name} ({tier.id}) granting {granted}: {prices or 'no prices'}."

    click.echo(_job(work))


@tiers_group.command("gifts")
@click.argument("tier_id")
@click.option("--months", multiple=True, type=int, help="A length it can be given for (repeat): 1, 3, 6, 12.")
@click.option("--valid-days", default=365, show_default=True, help="How long a bought gift's code redeems.")
def tier_gifts(tier_id: str, months: tuple[int, ...], valid_days: int) -> None:
    """Which lengths a tier (a platform tier too) can be given for; no --months: not giftable."""
    from uuid import UUID

    from membership.lib.stripe_client import StripeApi
    from membership.plans.models import Tier
    from membership.plans.services import PlanService
    from membership.settings import Settings

    async def work(session: AsyncSession) -> str:
        try:
            tier = await session.get(Tier, UUID(tier_id))
        except ValueError:
            tier = None
        if tier is None:
            raise click.ClickException(f"No tier {tier_id}.")
        await PlanService(session, StripeApi(Settings())).set_gifts(
            tier, months=list(months), valid_days=valid_days
        )
        lengths = ", ".join(map(str, tier.gift_months))
        return (
            f"{tier.name} can be given for {lengths} month(s)."
            if lengths
            else f"{tier.name} is not giftable."
        )

    click.echo(_job(work))


@click.group("stripe")
def stripe_group() -> None:
    """The Stripe webhook inbox and reconciliation."""


@stripe_group.command("events")
@click.option("--status", type=click.Choice(["pending", "processed", "failed"]), default=None)
@click.option("--limit", default=20, show_default=True)
def list_events(status: str | None, limit: int) -> None:
    """List stored Stripe events, newest first (`--status failed` for the ones that gave up)."""
    from membership.settings import Settings
    from membership.stripe_events.models import EventStatus
    from membership.stripe_events.services import Inbox

    async def work(session: AsyncSession) -> list[str]:
        events = await Inbox(session, Settings()).listing(
            status=EventStatus(status) if status else None, limit=limit
        )
        return [
            f"{e.id}  {e.type:<36} {e.status:<9} attempts={e.attempts}"
            + (f"  {e.last_error}" if e.last_error else "")
            for e in events
        ]

    lines = _job(work)
    click.echo("\n".join(lines) if lines else "No events.")


@stripe_group.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--failed", "all_failed", is_flag=True, help="Replay every failed event.")
def replay_events(event_ids: tuple[str, ...], all_failed: bool) -> None:
    """Queue stored events to be processed again (the running workers pick them up)."""
    from membership.settings import Settings
    from membership.stripe_events.models import EventStatus
    from membership.stripe_events.services import Inbox

    async def work(session: AsyncSession) -> int:
        inbox = Inbox(session, Settings())
        ids = list(event_ids)
        if all_failed:
            ids += [e.id for e in await inbox.listing(status=EventStatus.FAILED, limit=100_000)]
        for event_id in ids:
            await inbox.replay(event_id)
        return len(ids)

    click.echo(f"Queued {_job(work)} event(s) for replay.")


@stripe_group.command("worker")
@click.option("--once", is_flag=True, help="Process what is due now, then exit.")
def run_worker(once: bool) -> None:
    """Process the Stripe inbox, send gift mail that falls due and deliver outgoing webhooks
    (any number may run at once)."""
    from membership.entitlements.push import job_database
    from membership.gifts.worker import GiftMailer
    from membership.lib.stripe_client import StripeApi
    from membership.settings import Settings
    from membership.stripe_events.worker import InboxWorker
    from membership.webhooks.worker import WebhookWorker

    settings = Settings()

    async def go() -> int:
        clock = following(settings.sandbox_clock_url, every=settings.sandbox_clock_seconds)
        async with clock, job_database(settings) as alchemy:
            worker = InboxWorker(alchemy, settings, StripeApi(settings))
            mailer = GiftMailer(alchemy, settings, StripeApi(settings))
            webhooks = WebhookWorker(alchemy, settings)
            if not once:
                await asyncio.gather(worker.run_forever(), mailer.run_forever(), webhooks.run_forever())
            total = 0
            while taken := await worker.run_once():
                total += taken
            await mailer.run_once()
            while await webhooks.run_once():
                pass
            await webhooks.sender.aclose()
            return total

    click.echo(f"Processed {asyncio.run(go())} event(s).")


@stripe_group.command("reconcile")
def reconcile() -> None:
    """Walk every Stripe subscription and repair local state; report what changed."""
    from membership.settings import Settings
    from membership.subscriptions.reconcile import Report, reconcile_all

    settings = Settings()

    async def go() -> Report:
        async with following(settings.sandbox_clock_url):
            return await reconcile_all(settings)

    report = asyncio.run(go())
    click.echo(report.summary())
    for line in report.changes:
        click.echo(f"  {line}")


@click.group("import")
def import_group() -> None:
    """Bring members over from Ghost, Substack or a CSV, with their Stripe subscriptions."""


@import_group.command("prices")
def import_prices() -> None:
    """List the recurring prices in the Stripe account and the tier each maps to."""
    from membership.imports.services import PriceImport
    from membership.lib.stripe_client import StripeApi
    from membership.settings import Settings

    async def work(session: AsyncSession) -> list[str]:
        lines = []
        for found in await PriceImport(session, StripeApi(Settings())).found():
            p = found.remote
            amount = money(p.unit_amount, p.currency) if p.unit_amount is not None else "no amount"
            every = p.interval if p.interval_count == 1 else f"{p.interval_count} {p.interval}s"
            maps = f"-> {found.tier.name}" if found.tier else "not mapped"
            notes = [
                n
                for n, yes in (("made by Tollgate", found.made_by_tollgate), ("archived", not p.active))
                if yes
            ]
            lines.append(
                f"{p.id}  {p.product_name}  {amount}/{every}  {maps}"
                + (f"  ({', '.join(notes)})" if notes else "")
            )
        return lines

    lines = _job(work)
    click.echo("\n".join(lines) if lines else "No recurring prices in the Stripe account.")


@import_group.command("map-price")
@click.argument("price_id")
@click.argument("tier")
@click.option("--publication", "slug", required=True, help="The publication whose tier it is.")
def import_map_price(price_id: str, tier: str, slug: str) -> None:
    """Let TIER (its name or id) take the subscribers of the Stripe price PRICE_ID."""
    from membership.imports.services import PriceImport, tier_named
    from membership.lib.stripe_client import StripeApi
    from membership.plans.services import PlanService
    from membership.publications.services import PublicationService
    from membership.settings import Settings

    async def work(session: AsyncSession) -> str:
        stripe = StripeApi(Settings())
        publication = await PublicationService(session).by_slug(slug)
        chosen = await tier_named(PlanService(session, stripe), publication, tier)
        price, changed = await PriceImport(session, stripe).map(price_id, chosen)
        amount = f"{money(price.unit_amount, price.currency)}/{price.interval}"
        return f"{price_id} ({amount}) maps to {chosen.name}" + ("." if changed else " already.")

    click.echo(_job(work))


@import_group.command("members")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--publication", "slug", required=True)
@click.option(
    "--format",
    "chosen",
    type=click.Choice(["auto", "ghost", "substack", "plain"]),
    default="auto",
    show_default=True,
)
@click.option("--tier", "comp_tier", default=None, help="The tier of comps the file does not name one for.")
@click.option(
    "--dry-run", is_flag=True, help="Report what would be created, matched and skipped; change nothing."
)
def import_members(path: str, slug: str, chosen: str, comp_tier: str | None, dry_run: bool) -> None:
    """Import the members in the CSV export at PATH (idempotent: running it again changes nothing)."""
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from membership.imports.formats import Format
    from membership.imports.services import MemberImport, Outcome
    from membership.lib.stripe_client import StripeApi
    from membership.publications.services import PublicationService
    from membership.settings import Settings

    raw = Path(path).read_bytes()

    async def work(session: AsyncSession) -> list[str]:
        settings = Settings()
        publication = await PublicationService(session).by_slug(slug)
        columns = (TextColumn("Importing"), BarColumn(), MofNCompleteColumn())
        # On stderr, so the report on stdout is all a script reads.
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("import", total=None)
            report = await MemberImport(session, settings, StripeApi(settings)).run(
                publication,
                raw,
                chosen=Format(chosen),
                comp_tier=comp_tier,
                dry_run=dry_run,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        lines = [report.summary()]
        for row in report.rows:
            if row.outcome is Outcome.SKIP:
                lines.append(f"  line {row.line}: skipped {row.email or '(no email)'}: {row.reason}")
            elif row.does:
                lines.append(f"  line {row.line}: {row.email}: {'; '.join(row.does)}")
        if dry_run:
            lines.append("A dry run: nothing was changed.")
        return lines

    click.echo("\n".join(_job(work)))


@click.group("keys")
def keys_group() -> None:
    """Token signing keys."""


@keys_group.command("rotate")
@click.option(
    "--alg", type=click.Choice(["EdDSA", "ES256", "RS256"]), default=None, help="Default: the setting."
)
def rotate_keys(alg: str | None) -> None:
    """Make a new signing key, published now; it signs once every service has loaded it (two
    key refresh intervals), and the old ones stay published until their tokens have expired."""
    from membership.settings import Settings
    from membership.tokens.keys import KeyService

    async def work(session: AsyncSession) -> str:
        service = KeyService(session, Settings())
        key = await service.rotate(alg)
        starts = max(
            (k.retired_at for k in await service.published() if k.retired_at), default=key.created_at
        )
        return f"New signing key {key.kid} ({key.alg}), published now; it signs from {stamp(starts)}."

    click.echo(_job(work))


@keys_group.command("list")
def list_keys() -> None:
    """The published keys (public halves only), and which one signs."""
    from membership.lib.clock import utcnow
    from membership.settings import Settings
    from membership.tokens.keys import KeyService, current
    from membership.tokens.models import SigningKey

    async def work(session: AsyncSession) -> list[str]:
        keys = await KeyService(session, Settings()).published()
        now = utcnow()
        signer = current(keys, now)

        def state(key: SigningKey) -> str:
            head = "signing" if key is signer else "signs next"
            if key.unpublish_at is None:
                return head
            retired = f"retired, published until {stamp(key.unpublish_at)}"
            if key.retired_at is not None and key.retired_at > now:  # the handover of a rotation
                return f"{head} until {stamp(key.retired_at)}, then {retired}"
            return retired

        return [f"{k.kid}  {k.alg:<6} created {stamp(k.created_at, seconds=False)}  {state(k)}" for k in keys]

    lines = _job(work)
    click.echo("\n".join(lines) if lines else "No keys yet (the first start makes one).")


@click.group("demo")
def demo_group() -> None:
    """Demo data for development."""


@demo_group.command("seed")
def seed_demo() -> None:
    """Create the demo publications and their owner, once (running it again changes nothing)."""
    from membership.demo import seed

    click.echo(_job(seed))


@click.group("seed")
def seed_group() -> None:
    """Made-up data sets for measuring."""


@seed_group.command("scale")
@click.option("--readers", default=200_000, show_default=True, help="How many readers to make.")
@click.option("--grants", default=1_000_000, show_default=True, help="How many grants, spread over them.")
@click.option("--publication", "slug", default="scale", show_default=True, help="Made if it does not exist.")
def seed_scale_command(readers: int, grants: int, slug: str) -> None:
    """Bulk-load readers, their grants and the subscriptions behind them into one publication.

    A realistic mix (paying monthly and yearly, past due, trials, ended and refunded
    subscriptions, comps, gifts), written with COPY on PostgreSQL. Running it again on a
    publication it seeded refuses (it never tops up); pick another --publication.
    """
    from membership.seed import seed_scale

    async def work(session: AsyncSession) -> str:
        done = await seed_scale(session, readers=readers, grants=grants, slug=slug)
        return (
            f"Seeded {done.publication}: {done.readers:,} readers, {done.grants:,} grants, "
            f"{done.subscriptions:,} subscriptions."
        )

    click.echo(_job(work))


class MembershipCLI(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        for command in (
            outbox_command,
            publications_group,
            api_keys_group,
            tiers_group,
            stripe_group,
            import_group,
            keys_group,
            demo_group,
            seed_group,
        ):
            cli.add_command(command)


def main() -> None:
    from litestar.cli.main import litestar_group

    from membership.make_run_file import apply
    from membership.settings import Settings

    if (used := apply(os.environ)) is not None:
        shown = os.path.relpath(used) if not os.path.relpath(used).startswith("..") else str(used)
        click.echo(f"Using the settings of the running `make run` from {shown}", err=True)
    settings = Settings()
    os.environ.setdefault("LITESTAR_APP", "membership.app:create_app")
    os.environ.setdefault("LITESTAR_HOST", settings.host)
    os.environ.setdefault("LITESTAR_PORT", str(settings.port))
    try:
        sys.exit(litestar_group())
    except Exception as exc:
        # Stripe or the database out of reach: one sentence, not a traceback.
        if (sentence := _explained(exc)) is None:
            raise
        click.echo(f"Error: {sentence}", err=True)
        sys.exit(1)
