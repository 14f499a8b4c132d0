"""Redis for the tests: the machine's (a key prefix per test), or a redis-server of the test's own.

The machine's Redis (TOLLGATE_TEST_REDIS, else 127.0.0.1:6379) is shared by every test process,
so each test gets a prefix of its own. A test that stops Redis to see what happens starts its
own `redis-server` on a free port (`PrivateRedis`), and may stop and start it again on that port.
Without Redis those tests skip with the reason, except with CI=true, where that fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
from redis.asyncio import Redis

import redis
from membership.entitlements.push import PushedChanges, channel

REDIS = os.environ.get("TOLLGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires it)")
    pytest.skip(reason)


def machine_redis() -> str:
    """The machine's Redis URL, or the test skips (fails in CI) with the reason."""
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis is not reachable at {REDIS}: {exc}")
    return REDIS


def unique_prefix() -> str:
    return f"tollgate-test-{uuid.uuid4().hex[:12]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server process of the test's own, on one port for its whole life."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not installed (Debian's redis-server package)")
        self.binary = str(binary)
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@asynccontextmanager
async def heard_on(redis_url: str, prefix: str) -> AsyncIterator[asyncio.Queue[PushedChanges]]:
    """What membership pushes on the entitlements channel while the block runs."""
    queue: asyncio.Queue[PushedChanges] = asyncio.Queue()
    client = Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel(prefix))

    async def listen() -> None:
        async for message in pubsub.listen():
            queue.put_nowait(msgspec.json.decode(message["data"], type=PushedChanges))

    task = asyncio.create_task(listen())
    try:
        yield queue
    finally:
        task.cancel()
        await pubsub.aclose()
        await client.aclose()
