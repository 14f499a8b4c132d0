"""The real `make run` past every interval it has, on SQLite and on PostgreSQL.

Every other test runs within a minute of a fresh start, where nothing has lapsed yet. Here each
interval is shortened by its setting (key refresh, JWKS poll, revocation poll, caches, the token's
lifetime and leeway) and let lapse before a reader signs in, takes a token, spends a free unlock,
subscribes, reads as a member and has a lapsed token renewed through the gateway; an operator's key
rotation in another process reaches the signer and the gateway on its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import BACKENDS, fresh_database
from tests.make_run import ROOT, Running, running_make_run, sign_in

pytestmark = pytest.mark.e2e

# Each interval below is at most this long, so sleeping LAPSE lets every one of them pass.
SHORT = {
    "MEMBERSHIP_KEY_REFRESH_SECONDS": "1",
    "MEMBERSHIP_TOKEN_MINUTES": "0.05",  # three-second tokens
    "MEMBERSHIP_TOKEN_LEEWAY_SECONDS": "1",
    "MEMBERSHIP_STRIPE_POLL_SECONDS": "0.5",
    "MEMBERSHIP_STRIPE_LEASE_SECONDS": "2",
    "GATEWAY_JWKS_REFRESH_SECONDS": "1",
    "GATEWAY_TOKEN_LEEWAY_SECONDS": "1",
    "GATEWAY_REVOCATION_POLL_SECONDS": "0.5",
    "GATEWAY_FRIEND_LINK_CACHE_SECONDS": "1",
    "GATEWAY_OFFERS_CACHE_SECONDS": "1",
}
LAPSE = 5.0


@dataclass(frozen=True)
class System:
    run: Running
    data_dir: Path
    # Membership's variables that locate its data: the same for a CLI run beside it.
    membership_env: dict[str, str]


@pytest.fixture(scope="module", params=BACKENDS)
def over_time(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data = tmp_path_factory.mktemp("data")
    for url in fresh_database(request.param, tmp_path_factory.mktemp("db")):
        located = {"MEMBERSHIP_DATA_DIR": str(data)}
        if request.param == "postgresql":
            located["MEMBERSHIP_DATABASE_URL"] = url
        with running_make_run(data, SHORT | located) as run:
            yield System(run, data, located)


def rotate_keys(system: System) -> None:
    """`membership keys rotate` in a process of its own, as an operator would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERSHIP_")} | system.membership_env
    membership = str(ROOT / ".venv" / "bin" / "membership")
    done = subprocess.run([membership, "keys", "rotate"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def access(response: httpx.Response) -> str:
    return response.headers["tollgate-access"]


def test_a_reader_goes_through_everything_after_every_interval_lapsed(over_time: System) -> None:
    run = over_time.run
    time.sleep(LAPSE)
    with httpx.Client(base_url=run.gateway, timeout=30) as browser:
        sign_in(browser, "hours-later@example.com")
        first = browser.post("/api/auth/token")
        assert first.status_code == 200, first.text
        first_kid = kid_of(first.json()["access_token"])

        unlocked = browser.get("/stories/the-night-press")
        assert access(unlocked) == 'full; reason="free_unlock"', unlocked.headers
        assert unlocked.headers["tollgate-unlocks-left"] == "2"

        # The operator rotates the signing key in another process; nobody restarts anything.
        rotate_keys(over_time)
        time.sleep(LAPSE)
        second = browser.post("/api/auth/token")
        assert second.status_code == 200, second.text
        second_kid = kid_of(second.json()["access_token"])
        assert second_kid != first_kid
        published = {k["kid"] for k in browser.get("/.well-known/jwks.json").json()["keys"]}
        assert second_kid in published

        # Subscribe through the sandbox's checkout; the webhooks land after the intervals lapsed too.
        shut = httpx.get(f"{run.gateway}/stories/letters-from-the-bindery")  # the teaser, signed out
        price = re.search(r'name="price_id" value="([^"]+)"', shut.text)
        assert price, shut.text
        started = browser.post(
            "/account/checkout",
            data={"price_id": price.group(1), "return_to": "/stories/letters-from-the-bindery"},
            headers={"origin": run.gateway},
        )
        assert started.status_code == 303, started.text
        session = re.search(r"(cs_[A-Za-z0-9_]+)", started.headers["location"])
        assert session
        paid = httpx.post(
            f"{run.sandbox}/_sandbox/checkout/{session.group(1)}/pay", json={"card": "4242424242424242"}
        )
        assert paid.status_code == 200, paid.text
        httpx.post(f"{run.sandbox}/_sandbox/delivery/wait", json={"timeout": 30})
        for _ in range(150):  # thirty seconds at most
            story = browser.get("/stories/letters-from-the-bindery")
            if access(story) == 'full; reason="entitled"':
                break
            time.sleep(0.2)
        assert access(story) == 'full; reason="entitled"', story.headers

        # The access token lapses (lifetime and leeway): the gateway renews it from the session.
        before = browser.cookies.get("tollgate_access")
        time.sleep(LAPSE)
        renewed = browser.get("/stories/letters-from-the-bindery")
        assert access(renewed) == 'full; reason="entitled"', renewed.headers
        after = browser.cookies.get("tollgate_access")
        assert after and after != before
        assert kid_of(after) == second_kid
        # A member spends no unlocks.
        other = browser.get("/stories/counting-stars-in-town")
        assert other.headers["tollgate-unlocks-left"] == "2"
