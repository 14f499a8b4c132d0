"""The gateway serving stories, next to nginx serving the same page and to nginx + a Python token check.

One run, on loopback, every server process pinned to core 0 (`taskset -c 0`) and wrk to core 1
(one thread, 32 connections, a warm-up, then `BENCH_SECONDS` measured per scenario):

(a) a member reads a member-only story through the gateway (`Authorization: Bearer`, a valid token);
(b) the same gateway serves a public story, no token;
(c) nginx (one worker) serves the page the gateway answered in (a), as a static file (same bytes);
(d) nginx `auth_request`s every request to `bench/auth_verifier.py` (uvicorn, one worker, PyJWT on
    every request, no cache) and then serves that file: what a site might build instead.

Membership runs as its own process on a temporary SQLite database (the gateway polls its
revocation feed and fetched its JWKS); the gateway runs with `gateway run` as in production: one
granian worker, INFO logs in JSON with one access line per request, written to a file. (a) and (b)
are measured again with the access log quieted (WARNING), and reference rows give the floors
under (a) and (d): the gateway's `/health/live`, uvicorn alone (a bare ASGI app), the verifier alone.
The servers compared (issue 18): the same app, settings and logs served by uvicorn as `gateway
run` served it before (uvloop and httptools, uvicorn's own choice when they are installed) and by
uvicorn on the pure-Python pair (asyncio and h11), for (a), (b) and `/health/live`, in the same run.
Besides wrk's figures, each row gives the server processes' CPU time (user + system, from /proc)
per request: less disturbed by other work on the machine than requests per second.
`BENCH_SECONDS` (15), `BENCH_WARMUP` (5) and `BENCH_ROUNDS` (2; every scenario once per round,
the best round kept) tune the run.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx

from bench.ports import free_port
from bench.readme import write_section
from gateway.stories.origin import DEFAULT_SAMPLES, FileOrigin
from membership.apikeys.services import ApiKeyService
from membership.comps.services import CompService
from membership.db import alchemy_config, migrate
from membership.publications.services import PublicationService
from membership.readers.services import ReaderService
from membership.settings import Settings
from tollgate_common.logging import configure_logging

SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CONNECTIONS = 32
SERVER_CPU, LOAD_CPU = "0", "1"
MEMBER_STORY = "/stories/the-night-press"  # access: [pub:the-gazette]
PUBLIC_STORY = "/stories/the-last-video-shop"
GATEWAY_SCOPES = ["entitlements:read", "unlocks:write", "friend-links:write"]
OWNER, READER = "owner@bench.example.com", "reader@bench.example.com"
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


# Servers `gateway run` is compared with: the same app factory under uvicorn's own command line,
# with uvicorn's defaults otherwise (proxy headers, its access log formatted and then dropped by
# configure_logging), as Litestar's `run` started it.
UVICORN_SERVERS = {
    "uv": ("uvicorn, uvloop + httptools (`gateway run` before)", "uvloop", "httptools"),
    "h11": ("uvicorn, asyncio + h11", "asyncio", "h11"),
}


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    url: str
    headers: tuple[str, ...]
    pids: tuple[int, ...]  # the server processes that do the work (their CPU time is counted)


@dataclass(frozen=True)
class Result:
    rps: float
    p50: float  # milliseconds
    p99: float
    cpu_us: float  # server CPU time per request (user + system, all of the scenario's processes)
    others: float  # cores' worth of CPU used by anything but the servers and wrk during the run
    steal: float  # cores' worth of CPU the hypervisor gave to other guests during the run


def clean_env(*prefixes: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


class Processes:
    """Server processes pinned to the server core; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, stack: ExitStack, logs: Path) -> None:
        self.stack = stack
        self.logs = logs

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        self.stack.callback(log.close)
        proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *argv], env=env, stdout=log, stderr=log, cwd=REPO
        )
        self.stack.callback(self._stop, proc)
        return proc

    def log_tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def wait_ready(self, name: str, proc: subprocess.Popen[bytes], url: str, ok: int = 200) -> None:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                if httpx.get(url, timeout=5).status_code == ok:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{self.log_tail(name)}")
            time.sleep(0.2)
        if os.sched_getaffinity(proc.pid) != {int(SERVER_CPU)}:
            raise RuntimeError(f"{name} is not pinned to core {SERVER_CPU}")

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def prepare(settings: Settings) -> str:
    """The publication, a reader with a comp to it (tokens carry `pub:the-gazette`), the gateway's key."""
    alchemy = alchemy_config(settings)
    try:
        async with alchemy.get_session() as session:
            readers = ReaderService(session=session)
            owner, _ = await readers.get_or_create(OWNER)
            publication = await PublicationService(session).create("the-gazette", "The Gazette", owner)
            reader, _ = await readers.get_or_create(READER)
            await CompService(session).give(publication, reader, keys=None, until=None, note="bench")
            _, secret = await ApiKeyService(session).create(
                "gateway", GATEWAY_SCOPES, publication_id=None, created_by_id=None
            )
            await session.commit()
            return secret
    finally:
        await alchemy.get_engine().dispose()


def reader_token(membership_url: str) -> str:
    """The reader signs in (link from the dev outbox) and asks for an access token."""
    with httpx.Client(base_url=membership_url, timeout=30) as client:
        client.post("/api/auth/sign-in", json={"email": READER}).raise_for_status()
        body = client.get("/dev/outbox/messages", params={"to": READER, "limit": 1}).json()[0]["body"]
        found = re.search(r"token=(\S+)", body)
        if found is None:
            raise RuntimeError(f"no sign-in link in {body!r}")
        client.post("/api/auth/sign-in/complete", json={"token": found.group(1)}).raise_for_status()
        answer = client.post("/api/auth/token")
        answer.raise_for_status()
        token = answer.json()["access_token"]
        assert isinstance(token, str)
        return token


def expect(what: str, condition: bool, response: httpx.Response | None = None) -> None:
    if not condition:
        detail = (
            f"\n{response.status_code} {dict(response.headers)}\n{response.text[:500]}" if response else ""
        )
        raise RuntimeError(f"wrong answer: {what}{detail}")


def check_gateway(url: str, token: str, full_text: bytes) -> bytes:
    """(a) and (b) answer right; returns the member's page."""
    bearer = {"Authorization": f"Bearer {token}"}
    member = httpx.get(url + MEMBER_STORY, headers=bearer)
    expect("(a) is a 200", member.status_code == 200, member)
    expect(
        '(a) says tollgate-access: full; reason="entitled"',
        member.headers.get("tollgate-access") == 'full; reason="entitled"',
        member,
    )
    expect("(a) is HTML", member.headers.get("content-type", "").startswith("text/html"), member)
    expect("(a) carries the whole story", full_text in member.content, member)
    again = httpx.get(url + MEMBER_STORY, headers=bearer)
    expect("(a) answers the same bytes twice", again.content == member.content, again)
    anonymous = httpx.get(url + MEMBER_STORY)
    expect("without a token the story is shut", full_text not in anonymous.content, anonymous)
    expect(
        "without a token the story is shut",
        anonymous.headers.get("tollgate-access", "").startswith("teaser"),
        anonymous,
    )
    public = httpx.get(url + PUBLIC_STORY)
    expect("(b) is a 200", public.status_code == 200, public)
    expect(
        '(b) says tollgate-access: full; reason="public"',
        public.headers.get("tollgate-access") == 'full; reason="public"',
        public,
    )
    return member.content


def check_nginx(static_url: str, guarded_url: str, verifier_url: str, token: str, page: bytes) -> None:
    bearer = {"Authorization": f"Bearer {token}"}
    static = httpx.get(static_url + MEMBER_STORY)
    expect("(c) is a 200", static.status_code == 200, static)
    expect("(c) serves the gateway's bytes", static.content == page, static)
    guarded = httpx.get(guarded_url + MEMBER_STORY, headers=bearer)
    expect("(d) with the token is a 200", guarded.status_code == 200, guarded)
    expect("(d) serves the gateway's bytes", guarded.content == page, guarded)
    refused = httpx.get(guarded_url + MEMBER_STORY)
    expect("(d) without a token is a 401", refused.status_code == 401, refused)
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    refused = httpx.get(guarded_url + MEMBER_STORY, headers={"Authorization": f"Bearer {forged}"})
    expect("(d) with a bad signature is a 401", refused.status_code == 401, refused)
    direct = httpx.get(verifier_url + "/verify", headers=bearer)
    expect("the verifier says 204 to the token", direct.status_code == 204, direct)


def nginx_conf(root: Path, www: Path, static_port: int, guarded_port: int, verifier_port: int) -> Path:
    temp = root / "temp"
    temp.mkdir()
    conf = root / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log combined;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    default_type text/html;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    root {www};

    upstream verifier {{
        server 127.0.0.1:{verifier_port};
        keepalive 32;
    }}

    # (c) the page as a static file
    server {{
        listen 127.0.0.1:{static_port};
        location / {{ try_files $uri =404; }}
    }}

    # (d) the same file, behind a token check on every request
    server {{
        listen 127.0.0.1:{guarded_port};
        location / {{
            auth_request /_verify;
            try_files $uri =404;
        }}
        location = /_verify {{
            internal;
            proxy_pass http://verifier/verify;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
    }}
}}
"""
    )
    return conf


def family(pid: int) -> list[int]:
    """The process and its children (nginx's worker under its master)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return [pid, *children]


def cpu_seconds(pids: tuple[int, ...]) -> float:
    """User + system CPU time of these processes so far (from /proc/<pid>/stat)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy (not idle nor waiting for I/O), and stolen."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(scenario: Scenario, seconds: int) -> Result:
    argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for header in scenario.headers:
        argv += ["-H", header]
    cpu, (busy, steal), load = cpu_seconds(scenario.pids), machine_busy(), children_cpu()
    started = time.monotonic()
    out = subprocess.run([*argv, scenario.url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(scenario.pids) - cpu
    busy_now, steal_now = machine_busy()
    elapsed = time.monotonic() - started
    # Whatever else ran meanwhile (other processes, and kernel time charged to no process).
    others = (busy_now - busy - cpu - (children_cpu() - load)) / elapsed
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"{scenario.label}: errors under load:\n{out}")

    def ms(label: str) -> float:
        found = re.search(rf" {label}\s+([\d.]+)(us|ms|s)\b", out)
        if found is None:
            raise RuntimeError(f"no {label} latency in wrk's output:\n{out}")
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]

    requests = int(out.split(" requests in ")[0].split()[-1])
    rps = float(out.split("Requests/sec:")[1].split()[0])
    return Result(
        rps, ms("50%"), ms("99%"), cpu / requests * 1e6, max(others, 0.0), (steal_now - steal) / elapsed
    )


def measure(scenarios: list[Scenario]) -> dict[str, Result]:
    """Each scenario in turn (warm-up, then measured), `ROUNDS` times; the best round by requests/s.

    The best, not the median: other work on the machine only ever slows a run down, so the fastest
    round is the one least disturbed (as `timeit` keeps the minimum)."""
    runs: dict[str, list[Result]] = {s.key: [] for s in scenarios}
    for n in range(ROUNDS):
        for scenario in scenarios:
            wrk(scenario, WARMUP)
            result = wrk(scenario, SECONDS)
            print(
                f"round {n + 1} {scenario.label}: {result.rps:,.0f} req/s, p50 {result.p50:.2f} ms, "
                f"p99 {result.p99:.2f} ms, {result.cpu_us:.0f} µs server CPU per request "
                f"(other work meanwhile: {result.others:.2f} cores, stolen by the host: {result.steal:.2f})",
                flush=True,
            )
            runs[scenario.key].append(result)
    return {k: max(v, key=lambda r: r.rps) for k, v in runs.items()}


def run(tmp: Path, www_root: Path) -> tuple[dict[str, Result], list[Scenario], int]:
    data = tmp / "data"
    data.mkdir()
    logs = tmp / "logs"
    logs.mkdir()
    db = f"sqlite+aiosqlite:///{data / 'membership.db'}"
    membership_port, gateway_port, quiet_port = free_port(), free_port(), free_port()
    verifier_port, static_port, guarded_port = free_port(), free_port(), free_port()
    membership_url = f"http://127.0.0.1:{membership_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    quiet_url = f"http://127.0.0.1:{quiet_port}"
    settings = Settings(database_url=db, data_dir=data, public_url=gateway_url)
    migrate.upgrade(settings)
    api_key = asyncio.run(prepare(settings))

    with ExitStack() as stack:
        procs = Processes(stack, logs)
        membership = procs.start(
            "membership",
            [str(BIN / "membership"), "run"],
            clean_env("MEMBERSHIP_", "LITESTAR_")
            | {
                "MEMBERSHIP_DATABASE_URL": db,
                "MEMBERSHIP_DATA_DIR": str(data),
                "MEMBERSHIP_PORT": str(membership_port),
                # Tokens name the gateway as their issuer, and outlive the run.
                "MEMBERSHIP_PUBLIC_URL": gateway_url,
                "MEMBERSHIP_TOKEN_MINUTES": "600",
                "MEMBERSHIP_LOG_LEVEL": "WARNING",
                "MEMBERSHIP_STRIPE_WORKERS": "0",
            },
        )
        procs.wait_ready("membership", membership, f"{membership_url}/health/ready")
        token = reader_token(membership_url)

        def gateway(name: str, port: int, level: str, argv: list[str] | None = None) -> tuple[int, ...]:
            env = clean_env("GATEWAY_", "LITESTAR_", "FORWARDED_ALLOW_IPS") | {
                "GATEWAY_ENVIRONMENT": "production",
                "GATEWAY_PORT": str(port),
                "GATEWAY_PUBLIC_URL": gateway_url,  # both gateways are the one the tokens name
                "GATEWAY_STORY_ORIGIN": "samples",  # production refuses to start without one
                "GATEWAY_MEMBERSHIP_URL": membership_url,
                "GATEWAY_MEMBERSHIP_API_KEY": api_key,
                "GATEWAY_LOG_LEVEL": level,
                "GATEWAY_LOG_FORMAT": "json",
            }
            argv = argv or [str(BIN / "gateway"), "run", "--port", str(port), "--web-concurrency", "1"]
            proc = procs.start(name, argv, env)
            procs.wait_ready(name, proc, f"http://127.0.0.1:{port}/health/ready")
            # granian serves from a worker process under its main one: the worker first (what
            # bench.profile_gateway samples), both counted.
            main, *workers = family(proc.pid)
            return (*workers, main)

        loud = gateway("gateway", gateway_port, "INFO")
        quiet = gateway("gateway-quiet", quiet_port, "WARNING")
        others: dict[str, tuple[str, tuple[int, ...]]] = {}
        for key, (_, loop, http) in UVICORN_SERVERS.items():
            port = free_port()
            argv = [str(BIN / "uvicorn"), "gateway.app:create_app", "--factory", "--port", str(port)]
            pids = gateway(f"gateway-{key}", port, "INFO", [*argv, "--loop", loop, "--http", http])
            others[key] = (f"http://127.0.0.1:{port}", pids)
        story = asyncio.run(FileOrigin(DEFAULT_SAMPLES).story(MEMBER_STORY.rsplit("/", 1)[1]))
        assert story is not None
        full_text = story.body_html.encode()
        page = check_gateway(gateway_url, token, full_text)
        for other in (quiet_url, *(url for url, _ in others.values())):
            if check_gateway(other, token, full_text) != page:
                raise RuntimeError(f"the gateway at {other} answers a different page")

        www = www_root / "www"
        (www / "stories").mkdir(parents=True)
        (www / MEMBER_STORY.lstrip("/")).write_bytes(page)
        verifier = procs.start(
            "verifier",
            [
                str(BIN / "uvicorn"),
                "bench.auth_verifier:app",
                "--port",
                str(verifier_port),
                "--workers",
                "1",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            os.environ
            | {
                "VERIFIER_JWKS_URL": f"{membership_url}/.well-known/jwks.json",
                "VERIFIER_ISSUER": gateway_url,
            },
        )
        procs.wait_ready("verifier", verifier, f"http://127.0.0.1:{verifier_port}/verify", ok=401)
        conf = nginx_conf(www_root, www, static_port, guarded_port, verifier_port)
        nginx = procs.start(
            "nginx",
            ["nginx", "-e", f"{www_root}/error.log", "-c", str(conf), "-p", str(www_root)],
            dict(os.environ),
        )
        procs.wait_ready("nginx", nginx, f"http://127.0.0.1:{static_port}{MEMBER_STORY}")
        check_nginx(
            f"http://127.0.0.1:{static_port}",
            f"http://127.0.0.1:{guarded_port}",
            f"http://127.0.0.1:{verifier_port}",
            token,
            page,
        )

        bearer = (f"Authorization: Bearer {token}",)
        static, guarded = f"http://127.0.0.1:{static_port}", f"http://127.0.0.1:{guarded_port}"
        web, guard = tuple(family(nginx.pid)), (*family(nginx.pid), verifier.pid)
        verify = f"http://127.0.0.1:{verifier_port}"
        scenarios = [
            Scenario(
                "a",
                "(a) gateway: a member, a valid token, a member-only story",
                gateway_url + MEMBER_STORY,
                bearer,
                loud,
            ),
            Scenario("b", "(b) gateway: a public story, no token", gateway_url + PUBLIC_STORY, (), loud),
            Scenario("c", "(c) nginx: the page of (a) as a static file", static + MEMBER_STORY, (), web),
            Scenario(
                "d",
                "(d) nginx `auth_request` to a Python verifier (PyJWT, every request), then the file",
                guarded + MEMBER_STORY,
                bearer,
                guard,
            ),
            Scenario(
                "aq", "(a) with the access log quieted (WARNING)", quiet_url + MEMBER_STORY, bearer, quiet
            ),
            Scenario("bq", "(b) with the access log quieted (WARNING)", quiet_url + PUBLIC_STORY, (), quiet),
            Scenario(
                "floor", "reference: the gateway's `/health/live`", gateway_url + "/health/live", (), loud
            ),
            Scenario(
                "uvicorn",
                "reference: uvicorn alone (a bare ASGI app answering 204)",
                verify + "/health",
                (),
                (verifier.pid,),
            ),
            Scenario(
                "verifier",
                "reference: the verifier of (d) alone",
                verify + "/verify",
                bearer,
                (verifier.pid,),
            ),
        ]
        for key, (url, pids) in others.items():
            server = UVICORN_SERVERS[key][0]
            scenarios += [
                Scenario(f"a-{key}", f"(a) on {server}", url + MEMBER_STORY, bearer, pids),
                Scenario(f"b-{key}", f"(b) on {server}", url + PUBLIC_STORY, (), pids),
                Scenario(f"floor-{key}", f"`/health/live` on {server}", url + "/health/live", (), pids),
            ]
        results = measure(scenarios)
        servers = [f"gateway-{key}" for key in others]
        for name in ("gateway", "gateway-quiet", *servers, "verifier", "nginx", "membership"):
            text = (logs / f"{name}.log").read_text(errors="replace")
            if "Traceback" in text or re.search(r'"level": ?"(error|critical)"', text):
                raise RuntimeError(f"{name} logged an error; see its log:\n{text[-3000:]}")
        lines = (logs / "gateway.log").read_text().count('"tollgate.access"')
        return results, scenarios, lines


def revision() -> str:
    """The commit the gateway ran at, marked when its code (or the libraries') had local changes."""
    git = ["git", "-C", str(REPO)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "services/gateway", "libs"], capture_output=True, text=True
        ).stdout
    except OSError:
        return "unknown"
    return head.strip() + (" with local changes" if dirty.strip() else "") if head.strip() else "unknown"


def servers_compared(us: dict[str, float], rps: dict[str, float]) -> str:
    """`gateway run` (granian) against the same gateway on each uvicorn of `UVICORN_SERVERS`."""
    kinds = (("a", "(a)"), ("b", "(b)"), ("floor", "`/health/live`"))
    parts = []
    for key, (server, _, _) in UVICORN_SERVERS.items():
        figures = [
            f"{kind} {us[k]:.0f} µs against {us[f'{k}-{key}']:.0f} µs "
            f"({us[k] / us[f'{k}-{key}']:.2f}x the CPU, {rps[k] / rps[f'{k}-{key}']:.2f}x the requests/s)"
            for k, kind in kinds
        ]
        parts.append(f"against {server}: " + ", ".join(figures))
    return "Servers, the same app, settings and logs: `gateway run` (granian) " + "; ".join(parts) + "."


def report(results: dict[str, Result], scenarios: list[Scenario], load: float, code: str) -> str:
    rps = {k: r.rps for k, r in results.items()}
    us = {k: r.cpu_us for k, r in results.items()}
    others, steal = [r.others for r in results.values()], [r.steal for r in results.values()]
    rows = "\n".join(
        f"| {s.label} | {r.rps:,.0f} | {r.p50:.2f} ms | {r.p99:.2f} ms | {r.cpu_us:.0f} µs |"
        for s, r in ((s, results[s.key]) for s in scenarios)
    )

    def ratios(a: str, b: str) -> str:
        checks = [(b, "b", 0.9, "≥ 0.9"), ("d", "d", 1.5, "≥ 1.5"), ("c", "c", 0.3, "aim ≈ 0.3")]
        parts = []
        for key, name, low, target in checks:
            ratio = rps[a] / rps[key]
            parts.append(f"({name}) {ratio:.2f}x ({target}: {'met' if ratio >= low else 'not met'})")
        return "; ".join(parts)

    text = f"(a) against: {ratios('a', 'b')}. With the access log quieted, (a) against: {ratios('aq', 'bq')}."
    if rps["a"] < 0.3 * rps["c"]:
        text += (
            " What holds (a) back is Python's cost per request, not the token check (a token seen "
            f"before costs a dict lookup): a member's read takes {us['a']:.0f} µs of server CPU, "
            f"nginx's file {us['c']:.0f} µs, nginx with the verifier {us['d']:.0f} µs (PyJWT on every "
            f"request: the verifier alone takes {us['verifier']:.0f} µs, uvicorn alone "
            f"{us['uvicorn']:.0f} µs). The gateway's `/health/live`, which only passes through the server, "
            "Litestar, the request-id and header-stripping middlewares and the access line, already "
            f"takes {us['floor']:.0f} µs; the story adds {us['a'] - us['floor']:.0f} µs (token and page "
            "from memory, content negotiation, headers, metrics); quieting the access log gives "
            f"{us['aq']:.0f} µs. 0.3x nginx would mean about {1e6 / (0.3 * rps['c']):.0f} µs a request"
            + (", below that floor." if 1e6 / (0.3 * rps["c"]) < us["floor"] else ".")
        )
    text += "\n\n" + servers_compared(us, rps)
    return (
        f"Gateway against nginx (`python -m bench.gateway`, code at {code}): loopback; every "
        "server process pinned to one core (`taskset -c 0`; the gateway one worker of `gateway run` "
        f"(granian {version('granian')}: ASGI, uvloop, its Rust HTTP/1.1), each uvicorn gateway and "
        "the verifier one uvicorn worker, nginx one worker), "
        f"wrk on the other (1 thread, {CONNECTIONS} connections, {WARMUP} s warm-up, then "
        f"{SECONDS} s per row, the best of {ROUNDS} rounds); the gateway logs as in production (JSON, "
        "INFO, an access line per request, to a file) and so does nginx (its access log, to a file); "
        f"load average {load:.2f} before the run; other work on the machine during the rows kept: "
        f"{statistics.mean(others):.2f} cores on average, at most {max(others):.2f} (and "
        f"{statistics.mean(steal):.2f} stolen by the hypervisor); Python {platform.python_version()}, "
        f"{os.cpu_count()} cores:\n\n"
        "| scenario | requests/s | p50 | p99 | server CPU per request |\n|---|---|---|---|---|\n"
        + rows
        + f"\n\n{text}"
    )


def main() -> None:
    configure_logging("WARNING", "console")
    missing = [tool for tool in ("wrk", "nginx", "taskset") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"bench.gateway needs {', '.join(missing)}: apt-get install -y wrk nginx")
    if not {int(SERVER_CPU), int(LOAD_CPU)} <= os.sched_getaffinity(0):
        raise SystemExit("bench.gateway needs two cores: one for the servers, one for wrk")
    load, code = os.getloadavg()[0], revision()  # before the servers start
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as www_root:
        # nginx's workers drop root for `nobody`: they must be able to read the page.
        os.chmod(www_root, 0o755)  # noqa: S103 - a page, a config, logs
        results, scenarios, lines = run(Path(tmp), Path(www_root))
    print(f"(the production gateway wrote {lines:,} access lines)")
    body = report(results, scenarios, load, code)
    print(body)
    write_section("gateway", body)


if __name__ == "__main__":
    main()
