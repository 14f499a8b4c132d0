"""Where a gateway request's CPU time goes: py-spy (and perf) on the production gateway under wrk.

The servers start exactly as in `bench.gateway` (its own `run`: membership on a temporary SQLite
database, `gateway run` in production mode with one uvicorn worker and INFO logs in JSON, one
access line per request, to a file; nginx and the verifier start too and stay idle), with its
measuring step replaced: for each request kind below, the same wrk load as `bench.gateway`
(one thread, 32 connections on core 1, the gateway pinned to core 0) runs after a warm-up

1. unprofiled, for the server CPU time per request (user + system, from /proc);
2. with `py-spy record --pid --threads --nonblocking` sampling the gateway (`PROFILE_RATE` Hz,
   250; py-spy on core 1 with wrk; `PROFILE_BLOCKING=1` for py-spy's default, which stops the
   process for each sample and doubles its CPU per request). Only the event loop's thread is
   counted: the others (libuv's, the thread pool's) are idle, which /proc confirms, but py-spy
   reports them as busy;
3. with `perf record -g -p` (when perf is there; `PROFILE_PERF=0` skips it), for the C and the
   kernel underneath: by shared object, by symbol, and the kernel's work by system call.

Each py-spy sample is charged to one layer: its stack is read from the innermost frame outwards
and the first frame that belongs to a layer names it (`LINES` by the source line, for the frames
whose own time is one C call, then `LAYERS` by file and function). The standard library and the
command-line frames are passed through to their caller; a sample with no layer's frame at all is
time in C outside any Python frame (uvloop's loop). A frame's C calls (msgspec, `write`) count as
that frame's. The tables give each layer's share of the samples and the microseconds it stands
for (share x the unprofiled CPU per request), summed up by `GROUPS`, then the top functions by
samples spent in them (the innermost frame), then perf's tables.

The request kinds: (a) a member reads a member-only story (`Authorization: Bearer`, a valid
token), (b) a public story, no token, (floor) `/health/live`. py-spy is not in the lock file:
`python -m pip install --target /tmp/prof py-spy` and `PY_SPY=/tmp/prof/bin/py-spy`, or have it
on PATH. `PROFILE_SECONDS` (20) per run, `BENCH_WARMUP` as for `bench.gateway`; `PROFILE_OUT`
keeps the raw stacks and perf's reports in a folder; `--tables DIR` makes the tables again from
such a folder. The tables go to bench/README.md, between the `bench:profile_gateway` markers, and
a flame graph of (a) to bench/profiles/gateway-member-read.svg.
"""

from __future__ import annotations

import json
import linecache
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any
from unittest import mock

import bench.gateway
import bench.readme
from bench.gateway import LOAD_CPU, WARMUP, Result, Scenario, revision, wrk
from tollgate_common.logging import configure_logging

SECONDS = int(os.environ.get("PROFILE_SECONDS", "20"))
RATE = int(os.environ.get("PROFILE_RATE", "250"))
BLOCKING = os.environ.get("PROFILE_BLOCKING") == "1"
KINDS = {
    "a": "(a) member read, member-only story",
    "b": "(b) public story",
    "floor": "/health/live",
}
BENCH_README = Path(__file__).resolve().parent / "README.md"
PROFILES = Path(__file__).resolve().parent / "profiles"
NO_LAYER = "uvloop in C, outside Python frames: epoll, socket reads, scheduling tasks and callbacks"

# (layer, path fragment, function names or None for any): the first match, innermost frame first.
LAYERS: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("access line: write to stderr (the log file)", "/tollgate_common/logging.py", ("msg",)),
    ("access line: JSON rendering (msgspec)", "/tollgate_common/logging.py", ("_dumps", "_render")),
    (
        "access line: structlog processors (level, name, time, contextvars)",
        "/tollgate_common/logging.py",
        ("_drop_below_level", "_add_logger_name"),
    ),
    ("access line: structlog processors (level, name, time, contextvars)", "/structlog/", None),
    ("request id + access line middleware (RequestContextMiddleware)", "/tollgate_common/logging.py", None),
    ("request id + access line + own headers layer (RequestLayer)", "/gateway/request_layer.py", None),
    ("StripOwnHeaders middleware", "/gateway/own_headers.py", None),
    ("metrics (prometheus-client, app.state lookup)", "/prometheus_client/", None),
    ("metrics (prometheus-client, app.state lookup)", "/gateway/metrics.py", None),
    ("token verifier (cached)", "/tollgate_client/", None),
    ("token verifier (cached)", "/jwt/", None),
    ("admission + access decision", "/gateway/admission.py", None),
    ("admission + access decision", "/gateway/access.py", None),
    ("story origin (cached story)", "/gateway/stories/origin.py", None),
    ("story origin (cached story)", "/gateway/stories/models.py", None),
    ("page (cached page lookup, templates)", "/gateway/stories/pages.py", None),
    ("page (cached page lookup, templates)", "/jinja2/", None),
    ("page (cached page lookup, templates)", "/markupsafe/", None),
    ("story response: header fields encoded (StoryResponse)", "/gateway/stories/responses.py", None),
    ("story handler: read_story, headers, cache policy, ETag", "/gateway/stories/", None),
    ("story handler: read_story, headers, cache policy, ETag", "/gateway/slugs.py", None),
    ("health handler", "/tollgate_common/health.py", None),
    ("problem details / exception middleware", "/tollgate_common/problems.py", None),
    ("problem details / exception middleware", "/litestar/plugins/problem_details", None),
    ("problem details / exception middleware", "/litestar/middleware/_internal/exceptions/", None),
    ("JSON encoding (Litestar serialization, msgspec)", "/litestar/serialization/", None),
    ("Litestar: response building (Response, headers, ASGIResponse)", "/litestar/response/", None),
    (
        "Litestar: response building (Response, headers, ASGIResponse)",
        "/litestar/datastructures/headers.py",
        None,
    ),
    (
        "Litestar: response building (Response, headers, ASGIResponse)",
        "/litestar/datastructures/cookie.py",
        None,
    ),
    ("Litestar: handler arguments (kwargs model, signature model)", "/litestar/_kwargs/", None),
    ("Litestar: handler arguments (kwargs model, signature model)", "/litestar/_signature/", None),
    ("Litestar: route (HTTPRoute.handle, calling the handler)", "/litestar/routes/", None),
    ("Litestar: route handler (per-request resolve_*, to_response)", "/litestar/handlers/", None),
    ("Litestar: request object, scope state, app.state", "/litestar/connection/", None),
    ("Litestar: request object, scope state, app.state", "/litestar/datastructures/state.py", None),
    ("Litestar: request object, scope state, app.state", "/litestar/utils/scope/", None),
    ("Litestar: app entry and routing (ASGI router: host check, trie)", "/litestar/app.py", None),
    ("Litestar: app entry and routing (ASGI router: host check, trie)", "/litestar/_asgi/", None),
    ("Litestar: other (helpers, datastructures)", "/litestar/", None),
    (
        "uvicorn: its own access line, formatted then dropped (logger disabled)",
        "/uvicorn/protocols/utils.py",
        ("get_path_with_query_string", "get_client_addr"),
    ),
    ("uvicorn: request cycle (httptools callbacks, scope, task, ASGI send)", "/uvicorn/protocols/", None),
    ("uvicorn: ASGI wrappers (proxy headers, message logger)", "/uvicorn/middleware/", None),
    ("uvicorn: server loop (ticks, Date header)", "/uvicorn/", None),
    ("background: membership calls (feed poll, JWKS; httpx, anyio)", "/httpx/", None),
    ("background: membership calls (feed poll, JWKS; httpx, anyio)", "/httpcore/", None),
    ("background: membership calls (feed poll, JWKS; httpx, anyio)", "/anyio/", None),
    ("background: membership calls (feed poll, JWKS; httpx, anyio)", "/h11/", None),
    ("background: membership calls (feed poll, JWKS; httpx, anyio)", "/sniffio/", None),
]
# The layers summed up: the first prefix a layer's name starts with.
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("the server: uvicorn, uvloop, the socket calls", ("socket writes", "uvloop", "uvicorn")),
    ("Litestar: routing, request, handler call, response, errors", ("Litestar", "problem", "JSON")),
    ("the request id and the access line", ("request id", "access line")),
    (
        "the story itself: handler, admission, token, origin, page, response",
        ("story", "admission", "token", "page", "health"),
    ),
    ("metrics", ("metrics",)),
    ("StripOwnHeaders", ("StripOwnHeaders",)),
]


def group_of(layer: str) -> str:
    return next((group for group, prefixes in GROUPS if layer.startswith(prefixes)), "other")


# (layer, a fragment of the source line the frame is at): checked before LAYERS, for the frames
# whose own time is one C call: the socket writes and httptools' parser.
LINES: list[tuple[str, str]] = [
    ("socket writes: uvicorn's transport.write (head, then body: two send() calls)", "transport.write("),
    ("uvicorn: httptools parsing (feed_data, C)", "parser.feed_data("),
    ("request id: os.urandom (a getrandom() call)", "os.urandom("),
    ("uvicorn: its own access line, formatted then dropped (logger disabled)", "access_logger.info("),
]
# Passed through to the caller: the standard library (asyncio included: its frames are the loop's
# callers or a coroutine's own awaiting), the command line that started the server, py-spy's roots.
TRANSPARENT = re.compile(
    r"/lib/python3\.\d+/(?!site-packages/)|<frozen |/click/|/litestar/cli/|/gateway/cli\.py|"
    r"/rich_click/|/bin/gateway|/uvicorn/main\.py|/uvicorn/_compat\.py|^Server\.run \(|^<module>|^<string>$"
)
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def layer_of(stack: list[str]) -> str:
    """The layer a sample's stack (outermost frame first) is charged to."""
    for frame in reversed(stack):
        found = _FRAME.match(frame)
        func, path = (found.group("func"), found.group("file")) if found else (frame, "")
        if TRANSPARENT.search(path) or TRANSPARENT.search(frame):
            continue
        source = linecache.getline(path, int(found.group("line") or 0)) if found else ""
        for layer, fragment in LINES:
            if fragment in source:
                return layer
        for layer, fragment, functions in LAYERS:
            if fragment in path and (functions is None or func.rsplit(".", 1)[-1] in functions):
                return layer
        if "/" not in path:  # a frame read while it changed (py-spy --nonblocking)
            return "other: frames read torn (nonblocking sampling)"
        package = re.search(r"(?:site-packages|src)/([^/]+)", path)
        return f"other: {package.group(1) if package else short(frame)}"
    return NO_LAYER if stack else "other: frames read torn (nonblocking sampling)"


def short(frame: str) -> str:
    """A frame without the folders up to the package: `encode (litestar/serialization/...py:12)`."""
    return re.sub(r"\(.*?(?:site-packages|src)/", "(", frame)


def read_raw(path: Path, thread: int) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) stacks of one thread: `thread (tid): name;frame;... count` a line."""
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        found = re.match(r"thread \((\d+)\)", frames[0])
        if found and int(found.group(1)) == thread and count.isdigit():
            samples.append((frames[1:], int(count)))
    return samples


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread of the process: its name and its CPU time so far (user + system, seconds)."""
    threads = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        threads[int(stat.parent.name)] = (
            name,
            (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"),
        )
    return threads


def shares(samples: Iterable[tuple[list[str], int]]) -> tuple[Counter[str], Counter[str], int]:
    """Samples per layer, samples per innermost frame, all samples."""
    layers: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for stack, count in samples:
        layers[layer_of(stack)] += count
        leaves[short(stack[-1]) if stack else "(no frame read: torn)"] += count
        total += count
    return layers, leaves, total


def py_spy() -> str:
    found = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not found:
        raise SystemExit(
            "bench.profile_gateway needs py-spy: python -m pip install --target /tmp/prof py-spy, "
            "then PY_SPY=/tmp/prof/bin/py-spy"
        )
    return found


def record(
    pid: int, out: Path, scenario: Scenario, blocking: bool = BLOCKING
) -> tuple[Result, dict[str, float]]:
    """One wrk run of `SECONDS` with py-spy sampling the gateway; py-spy writes `out` when stopped.

    Also the CPU seconds each of the gateway's threads used while py-spy ran, by thread id and name."""
    argv = [py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw"]
    argv += ["--threads", "--full-filenames", "--output", str(out)]
    if not blocking:
        # Read the stacks while the process runs: stopping it 250 times a second (py-spy's default)
        # costs it more CPU per request than a story read does.
        argv.append("--nonblocking")
    before, started = thread_cpu(pid), time.monotonic()
    output, result = sampled(argv, scenario)
    after, elapsed = thread_cpu(pid), time.monotonic() - started
    if not out.exists():
        raise RuntimeError(f"py-spy wrote no {out}:\n{output}")
    threads = {
        f"{tid} {name}": round(cpu - before.get(tid, (name, 0.0))[1], 2) for tid, (name, cpu) in after.items()
    }
    return result, threads | {"elapsed": round(elapsed, 2)}


def sampled(argv: list[str], scenario: Scenario) -> tuple[str, Result]:
    """wrk's run under a sampling profiler (on the load core), stopped by SIGINT; its output."""
    spy = subprocess.Popen(
        ["taskset", "-c", LOAD_CPU, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(2)  # attached and sampling
        if spy.poll() is not None:
            output = spy.stdout.read().decode(errors="replace") if spy.stdout else ""
            raise RuntimeError(f"{argv[0]} exited with {spy.returncode}:\n{output}")
        result = wrk(scenario, SECONDS)
    finally:
        spy.send_signal(signal.SIGINT)
        output = spy.communicate(timeout=120)[0].decode(errors="replace")
    print(output.strip().splitlines()[-1] if output.strip() else "", flush=True)
    return output, result


def perf_record(pid: int, out: Path, scenario: Scenario) -> None:
    """The same load under `perf record` (on-CPU samples, kernel included), reported by shared object
    and by symbol: what the C underneath the Python frames is."""
    data = out.with_suffix(".perf.data")
    sampled(["perf", "record", "-g", "-F", "999", "-p", str(pid), "-o", str(data)], scenario)
    for name, how in (
        ("dso", ["--sort", "dso", "--no-children"]),
        ("dso-sym", ["--sort", "dso,sym", "--no-children"]),
        ("kernel", ["--sort", "sym", "--children"]),  # a kernel function with all it calls
    ):
        report = subprocess.run(
            ["perf", "report", "-i", str(data), *how, "--stdio", "-q", "-g", "none"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        out.with_suffix(f".{name}.txt").write_text(report)
    data.unlink()


# What the gateway asks of the kernel, by the kernel function that does it (its callees included).
KERNEL: list[tuple[str, str]] = [
    ("all system calls", "entry_SYSCALL_64_after_hwframe"),
    ("socket sends (write() on a connection: tcp_sendmsg)", "sock_write_iter"),
    ("of which loopback delivery to wrk's socket (softirq)", "net_rx_action"),
    ("the access line's write() to the log file (ext4)", "ext4_buffered_write_iter"),
    ("socket reads (tcp_recvmsg)", "sock_read_iter"),
    ("epoll_wait", "do_epoll_wait"),
    ("getrandom() (the request id)", "__x64_sys_getrandom"),
]


def perf_rows(path: Path, most: int) -> list[tuple[float, str]]:
    """`perf report -q` lines: the share and the rest of the line."""
    rows = []
    for line in path.read_text().splitlines():
        found = re.match(r"\s*([\d.]+)%\s+(.*\S)", line)
        if found:
            rows.append((float(found.group(1)) / 100, re.sub(r"\s+", " ", found.group(2))))
    return rows[:most]


def profile(out: Path, code: str) -> None:
    """`bench.gateway.measure`'s stand-in: for each kind, CPU per request unprofiled, then py-spy
    (and perf, when it is there)."""
    figures: dict[str, dict[str, Any]] = {}
    with_perf = shutil.which("perf") is not None and os.environ.get("PROFILE_PERF", "1") == "1"

    def measure(scenarios: list[Scenario]) -> dict[str, Result]:
        by_key = {s.key: s for s in scenarios}
        results = {}
        for key in KINDS:
            scenario = by_key[key]
            wrk(scenario, WARMUP)
            before = thread_cpu(scenario.pids[0])
            plain = wrk(scenario, SECONDS)
            quiet = sum(
                cpu - before.get(tid, (name, 0.0))[1]
                for tid, (name, cpu) in thread_cpu(scenario.pids[0]).items()
                if tid != scenario.pids[0]
            )
            profiled, threads = record(scenario.pids[0], out / f"{key}.txt", scenario)
            if key == "a" and not BLOCKING:
                # Whole stacks for the flame graph: read while running, most lose their outer frames.
                record(scenario.pids[0], out / "a-blocking.txt", scenario, blocking=True)
            if with_perf:
                perf_record(scenario.pids[0], out / f"{key}-perf", scenario)
            print(
                f"{KINDS[key]}: {plain.rps:,.0f} req/s and {plain.cpu_us:.0f} µs server CPU per request "
                f"unprofiled; {profiled.rps:,.0f} req/s, {profiled.cpu_us:.0f} µs under py-spy",
                flush=True,
            )
            figures[key] = {
                "cpu_us": plain.cpu_us,
                "rps": plain.rps,
                "profiled_cpu_us": profiled.cpu_us,
                "profiled_rps": profiled.rps,
                "pid": scenario.pids[0],
                "threads": threads,
                "other_threads_unprofiled": round(quiet, 2),
            }
            results[key] = plain
        return results

    with (
        mock.patch.object(bench.gateway, "measure", measure),
        tempfile.TemporaryDirectory() as tmp,
        tempfile.TemporaryDirectory() as www_root,
    ):
        os.chmod(www_root, 0o755)  # noqa: S103 - nginx's workers read the page, as in bench.gateway
        bench.gateway.run(Path(tmp), Path(www_root))
    (out / "figures.json").write_text(
        json.dumps(
            {"code": code, "rate": RATE, "blocking": BLOCKING, "seconds": SECONDS, "kinds": figures}, indent=2
        )
    )


def flame_svg(samples: list[tuple[list[str], int]], title: str) -> str:
    """A flame graph of the samples (from the event loop up), as a small self-contained SVG."""
    tree: dict[str, Any] = {"n": 0, "kids": {}}
    for stack, count in samples:
        starts = [i for i, frame in enumerate(stack) if frame.startswith("Runner.run (")]
        node = tree
        node["n"] += count
        for frame in stack[starts[0] + 1 if starts else 0 :]:
            name = re.sub(r":\d+\)$", ")", short(frame))  # one box a function, whatever its line
            node = node["kids"].setdefault(name, {"n": 0, "kids": {}})
            node["n"] += count
    width, height, total = 1200.0, 15, tree["n"]
    rects: list[str] = []
    depth = 0

    def draw(name: str, node: dict[str, Any], x: float, level: int) -> None:
        nonlocal depth
        w = node["n"] / total * width
        if w < 1.5:
            return
        depth = max(depth, level)
        hue = 10 + zlib.crc32(layer_of([name]).encode()) % 50
        label = escape(name if w > 7 * len(name) else name[: max(int(w / 7) - 2, 0)] + ".." if w > 30 else "")
        tip = escape(f"{name}: {100 * node['n'] / total:.1f}%")
        rects.append(
            f'<g><title>{tip}</title><rect x="{x:.1f}" y="{{y{level}}}" width="{w:.1f}" '
            f'height="{height - 1}" fill="hsl({hue},80%,60%)"/>'
            f'<text x="{x + 2:.1f}" y="{{t{level}}}">{label}</text></g>'
        )
        for kid_name, kid in sorted(node["kids"].items()):
            draw(kid_name, kid, x, level + 1)
            x += kid["n"] / total * width

    draw("all (the event loop thread)", tree, 0.0, 0)
    full = (depth + 3) * height
    body = "\n".join(rects)
    for level in range(depth + 1):
        y = full - (level + 1) * height
        body = body.replace(f'"{{y{level}}}"', f'"{y}"').replace(f'"{{t{level}}}"', f'"{y + height - 4}"')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{full}" '
        f'font-family="monospace" font-size="11">\n'
        f'<text x="4" y="12">{escape(title)}</text>\n{body}\n</svg>\n'
    )


def tables(out: Path) -> str:
    saved = json.loads((out / "figures.json").read_text())
    code: str = saved["code"]
    figures: dict[str, dict[str, Any]] = saved["kinds"]
    raw = {key: read_raw(out / f"{key}.txt", figures[key]["pid"]) for key in KINDS}
    counted = {key: shares(raw[key]) for key in KINDS}
    order = sorted(
        {layer for layers, _, _ in counted.values() for layer in layers},
        key=lambda layer: -sum(layers[layer] / total for layers, _, total in counted.values()),
    )
    head = "| layer | " + " | ".join(KINDS.values()) + " |\n|---|" + "---|" * len(KINDS) + "\n"
    rows = []
    for layer in order:
        cells = []
        for key in KINDS:
            layers, _, total = counted[key]
            share = layers[layer] / total
            cells.append(f"{100 * share:.1f}% · {share * figures[key]['cpu_us']:.1f} µs" if share else "")
        rows.append(f"| {layer} | " + " | ".join(cells) + " |")
    total_row = " | ".join(
        f"**{figures[key]['cpu_us']:.0f} µs** ({counted[key][2]:,} samples)" for key in KINDS
    )
    rows.append(f"| **server CPU per request** (unprofiled) | {total_row} |")
    grouped = []
    for group in [*(g for g, _ in GROUPS), "other"]:
        cells = []
        for key in KINDS:
            layers, _, total = counted[key]
            share = sum(n for layer, n in layers.items() if group_of(layer) == group) / total
            cells.append(f"{100 * share:.0f}% · {share * figures[key]['cpu_us']:.0f} µs" if share else "")
        grouped.append(f"| {group} | " + " | ".join(cells) + " |")
    notes = []
    for key in KINDS:
        f = figures[key]
        threads = f["threads"]
        main = next(cpu for name, cpu in threads.items() if name.split()[0] == str(f["pid"]))
        rest = sum(
            cpu
            for name, cpu in threads.items()
            if name not in ("elapsed",) and name.split()[0] != str(f["pid"])
        )
        notes.append(
            f"{KINDS[key]}: {f['rps']:,.0f} req/s unprofiled, {f['profiled_rps']:,.0f} under py-spy "
            f"({f['profiled_cpu_us']:.0f} µs a request); the event loop thread used {main:.1f} CPU s in "
            f"{threads['elapsed']:.0f} s under py-spy, the other threads (libuv's and the thread pool's, "
            f"left out) {rest:.2f} s, and {f['other_threads_unprofiled']:.2f} s without it; "
            f"py-spy kept {counted[key][2]:,} samples of the loop thread, where its CPU time makes "
            f"{main * saved['rate']:,.0f} at {saved['rate']} Hz (py-spy also counts it runnable, "
            "waiting for the core it shares)"
        )
    top = []
    for key in KINDS:
        _, leaves, total = counted[key]
        lines = "\n".join(
            f"| {100 * n / total:.1f}% | {n / total * figures[key]['cpu_us']:.1f} µs | `{frame}` |"
            for frame, n in leaves.most_common(15)
        )
        top.append(
            f"Top functions by own time (the innermost Python frame, its C calls included), {KINDS[key]}:\n\n"
            f"| share | µs | function |\n|---|---|---|\n{lines}"
        )
    native = ""
    if all((out / f"{key}-perf.dso.txt").exists() for key in KINDS):
        dsos = {
            key: {name: share for share, name in perf_rows(out / f"{key}-perf.dso.txt", 99)} for key in KINDS
        }
        names = sorted(
            {n for d in dsos.values() for n in d}, key=lambda n: -sum(d.get(n, 0) for d in dsos.values())
        )[:10]
        dso_rows = "\n".join(
            f"| `{name}` | "
            + " | ".join(
                f"{100 * (d := dsos[key].get(name, 0)):.1f}% · {d * figures[key]['cpu_us']:.1f} µs"
                for key in KINDS
            )
            + " |"
            for name in names
        )
        kernel = {}
        for key in KINDS:
            found = {
                name.split()[-1]: share for share, name in perf_rows(out / f"{key}-perf.kernel.txt", 10**6)
            }
            kernel[key] = found
        kernel_rows = "\n".join(
            f"| {label} | "
            + " | ".join(
                f"{100 * (d := kernel[key].get(symbol, 0)):.1f}% · {d * figures[key]['cpu_us']:.1f} µs"
                for key in KINDS
            )
            + " |"
            for label, symbol in KERNEL
        )
        syms = "\n".join(
            f"| {100 * share:.1f}% | {share * figures['a']['cpu_us']:.1f} µs | `{name}` |"
            for share, name in perf_rows(out / "a-perf.dso-sym.txt", 20)
        )
        native = (
            "\n\nThe same loads under `perf record -g -F 999 -p` (on-CPU samples, the kernel's included), by "
            "shared object: `libpython` is the interpreter running all of the above, the kernel is the "
            "socket calls and epoll; µs = share x the unprofiled CPU per request.\n\n"
            + head.replace("| layer |", "| shared object |")
            + dso_rows
            + "\n\nIn the kernel, by what the gateway asked for (a kernel function with all it calls; "
            + "perf's call graphs):\n\n"
            + head.replace("| layer |", "| kernel work |")
            + kernel_rows
            + f"\n\nTop symbols under perf (own time), {KINDS['a']}:\n\n"
            + "| share | µs | shared object, symbol |\n|---|---|---|\n"
            + syms
        )
    whole = out / "a-blocking.txt"
    flame = read_raw(whole, figures["a"]["pid"]) if whole.exists() else raw["a"]
    how = "blocking" if whole.exists() or saved.get("blocking") else "nonblocking"
    (out / "a.svg").write_text(
        flame_svg(
            flame,
            f"{KINDS['a']}: the gateway's event loop thread, py-spy ({how}) at {saved['rate']} Hz, {code}",
        )
    )
    return (
        f"`python -m bench.profile_gateway`, code at {code}: py-spy at {saved['rate']} Hz "
        f"({'blocking' if saved.get('blocking') else 'nonblocking'}) on the production "
        "gateway (one uvicorn worker, uvloop + httptools, INFO access lines in JSON to a file), "
        f"{saved['seconds']} s of wrk load per kind (1 thread, 32 connections), Python "
        f"{sys.version.split()[0]}. Shares are of the event loop thread's samples; µs = share x the CPU "
        "per request measured without the profiler just before. On this busy 2-core machine the "
        "absolute µs are noisy; the proportions are what counts.\n\n"
        + head.replace("| layer |", "| summed up |")
        + "\n".join(grouped)
        + "\n\nBy layer:\n\n"
        + head
        + "\n".join(rows)
        + "\n\n"
        + "".join(f"- {note}.\n" for note in notes)
        + "\n"
        + "\n\n".join(top)
        + native
    )


def main() -> None:
    configure_logging("WARNING", "console")
    if len(sys.argv) == 3 and sys.argv[1] == "--tables":
        out = Path(sys.argv[2])
    else:
        if len(sys.argv) > 1:
            raise SystemExit("usage: python -m bench.profile_gateway [--tables DIR]")
        py_spy()
        code = revision()  # before the servers start
        kept = os.environ.get("PROFILE_OUT")
        out = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="profile-gateway-"))
        out.mkdir(parents=True, exist_ok=True)
        profile(out, code)
        print(f"(the profiles are in {out})")
    body = tables(out)
    print(body)
    with mock.patch.object(bench.readme, "README", BENCH_README):
        bench.readme.write_section("profile_gateway", body)
    PROFILES.mkdir(exist_ok=True)
    shutil.copyfile(out / "a.svg", PROFILES / "gateway-member-read.svg")


if __name__ == "__main__":
    main()
