"""Refunds and disputes: what they do to the charge, and the events membership revokes access on."""

from __future__ import annotations

import pytest
import stripe

from tests.sandbox.conftest import Sandbox


async def _paid_charge(sandbox: Sandbox) -> stripe.Charge:
    _, session = await sandbox.subscribe()
    payment = (
        await sandbox.stripe.v1.invoice_payments.list_async(params={"invoice": session["invoice"]})
    ).data[0]
    intent = await sandbox.stripe.v1.payment_intents.retrieve_async(str(payment.payment.payment_intent))
    charge = await sandbox.stripe.v1.charges.retrieve_async(str(intent.latest_charge))
    assert (charge.status, charge.paid, charge.amount, charge.refunded) == ("succeeded", True, 500, False)
    assert charge.customer == session["customer"]
    assert charge.payment_method_details is not None and charge.payment_method_details.card is not None
    assert charge.payment_method_details.card.last4 == "4242"
    return charge


async def test_partial_then_full_refund(sandbox: Sandbox) -> None:
    charge = await _paid_charge(sandbox)
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    partial = await sandbox.stripe.v1.refunds.create_async(
        params={"charge": charge.id, "amount": 200, "reason": "requested_by_customer"}
    )
    assert (partial.amount, partial.status, partial.charge, partial.reason) == (
        200,
        "succeeded",
        charge.id,
        "requested_by_customer",
    )
    after_partial = await sandbox.stripe.v1.charges.retrieve_async(charge.id)
    assert (after_partial.amount_refunded, after_partial.refunded) == (200, False)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        await sandbox.stripe.v1.refunds.create_async(params={"charge": charge.id, "amount": 301})
    assert too_much.value.code == "amount_too_large"
    # The rest, named by its payment intent this time.
    rest = await sandbox.stripe.v1.refunds.create_async(params={"payment_intent": str(charge.payment_intent)})
    assert rest.amount == 300
    refunded = await sandbox.stripe.v1.charges.retrieve_async(charge.id)
    assert (refunded.amount_refunded, refunded.refunded) == (500, True)
    with pytest.raises(stripe.InvalidRequestError) as again:
        await sandbox.stripe.v1.refunds.create_async(params={"charge": charge.id})
    assert again.value.code == "charge_already_refunded"
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == ["refund.created", "charge.refunded"] * 2
    last = sandbox.inbox.events[-1]["data"]["object"]
    assert (last["id"], last["refunded"], last["amount_refunded"]) == (charge.id, True, 500)
    listed = await sandbox.stripe.v1.refunds.list_async(params={"charge": charge.id})
    assert [r.id for r in listed.data] == [rest.id, partial.id]


async def test_dispute_marks_the_charge_and_emits_the_event(sandbox: Sandbox) -> None:
    charge = await _paid_charge(sandbox)
    await sandbox.wait()
    before = len(sandbox.inbox.events)
    dispute = await sandbox.control("POST", f"/charges/{charge.id}/dispute", {"reason": "fraudulent"})
    assert dispute["id"].startswith("dp_")
    assert (dispute["object"], dispute["charge"], dispute["status"], dispute["reason"]) == (
        "dispute",
        charge.id,
        "needs_response",
        "fraudulent",
    )
    assert dispute["payment_intent"] == charge.payment_intent
    assert (await sandbox.stripe.v1.charges.retrieve_async(charge.id)).disputed is True
    await sandbox.wait()
    assert sandbox.inbox.types(since=before) == ["charge.dispute.created"]
    assert sandbox.inbox.events[-1]["data"]["object"]["id"] == dispute["id"]
    assert (await sandbox.stripe.v1.disputes.retrieve_async(dispute["id"])).amount == 500
    twice = await sandbox.http.post(f"/_sandbox/charges/{charge.id}/dispute", json={})
    assert twice.status_code == 400
    unknown = await sandbox.http.post("/_sandbox/charges/ch_missing/dispute", json={})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "resource_missing"
