"""Browser tests: Debian's chromium, headless, driven by Playwright, against the real system.

`system` starts `make run` once per test session on free ports with its own data folder (the
journeys share it) and stops it with Ctrl-C at the end; `system_of_its_own` is one for a module
whose journeys move the sandbox's clock. `browser` is chromium launched from
`/usr/bin/chromium` (or `TOLLGATE_CHROMIUM`); Playwright never downloads a browser here. Without
chromium the tests skip with the reason, except with `CI=true`, where they fail (`.ci/run`
installs chromium). `new_page` gives each test a fresh browser context (its own cookies); pages
are 1000 px wide, or a phone's 390 px with `new_page(phone=True)`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import ARTIFACTS, System
from tests.make_run import start_make_run, stop

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright, ViewportSize

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("TOLLGATE_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags chromium keeps calling Google's services, which on a
# closed network means a flood of failing connections; the sandbox needs privileges we lack in CI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 180.0
DESKTOP: ViewportSize = {"width": 1000, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
ACTION_TIMEOUT_MS = 20_000

NewPage = Callable[..., "Page"]


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires the browser tests to run)")
    pytest.skip(reason)


# Package scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it is open, and every asyncio test collected after this folder would then fail to start.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _skip_or_fail(
            f"no chromium at {CHROMIUM}: install Debian's package (apt-get install chromium) "
            "or set TOLLGATE_CHROMIUM"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - a dev dependency, so only a broken environment
        _skip_or_fail(f"Playwright for Python is not installed: {exc}")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield launched
    launched.close()


@contextmanager
def running_system(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[System]:
    """`make run` on free ports with an empty data folder: migrated, seeded, all three services ready."""
    started = start_make_run(data_dir, extra_env)
    proc = started.proc
    system = System(gateway=started.gateway, membership=started.membership, sandbox=started.sandbox)
    up = threading.Event()

    def drain() -> None:
        # Read everything the services print, so the pipe never fills and a failure can show it.
        for line in proc.stdout or []:
            system.log.append(line)
            if "Press Ctrl-C to stop." in line:
                up.set()
        up.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        up.wait(START_TIMEOUT)
        output = "".join(system.log)
        assert proc.poll() is None and "Tollgate is up." in output, f"make run did not come up:\n{output}"
        yield system
    finally:
        stop(proc)


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[System]:
    """The system the journeys share. Depends on `browser` so that without chromium nothing is
    started only to be skipped."""
    with running_system(tmp_path_factory.mktemp("system-data")) as system:
        yield system


@pytest.fixture(scope="module")
def system_of_its_own(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[System]:
    """A system for one module's journeys only: they move the sandbox's clock, and everyone's with it.
    Gift mail falling due goes out each second rather than each minute."""
    with running_system(
        tmp_path_factory.mktemp("own-system-data"), {"MEMBERSHIP_GIFT_MAIL_SECONDS": "1"}
    ) as system:
        yield system


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[NewPage]:
    """`new_page()` or `new_page(phone=True)`: a page in a fresh context (no cookies), closed after."""
    contexts = []

    def make(*, phone: bool = False) -> Page:
        context = browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            is_mobile=phone,
            has_touch=phone,
            locale="en-GB",
            timezone_id="UTC",
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    failed = getattr(request.node, "rep_call", None)
    for reader, context in enumerate(contexts):
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for number, page in enumerate(context.pages):
                # The page as it was when the test failed, beside the other artifacts.
                page.screenshot(
                    path=str(ARTIFACTS / f"failed-{request.node.name}-{reader}-{number}.png"), full_page=True
                )
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Lets `new_page` know whether the test failed, to keep a screenshot of that moment.
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
