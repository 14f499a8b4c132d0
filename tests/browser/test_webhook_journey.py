"""Outgoing webhooks in a real browser, against `make run`: Field Notes' owner adds an endpoint on
the dashboard's Webhooks page (a real receiver in this test, which checks every delivery's
signature with the `standardwebhooks` library and the secret the page showed once), a reader
subscribes through the Stripe sandbox, the signed events arrive, and the delivery log shows them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import System, reload_until, screenshot, sign_in
from tests.browser.test_publisher_journey import OWNER, subscribe_over_the_api
from tests.membership.webhooks.conftest import Inbox, receiver_app
from tests.servers import serve

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import NewPage

pytestmark = pytest.mark.e2e

PAGE = "/account/publications/field-notes/webhooks"
READER = "webhook.reader@example.com"


def test_a_publisher_adds_an_endpoint_and_watches_signed_events_arrive(
    system: System, new_page: NewPage
) -> None:
    inbox = Inbox()
    with serve(receiver_app({"field-notes": inbox})) as base:
        url = f"{base}/hook/field-notes"
        page = new_page()
        page.goto(system.url(PAGE))
        sign_in(page, system, OWNER)
        page.wait_for_url(system.url(PAGE))
        assert page.get_by_role("heading", name="Webhooks").first.is_visible()
        page.get_by_label("URL").fill(url)
        page.get_by_label("Description").fill("Newsletter sync")
        page.get_by_role("button", name="Add the endpoint").click()
        secret = page.get_by_label("The signing secret").input_value()
        assert secret.startswith("whsec_")
        inbox.secrets.append(secret)
        screenshot(page, "webhooks-added", docs=True)
        page.goto(system.url(PAGE))
        assert secret not in page.content()  # shown once

        subscribe_over_the_api(system, READER, "Webhook Reader")
        deadline = time.monotonic() + 30
        wanted = {"member.created", "entitlement.granted", "subscription.updated", "member.state_changed"}
        while not wanted <= {payload["type"] for _, payload, _ in inbox.verified}:
            assert time.monotonic() < deadline, f"only {[p['type'] for _, p, _ in inbox.verified]} arrived"
            time.sleep(0.2)
        assert inbox.refused == []  # every one verified with the secret from the page
        [state] = [p for _, p, _ in inbox.verified if p["type"] == "member.state_changed"]
        assert state["data"]["email"] == READER
        assert [e["key"] for e in state["data"]["entitlements"]] == ["pub:field-notes"]

        def logged(p: Page) -> bool:
            tables = p.locator("table")
            return tables.count() > 0 and "member.state_changed" in tables.first.inner_text()

        reload_until(page, logged)
        log = page.locator("table").first.inner_text()
        assert "subscription.updated" in log and "200" in log
        screenshot(page, "webhooks-log", docs=True)
