"""Debian's nginx running the shipped templates (deploy/nginx/), for the tests that put it in front.

Each template is rendered exactly as envsubst naming only its TOLLGATE_* placeholders would, and
included from a minimal main config that keeps nginx's pid, temp files, cache and logs in the
test's folder. Without nginx the test skips with the reason, except with CI=true, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "nginx"
FRONT = DEPLOY / "tollgate.conf"
MEMBERSHIP = DEPLOY / "tollgate-membership.conf"
_PLACEHOLDER = re.compile(r"\$\{(TOLLGATE_[A-Z_]+)\}")
# Each template nginx runs, with the value of each of its placeholders.
Configs = dict[Path, dict[str, str]]


def render(template: str, values: dict[str, str]) -> str:
    """What `envsubst '${TOLLGATE_...} ...'` makes of the template: only those placeholders filled."""
    wanted = set(_PLACEHOLDER.findall(template))
    assert wanted == set(values), f"the template's placeholders are {sorted(wanted)}"
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's nginx is not installed (apt-get install nginx-light); CI must run this")
        pytest.skip("Debian's nginx is not installed (apt-get install nginx-light)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def servers(addresses: list[str], fail_timeout: str) -> str:
    """Upstream `server` lines: each address is left alone for `fail_timeout` after one failure."""
    return " ".join(f"server {a} max_fails=1 fail_timeout={fail_timeout};" for a in addresses)


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    access_log: Path
    ports: list[int]  # what each server listens on, in the order given

    def url(self, server: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[server]}"

    def upstreams(self, at_least: int, *, membership: bool = False) -> list[str]:
        """Where each request went, from the access log (written every second): the gateways'
        server's lines, or the membership server's."""
        pattern = r" membership upstream=\"([^\"]*)\"" if membership else r" cache=\S* upstream=\"([^\"]*)\""
        deadline = time.monotonic() + 5
        while True:
            text = self.access_log.read_text() if self.access_log.exists() else ""
            found = re.findall(pattern, text)
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_nginx(root: Path, configs: Configs, ports: list[int]) -> Nginx:
    """nginx with each template rendered with its values; returns once every port listens."""
    binary = nginx_binary()
    temp = root / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    includes = ""
    for template, values in configs.items():
        (root / template.name).write_text(render(template.read_text(), values))
        includes += f"  include {root / template.name};\n"
    # As root (a CI container) the workers would drop to `nobody`, who cannot enter pytest's folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n{includes}}}\n"
    )
    argv = [binary, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([*argv, "-g", "daemon off;"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"nginx did not start: {(root / 'error.log').read_text()}") from None
                time.sleep(0.05)
    access_logs = {values["TOLLGATE_ACCESS_LOG"] for values in configs.values()}
    return Nginx(proc, Path(next(iter(access_logs))), ports)
