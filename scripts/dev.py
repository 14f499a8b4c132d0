"""`make run`: the whole of Tollgate on embedded defaults, in one terminal.

Migrates membership's SQLite database and seeds the demo publications (both idempotent), starts
membership and the gateway, waits until each says it is ready, prints where to open it, and on
Ctrl-C (or SIGTERM) stops both cleanly. Ports and everything else come from the services' own
environment variables (MEMBERSHIP_PORT, GATEWAY_PORT, ...).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
READY_TIMEOUT = 60.0


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own loopback URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    env = os.environ.copy()
    membership_port = int(env.setdefault("MEMBERSHIP_PORT", "8001"))
    gateway_port = int(env.setdefault("GATEWAY_PORT", "8000"))
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    membership_url = f"http://127.0.0.1:{membership_port}"
    env.setdefault("MEMBERSHIP_PUBLIC_URL", gateway_url)
    env.setdefault("GATEWAY_MEMBERSHIP_URL", membership_url)
    env.setdefault("MEMBERSHIP_DATA_DIR", str(ROOT / "data"))
    env.setdefault("MEMBERSHIP_LOG_FORMAT", "console")
    env.setdefault("GATEWAY_LOG_FORMAT", "console")

    for name, port in (("membership", membership_port), ("gateway", gateway_port)):
        if not port_free(port):
            print(f"Port {port} for {name} is taken; set {name.upper()}_PORT to another.", file=sys.stderr)
            return 1

    print("Tollgate: migrating the database and seeding demo data...", flush=True)
    for command in (["database", "upgrade", "--no-prompt"], ["demo", "seed"]):
        subprocess.run([str(BIN / "membership"), *command], env=env, check=True, stdout=subprocess.DEVNULL)

    # Own sessions: Ctrl-C reaches this runner, which then stops the services in order.
    children = {
        "membership": subprocess.Popen([str(BIN / "membership"), "run"], env=env, start_new_session=True),
        "gateway": subprocess.Popen([str(BIN / "gateway"), "run"], env=env, start_new_session=True),
    }
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    deadline = time.monotonic() + READY_TIMEOUT
    checks = {"membership": f"{membership_url}/health/ready", "gateway": f"{gateway_url}/health/ready"}
    while checks and not stopping and time.monotonic() < deadline:
        for name, url in list(checks.items()):
            if children[name].poll() is not None:
                print(f"{name} exited during start-up.", file=sys.stderr)
                stopping = True
            elif ready(url):
                del checks[name]
        time.sleep(0.2)
    code = 0
    if checks and not stopping:
        print(f"Not ready after {READY_TIMEOUT:.0f}s: {', '.join(checks)}", file=sys.stderr)
        stopping, code = True, 1
    if not stopping:
        print(
            "\nTollgate is up.\n"
            f"  Open:            {gateway_url}/\n"
            f"  Sign in:         {gateway_url}/auth/sign-in\n"
            f"  Dev outbox:      {gateway_url}/dev/outbox/  (sign-in links land here)\n"
            f"  Membership API:  {membership_url}/schema/swagger\n"
            f"  Gateway API:     {gateway_url}/schema/swagger\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} stopped unexpectedly (exit {child.returncode}); stopping.", file=sys.stderr)
                stopping, code = True, 1
        time.sleep(0.2)

    print("Stopping Tollgate...", flush=True)
    for child in reversed(children.values()):
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    print("Stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
