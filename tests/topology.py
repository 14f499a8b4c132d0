"""docker-compose.yml's services as processes on this machine, for tests/test_topology.py.

Each replica is what compose would run: the command is its Dockerfile's CMD (host and port moved
to a loopback port of its own) and its environment is the one the compose file gives the service,
with only the addresses and secrets that differ here replaced (`compose_env` insists that every
replacement names a variable compose sets, unless it is one of the few the test adds). A replica
can be SIGKILLed and started again on the same port; its output goes to a log file per start.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.dockerfiles import parse_dockerfile
from tests.test_compose import environment

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def command(service: str, port: int) -> list[str]:
    """The service's Dockerfile CMD, listening on 127.0.0.1:port instead of 0.0.0.0."""
    instructions = parse_dockerfile((ROOT / "services" / service / "Dockerfile").read_text())
    argv: list[str] = json.loads([args for keyword, args in instructions if keyword == "CMD"][-1])
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    return [str(BIN / argv[0]), *argv[1:]]


def compose_env(service: str, replaced: dict[str, str], added: dict[str, str]) -> dict[str, str]:
    """The service's environment in docker-compose.yml (no shell variables set), with `replaced`
    values for variables compose sets and `added` ones it does not, on a clean process environment."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = environment(compose["services"][service])
    unknown = sorted(set(replaced) - set(env))
    assert not unknown, f"compose sets no {unknown} for {service}"
    already = sorted(set(added) & set(env))
    assert not already, f"compose sets {already} for {service}: replace them instead"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MEMBERSHIP_", "GATEWAY_", "STRIPE_"))}
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    return base | env | replaced | added


@dataclass
class Replica:
    """One process of a service, on its own port; started, killed and started again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    logs: Path
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: list[int] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self, start: int = 0) -> Path:
        """The output of its `start`th start (1, 2, ...), by default of the latest."""
        return self.logs / f"{self.name}-{start or self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with self.log().open("wb") as out:
            # A session of its own: the kill reaches any process it starts, and Ctrl-C does not.
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, within: float = 120) -> None:
        """Until /health/ready answers 200; a process that exits meanwhile is an error, with its log."""
        deadline = time.monotonic() + within
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited {self.proc.returncode}:\n{self.log().read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"http://{self.address}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} not ready within {within}s:\n{self.log().read_text()[-4000:]}"
                )
            time.sleep(0.2)

    def errors(self) -> list[str]:
        """The lines its starts logged at level error or worse (JSON logs, as in production)."""
        logs = (self.log(n) for n in range(1, self.starts + 1))
        found = (line for log in logs for line in log.read_text().splitlines())
        return [line for line in found if re.search(r'"level":"(error|critical)"', line)]

    def kill(self) -> None:
        """SIGKILL, as when a machine or container dies: no shutdown, connections cut."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.kills.append(self.proc.pid)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
