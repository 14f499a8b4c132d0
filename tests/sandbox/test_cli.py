"""The `stripe-sandbox` command: its help, and `stripe-sandbox run` serving the app on the configured port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

COMMAND = str(Path(sys.executable).with_name("stripe-sandbox"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITESTAR_", "STRIPE_SANDBOX_"))}
    env.update(extra)
    return env


def test_help_lists_run() -> None:
    result = subprocess.run([COMMAND, "--help"], capture_output=True, text=True, env=_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout


@pytest.mark.e2e
def test_run_serves_on_the_configured_port_and_warns(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log_path = tmp_path / "sandbox.log"
    env = _env(STRIPE_SANDBOX_PORT=str(port), STRIPE_SANDBOX_STATE_FILE=str(tmp_path / "state.json"))
    with log_path.open("w") as log:
        process = subprocess.Popen([COMMAND, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "stripe-sandbox run did not start listening"
                    time.sleep(0.2)
            assert response.status_code == 200
            assert response.json()["checks"] == {"delivery": "ok"}
        finally:
            process.terminate()
            process.wait(timeout=15)
    output = log_path.read_text()
    assert "THIS IS THE STRIPE SANDBOX, NOT STRIPE" in output
    assert "STRIPE_SANDBOX_WEBHOOK_SECRET is empty" in output
    assert (tmp_path / "state.json").exists()  # saved on the way out
