"""The sandbox's pages write money and dates the way every Tollgate page does (issue 12, defects 2 and 7).

Expected text is written out here; the pages call tollgate_common.words.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import stripe

from tests.sandbox.conftest import Sandbox

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


async def test_checkout_writes_money_in_the_currencys_own_units(sandbox: Sandbox) -> None:
    dollars = await sandbox.price(amount=1250)
    page = await sandbox.http.get(f"/checkout/{(await sandbox.session(dollars.id)).id}")
    assert "$12.50 per month" in page.text and "Due today: <strong>$12.50</strong>" in page.text
    yen = await sandbox.price(amount=500, currency="jpy")
    page = await sandbox.http.get(f"/checkout/{(await sandbox.session(yen.id)).id}")
    assert "¥500 per month" in page.text and "Due today: <strong>¥500</strong>" in page.text


async def test_a_renewal_on_the_3rd_is_written_without_a_leading_zero(sandbox: Sandbox) -> None:
    now = datetime.fromtimestamp(await sandbox.now(), UTC)
    # The 3rd of the month after next, at noon: the monthly renewal falls on a 3rd too.
    year, month = divmod(now.year * 12 + now.month - 1 + 2, 12)
    start = datetime(year, month + 1, 3, 12, tzinfo=UTC)
    await sandbox.control("POST", "/clock/advance", {"seconds": start.timestamp() - now.timestamp()})
    _, session = await sandbox.subscribe()
    portal = await sandbox.stripe.v1.billing_portal.sessions.create_async(
        params={"customer": session["customer"], "return_url": "https://reader.example/account"}
    )
    page = await sandbox.http.get(f"/portal/{portal.id}")
    renew_year, renew_month = divmod(year * 12 + month + 1, 12)
    assert f"Renews on 3 {MONTHS[renew_month]} {renew_year}." in page.text, page.text
    assert "<strong>Membership</strong> · $5 per month" in page.text


async def test_a_refund_too_large_names_both_amounts_as_stripe_does(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    payments = await sandbox.stripe.v1.charges.list_async(params={"customer": session["customer"]})
    charge = payments.data[0]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await sandbox.stripe.v1.refunds.create_async(params={"charge": charge.id, "amount": 600})
    wanted = "Refund amount ($6.00) is greater than unrefunded amount on charge ($5.00)"
    assert refused.value.user_message == wanted
