"""The settings a running `make run` chose, for the command line in a second terminal.

`make run` (scripts/dev.py) writes them to `<data dir>/make-run.env` with its pid and removes the
file when it stops. Only the CLI entry point reads it: never the services, never outside
development, never when the `make run` that wrote it is gone; real environment variables win.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_NAME = "make-run.env"
PID_KEY = "MAKE_RUN_PID"


def parse(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped."""
    pairs = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def still_running(pid: int) -> bool:
    """Is `pid` alive and (where /proc tells) still make run's runner, not a reused pid?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return b"dev.py" in cmdline.read_bytes()
        except OSError:
            return False
    return True


def running_settings(environ: dict[str, str] | os._Environ[str]) -> tuple[Path, dict[str, str]] | None:
    """The file and its settings when a live development `make run` wrote it; None otherwise."""
    if environ.get("MEMBERSHIP_ENVIRONMENT", "development") == "production":
        return None
    path = Path(environ.get("MEMBERSHIP_DATA_DIR") or "data") / FILE_NAME
    try:
        pairs = parse(path.read_text())
    except OSError:
        return None
    try:
        pid = int(pairs.pop(PID_KEY, ""))
    except ValueError:
        return None
    if not still_running(pid):
        return None
    return path, pairs


def apply(environ: dict[str, str] | os._Environ[str]) -> Path | None:
    """Fill in what the environment leaves unset from a running make run's file; the file, if it filled any.

    make run's own children already have every setting, so for them this changes and says nothing.
    """
    found = running_settings(environ)
    if found is None:
        return None
    path, pairs = found
    missing = {key: value for key, value in pairs.items() if key not in environ}
    environ.update(missing)
    return path if missing else None
