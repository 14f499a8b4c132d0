"""`make run`: the whole of Tollgate on embedded defaults, in one terminal.

Migrates membership's SQLite database, starts the Stripe sandbox (unless a real Stripe key is
configured), seeds the demo publications and tiers (idempotent), starts membership and the
gateway, waits until each says it is ready, prints where to open it, and on Ctrl-C (or SIGTERM)
stops everything cleanly. Ports and the rest come from the services' own environment variables
(MEMBERSHIP_PORT, GATEWAY_PORT, STRIPE_SANDBOX_PORT, ...).
"""

from __future__ import annotations

import os
import secrets
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


class Services:
    """The child processes, each in its own session so that Ctrl-C reaches this runner first."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def start(self, name: str, *command: str) -> None:
        self.children[name] = subprocess.Popen(
            [str(BIN / command[0]), *command[1:]], env=self.env, start_new_session=True
        )

    def wait_ready(self, checks: dict[str, str]) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while checks and not self.stopping and time.monotonic() < deadline:
            for name, url in list(checks.items()):
                if self.children[name].poll() is not None:
                    print(f"{name} exited during start-up.", file=sys.stderr)
                    return False
                if ready(url):
                    del checks[name]
            time.sleep(0.2)
        if checks and not self.stopping:
            print(f"Not ready after {READY_TIMEOUT:.0f}s: {', '.join(checks)}", file=sys.stderr)
        return not checks

    def watch(self) -> int:
        while not self.stopping:
            for name, child in self.children.items():
                if child.poll() is not None:
                    print(
                        f"{name} stopped unexpectedly (exit {child.returncode}); stopping.", file=sys.stderr
                    )
                    return 1
            time.sleep(0.2)
        return 0

    def stop(self) -> None:
        print("Stopping Tollgate...", flush=True)
        for child in reversed(self.children.values()):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in self.children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        print("Stopped.", flush=True)


GATEWAY_SCOPES = ("entitlements:read", "unlocks:write", "friend-links:write")


def gateway_api_key(env: dict[str, str], data: Path) -> str:
    """The gateway's platform API key: kept in the data folder beside the database, made once."""
    saved = data / "gateway-api-key"
    membership = str(BIN / "membership")
    if saved.exists():
        secret = saved.read_text().strip()
        listed = subprocess.run(
            [membership, "api-keys", "list"], env=env, check=True, capture_output=True, text=True
        ).stdout
        # Still there and not revoked (the database may have been replaced since)?
        for line in listed.splitlines():
            fields = line.split()
            if len(fields) > 1 and not line.endswith("revoked") and secret.startswith(fields[1].rstrip("…")):
                return secret
    scopes = [arg for scope in GATEWAY_SCOPES for arg in ("--scope", scope)]
    created = subprocess.run(
        [membership, "api-keys", "create", "gateway (make run)", *scopes],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    secret = created.strip().splitlines()[-1]
    data.mkdir(parents=True, exist_ok=True)
    saved.write_text(secret + "\n")
    saved.chmod(0o600)
    return secret


SECRET_WORDS = ("SECRET", "API_KEY", "PASSWORD")


def write_run_file(env: dict[str, str], data: Path) -> Path:
    """What this run chose, for the membership CLI in another terminal; removed when the run stops.

    Secrets stay out; the database URL may hold a password, so the file is the owner's only.
    """
    chosen = {
        key: value
        for key, value in sorted(env.items())
        if key.startswith("MEMBERSHIP_")
        and not any(word in key for word in ("SECRET", "API_KEY", "PASSWORD"))
    }
    data.mkdir(parents=True, exist_ok=True)
    path = data / "make-run.env"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"# Written by `make run` (pid {os.getpid()}); removed when it stops.\n")
        out.write(f"MAKE_RUN_PID={os.getpid()}\n")
        out.writelines(f"{key}={value}\n" for key, value in chosen.items())
    return path


def main() -> int:
    env = os.environ.copy()
    ports = {
        "membership": int(env.setdefault("MEMBERSHIP_PORT", "8001")),
        "gateway": int(env.setdefault("GATEWAY_PORT", "8000")),
        "stripe-sandbox": int(env.setdefault("STRIPE_SANDBOX_PORT", "8002")),
    }
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    data = Path(env.setdefault("MEMBERSHIP_DATA_DIR", str(ROOT / "data")))
    sandboxed = not env.get("MEMBERSHIP_STRIPE_SECRET_KEY")
    env.setdefault("MEMBERSHIP_PUBLIC_URL", urls["gateway"])
    env.setdefault("GATEWAY_MEMBERSHIP_URL", urls["membership"])
    # Tokens name the public address as their issuer; the gateway must expect the same one.
    env.setdefault("GATEWAY_PUBLIC_URL", env["MEMBERSHIP_PUBLIC_URL"])
    for prefix in ("MEMBERSHIP", "GATEWAY", "STRIPE_SANDBOX"):
        env.setdefault(f"{prefix}_LOG_FORMAT", "console")
    if sandboxed:
        # A fresh signing secret each run, shared by the sandbox and membership only.
        secret = "whsec_" + secrets.token_hex(24)
        env.setdefault("MEMBERSHIP_STRIPE_SANDBOX_URL", urls["stripe-sandbox"])
        env.setdefault("MEMBERSHIP_STRIPE_WEBHOOK_SECRET", secret)
        env.setdefault("STRIPE_SANDBOX_WEBHOOK_SECRET", env["MEMBERSHIP_STRIPE_WEBHOOK_SECRET"])
        env.setdefault("STRIPE_SANDBOX_WEBHOOK_URL", f"{urls['membership']}/api/stripe/webhook")
        env.setdefault("STRIPE_SANDBOX_PUBLIC_URL", urls["stripe-sandbox"])
        env.setdefault("STRIPE_SANDBOX_STATE_FILE", str(data / "stripe-sandbox.json"))
        # Moving the sandbox's clock moves everyone's: a month passes for gifts and tokens too.
        env.setdefault("MEMBERSHIP_SANDBOX_CLOCK_URL", urls["stripe-sandbox"])
        env.setdefault("GATEWAY_SANDBOX_CLOCK_URL", urls["stripe-sandbox"])
    else:
        del ports["stripe-sandbox"]

    for name, port in ports.items():
        if not port_free(port):
            print(
                f"Port {port} for {name} is taken; set {name.upper().replace('-', '_')}_PORT.",
                file=sys.stderr,
            )
            return 1

    run_file = write_run_file(env, data)
    services = Services(env)

    def stop(*_: object) -> None:
        services.stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    print("Tollgate: migrating the database...", flush=True)
    subprocess.run(
        [str(BIN / "membership"), "database", "upgrade", "--no-prompt"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    code = 1
    try:
        if sandboxed:
            services.start("stripe-sandbox", "stripe-sandbox", "run")
            if not services.wait_ready({"stripe-sandbox": f"{urls['stripe-sandbox']}/health/ready"}):
                return 1
        # Membership listens before the seed makes tiers in the sandbox, so their events land.
        services.start("membership", "membership", "run")
        if not services.wait_ready({"membership": f"{urls['membership']}/health/ready"}):
            return 1
        print("Tollgate: seeding the demo publications and tiers...", flush=True)
        subprocess.run([str(BIN / "membership"), "demo", "seed"], env=env, check=True)
        env.setdefault("GATEWAY_MEMBERSHIP_API_KEY", gateway_api_key(env, data))
        services.start("gateway", "gateway", "run")
        if not services.wait_ready({"gateway": f"{urls['gateway']}/health/ready"}):
            return 1
        if not services.stopping:
            sandbox_line = (
                f"  Stripe sandbox:  {urls['stripe-sandbox']}/  (no real payments; test card 4242...)\n"
                if sandboxed
                else ""
            )
            print(
                "\nTollgate is up.\n"
                f"  Open:            {urls['gateway']}/\n"
                f"  Sign in:         {urls['gateway']}/auth/sign-in\n"
                f"  Dev outbox:      {urls['gateway']}/dev/outbox/  (sign-in links land here)\n"
                f"  Membership API:  {urls['membership']}/schema/swagger\n"
                f"  Gateway API:     {urls['gateway']}/schema/swagger\n"
                f"{sandbox_line}"
                "Press Ctrl-C to stop.\n",
                flush=True,
            )
        code = services.watch()
    finally:
        services.stop()
        run_file.unlink(missing_ok=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
