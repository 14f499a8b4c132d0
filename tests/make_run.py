"""Starting the real `make run` from a test: free ports, an empty data folder, its own process group.

The e2e test and the browser tests both drive the whole system this way; a SIGINT to the process
group later is exactly what Ctrl-C in a terminal does.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Started:
    proc: subprocess.Popen[str]
    gateway: str
    membership: str
    sandbox: str


def start_make_run(data_dir: Path, extra_env: dict[str, str] | None = None) -> Started:
    """`make run` with stdout and stderr on one pipe (the caller must keep reading it).

    `extra_env` sets service variables on top (a database URL, shortened intervals).
    """
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
        "MEMBERSHIP_DATA_DIR": str(data_dir),
    }
    env |= extra_env or {}
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
    return Started(
        proc,
        f"http://127.0.0.1:{gateway_port}",
        f"http://127.0.0.1:{membership_port}",
        f"http://127.0.0.1:{sandbox_port}",
    )


@dataclass
class Running:
    gateway: str
    membership: str
    sandbox: str
    proc: subprocess.Popen[str]
    # Everything the services print after the start, read continuously so the pipe never fills.
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    # What make run printed up to "Press Ctrl-C to stop."
    start_output: str = ""


@contextmanager
def running_make_run(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Running]:
    """`make run` up and ready (asserted), its output read in the background; killed on leaving."""
    started = start_make_run(data_dir, extra_env)
    proc = started.proc
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
    run = Running(started.gateway, started.membership, started.sandbox, proc, start_output=output)
    run.reader = threading.Thread(target=lambda: run.log.extend(proc.stdout or []), daemon=True)
    run.reader.start()
    try:
        yield run
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    """Ctrl-C, as in a terminal: make run stops its services (each in a session of its own, so a
    SIGKILL to make's group alone would leave them running); SIGKILL only if that hangs."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def sign_in(browser: httpx.Client, email: str) -> None:
    """Sign in through the gateway as a reader would: the link from the dev outbox, then confirm."""
    assert browser.post("/api/auth/sign-in", json={"email": email}).status_code == 202
    mail = browser.get("/dev/outbox/messages", params={"to": email}).json()
    link = re.search(r"/auth/sign-in/confirm\?token=(\S+)", mail[0]["body"])
    assert link
    assert browser.post("/auth/sign-in/confirm", data={"token": link.group(1)}).status_code == 303
