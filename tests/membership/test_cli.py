"""The `membership` command, run as an operator would: migrate, publications, API keys, outbox, demo."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from membership.apikeys.services import ApiKeyService
from membership.db import alchemy_config
from membership.settings import Settings
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


def test_demo_seed_is_idempotent_and_outbox_prints(data_dir: Path) -> None:
    with serve(create_sandbox(SandboxSettings(log_level="WARNING"))) as sandbox:
        first = run(data_dir, "demo", "seed", MEMBERSHIP_STRIPE_SANDBOX_URL=sandbox)
        assert first.returncode == 0, first.stderr
        made = "the-gazette, the-gazette tier, field-notes, field-notes tier, platform membership"
        assert f"Seeded {made}" in first.stdout
        again = run(data_dir, "demo", "seed", MEMBERSHIP_STRIPE_SANDBOX_URL=sandbox)
        assert "already present" in again.stdout
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
