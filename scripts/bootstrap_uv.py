"""Put the pinned uv into .tools/ with nothing but the Python standard library.

`make` calls this first, so a fresh machine needs only Python 3.11+ and make. It prefers a
throwaway venv and pip (which honour the machine's pip configuration); where the venv module or
pip is missing (Debian's python3 without python3-venv), it fetches the uv wheel from PyPI itself
and checks the digest PyPI publishes for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import stat
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

UV_VERSION = "0.13.9"
ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
UV = TOOLS / "bin" / "uv"


def installed_version() -> str | None:
    if not UV.exists():
        return None
    out = subprocess.run([str(UV), "--version"], capture_output=True, text=True, check=False).stdout
    parts = out.split()
    return parts[1] if len(parts) > 1 else None


def via_pip() -> bool:
    venv = TOOLS / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"], check=True
        )
    except (subprocess.CalledProcessError, OSError):
        return False
    UV.parent.mkdir(parents=True, exist_ok=True)
    UV.unlink(missing_ok=True)
    UV.symlink_to(venv / "bin" / "uv")
    return True


def wheel_tag() -> str:
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if sys.platform.startswith("linux"):
        return f"manylinux_2_17_{arch}"
    if sys.platform == "darwin":
        return "macosx_11_0_arm64" if arch == "aarch64" else "macosx_10_12_x86_64"
    raise SystemExit(f"bootstrap: no uv wheel known for {sys.platform}/{machine}; install uv {UV_VERSION}")


def via_wheel() -> None:
    # PyPI's Simple API (PEP 691, JSON form): what package clients read, with each file's digest.
    index = urllib.request.Request(
        "https://pypi.org/simple/uv/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(index, timeout=60) as resp:  # noqa: S310 - fixed https URL
        files = json.load(resp)["files"]
    tag = wheel_tag()
    prefix = f"uv-{UV_VERSION}-"
    wheel = next((f for f in files if f["filename"].startswith(prefix) and tag in f["filename"]), None)
    if wheel is None:
        raise SystemExit(f"bootstrap: PyPI lists no uv {UV_VERSION} wheel for {tag}")
    with urllib.request.urlopen(wheel["url"], timeout=300) as resp:  # noqa: S310 - URL from PyPI's index
        blob = resp.read()
    if hashlib.sha256(blob).hexdigest() != wheel["hashes"]["sha256"]:
        raise SystemExit("bootstrap: the uv wheel's digest does not match PyPI's; refusing it")
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        member = next(n for n in zf.namelist() if n.endswith("/scripts/uv"))
        UV.parent.mkdir(parents=True, exist_ok=True)
        UV.unlink(missing_ok=True)
        UV.write_bytes(zf.read(member))
    UV.chmod(UV.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before any version is assured
        raise SystemExit(f"Tollgate needs Python 3.11 or newer; this is {platform.python_version()}")
    if installed_version() == UV_VERSION:
        return
    print(f"bootstrap: installing uv {UV_VERSION} into {TOOLS.relative_to(ROOT)}/", flush=True)
    if not via_pip():
        print("bootstrap: venv/pip unavailable, fetching the uv wheel from PyPI", flush=True)
        via_wheel()
    if installed_version() != UV_VERSION:
        raise SystemExit("bootstrap: uv did not install")


if __name__ == "__main__":
    main()
