"""`make run` for real: both services come up ready, a new reader signs in over HTTP through the
gateway (link from the outbox, session, refresh, sign out everywhere), and Ctrl-C stops both."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    gateway_port, membership_port, sandbox_port = free_port(), free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MEMBERSHIP_", "GATEWAY_", "STRIPE_SANDBOX_"))
    }
    env |= {
        "GATEWAY_PORT": str(gateway_port),
        "MEMBERSHIP_PORT": str(membership_port),
        "STRIPE_SANDBOX_PORT": str(sandbox_port),
        "MEMBERSHIP_DATA_DIR": str(tmp_path_factory.mktemp("data")),
    }
    # Its own process group, so that a SIGINT to the group is exactly what Ctrl-C in a terminal does.
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if "Press Ctrl-C to stop." in line:
            break
    output = "".join(lines)
    assert "Tollgate is up." in output, output
    assert f"http://127.0.0.1:{gateway_port}/" in output
    yield f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{membership_port}", proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_both_services_are_ready(running: tuple[str, str, subprocess.Popen[str]]) -> None:
    gateway, membership, _ = running
    assert httpx.get(f"{membership}/health/ready").json()["checks"] == {"database": "ok"}
    assert httpx.get(f"{gateway}/health/ready").json()["checks"] == {"membership": "ok"}
    assert httpx.get(f"{membership}/schema/openapi.json").status_code == 200
    demo = httpx.get(f"{gateway}/api/publications").json()
    assert {p["slug"] for p in demo} == {"the-gazette", "field-notes"}
    # The demo tiers were made in the Stripe sandbox, which is up too.
    tiers = httpx.get(f"{gateway}/api/publications/the-gazette/tiers").json()
    assert tiers[0]["stripe_product_id"].startswith("prod_")
    assert {p["interval"] for p in tiers[0]["prices"]} == {"month", "year"}
    assert httpx.get(f"{gateway}/api/platform/tiers").json()[0]["entitlement_keys"] == ["member"]


def test_a_new_reader_signs_in_end_to_end(running: tuple[str, str, subprocess.Popen[str]]) -> None:
    gateway, _, _ = running
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


def test_ctrl_c_stops_both_cleanly(running: tuple[str, str, subprocess.Popen[str]]) -> None:
    gateway, membership, proc = running
    os.killpg(proc.pid, signal.SIGINT)
    # make itself always ends on Ctrl-C by re-raising SIGINT once its recipe has finished.
    assert proc.wait(timeout=30) in (0, -signal.SIGINT, 128 + signal.SIGINT)
    rest = proc.stdout.read() if proc.stdout else ""  # to EOF: every process holding the pipe has exited
    assert "Stopping Tollgate..." in rest and "Stopped." in rest
    assert rest.count("Application shutdown complete") == 3, rest  # membership, gateway, sandbox
    assert "stopped unexpectedly" not in rest
    for url in (gateway, membership):
        assert not listening(int(url.rsplit(":", 1)[1]))
