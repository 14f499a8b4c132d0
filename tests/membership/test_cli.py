"""The `membership` command, run as an operator would: migrate, publications, API keys, outbox, demo."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from membership.apikeys.services import ApiKeyService
from membership.db import alchemy_config
from membership.grants.models import Grant
from membership.lib.stripe_client import SANDBOX_KEY
from membership.plans.models import ADOPTED, Price
from membership.readers.models import Reader
from membership.settings import Settings
from membership.subscriptions.models import Subscription
from stripe_sandbox.app import create_app as create_sandbox
from stripe_sandbox.settings import Settings as SandboxSettings
from tests.servers import serve

MEMBERSHIP = str(Path(sys.executable).parent / "membership")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    assert run(path, "database", "upgrade", "--no-prompt").returncode == 0
    return path


def run(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERSHIP_")}
    env |= {"MEMBERSHIP_DATA_DIR": str(data_dir), "MEMBERSHIP_LOG_LEVEL": "WARNING"} | extra
    return subprocess.run(
        [MEMBERSHIP, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_publication_and_api_key_lifecycle(data_dir: Path) -> None:
    made = run(
        data_dir, "publications", "create", "cli-times", "The CLI Times", "--owner", "Boss@Example.com"
    )
    assert made.returncode == 0, made.stderr
    assert "owned by boss@example.com" in made.stdout
    dup = run(data_dir, "publications", "create", "cli-times", "Again", "--owner", "x@example.com")
    assert dup.returncode != 0 and "already exists" in dup.stderr

    key = run(
        data_dir, "api-keys", "create", "newsletter", "--scope", "staff:read", "--publication", "cli-times"
    )
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip().splitlines()[-1]
    assert secret.startswith("tgk_")

    async def check() -> str:
        alchemy = alchemy_config(Settings(data_dir=data_dir))
        try:
            async with alchemy.get_session() as session:
                return (await ApiKeyService(session).authenticate(f"Bearer {secret}")).name
        finally:
            await alchemy.get_engine().dispose()

    assert asyncio.run(check()) == "newsletter"
    listed = run(data_dir, "api-keys", "list", "--publication", "cli-times")
    assert "newsletter" in listed.stdout and secret not in listed.stdout
    key_id = listed.stdout.split()[0]
    revoked = run(data_dir, "api-keys", "revoke", key_id, "--publication", "cli-times")
    assert revoked.returncode == 0 and "Revoked newsletter" in revoked.stdout
    assert "revoked" in run(data_dir, "api-keys", "list", "--publication", "cli-times").stdout


def test_bad_input_is_a_clear_error(data_dir: Path) -> None:
    slug = run(data_dir, "publications", "create", "Bad Slug!", "Name", "--owner", "a@example.com")
    assert slug.returncode != 0 and "slug" in slug.stderr
    scope = run(data_dir, "api-keys", "create", "k", "--scope", "everything")
    assert scope.returncode != 0 and "Unknown scope" in scope.stderr
    email = run(data_dir, "publications", "create", "ok-slug", "Name", "--owner", "not-an-email")
    assert email.returncode != 0 and "not valid" in email.stderr


HINT = "Sign in as ines.moreau@example.com to read The Harbour Post's member-only stories"
PAID = ("ines.moreau@example.com", "callum.reid@example.com", "priya.nair@example.com")
COMP = "agnes.penrose@example.com"
FREE = ("tomas.reyes@example.com", "june.okafor@example.com", "bea.lindqvist@example.com")


def _adopted(price: Price | None) -> tuple[str | None, bool]:
    """A subscription's Stripe price, and whether it is an adopted one (mapped by the import)."""
    if price is None:
        return None, False
    return price.stripe_price_id, price.lookup_key.startswith(ADOPTED) and price.archived_at is not None


async def imported(data_dir: Path, sandbox: str) -> dict[str, Any]:
    """What The Harbour Post's import left: each member's live grants and subscriptions (with
    whether its price is an adopted one), and the subscriptions and checkouts in the sandbox."""
    alchemy = alchemy_config(Settings(data_dir=data_dir))
    try:
        async with alchemy.get_session() as session:
            members: dict[str, Any] = {}
            for email in (*PAID, COMP, *FREE):
                reader = await session.scalar(select(Reader).where(Reader.email == email))
                assert reader is not None, email
                grants = await session.scalars(
                    select(Grant).where(Grant.reader_id == reader.id, Grant.revoked_at.is_(None))
                )
                subscriptions = await session.scalars(
                    select(Subscription).where(Subscription.reader_id == reader.id)
                )
                members[email] = {
                    "grants": sorted((g.key, g.source.value, g.ends_at is None) for g in grants),
                    "subscriptions": [
                        (s.stripe_subscription_id, s.status.value, *_adopted(s.price)) for s in subscriptions
                    ],
                }
    finally:
        await alchemy.get_engine().dispose()
    sdk = stripe.StripeClient(SANDBOX_KEY, base_addresses={"api": sandbox}, max_network_retries=0)
    remote = await sdk.v1.subscriptions.list_async({"status": "all", "limit": 100})
    checkouts = await sdk.v1.checkout.sessions.list_async({"limit": 100})
    return {
        "members": members,
        "remote": sorted(
            (s.id, s.items.data[0].price.id, s.to_dict().get("metadata") or {}) for s in remote.data
        ),
        "checkouts": len(checkouts.data),
    }


def test_demo_seed_is_idempotent_and_outbox_prints(data_dir: Path) -> None:
    with serve(create_sandbox(SandboxSettings(log_level="WARNING"))) as sandbox:
        first = run(data_dir, "demo", "seed", MEMBERSHIP_STRIPE_SANDBOX_URL=sandbox)
        assert first.returncode == 0, first.stderr
        made = (
            "the-gazette, the-gazette tier, field-notes, field-notes tier, harbour-post, harbour-post tier, "
            "platform membership, demo authors"
        )
        assert f"Seeded {made}" in first.stdout
        assert "harbour-post members (imported from Ghost)" in first.stdout and HINT in first.stdout
        found = asyncio.run(imported(data_dir, sandbox))

        # The old platform's three subscriptions, and nothing Tollgate made: no checkout, no
        # subscription of its own, no metadata of ours on theirs.
        assert found["checkouts"] == 0
        remote = found["remote"]
        assert len(remote) == 3 and all(metadata == {} for _, _, metadata in remote)
        old_price = remote[0][1]
        assert {price for _, price, _ in remote} == {old_price}
        members = found["members"]
        for email in PAID:  # entitled through the adopted subscription on the old price
            assert members[email]["grants"] == [("pub:harbour-post", "subscription", False)], email
            [(sub_id, status, price, adopted)] = members[email]["subscriptions"]
            assert status == "active" and price == old_price and adopted
            assert sub_id in {sub for sub, _, _ in remote}
        assert members[COMP] == {"grants": [("pub:harbour-post", "comp", True)], "subscriptions": []}
        for email in FREE:
            assert members[email] == {"grants": [], "subscriptions": []}, email

        again = run(data_dir, "demo", "seed", MEMBERSHIP_STRIPE_SANDBOX_URL=sandbox)
        assert again.returncode == 0, again.stderr
        assert "already present" in again.stdout and HINT in again.stdout
        assert asyncio.run(imported(data_dir, sandbox)) == found
    assert "The outbox is empty." in run(data_dir, "outbox").stdout


def test_a_platform_tier_is_made_giftable_from_the_cli(data_dir: Path) -> None:
    with serve(create_sandbox(SandboxSettings(log_level="WARNING"))) as sandbox:
        made = run(
            data_dir,
            "tiers",
            "create",
            "Everything",
            "--key",
            "member",
            "--monthly",
            "900",
            MEMBERSHIP_STRIPE_SANDBOX_URL=sandbox,
        )
        assert made.returncode == 0, made.stderr
        tier_id = made.stdout.split("(", 1)[1].split(")", 1)[0]
        giftable = run(data_dir, "tiers", "gifts", tier_id, "--months", "1", "--months", "12")
        assert giftable.returncode == 0, giftable.stderr
        assert "Everything can be given for 1, 12 month(s)." in giftable.stdout
        wrong = run(data_dir, "tiers", "gifts", tier_id, "--months", "2")
        assert wrong.returncode == 1 and "2 is not one of them" in wrong.stderr
        assert "is not giftable" in run(data_dir, "tiers", "gifts", tier_id).stdout
        assert "No tier" in run(data_dir, "tiers", "gifts", "not-a-tier").stderr
