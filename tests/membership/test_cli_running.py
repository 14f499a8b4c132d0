"""The membership CLI in a second terminal: it finds what a running `make run` chose, or says what to set.

The CLI runs as a real process (its entry point is where make run's file is read); the sandbox is
the real one, served on a free port; the "running make run" is a stand-in process whose command
line names scripts/dev.py, because the file is trusted only while its writer is alive.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stripe_sandbox.app import create_app
from stripe_sandbox.settings import Settings as SandboxSettings
from tests.make_run import free_port
from tests.servers import serve

BIN = Path(sys.executable).parent
USED = "Using the settings of the running `make run` from data/make-run.env"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any service setting, as in a fresh terminal."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MEMBERSHIP_", "GATEWAY_", "STRIPE_SANDBOX_"))
    }
    return env | extra


def membership(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "membership"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def runner() -> Iterator[subprocess.Popen[bytes]]:
    """A live process standing in for make run's runner (scripts/dev.py)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "scripts/dev.py"])
    yield proc
    proc.terminate()
    proc.wait()


@pytest.fixture
def sandbox() -> Iterator[str]:
    with serve(create_app(SandboxSettings(environment="test", webhook_url="http://127.0.0.1:9/none"))) as url:
        yield url


def write_file(folder: Path, pid: int, **settings: str) -> None:
    data = folder / "data"
    data.mkdir(exist_ok=True)
    lines = [f"MAKE_RUN_PID={pid}", f"MEMBERSHIP_DATA_DIR={data}"]
    lines += [f"{key}={value}" for key, value in settings.items()]
    (data / "make-run.env").write_text("\n".join(lines) + "\n")


def migrated(folder: Path) -> None:
    upgrade = membership(
        folder, "database", "upgrade", "--no-prompt", env=clean_env(MEMBERSHIP_DATA_DIR=str(folder / "data"))
    )
    assert upgrade.returncode == 0, upgrade.stderr


def test_reconcile_finds_the_sandbox_of_the_running_make_run(
    tmp_path: Path, sandbox: str, runner: subprocess.Popen[bytes]
) -> None:
    write_file(tmp_path, runner.pid, MEMBERSHIP_STRIPE_SANDBOX_URL=sandbox)
    migrated(tmp_path)

    done = membership(tmp_path, "stripe", "reconcile", env=clean_env())

    assert done.returncode == 0, done.stderr
    assert USED in done.stderr.splitlines()
    assert "Traceback" not in done.stderr


def test_the_environment_wins_over_the_file(
    tmp_path: Path, sandbox: str, runner: subprocess.Popen[bytes]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    write_file(tmp_path, runner.pid, MEMBERSHIP_STRIPE_SANDBOX_URL=nowhere)
    migrated(tmp_path)

    done = membership(tmp_path, "stripe", "reconcile", env=clean_env(MEMBERSHIP_STRIPE_SANDBOX_URL=sandbox))

    assert done.returncode == 0, done.stderr


def test_a_stopped_make_runs_file_is_ignored(tmp_path: Path, sandbox: str) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass", "scripts/dev.py"])
    gone.wait()
    nowhere = f"http://127.0.0.1:{free_port()}"
    write_file(tmp_path, gone.pid, MEMBERSHIP_STRIPE_SANDBOX_URL=sandbox)
    migrated(tmp_path)

    done = membership(tmp_path, "stripe", "reconcile", env=clean_env(MEMBERSHIP_STRIPE_SANDBOX_URL=nowhere))

    assert USED not in done.stderr
    assert done.returncode != 0


def test_with_nothing_listening_one_sentence_and_a_non_zero_exit(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    migrated(tmp_path)

    done = membership(
        tmp_path,
        "stripe",
        "reconcile",
        env=clean_env(MEMBERSHIP_DATA_DIR=str(tmp_path / "data"), MEMBERSHIP_STRIPE_SANDBOX_URL=nowhere),
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    sentence = (
        f"Error: Cannot reach the Stripe sandbox at {nowhere}: "
        "start `make run`, or set MEMBERSHIP_STRIPE_SANDBOX_URL."
    )
    assert sentence in done.stderr.splitlines()


def test_a_database_that_is_not_there_is_one_sentence(tmp_path: Path) -> None:
    done = membership(
        tmp_path,
        "keys",
        "list",
        env=clean_env(MEMBERSHIP_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none"),
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert any(
        line.startswith("Error: Cannot use the database at postgresql") for line in done.stderr.splitlines()
    )
