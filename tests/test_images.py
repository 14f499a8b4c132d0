"""Each service's image builds: its Dockerfile's build stage replayed outside Docker.

No Docker engine runs here and base images can't be pulled, so the build stage is replayed by
hand: into an empty folder goes exactly what its COPY lines copy (the .dockerignore honoured),
then its `uv sync` lines run there with its ENV (the venv in the temp folder, not /app/.venv)
and the uv it pins. The venv must then run the service's CLI and import its app with the
source tree gone, as the runtime stage (which copies only the venv) does.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.dockerfiles import env_pairs, first_stage, parse_dockerfile

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
# Service -> the app module whose create_app the image must be able to import.
APPS = {"membership": "membership.app", "gateway": "gateway.app"}
_UV_PIN = re.compile(r"""pip install\s+["']?uv==(?P<version>[0-9][^"'\s]*)""")


# ---- the replay ------------------------------------------------------------------------------


def dockerignore_patterns(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per .dockerignore line, in order: the last match wins."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        glob = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(glob):
            if glob.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif glob.startswith("**", i):
                regex += ".*"
                i += 2
            elif glob[i] == "*":
                regex += "[^/]*"
                i += 1
            elif glob[i] == "?":
                regex += "[^/]"
                i += 1
            elif glob[i] == "[":
                close = glob.index("]", i)
                regex += glob[i : close + 1]
                i = close + 1
            else:
                regex += re.escape(glob[i])
                i += 1
        patterns.append((exception, re.compile(regex + r"\Z")))
    return patterns


def ignored(relative: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the context leaves out a path: it, or a folder above it, matches (last match wins)."""
    parts = relative.split("/")
    result = False
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        for exception, pattern in patterns:
            if pattern.match(prefix):
                result = not exception
    return result


def copy_into(context: Path, sources: list[str], dest: Path, dest_is_dir: bool) -> None:
    """One COPY: a folder's contents (less what .dockerignore leaves out), or a file."""
    patterns = dockerignore_patterns((context / ".dockerignore").read_text())
    for source in sources:
        origin = context / source
        relative = origin.relative_to(context).as_posix()
        assert origin.exists() and not ignored(relative, patterns), f"COPY {source}: not in the context"
        if origin.is_file():
            target = dest / origin.name if dest_is_dir else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
            continue
        for path in sorted(origin.rglob("*")):
            inner = path.relative_to(context).as_posix()
            if path.is_file() and not ignored(inner, patterns):
                target = dest / path.relative_to(origin)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def replay_build_stage(dockerfile: Path, context: Path, build: Path) -> Path:
    """Run the build stage's COPY and `uv sync` lines under `build`; return the venv it made."""
    venv = build / "app" / ".venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    workdir = build
    for keyword, args in first_stage(parse_dockerfile(dockerfile.read_text())):
        if keyword == "ENV":
            for name, value in env_pairs(args).items():
                if name == "UV_PROJECT_ENVIRONMENT":
                    value = str(venv)
                if name != "UV_NO_CACHE":  # the uv cache makes the replay quick; the result is the same
                    env[name] = value
        elif keyword == "WORKDIR":
            workdir = build / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            words = shlex.split(args)
            assert not any(w.startswith("--") for w in words), f"COPY {args}: flags in the build stage"
            *sources, dest = words
            target = build / dest.lstrip("/") if dest.startswith("/") else workdir / dest
            copy_into(context, sources, target, dest.endswith("/") or len(sources) > 1)
        elif keyword == "RUN":
            pin = _UV_PIN.search(args)
            if pin:
                version = subprocess.run([UV, "--version"], capture_output=True, text=True, check=True)
                assert version.stdout.split()[1] == pin["version"], (
                    f"the Dockerfile pins uv {pin['version']}, {UV} is {version.stdout.strip()}"
                )
                continue
            argv = shlex.split(args)
            assert argv[0] == "uv", f"RUN {args}: the replay knows only `uv` and the uv pin"
            done = subprocess.run(
                [str(UV), *argv[1:]], cwd=workdir, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"RUN {args} failed:\n{done.stderr[-3000:]}"
    return venv


# ---- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(APPS))
def test_the_image_builds_and_runs_without_the_source_tree(service: str, tmp_path: Path) -> None:
    build = tmp_path / "build"
    venv = replay_build_stage(ROOT / "services" / service / "Dockerfile", ROOT, build)

    shutil.rmtree(build / "src")  # the runtime stage copies only the venv
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(elsewhere)}
    helped = subprocess.run(
        [str(venv / "bin" / service), "--help"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "Usage" in helped.stdout

    probe = f"import {APPS[service]} as app; app.create_app; print(app.__file__)"
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert Path(imported.stdout.strip()).is_relative_to(venv), "the app is imported from outside the venv"


def test_dockerignore_leaves_out_what_it_names() -> None:
    patterns = dockerignore_patterns(".git\n**/__pycache__\ndata\n!data/keep\n")
    assert ignored(".git/config", patterns)
    assert ignored("libs/x/src/__pycache__/a.pyc", patterns)
    assert ignored("data/db.sqlite", patterns)
    assert not ignored("data/keep", patterns)
    assert not ignored("libs/x/src/data/a.json", patterns)
