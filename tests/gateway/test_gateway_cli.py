"""The `gateway` command: its help, and `gateway run` serving the app on the configured port,
stopping gracefully on SIGTERM and SIGINT, and believing proxy headers from where uvicorn did."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def _running(tmp_path: Path, **extra: str) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`gateway run` on a free port, JSON logs at INFO to a file; stopped (SIGKILL) if still running."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "gateway.log"
    env = _env(GATEWAY_PORT=str(port), GATEWAY_LOG_LEVEL="INFO", GATEWAY_LOG_FORMAT="json", **extra)
    with path.open("w") as log:
        process = subprocess.Popen([GATEWAY, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, path.read_text()
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"gateway run did not become ready:\n{path.read_text()}"
            time.sleep(0.2)
        yield process, url, path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)


def _lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except ValueError:
            lines.append({"event": line, "level": "unparsed"})
    return lines


@pytest.mark.e2e
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stops_gracefully(upstream: Any, tmp_path: Path, stop: signal.Signals) -> None:
    """A request in flight when the signal comes is answered; the lifespan shuts down; exit code 0."""
    with _running(tmp_path, GATEWAY_MEMBERSHIP_URL=upstream.url) as (process, url, path):
        answers: list[httpx.Response | BaseException] = []

        def slow() -> None:  # the stand-in for membership takes 1.5 s to answer /api/slow
            try:
                answers.append(httpx.get(f"{url}/api/slow", timeout=30))
            except BaseException as exc:  # the test reports it below
                answers.append(exc)

        asked = upstream.received.count("/api/slow")
        caller = threading.Thread(target=slow)
        caller.start()
        deadline = time.monotonic() + 10
        while upstream.received.count("/api/slow") == asked:  # the gateway has forwarded it: in flight
            assert time.monotonic() < deadline, "the slow request never reached the stand-in"
            time.sleep(0.02)
        process.send_signal(stop)
        caller.join(timeout=30)
        assert process.wait(timeout=30) == 0, path.read_text()

    assert len(answers) == 1 and isinstance(answers[0], httpx.Response), answers
    assert answers[0].status_code == 200 and answers[0].text == "too late", answers[0].text
    lines = _lines(path)
    assert not [line for line in lines if line.get("level") in {"error", "critical", "unparsed"}], lines
    events = [line.get("event") for line in lines]
    assert "Application shutdown complete" in events, events  # after the feed and the JWKS refresh closed
    access = [line for line in lines if line.get("logger") == "tollgate.access"]
    assert [line.get("path") for line in access].count("/api/slow") == 1, access  # one access line, ours


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("allowed", "scheme", "client"),
    [
        (None, "https", "203.0.113.7"),  # 127.0.0.1 is trusted by default, as uvicorn did
        ("10.1.2.3", "http", "127.0.0.1"),  # FORWARDED_ALLOW_IPS names someone else: ignored
        ("*", "https", "203.0.113.7"),
    ],
)
def test_run_believes_proxy_headers_from_forwarded_allow_ips(
    upstream: Any, tmp_path: Path, allowed: str | None, scheme: str, client: str
) -> None:
    extra = {"GATEWAY_MEMBERSHIP_URL": upstream.url} | ({"FORWARDED_ALLOW_IPS": allowed} if allowed else {})
    env_before = os.environ.pop("FORWARDED_ALLOW_IPS", None)
    try:
        with _running(tmp_path, **extra) as (process, url, _):
            echoed = httpx.get(
                f"{url}/api/echo",
                headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
                timeout=10,
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    finally:
        if env_before is not None:
            os.environ["FORWARDED_ALLOW_IPS"] = env_before
    headers = dict(echoed.json()["headers"])
    # The gateway passes on the scheme and the client it was given (forward.py).
    assert headers["x-forwarded-proto"] == scheme
    assert headers["x-forwarded-for"] == f"203.0.113.7, {client}"


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
