"""The `gateway` command: its help, and `gateway run` serving the app on the configured port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

GATEWAY = str(Path(sys.executable).with_name("gateway"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITESTAR_", "GATEWAY_"))}
    env.update(extra)
    return env


def test_help_lists_run() -> None:
    result = subprocess.run([GATEWAY, "--help"], capture_output=True, text=True, env=_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout


@pytest.mark.e2e
def test_run_serves_on_the_configured_port(upstream: Any, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "gateway.log").open("w")
    env = _env(GATEWAY_PORT=str(port), GATEWAY_MEMBERSHIP_URL=upstream.url, GATEWAY_LOG_LEVEL="WARNING")
    process = subprocess.Popen([GATEWAY, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "gateway.log").read_text()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "gateway run did not start listening"
                time.sleep(0.2)
        # Ready means it reached the stand-in for membership given in GATEWAY_MEMBERSHIP_URL.
        assert response.status_code == 200
        assert response.json()["checks"] == {"keys": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def test_production_without_a_story_origin_refuses_to_start_in_one_sentence() -> None:
    env = _env(GATEWAY_ENVIRONMENT="production", GATEWAY_MEMBERSHIP_API_KEY="tgk_x")
    result = subprocess.run([GATEWAY, "run"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "GATEWAY_STORY_ORIGIN is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_serves_the_samples_only_when_asked_to() -> None:
    from gateway.settings import Settings

    with pytest.raises(ValueError, match="GATEWAY_STORY_ORIGIN"):
        Settings(environment="production", story_origin="")
    assert Settings(environment="production", story_origin="samples").serves_samples
    assert not Settings(environment="production", story_origin="/srv/stories").serves_samples
    assert Settings(environment="development", story_origin="").serves_samples


def test_production_with_an_anonymous_allowance_needs_one_cookie_secret_for_every_gateway() -> None:
    from gateway.settings import Settings

    production = {"environment": "production", "story_origin": "samples"}
    with pytest.raises(ValueError, match="GATEWAY_ANONYMOUS_COOKIE_SECRET"):
        Settings(**production, anonymous_unlocks_per_month=3)
    assert Settings(**production, anonymous_unlocks_per_month=3, anonymous_cookie_secret="s" * 32)
    assert Settings(**production).anonymous_unlocks_per_month == 0  # no allowance, no cookie to sign
    assert Settings(environment="development", anonymous_unlocks_per_month=3)  # a secret per process
