"""The shipped nginx front (deploy/nginx/tollgate.conf) against nginx serving a file, and against one gateway.

One run, on loopback, every server process pinned to core 0 (`taskset -c 0`) and wrk to core 1
(one thread, 32 connections, a warm-up, then `BENCH_SECONDS` measured per scenario), as
`bench.gateway` does (its helpers are used here):

(a) an anonymous reader asks for a member-only story's teaser through the shipped nginx config in
    front of two gateways, the cache warm (every answer a HIT);
(b) the same nginx (same worker, same access log format) serves the same bytes as a static file;
(c) a member reads that story (`Authorization: Bearer`, a valid token) through nginx and the two
    gateways (never from the cache: BYPASS), load-balanced;
(d) the member reads it from one gateway directly.

Membership runs as its own process on a temporary SQLite database; the gateways run with
`gateway run` as in production (one uvicorn worker each, INFO logs in JSON to a file). With one
core for all the servers, (c) against (d) is what nginx in front costs, not what a second gateway
brings (that needs a core per gateway): the server CPU per request shows where the time goes.
`BENCH_SECONDS`, `BENCH_WARMUP` and `BENCH_ROUNDS` tune the run as for `bench.gateway`.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import shutil
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.gateway import (
    BIN,
    CONNECTIONS,
    LOAD_CPU,
    MEMBER_STORY,
    REPO,
    ROUNDS,
    SECONDS,
    SERVER_CPU,
    WARMUP,
    Processes,
    Result,
    Scenario,
    clean_env,
    expect,
    family,
    prepare,
    reader_token,
    revision,
    wrk,
)
from bench.ports import free_port
from bench.readme import write_section
from gateway.stories.origin import DEFAULT_SAMPLES, FileOrigin
from membership.db import migrate
from membership.settings import Settings
from tollgate_common.logging import configure_logging

TEMPLATE = REPO / "deploy" / "nginx" / "tollgate.conf"
_PLACEHOLDER = re.compile(r"\$\{(TOLLGATE_[A-Z_]+)\}")


def render(template: str, values: dict[str, str]) -> str:
    """What `envsubst` naming the TOLLGATE_* placeholders makes of the template."""
    wanted = set(_PLACEHOLDER.findall(template))
    if wanted != set(values):
        raise RuntimeError(f"the template's placeholders are {sorted(wanted)}, not {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def upstreams(log: Path) -> set[str]:
    """The gateways nginx's access log names (the last one tried, for each request)."""
    return {entry.rsplit(", ", 1)[-1] for entry in re.findall(r' upstream="([^"]*)"', log.read_text())}


def nginx_pids(master: int) -> tuple[int, ...]:
    """nginx's master, worker and cache manager; not the cache loader, which exits after a minute."""
    kept = []
    for pid in family(master):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"cache loader" not in title:
            kept.append(pid)
    return tuple(kept)


def nginx_conf(root: Path, www: Path, front_port: int, static_port: int, gateways: list[int]) -> Path:
    """The shipped template, rendered, and a static server beside it, in one nginx (one worker)."""
    temp = root / "temp"
    temp.mkdir()
    (root / "cache").mkdir()
    (root / "tollgate.conf").write_text(
        render(
            TEMPLATE.read_text(),
            {
                "TOLLGATE_LISTEN": f"127.0.0.1:{front_port}",
                "TOLLGATE_GATEWAYS": " ".join(f"server 127.0.0.1:{port};" for port in gateways),
                "TOLLGATE_RESOLVER": "#",
                "TOLLGATE_CACHE_PATH": str(root / "cache"),
                "TOLLGATE_ACCESS_LOG": str(root / "front.log"),
            },
        )
    )
    conf = root / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    default_type text/html;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;

    include {root}/tollgate.conf;

    # (b) the teaser's bytes as a static file, logged in the same format
    server {{
        listen 127.0.0.1:{static_port};
        root {www};
        access_log {root}/static.log tollgate buffer=64k flush=1s;
        location / {{ try_files $uri =404; }}
    }}
}}
"""
    )
    return conf


def measure_rounds(scenarios: list[Scenario]) -> list[dict[str, Result]]:
    """Every scenario in turn (warm-up, then measured), `ROUNDS` times: each round's results.

    Other work on the machine only slows a row down, and may come and go between rows: a ratio is
    taken between the rows of one round (run one after the other), as well as between the best rows."""
    rounds = []
    for n in range(ROUNDS):
        results = {}
        for scenario in scenarios:
            wrk(scenario, WARMUP)
            result = results[scenario.key] = wrk(scenario, SECONDS)
            print(
                f"round {n + 1} {scenario.label}: {result.rps:,.0f} req/s, p50 {result.p50:.2f} ms, "
                f"p99 {result.p99:.2f} ms, {result.cpu_us:.0f} µs server CPU per request "
                f"(other work meanwhile: {result.others:.2f} cores)",
                flush=True,
            )
        rounds.append(results)
    return rounds


def run(tmp: Path, www_root: Path) -> tuple[list[dict[str, Result]], list[Scenario]]:
    data, logs = tmp / "data", tmp / "logs"
    data.mkdir()
    logs.mkdir()
    db = f"sqlite+aiosqlite:///{data / 'membership.db'}"
    membership_port, front_port, static_port = free_port(), free_port(), free_port()
    gateway_ports = [free_port(), free_port()]
    membership_url = f"http://127.0.0.1:{membership_port}"
    front, static = f"http://127.0.0.1:{front_port}", f"http://127.0.0.1:{static_port}"
    public_url = front  # the address readers use, and the tokens' issuer
    settings = Settings(database_url=db, data_dir=data, public_url=public_url)
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
                "MEMBERSHIP_PUBLIC_URL": public_url,
                "MEMBERSHIP_TOKEN_MINUTES": "600",
                "MEMBERSHIP_LOG_LEVEL": "WARNING",
                "MEMBERSHIP_STRIPE_WORKERS": "0",
            },
        )
        procs.wait_ready("membership", membership, f"{membership_url}/health/ready")
        token = reader_token(membership_url)

        gateway_pids = []
        for n, port in enumerate(gateway_ports, start=1):
            env = clean_env("GATEWAY_", "LITESTAR_") | {
                "GATEWAY_ENVIRONMENT": "production",
                "GATEWAY_PORT": str(port),
                "GATEWAY_PUBLIC_URL": public_url,
                "GATEWAY_STORY_ORIGIN": "samples",
                "GATEWAY_MEMBERSHIP_URL": membership_url,
                "GATEWAY_MEMBERSHIP_API_KEY": api_key,
                "GATEWAY_LOG_LEVEL": "INFO",
                "GATEWAY_LOG_FORMAT": "json",
            }
            argv = [str(BIN / "gateway"), "run", "--port", str(port), "--web-concurrency", "1"]
            proc = procs.start(f"gateway-{n}", argv, env)
            procs.wait_ready(f"gateway-{n}", proc, f"http://127.0.0.1:{port}/health/ready")
            gateway_pids.append(proc.pid)
        direct = f"http://127.0.0.1:{gateway_ports[0]}"

        www = www_root / "www"
        (www / "stories").mkdir(parents=True)
        conf = nginx_conf(www_root, www, front_port, static_port, gateway_ports)
        nginx = procs.start(
            "nginx",
            ["nginx", "-e", f"{www_root}/error.log", "-c", str(conf), "-p", str(www_root)],
            dict(os.environ),
        )
        procs.wait_ready("nginx", nginx, f"{front}/health/ready")

        story = asyncio.run(FileOrigin(DEFAULT_SAMPLES).story(MEMBER_STORY.rsplit("/", 1)[1]))
        assert story is not None
        full_text = story.body_html.encode()
        first = httpx.get(front + MEMBER_STORY)
        expect("(a) is a 200", first.status_code == 200, first)
        expect("(a) is the teaser", first.headers.get("tollgate-access", "").startswith("teaser"), first)
        expect("(a) is shut", full_text not in first.content, first)
        teaser = httpx.get(front + MEMBER_STORY)
        expect("(a) comes from the cache", teaser.headers.get("x-cache-status") == "HIT", teaser)
        expect("(a) answers the same bytes", teaser.content == first.content, teaser)
        (www / MEMBER_STORY.lstrip("/")).write_bytes(teaser.content)
        copy = httpx.get(static + MEMBER_STORY)
        expect("(b) serves the teaser's bytes", copy.content == teaser.content, copy)

        bearer = {"Authorization": f"Bearer {token}"}
        for _ in range(4):
            member = httpx.get(front + MEMBER_STORY, headers=bearer)
            expect("(c) passes the cache by", member.headers.get("x-cache-status") == "BYPASS", member)
            expect("(c) carries the whole story", full_text in member.content, member)
            expect("(c) is private", member.headers.get("cache-control", "").startswith("private"), member)
        both = {f"127.0.0.1:{p}" for p in gateway_ports}
        deadline = time.monotonic() + 5  # the access log is written every second
        while not (served := upstreams(www_root / "front.log")) >= both and time.monotonic() < deadline:
            time.sleep(0.2)
        expect(f"(c) reaches both gateways, not only {sorted(served)}", served >= both)
        alone = httpx.get(direct + MEMBER_STORY, headers=bearer)
        expect("(d) carries the whole story", full_text in alone.content, alone)

        web = nginx_pids(nginx.pid)
        header = (f"Authorization: Bearer {token}",)
        scenarios = [
            Scenario(
                "a", "(a) nginx front: anonymous teaser, cache warm (HIT)", front + MEMBER_STORY, (), web
            ),
            Scenario("b", "(b) nginx: the same bytes as a static file", static + MEMBER_STORY, (), web),
            Scenario(
                "c",
                "(c) nginx front + two gateways: a member (Bearer), never cached (BYPASS)",
                front + MEMBER_STORY,
                header,
                (*web, *gateway_pids),
            ),
            Scenario(
                "d",
                "(d) one gateway direct: a member (Bearer)",
                direct + MEMBER_STORY,
                header,
                (gateway_pids[0],),
            ),
        ]
        rounds = measure_rounds(scenarios)
        log = (www_root / "front.log").read_text()
        statuses = re.findall(r' cache=(\S*) upstream="([^"]*)"', log)
        if sum(1 for _, upstream in statuses if upstream.startswith(f"127.0.0.1:{gateway_ports[1]}")) == 0:
            raise RuntimeError("the second gateway served nothing under load")
        for name in ("gateway-1", "gateway-2", "nginx", "membership"):
            text = (logs / f"{name}.log").read_text(errors="replace")
            if "Traceback" in text or re.search(r'"level": ?"(error|critical)"', text):
                raise RuntimeError(f"{name} logged an error; see its log:\n{text[-3000:]}")
        return rounds, scenarios


def report(rounds: list[dict[str, Result]], scenarios: list[Scenario], load: float, code: str) -> str:
    results = {s.key: max((r[s.key] for r in rounds), key=lambda r: r.rps) for s in scenarios}

    def paired(a: str, b: str) -> str:
        return ", ".join(f"{r[a].rps / r[b].rps:.2f}x" for r in rounds)

    rows = "\n".join(
        f"| {s.label} | {r.rps:,.0f} | {r.p50:.2f} ms | {r.p99:.2f} ms | {r.cpu_us:.0f} µs |"
        for s, r in ((s, results[s.key]) for s in scenarios)
    )
    rps = {k: r.rps for k, r in results.items()}
    cached = rps["a"] / rps["b"]
    member = rps["c"] / rps["d"]
    us = {k: r.cpu_us for k, r in results.items()}
    others = [r.others for r in results.values()]
    return (
        f"The nginx front (`python -m bench.front`, deploy/nginx/tollgate.conf, code at {code}): "
        "loopback; nginx (one worker), two gateways (one uvicorn worker each, JSON INFO logs with an "
        "access line per request, to a file) and membership all pinned to one core (`taskset -c 0`), "
        f"wrk on the other (1 thread, {CONNECTIONS} connections, {WARMUP} s warm-up, then {SECONDS} s "
        f"per row, the best of {ROUNDS} rounds); load average {load:.2f} before the run; other work "
        f"during the rows {statistics.mean(others):.2f} cores on average; Python "
        f"{platform.python_version()}, {os.cpu_count()} cores:\n\n"
        "| scenario | requests/s | p50 | p99 | server CPU per request |\n|---|---|---|---|---|\n"
        + rows
        + f"\n\nAnonymous teasers from the cache against the static file: {us['b'] / us['a']:.2f}x by "
        f"server CPU per request ({us['a']:.0f} µs against {us['b']:.0f} µs; aim ≥ 0.8: "
        f"{'met' if us['b'] / us['a'] >= 0.8 else 'not met'}), {cached:.2f}x in requests/s between the "
        f"best rows, {paired('a', 'b')} round by round (requests/s follow whatever else the machine "
        "runs meanwhile; the CPU each answer costs does not). "
        f"Members through nginx and two gateways against one gateway direct: {member:.2f}x in "
        f"requests/s ({paired('c', 'd')} round by round), {us['d'] / us['c']:.2f}x by "
        "server CPU per request; with every server on one core this is the price of the extra hop "
        f"({us['c'] - us['d']:.0f} µs), not the gain of a second gateway (on a machine with a core per "
        "gateway, the two share the load: the access log shows both serving)."
    )


def main() -> None:
    configure_logging("WARNING", "console")
    missing = [tool for tool in ("wrk", "nginx", "taskset") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"bench.front needs {', '.join(missing)}: apt-get install -y wrk nginx")
    if not {int(SERVER_CPU), int(LOAD_CPU)} <= os.sched_getaffinity(0):
        raise SystemExit("bench.front needs two cores: one for the servers, one for wrk")
    load, code = os.getloadavg()[0], revision()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as www_root:
        # nginx's workers drop root for `nobody`: they must be able to read the page and the cache.
        os.chmod(www_root, 0o755)  # noqa: S103 - a page, a config, logs
        rounds, scenarios = run(Path(tmp), Path(www_root))
    body = report(rounds, scenarios, load, code)
    print(body)
    write_section("front", body)


if __name__ == "__main__":
    main()
