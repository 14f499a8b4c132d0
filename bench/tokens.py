"""Access tokens: signing and verifying cost per algorithm, and tokens issued per second.

Part one times PyJWT signing and verifying one token of our shape with each algorithm we allow
(EdDSA, ES256, RS256), which is how the default was chosen. Part two runs membership as its own
server process and drives `POST /api/auth/token` (session check, grants read, sign) with wrk.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from bench.ports import free_port
from bench.readme import write_section
from membership.db import migrate
from membership.settings import Settings
from tollgate_common.logging import configure_logging

ALGS = ("EdDSA", "ES256", "RS256")


def _key(alg: str) -> Any:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def crypto_costs() -> dict[str, tuple[float, float, int]]:
    """Microseconds to sign and to verify one token, and its length, per algorithm."""
    now = int(time.time())
    claims = {
        "iss": "https://example.com",
        "aud": "tollgate",
        "sub": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "x" * 22,
        "ent": ["member", "pub:the-gazette"],
        "ver": 3,
    }
    results = {}
    for alg in ALGS:
        key = _key(alg)
        token = jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1", "typ": "at+jwt"})
        public = key.public_key()
        n = 300 if alg == "RS256" else 2000
        sign = min(timeit.repeat(lambda: jwt.encode(claims, key, algorithm=alg), number=n, repeat=3)) / n  # noqa: B023
        verify = (
            min(
                timeit.repeat(
                    lambda: jwt.decode(token, public, algorithms=[alg], audience="tollgate"),  # noqa: B023
                    number=2000,
                    repeat=3,
                )
            )
            / 2000
        )
        results[alg] = (sign * 1e6, verify * 1e6, len(token))
    return results


def verifier_costs(alg: str = "ES256") -> tuple[float, float]:
    """The client library's TokenVerifier, in microseconds per token: a new token each time (cold),
    and the same token again (cached until it expires). The key set is answered from memory: it
    is fetched once, before the timing starts."""
    from tollgate_client import TokenVerifier

    key = _key(alg)
    jwk = json.loads(get_default_algorithms()[alg].to_jwk(key.public_key()))
    jwk |= {"kid": "k1", "alg": alg, "use": "sig"}
    jwks = httpx.MockTransport(lambda _request: httpx.Response(200, json={"keys": [jwk]}))

    now = int(time.time())
    tokens = [
        jwt.encode(
            {
                "iss": "bench",
                "aud": "tollgate",
                "sub": str(uuid.uuid4()),
                "iat": now,
                "nbf": now,
                "exp": now + 300,
                "jti": str(n),
                "ent": ["member"],
                "ver": 1,
            },
            key,
            algorithm=alg,
            headers={"kid": "k1", "typ": "at+jwt"},
        )
        for n in range(3000)
    ]

    async def run() -> tuple[float, float]:
        async with (
            httpx.AsyncClient(transport=jwks) as http,
            TokenVerifier("http://bench/jwks.json", issuer="bench", http=http) as verifier,
        ):
            await verifier.verify(tokens[0])
            started = time.perf_counter()
            for t in tokens[1:]:
                await verifier.verify(t)
            cold = (time.perf_counter() - started) / (len(tokens) - 1)
            started = time.perf_counter()
            for _ in range(20):
                for t in tokens[1:]:
                    await verifier.verify(t)
            cached = (time.perf_counter() - started) / (20 * (len(tokens) - 1))
        return cold * 1e6, cached * 1e6

    return asyncio.run(run())


def issue_rate(alg: str, data_dir: Path, seconds: int = 5) -> float:
    """Tokens per second from `POST /api/auth/token` for one signed-in reader, under wrk."""
    db = f"sqlite+aiosqlite:///{data_dir / f'tokens-{alg}.db'}"
    migrate.upgrade(Settings(database_url=db, data_dir=data_dir))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMBERSHIP_")} | {
        "MEMBERSHIP_DATABASE_URL": db,
        "MEMBERSHIP_DATA_DIR": str(data_dir),
        "MEMBERSHIP_PORT": str(port),
        "MEMBERSHIP_TOKEN_ALGORITHM": alg,
        "MEMBERSHIP_LOG_LEVEL": "WARNING",
        "MEMBERSHIP_SIGNIN_RATE_PER_ADDRESS": "1000",
    }
    server = subprocess.Popen([str(Path(sys.executable).parent / "membership"), "run"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        cookie = asyncio.run(_signed_in_cookie(url))
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                "-c16",
                f"-d{seconds}s",
                "-s",
                _post_script(),
                "-H",
                f"Cookie: tollgate_session={cookie}",
                f"{url}/api/auth/token",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=20)
    if "Non-2xx" in out:
        raise RuntimeError(out)
    return float(out.split("Requests/sec:")[1].split()[0])


def _post_script() -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\n')
    return f.name


async def _signed_in_cookie(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + 60
        while True:
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("membership did not start")
            await asyncio.sleep(0.2)
        await client.post("/api/auth/sign-in", json={"email": "bench@example.com"})
        body = (await client.get("/dev/outbox/messages", params={"to": "bench@example.com"})).json()[0][
            "body"
        ]
        token = body.split("token=")[1].split()[0]
        await client.post("/api/auth/sign-in/complete", json={"token": token})
        return str(client.cookies["tollgate_session"])


def main() -> None:
    configure_logging("WARNING", "console")
    costs = crypto_costs()
    cold, cached = verifier_costs()
    with tempfile.TemporaryDirectory() as tmp:
        rates = {alg: issue_rate(alg, Path(tmp)) for alg in ALGS}
    rows = "\n".join(
        f"| {alg} | {costs[alg][0]:.0f} µs | {costs[alg][1]:.0f} µs | {costs[alg][2]} | {rates[alg]:,.0f} |"
        for alg in ALGS
    )
    body = (
        f"Access tokens (`python -m bench.tokens`; PyJWT, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; issuing: `POST /api/auth/token` under wrk, 16 connections, "
        "one uvicorn worker, SQLite):\n\n"
        "| algorithm | sign | verify | token bytes | tokens issued/s (HTTP) |\n|---|---|---|---|---|\n"
        + rows
        + f"\n\nThe client library's verifier (ES256): {cold:.0f} µs per token cold (signature, claims, "
        f"revocation), {cached:.1f} µs for a token it has verified before (cached until it expires)."
    )
    print(body)
    write_section("tokens", body)


if __name__ == "__main__":
    main()
