"""What the browser journeys share: the running system, the dev outbox, signing in, screenshots.

Screenshots go to `test-artifacts/screenshots/` (git-ignored) on every run. With
`TOLLGATE_DOCS_SCREENSHOTS=1` the ones taken for the README are also copied to
`docs/screenshots/`, so an ordinary test run never changes tracked files.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
TO_DOCS = os.environ.get("TOLLGATE_DOCS_SCREENSHOTS", "") in ("1", "true", "yes")
SIGN_IN_LINK = re.compile(r"https?://\S+/auth/sign-in/confirm\?token=\S+")


@dataclass
class System:
    """The running system (`make run`): where each service is, and what they have printed."""

    gateway: str
    membership: str
    sandbox: str
    log: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        """An address on the public origin (the gateway), which is where readers go."""
        return f"{self.gateway}{path}"

    def outbox(self, to: str) -> list[dict[str, Any]]:
        """The dev outbox's messages to an address, newest first (`GET /dev/outbox/messages`)."""
        answer = httpx.get(self.url("/dev/outbox/messages"), params={"to": to}, timeout=10)
        answer.raise_for_status()
        messages: list[dict[str, Any]] = answer.json()
        return messages

    def sign_in_link(self, to: str, *, newer_than: int = 0, within: float = 10.0) -> str:
        """The link in the newest sign-in mail to `to`, waiting until there are more than `newer_than`."""
        deadline = time.monotonic() + within
        while True:
            messages = self.outbox(to)
            if len(messages) > newer_than:
                found = SIGN_IN_LINK.search(messages[0]["body"])
                assert found, messages[0]["body"]
                return found.group(0)
            assert time.monotonic() < deadline, f"no sign-in mail for {to} after {within}s"
            time.sleep(0.1)

    def mail_with(self, to: str, subject: str, *, within: float = 30.0) -> dict[str, Any]:
        """The newest mail to `to` whose subject holds `subject`, waiting for it to be sent."""
        deadline = time.monotonic() + within
        while not (found := [m for m in self.outbox(to) if subject in m["subject"]]):
            assert time.monotonic() < deadline, f"no mail {subject!r} to {to} after {within}s"
            time.sleep(0.2)
        return found[0]

    def webhooks_delivered(self, within: float = 30.0) -> None:
        """Until the Stripe sandbox has sent every webhook it owes (membership applies them after)."""
        httpx.post(f"{self.sandbox}/_sandbox/delivery/wait", json={"timeout": within}, timeout=within + 5)

    def output(self) -> str:
        return "".join(self.log)


def sign_in(page: Page, system: System, email: str) -> None:
    """On a sign-in page: ask for a link, read it from the outbox, open it, press the button.

    Ends wherever the link's `next` leads (the story the reader came from, say)."""
    before = len(system.outbox(email))
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    page.goto(system.sign_in_link(email, newer_than=before))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def screenshot(page: Page, name: str, *, docs: bool = False) -> Path:
    """Keeps the whole page as `test-artifacts/screenshots/<name>.png` (and in docs/ when asked)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    if docs and TO_DOCS:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)
    return path


def reload_until(page: Page, condition: Any, *, within: float = 30.0, pause: float = 0.5) -> None:
    """Reloads the page until `condition(page)` holds, as a reader would; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition(page):
        assert time.monotonic() < deadline, f"{page.url} did not change within {within}s"
        time.sleep(pause)
        page.reload()
