"""Starting the real `make run` from a test: free ports, an empty data folder, its own process group.

The e2e test and the browser tests both drive the whole system this way; a SIGINT to the process
group later is exactly what Ctrl-C in a terminal does.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

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


def start_make_run(data_dir: Path) -> Started:
    """`make run` with stdout and stderr on one pipe (the caller must keep reading it)."""
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
