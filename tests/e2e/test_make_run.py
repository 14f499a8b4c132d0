"""`make run` for real: both services come up ready, a new reader signs in over HTTP through the
gateway (link from the outbox, session, refresh, sign out everywhere), meets the paywall, spends a
free unlock, subscribes through the sandbox's checkout and reads everything the tier opens; a
member imported from Ghost reads an imported member-only story; a demo author makes a friend link;
and Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from membership.demo import IMPORTED_PAID_MEMBER
from tests.make_run import Running, running_make_run, sign_in


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_make_run(tmp_path_factory.mktemp("data")) as run:
        assert f"{run.gateway}/" in run.start_output
        yield run


def test_both_services_are_ready(running: Running) -> None:
    gateway, membership = running.gateway, running.membership
    assert httpx.get(f"{membership}/health/ready").json()["checks"] == {"database": "ok"}
    assert httpx.get(f"{gateway}/health/ready").json()["checks"] == {"keys": "ok"}
    assert httpx.get(f"{membership}/schema/openapi.json").status_code == 200
    demo = httpx.get(f"{gateway}/api/publications").json()
    assert {p["slug"] for p in demo} == {"the-gazette", "field-notes", "harbour-post"}
    # The demo tiers were made in the Stripe sandbox, which is up too.
    tiers = httpx.get(f"{gateway}/api/publications/the-gazette/tiers").json()
    assert tiers[0]["stripe_product_id"].startswith("prod_")
    assert {p["interval"] for p in tiers[0]["prices"]} == {"month", "year"}
    assert httpx.get(f"{gateway}/api/platform/tiers").json()[0]["entitlement_keys"] == ["member"]


# Said loudly on purpose in development: payments go to the sandbox, and a secret was made for you.
EXPECTED_WARNINGS = ("STRIPE SANDBOX", "made a key-encryption secret")


def test_a_healthy_start_is_quiet(running: Running) -> None:
    time.sleep(3)  # a few revocation and JWKS polls, and the sandbox's webhook deliveries
    lines = (running.start_output + "".join(running.log)).splitlines()
    loud = [
        line
        for line in lines
        if ("[warning" in line or "[error" in line or "Traceback" in line)
        and not any(expected in line for expected in EXPECTED_WARNINGS)
    ]
    assert loud == []
    # Requests the services send each other are not logged one by one (httpx's own INFO lines).
    assert not [line for line in lines if "HTTP Request:" in line]


def test_a_new_reader_signs_in_end_to_end(running: Running) -> None:
    gateway = running.gateway
    with httpx.Client(base_url=gateway) as browser:
        asked = browser.post("/api/auth/sign-in", json={"email": "newcomer@example.com", "next": "/welcome"})
        assert asked.status_code == 202
        mail = browser.get("/dev/outbox/messages", params={"to": "newcomer@example.com"}).json()
        link = re.search(r"(http://\S+/auth/sign-in/confirm\?token=\S+)", mail[0]["body"])
        assert link and link.group(1).startswith(gateway)
        page = browser.get(link.group(1))
        assert page.status_code == 200 and "Sign in" in page.text
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token
        confirmed = browser.post("/auth/sign-in/confirm", data={"token": token.group(1)})
        assert confirmed.status_code == 303 and confirmed.headers["location"] == "/welcome"
        first_cookie = browser.cookies["tollgate_session"]
        me = browser.get("/api/me").json()
        assert me["email"] == "newcomer@example.com"

        refreshed = browser.post("/api/auth/refresh")
        assert refreshed.status_code == 200
        assert browser.cookies["tollgate_session"] != first_cookie
        assert browser.get("/api/me").json()["id"] == me["id"]

        out = browser.post("/api/auth/sign-out-everywhere")
        assert out.status_code == 200 and out.json()["sessions_ended"] == 1
        assert browser.get("/api/me").status_code == 401


def test_a_reader_meets_the_paywall_unlocks_a_story_subscribes_and_reads_everything(
    running: Running,
) -> None:
    gateway, sandbox = running.gateway, running.sandbox
    with httpx.Client(base_url=gateway, timeout=30) as browser:
        shut = browser.get("/stories/the-night-press")
        assert shut.headers["tollgate-access"] == 'teaser; reason="sign_in"'
        # The tiers that open it: the Gazette's own, and the platform membership (every publication).
        assert "Supporter" in shut.text and "Tollgate Member" in shut.text
        price = re.search(r'name="price_id" value="([^"]+)"', shut.text)
        assert price

        sign_in(browser, "subscriber@example.com")
        unlocked = browser.get("/stories/the-night-press")
        assert unlocked.headers["tollgate-access"] == 'full; reason="free_unlock"'
        assert unlocked.headers["tollgate-unlocks-left"] == "2"

        started = browser.post(
            "/account/checkout",
            data={"price_id": price.group(1), "return_to": "/stories/letters-from-the-bindery"},
            headers={"origin": gateway},
        )
        assert started.status_code == 303, started.text
        session = re.search(r"(cs_[A-Za-z0-9_]+)", started.headers["location"])
        assert session and started.headers["location"].startswith(sandbox)
        paid = httpx.post(
            f"{sandbox}/_sandbox/checkout/{session.group(1)}/pay", json={"card": "4242424242424242"}
        )
        assert paid.status_code == 200, paid.text
        assert "/stories/letters-from-the-bindery" in paid.json()["redirect"]
        httpx.post(f"{sandbox}/_sandbox/delivery/wait", json={"timeout": 30})
        # Membership applies the webhooks from its inbox in the background; the read converges.
        deadline = time.monotonic() + 30
        while True:
            story = browser.get("/stories/letters-from-the-bindery")
            if story.headers["tollgate-access"] == 'full; reason="entitled"' or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert story.headers["tollgate-access"] == 'full; reason="entitled"'
        # A member spends no unlocks: still two left for other publications' stories.
        other = browser.get("/stories/counting-stars-in-town")
        assert other.headers["tollgate-unlocks-left"] == "2"


def test_the_imported_paid_member_reads_the_imported_member_only_story(running: Running) -> None:
    # The Harbour Post came from Ghost: this member's old Stripe subscription was adopted by the seed.
    assert f"Sign in as {IMPORTED_PAID_MEMBER}" in running.start_output
    with httpx.Client(base_url=running.gateway, timeout=30) as browser:
        assert browser.get("/stories/the-harbour-wall").headers["tollgate-access"].startswith("teaser")
        sign_in(browser, IMPORTED_PAID_MEMBER)
        story = browser.get("/stories/the-harbour-wall")
        assert story.headers["tollgate-access"] == 'full; reason="entitled"'
        assert "fourteen voids" in story.text and '<img src="/images/harbour-wall.svg"' in story.text


def test_a_demo_author_makes_a_friend_link_that_opens_the_story_for_anyone(
    running: Running,
) -> None:
    gateway = running.gateway
    with httpx.Client(base_url=gateway, timeout=30) as author:
        sign_in(author, "jonas@gazette.example")
        made = author.post(
            "/stories/the-night-press/friend-links", headers={"accept": "application/json", "origin": gateway}
        )
        assert made.status_code == 201, made.text
        url = made.json()["url"]
    anyone = httpx.get(url)
    assert anyone.headers["tollgate-access"] == 'full; reason="friend_link"'


def test_ctrl_c_stops_both_cleanly(running: Running) -> None:
    proc = running.proc
    os.killpg(proc.pid, signal.SIGINT)
    # make itself always ends on Ctrl-C by re-raising SIGINT once its recipe has finished.
    assert proc.wait(timeout=30) in (0, -signal.SIGINT, 128 + signal.SIGINT)
    assert running.reader is not None
    running.reader.join(timeout=30)  # to EOF: every process holding the pipe has exited
    rest = "".join(running.log)
    assert "Stopping Tollgate..." in rest and "Stopped." in rest
    assert rest.count("Application shutdown complete") == 3, rest  # membership, gateway, sandbox
    assert "stopped unexpectedly" not in rest
    for url in (running.gateway, running.membership, running.sandbox):
        assert not listening(int(url.rsplit(":", 1)[1]))
