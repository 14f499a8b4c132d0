"""The billing portal: the session API and the page's buttons, which act like the API."""

from __future__ import annotations

import re

import pytest
import stripe

from tests.sandbox.conftest import Sandbox


async def test_portal_page_cancels_keeps_and_cancels_now(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    customer_id, subscription_id = session["customer"], session["subscription"]
    portal = await sandbox.stripe.v1.billing_portal.sessions.create_async(
        params={"customer": customer_id, "return_url": "https://reader.example/account"}
    )
    assert portal.url == f"{sandbox.url}/portal/{portal.id}"
    assert (portal.object, portal.customer, portal.return_url) == (
        "billing_portal.session",
        customer_id,
        "https://reader.example/account",
    )
    page = await sandbox.http.get(f"/portal/{portal.id}")
    assert page.status_code == 200
    assert "No real payment happens" in page.text
    assert "Membership" in page.text and "Renews on" in page.text
    assert "href='https://reader.example/account'" in page.text
    base = f"/portal/{portal.id}/subscriptions/{subscription_id}"
    assert f"action='{base}/cancel_at_period_end'" in page.text
    await sandbox.wait()
    before = len(sandbox.inbox.events)

    scheduled = await sandbox.http.post(f"{base}/cancel_at_period_end")
    assert scheduled.status_code == 303
    assert scheduled.headers["location"].startswith(f"/portal/{portal.id}?message=")
    subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)
    assert (subscription.status, subscription.cancel_at_period_end) == ("active", True)
    shown = await sandbox.http.get(scheduled.headers["location"])
    assert "Ends on" in shown.text and "Don't cancel" in shown.text

    kept = await sandbox.http.post(f"{base}/keep")
    assert kept.status_code == 303
    assert (
        await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)
    ).cancel_at_period_end is False

    now = await sandbox.http.post(f"{base}/cancel_now")
    assert now.status_code == 303
    assert (await sandbox.stripe.v1.subscriptions.retrieve_async(subscription_id)).status == "canceled"
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == [
        "customer.subscription.updated",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]
    changes = [
        e["data"]["previous_attributes"]["cancel_at_period_end"] for e in sandbox.inbox.events[before:][:2]
    ]
    assert changes == [False, True]
    ended = await sandbox.http.get(f"/portal/{portal.id}")
    assert re.search(r"Status: <strong>canceled</strong>", ended.text)
    assert f"{base}/cancel_now" not in ended.text


async def test_portal_refuses_other_customers_subscriptions(sandbox: Sandbox) -> None:
    _, mine = await sandbox.subscribe()
    _, theirs = await sandbox.subscribe()
    portal = await sandbox.stripe.v1.billing_portal.sessions.create_async(
        params={"customer": mine["customer"]}
    )
    refused = await sandbox.http.post(
        f"/portal/{portal.id}/subscriptions/{theirs['subscription']}/cancel_now"
    )
    assert refused.status_code == 404
    assert (await sandbox.stripe.v1.subscriptions.retrieve_async(theirs["subscription"])).status == "active"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await sandbox.stripe.v1.billing_portal.sessions.create_async(params={"customer": "cus_nobody"})
    assert missing.value.param == "customer"
    assert (await sandbox.http.get("/portal/bps_nothing")).status_code == 404
